"""Twelve custom-field columns for the ``-cf`` scenarios: the sample account's lead fields of varied types,
tags and the responsible user. Every row carries a value in every one of them.

Each value is a function of the row's number ``i``, given both ways: as amoCRM holds it (the emulator's
Python API, for seeding and for edits "made in amoCRM") and as a sheet cell (for new rows and for edits
made in the sheet).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from amosheets.sandbox import SAMPLE_HEADERS

MOSCOW = ZoneInfo("Europe/Moscow")  # the sandbox account's time zone

CF_HEADERS = [
    "Город",  # text
    "Комментарий",  # textarea
    "Количество",  # numeric
    "Предоплата",  # monetary
    "Оплачено",  # checkbox
    "Продукт",  # select
    "Канал",  # radiobutton
    "Интересы",  # multiselect
    "Дата встречи",  # date
    "Время звонка",  # date_time
    "Теги",  # the lead's tags
    "Ответственный",  # the responsible user, by name
]
HEADERS = [*SAMPLE_HEADERS, *CF_HEADERS]
CF_COL = {h: i for i, h in enumerate(HEADERS)}

CITIES = ("Москва", "Казань", "Самара", "Пермь", "Томск")
PRODUCTS = ("Базовый", "Стандарт", "Премиум")
CHANNELS = ("Звонок", "Сайт", "Рекомендация")
INTERESTS = (("Доставка",), ("Монтаж", "Сервис"), ("Обучение", "Доставка"), ("Сервис",))
TAGS = (("VIP",), ("опт", "VIP"), ("новый",))
USERS = ((8123452, "Менеджер"), (8123453, "Анна Соколова"))
FIRST_DAY = date(2026, 12, 1)
FIRST_CALL = datetime(2026, 12, 1, 9, 0, tzinfo=MOSCOW)


def meeting(i: int) -> date:
    return FIRST_DAY + timedelta(days=i % 60)


def call(i: int) -> datetime:
    return FIRST_CALL + timedelta(minutes=15 * (i % 2000))


def _values(i: int, salt: int) -> dict[str, Any]:
    """Row ``i``'s values by header, in plain Python types (``salt`` shifts them: an edit)."""
    k = i + salt
    return {
        "Город": CITIES[k % len(CITIES)],
        "Комментарий": f"перезвонить после {9 + k % 9}:00, заявка {i + 1}",
        "Количество": 1 + k % 50,
        "Предоплата": 1000 + 10 * (k % 5000),
        "Оплачено": k % 2 == 0,
        "Продукт": PRODUCTS[k % len(PRODUCTS)],
        "Канал": CHANNELS[k % len(CHANNELS)],
        "Интересы": INTERESTS[k % len(INTERESTS)],
        "Дата встречи": meeting(k),
        "Время звонка": call(k),
        "Теги": TAGS[k % len(TAGS)],
        "Ответственный": USERS[k % len(USERS)],
    }


def amo_edit(amo: Any, i: int, salt: int = 0, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``edit_lead`` keyword arguments that give the lead row ``i``'s values (those named in ``only``)."""
    v = _values(i, salt)
    out: dict[str, Any] = {}
    cfv: list[dict[str, Any]] = []
    for name in only or CF_HEADERS:
        val = v[name]
        if name == "Теги":
            out["tags"] = list(val)
            continue
        if name == "Ответственный":
            out["responsible_user_id"] = val[0]
            continue
        fid = field_id(amo, name)
        if name == "Интересы":
            cfv.append({"field_id": fid, "values": [{"value": o} for o in val]})
        elif name == "Дата встречи":
            midnight = datetime(val.year, val.month, val.day, tzinfo=MOSCOW)
            cfv.append({"field_id": fid, "values": [{"value": int(midnight.timestamp())}]})
        elif name == "Время звонка":
            cfv.append({"field_id": fid, "values": [{"value": int(val.timestamp())}]})
        else:
            cfv.append({"field_id": fid, "values": [{"value": val}]})
    if cfv:
        out["custom_fields_values"] = cfv
    return out


def cells(i: int, salt: int = 0, only: tuple[str, ...] | None = None) -> list[Any]:
    """Row ``i``'s custom cells as a person types them into the sheet (those named in ``only``, in order)."""
    v = _values(i, salt)
    out: list[Any] = []
    for name in only or CF_HEADERS:
        val = v[name]
        if name == "Интересы" or name == "Теги":
            out.append(", ".join(val))
        elif name == "Ответственный":
            out.append(val[1])
        elif name == "Дата встречи":
            out.append(val.isoformat())
        elif name == "Время звонка":
            out.append(val.strftime("%Y-%m-%d %H:%M"))
        else:
            out.append(val)
    return out


_FIELD_IDS: dict[str, int] = {}  # the sample account's field ids are the same in every sandbox


def field_id(amo: Any, name: str) -> int:
    if name not in _FIELD_IDS:
        _FIELD_IDS[name] = int(amo.find_field(name)["id"])
    return _FIELD_IDS[name]


def amo_value(lead: dict[str, Any], fid: int) -> list[Any]:
    """The values amoCRM holds for a lead's field ``fid`` (their ``value``s)."""
    for f in lead.get("custom_fields_values") or []:
        if f["field_id"] == fid:
            return [x.get("value") for x in f["values"]]
    return []
