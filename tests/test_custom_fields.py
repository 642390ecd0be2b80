"""Issue 10, "any amoCRM field as a column": every custom field type, tags, the responsible user and the
read-only columns, both directions, with bad values, through the engine and the CLI against the sandbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from amosheets.errors import ExitStatus
from amosheets.sandbox import SAMPLE_HEADERS

from .conftest import World

MOSCOW = ZoneInfo("Europe/Moscow")  # the sandbox account's time zone

# One column of every writable type of the sample account, and the special columns.
CF_HEADERS = [
    "Город",  # text
    "Комментарий",  # textarea
    "Сайт",  # url
    "Адрес",  # streetaddress
    "Количество",  # numeric
    "Предоплата",  # monetary
    "Оплачено",  # checkbox
    "Продукт",  # select
    "Канал",  # radiobutton
    "Категория",  # category
    "Интересы",  # multiselect
    "Дата встречи",  # date
    "День рождения",  # birthday
    "Время звонка",  # date_time
    "Мессенджеры",  # multitext
    "Теги",
    "Ответственный",
    "Контакт: Должность",
]
HEADERS = [*SAMPLE_HEADERS, *CF_HEADERS]
NEW_ROW = [
    "",
    "Ольга Новикова",
    "+7 911 000-11-22",
    "olga@example.com",
    "30000",
    "",
    "",
    "Казань",
    "перезвонить после 15:00",
    "https://novikova.example",
    "ул. Баумана, 1",
    "12,5",
    "5 000",
    "да",
    "премиум",  # options by text, case-insensitively
    "Сайт",
    "Опт",
    "монтаж, Доставка",
    "2026-12-15",
    "02.03.1990",
    "2026-12-10 14:30",
    "@novikova",
    "VIP, опт",
    "Анна Соколова",
    "Директор",
]


def col(name: str) -> int:
    return HEADERS.index(name)


def cf(lead: dict, name: str, emu) -> list[dict]:
    """The values amoCRM holds for the deal's custom field ``name``."""
    fid = emu.find_field(name)["id"]
    for f in lead.get("custom_fields_values") or []:
        if f["field_id"] == fid:
            return f["values"]
    return []


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=MOSCOW).timestamp())


def only_row(w: World, name: str, render: str = "UNFORMATTED_VALUE") -> list:
    rows = [r for r in w.rows(render)[1:] if len(r) > 1 and r[1] == name]
    assert len(rows) == 1, rows
    return rows[0] + [""] * (len(HEADERS) - len(rows[0]))


@pytest.fixture
def cf_world(world: World) -> World:
    world.set_rows([NEW_ROW], HEADERS)
    return world


def test_a_new_row_sends_every_field_type_tags_responsible_and_a_contact_field(cf_world: World):
    w, emu = cf_world, cf_world.sb.amocrm
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert out.created == 1
    lead = next(le for le in emu.leads() if le["name"] == "Ольга Новикова")
    assert cf(lead, "Город", emu)[0]["value"] == "Казань"
    assert cf(lead, "Комментарий", emu)[0]["value"] == "перезвонить после 15:00"
    assert cf(lead, "Сайт", emu)[0]["value"] == "https://novikova.example"
    assert cf(lead, "Адрес", emu)[0]["value"] == "ул. Баумана, 1"
    assert float(cf(lead, "Количество", emu)[0]["value"]) == 12.5
    assert float(cf(lead, "Предоплата", emu)[0]["value"]) == 5000
    assert cf(lead, "Оплачено", emu)[0]["value"] is True
    assert cf(lead, "Продукт", emu)[0]["value"] == "Премиум"
    assert cf(lead, "Канал", emu)[0]["value"] == "Сайт"
    assert cf(lead, "Категория", emu)[0]["value"] == "Опт"
    assert {v["value"] for v in cf(lead, "Интересы", emu)} == {"Монтаж", "Доставка"}
    assert cf(lead, "Дата встречи", emu)[0]["value"] == unix("2026-12-15T00:00")
    assert cf(lead, "День рождения", emu)[0]["value"] == unix("1990-03-02T00:00")
    assert cf(lead, "Время звонка", emu)[0]["value"] == unix("2026-12-10T14:30")
    assert cf(lead, "Мессенджеры", emu)[0]["value"] == "@novikova"
    assert {t["name"] for t in lead["_embedded"]["tags"]} == {"VIP", "опт"}
    anna = next(u["id"] for u in emu.users() if u["name"] == "Анна Соколова")
    assert lead["responsible_user_id"] == anna
    contact = emu.main_contact_of(lead["id"])
    assert contact is not None
    assert cf(contact, "Должность", _ContactFields(emu))[0]["value"] == "Директор"

    # Nothing churns: a second run sends nothing to either side.
    w.reset_stats()
    again = w.run("sync")
    amo, sheets = w.stats()
    assert again.exit_status == ExitStatus.OK, again.problems
    assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])


class _ContactFields:
    """``cf`` for a contact: looks the field up among the contact fields."""

    def __init__(self, emu) -> None:
        self.emu = emu

    def find_field(self, name: str) -> dict:
        return self.emu.find_field(name, "contacts")


def test_changes_made_in_amocrm_reach_the_sheet_with_dates_as_real_dates(cf_world: World):
    w, emu = cf_world, cf_world.sb.amocrm
    assert w.run("sync").created == 1
    lead = next(le for le in emu.leads() if le["name"] == "Ольга Новикова")
    product, interests = emu.find_field("Продукт"), emu.find_field("Интересы")
    standard = next(e["id"] for e in product["enums"] if e["value"] == "Стандарт")
    service = next(e["id"] for e in interests["enums"] if e["value"] == "Сервис")
    manager = next(u["id"] for u in emu.users() if u["name"] == "Менеджер")
    emu.edit_lead(
        lead["id"],
        custom_fields_values=[
            {"field_id": product["id"], "values": [{"enum_id": standard}]},
            {"field_id": interests["id"], "values": [{"enum_id": service}]},
            {"field_id": emu.find_field("Оплачено")["id"], "values": [{"value": False}]},
            {"field_id": emu.find_field("Дата встречи")["id"], "values": [{"value": unix("2027-01-20T00:00")}]},
            {"field_id": emu.find_field("Город")["id"], "values": None},
        ],
        tags=["Новый"],
        responsible_user_id=manager,
    )
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    row = only_row(w, "Ольга Новикова")
    assert row[col("Продукт")] == "Стандарт"
    assert row[col("Интересы")] == "Сервис"
    assert row[col("Оплачено")] is False
    assert row[col("Город")] in ("", None)
    assert row[col("Теги")] == "Новый"
    assert row[col("Ответственный")] == "Менеджер"
    # A real date: a serial number under a date format, shown as a date.
    serial = row[col("Дата встречи")]
    assert isinstance(serial, int | float)
    assert (datetime(1899, 12, 30) + timedelta(days=serial)).date().isoformat() == "2027-01-20"
    a1 = f"{chr(ord('A') + col('Дата встречи'))}2"
    assert w.sb.sheets.number_format(w.sid, w.tab, a1)["type"] == "DATE"


def test_edits_in_the_sheet_reach_amocrm_and_tags_are_sent_as_the_whole_set(cf_world: World):
    w, emu = cf_world, cf_world.sb.amocrm
    assert w.run("sync").created == 1
    lead_id = next(le["id"] for le in emu.leads() if le["name"] == "Ольга Новикова")
    row = 2
    edits = {
        "Продукт": "базовый",
        "Интересы": "Сервис; обучение",
        "Оплачено": "FALSE",
        "Дата встречи": "21.01.2027",
        "Количество": "7",
        "Теги": "VIP",  # "опт" taken off: amoCRM must detach it
        "Контакт: Должность": "Совладелец",
        "Город": "",
    }
    for name, value in edits.items():
        w.sb.sheets.edit_cell(w.sid, w.tab, f"{chr(ord('A') + col(name))}{row}", value)
    w.reset_stats()
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    lead = emu.lead(lead_id)
    assert cf(lead, "Продукт", emu)[0]["value"] == "Базовый"
    assert {v["value"] for v in cf(lead, "Интересы", emu)} == {"Сервис", "Обучение"}
    assert cf(lead, "Оплачено", emu)[0]["value"] is False
    assert cf(lead, "Дата встречи", emu)[0]["value"] == unix("2027-01-21T00:00")
    assert float(cf(lead, "Количество", emu)[0]["value"]) == 7
    assert cf(lead, "Город", emu) == []
    assert [t["name"] for t in lead["_embedded"]["tags"]] == ["VIP"]
    contact = emu.main_contact_of(lead_id)
    assert cf(contact, "Должность", _ContactFields(emu))[0]["value"] == "Совладелец"
    amo, _ = w.stats()
    # One PATCH of leads, one of contacts: values travel inside them, no request per field.
    assert amo["by_route"].get("PATCH /api/v4/leads") == 1, amo["by_route"]
    assert amo["by_route"].get("PATCH /api/v4/contacts") == 1, amo["by_route"]

    w.reset_stats()
    assert w.run("sync").exit_status == ExitStatus.OK
    amo, sheets = w.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])


def test_a_value_a_field_cannot_take_is_that_rows_problem_and_the_other_rows_go_through(world: World):
    good = [*NEW_ROW]
    unknown_option = [*NEW_ROW]
    unknown_option[1], unknown_option[col("Продукт")] = "Плохой вариант", "Платиновый"
    bad_date = [*NEW_ROW]
    bad_date[1], bad_date[col("Дата встречи")] = "Плохая дата", "когда-нибудь"
    bad_number = [*NEW_ROW]
    bad_number[1], bad_number[col("Количество")] = "Плохое число", "много"
    bad_flag = [*NEW_ROW]
    bad_flag[1], bad_flag[col("Оплачено")] = "Плохой флаг", "может быть"
    world.set_rows([unknown_option, good, bad_date, bad_number, bad_flag], HEADERS)
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    assert out.created == 1
    assert [le["name"] for le in world.sb.amocrm.leads() if le["name"] == "Ольга Новикова"] == ["Ольга Новикова"]
    problems = {p.row: p for p in out.problems}
    assert set(problems) == {2, 4, 5, 6}
    assert problems[2].column == "Продукт" and problems[2].value == "Платиновый"
    assert "Базовый, Стандарт, Премиум" in problems[2].message
    assert problems[4].column == "Дата встречи" and "2026-12-02" in problems[4].message
    assert problems[5].column == "Количество" and "not a number" in problems[5].message
    assert problems[6].column == "Оплачено" and "TRUE or FALSE" in problems[6].message


def test_read_only_columns_are_filled_never_sent_and_an_edit_there_is_replaced_once(world: World):
    emu = world.sb.amocrm
    headers = [*SAMPLE_HEADERS, "Создана", "Изменена", "Закрыта", "Ссылка", "UTM_SOURCE", "Юрлицо"]
    world.set_rows([], headers)
    assert world.run("sync").first_run
    won = world.status_id("Успешно реализовано")
    made = emu.create_lead(
        "Сделка из CRM",
        100,
        custom_fields_values=[
            {"field_id": emu.find_field("utm_source")["id"], "values": [{"value": "yandex"}]},
        ],
    )
    emu.edit_lead(made["id"], status_id=won)
    out = world.run("pull")
    assert out.exit_status == ExitStatus.OK, out.problems
    lead = emu.lead(made["id"])
    row = next(r for r in world.rows()[1:] if r[1] == "Сделка из CRM")
    row += [""] * (len(headers) - len(row))

    def moment(t: int) -> str:
        # Sheets infers ``yyyy-mm-dd h:mm:ss`` for a typed date-time: the hour has no leading zero.
        d = datetime.fromtimestamp(t, MOSCOW)
        return f"{d:%Y-%m-%d} {d.hour}:{d:%M}:"

    formatted = {h: row[headers.index(h)] for h in headers[7:]}
    assert formatted["Создана"].startswith(moment(lead["created_at"]))
    assert formatted["Изменена"].startswith(moment(lead["updated_at"]))
    assert formatted["Закрыта"].startswith(moment(lead["closed_at"]))
    assert formatted["Ссылка"].endswith(f"/leads/detail/{made['id']}")
    assert formatted["UTM_SOURCE"] == "yandex"

    number = next(i for i, r in enumerate(world.rows()) if r[1] == "Сделка из CRM") + 1
    world.sb.sheets.edit_cell(world.sid, world.tab, f"K{number}", "google")  # UTM_SOURCE, read-only
    world.sb.sheets.edit_cell(world.sid, world.tab, f"H{number}", "2020-01-01")  # Создана
    world.reset_stats()
    out = world.run("sync")
    amo, _ = world.stats()
    assert amo["mutating"] == 0, amo["by_route"]  # never sent
    again = next(r for r in world.rows()[1:] if r[1] == "Сделка из CRM")
    assert again[headers.index("UTM_SOURCE")] == "yandex"
    assert again[headers.index("Создана")].startswith(moment(lead["created_at"]))
    said = [n.message for n in out.notices if "read-only" in n.message]
    assert len(said) == 2, out.notices
    assert not [n for n in world.run("sync").notices if "read-only" in n.message]


def test_without_an_admin_token_the_responsible_column_shows_ids_and_a_typed_name_is_a_problem(world: World):
    emu = world.sb.amocrm
    emu.set_token_is_admin(False)
    headers = [*SAMPLE_HEADERS, "Ответственный"]
    world.set_rows([["", "Новая сделка", "", "", "100", "", "", ""]], headers)
    r = world.cli("check")
    assert r.returncode == 0, r.stdout + r.stderr
    check = r.stdout + r.stderr
    assert "administrator" in check and "user ids" in check
    assert world.run("sync").created == 1
    out = world.run("sync")  # the deal's values, the responsible user among them, come back on the next run
    assert out.exit_status == ExitStatus.OK, out.problems
    row = next(r for r in world.rows()[1:] if r[1] == "Новая сделка")
    lead = next(le for le in emu.leads() if le["name"] == "Новая сделка")
    assert str(row[7]) == str(lead["responsible_user_id"])
    world.sb.sheets.edit_cell(world.sid, world.tab, "H2", "Анна Соколова")
    world.reset_stats()
    out = world.run("sync")
    amo, _ = world.stats()
    assert amo["mutating"] == 0, amo["by_route"]
    assert [p.column for p in out.problems] == ["Ответственный"]
    assert "administrator" in out.problems[0].message


def city_required_in(world: World, status: str) -> int:
    """amoCRM requires Город of deals in this status of the main pipeline; the status's id."""
    emu = world.sb.amocrm
    sid = world.status_id(status)
    pipeline = emu.main_pipeline()["id"]
    emu.set_required_statuses(emu.find_field("Город")["id"], [{"pipeline_id": pipeline, "status_id": sid}])
    return sid


def test_amocrm_refusing_one_deal_is_that_rows_problem_in_amocrm_words(world: World):
    emu = world.sb.amocrm
    city_required_in(world, "Переговоры")
    headers = [*SAMPLE_HEADERS, "Город"]
    world.set_rows(
        [
            ["", "Без города", "", "", "100", "Переговоры", "", ""],
            ["", "С городом", "", "", "200", "Переговоры", "", "Пермь"],
            ["", "Просто сделка", "", "", "300", "", "", ""],
        ],
        headers,
    )
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    assert sorted(le["name"] for le in emu.leads()) == ["Просто сделка", "С городом"]
    [p] = out.problems
    assert p.row == 2 and "amoCRM" in p.message and str(emu.find_field("Город")["id"]) in p.message


def test_headers_that_bind_to_nothing_get_did_you_mean_in_check_and_in_the_run(world: World):
    headers = ["lead_id", "Имя", "Сума", "Стаутс", "Заметки"]
    world.set_rows([["", "Сделка", "5000", "Переговоры", "позвонить"]], headers)
    r = world.cli("check")
    said = r.stdout + r.stderr
    assert r.returncode == 0, said
    assert "'Сума'" in said and "did you mean 'Сумма'" in said
    assert "'Стаутс'" in said and "did you mean 'Статус'" in said
    assert "Заметки" in said and "did you mean" not in said.split("Заметки")[1].split("\n")[0]
    out = world.run("sync")
    messages = [n.message for n in out.notices]
    assert any("'Сума'" in m and "'Сумма'" in m for m in messages), messages
    assert any("'Стаутс'" in m and "'Статус'" in m for m in messages), messages


def test_check_warns_when_there_is_no_name_column(world: World):
    world.set_rows([], ["lead_id", "Сумма", "Статус"])
    r = world.cli("check")
    said = r.stdout + r.stderr
    assert r.returncode == 0, said
    assert "no Имя column" in said


def test_fields_with_one_name_bind_by_cf_id_and_a_code_binds_too(world: World):
    emu = world.sb.amocrm
    a = emu.add_custom_field("leads", "Регион", "text")
    b = emu.add_custom_field("leads", "Регион", "text")
    headers = [*SAMPLE_HEADERS, "Регион", f"cf:{b['id']}", "UTM_SOURCE"]
    world.set_rows([["", "Сделка", "", "", "1", "", "", "Север", "Юг", ""]], headers)
    out = world.run("sync")
    assert out.created == 1
    lead = next(le for le in emu.leads() if le["name"] == "Сделка")
    values = {f["field_id"]: f["values"][0]["value"] for f in lead.get("custom_fields_values") or []}
    assert values == {b["id"]: "Юг"}  # the shared name binds to neither
    [notice] = [n.message for n in out.notices if "Регион" in n.message]
    assert f"cf:{a['id']}" in notice and f"cf:{b['id']}" in notice


def test_fields_lists_every_custom_field_and_init_all_fields_writes_their_headers(world: World):
    r = world.cli("fields", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert listed["timezone"] == "Europe/Moscow"
    by_name = {f["name"]: f for f in listed["fields"]}
    assert by_name["Продукт"]["options"] == ["Базовый", "Стандарт", "Премиум"]
    assert by_name["Продукт"]["type"] == "select" and by_name["Продукт"]["entity"] == "lead"
    assert by_name["Должность"]["entity"] == "contact" and by_name["Должность"]["header"] == "Контакт: Должность"
    assert by_name["utm_source"]["writable"] is False and by_name["utm_source"]["code"] == "UTM_SOURCE"
    assert by_name["Юрлицо"]["writable"] is False

    world.sb.sheets.set_values(world.sid, world.tab, [[""] * len(SAMPLE_HEADERS)])
    r = world.cli("init", "--all-fields")
    assert r.returncode == 0, r.stderr
    header = world.rows()[0]
    assert header[: len(SAMPLE_HEADERS)] == SAMPLE_HEADERS
    assert "Продукт" in header and "Дата встречи" in header and "Источник" in header
    assert "utm_source" not in header and "Юрлицо" not in header  # not writable: not offered


def test_an_idle_sync_with_custom_columns_reads_the_field_catalog_once(cf_world: World):
    w = cf_world
    w.reset_stats()
    assert w.run("sync").created == 1
    amo, _ = w.stats()
    catalog_routes = ("GET /api/v4/leads/custom_fields", "GET /api/v4/contacts/custom_fields", "GET /api/v4/users")
    assert all(amo["by_route"].get(r) == 1 for r in catalog_routes), amo["by_route"]
    w.run("sync")
    w.reset_stats()
    assert w.run("sync").exit_status == ExitStatus.OK
    amo, sheets = w.stats()
    assert amo["requests"] == 3 and sheets["requests"] == 1, (amo["by_route"], sheets["by_route"])


def test_without_a_tags_column_tags_are_never_touched(world: World):
    emu = world.sb.amocrm
    assert world.run("sync").first_run
    made = emu.create_lead("С тегами", 100, tags=["VIP", "Опт"])
    world.run("sync")
    number = next(i for i, r in enumerate(world.rows()) if len(r) > 1 and r[1] == "С тегами") + 1
    world.sb.sheets.edit_cell(world.sid, world.tab, f"E{number}", "200")
    world.reset_stats()
    assert world.run("sync").exit_status == ExitStatus.OK
    amo, _ = world.stats()
    assert amo["by_route"].get("PATCH /api/v4/leads") == 1, amo["by_route"]
    lead = emu.lead(made["id"])
    assert lead["price"] == 200
    assert sorted(t["name"] for t in lead["_embedded"]["tags"]) == ["VIP", "Опт"]


def test_an_option_added_in_amocrm_is_taken_up_once_the_cached_catalog_is_an_hour_old(cf_world: World):
    w, emu = cf_world, cf_world.sb.amocrm
    assert w.run("sync").created == 1
    product = emu.find_field("Продукт")
    emu.delete_custom_field(product["id"])  # a field rebuilt with one more option (the sandbox cannot add one)
    emu.add_custom_field("leads", "Продукт", "select", enums=["Базовый", "Стандарт", "Премиум", "Платиновый"])
    w.sb.sheets.edit_cell(w.sid, w.tab, f"{chr(ord('A') + col('Продукт'))}2", "Платиновый")
    store = w.store()
    try:
        account, at, headers = store.account_catalog()
        out = w.run("sync")  # the cache is fresh: the new option is not known yet
        assert [p.column for p in out.problems] == ["Продукт"]
        store.remember_account(account, headers, at=at - 3600)
    finally:
        store.close()
    w.reset_stats()
    out = w.run("sync")
    amo, _ = w.stats()
    assert out.exit_status == ExitStatus.OK, out.problems
    assert amo["by_route"].get("GET /api/v4/leads/custom_fields", 0) >= 1, (amo["by_route"], out.problems)
    lead = next(le for le in emu.leads() if le["name"] == "Ольга Новикова")
    assert cf(lead, "Продукт", emu)[0]["value"] == "Платиновый"


def test_every_type_set_in_amocrm_reaches_its_cell(cf_world: World):
    w, emu = cf_world, cf_world.sb.amocrm
    assert w.run("sync").created == 1
    lead = next(le for le in emu.leads() if le["name"] == "Ольга Новикова")
    channel, category = emu.find_field("Канал"), emu.find_field("Категория")
    by_text = {e["value"]: e["id"] for f in (channel, category) for e in f["enums"]}
    values = {
        "Город": [{"value": "Самара"}],
        "Комментарий": [{"value": "=1+1 не формула"}],
        "Сайт": [{"value": "https://new.example"}],
        "Адрес": [{"value": "пр. Мира, 2"}],
        "Количество": [{"value": "3.75"}],
        "Предоплата": [{"value": "12000"}],
        "Оплачено": [{"value": False}],
        "Канал": [{"enum_id": by_text["Звонок"]}],
        "Категория": [{"enum_id": by_text["Розница"]}],
        "Интересы": None,
        "День рождения": [{"value": unix("1985-07-09T00:00")}],
        "Время звонка": [{"value": unix("2027-02-01T09:05")}],
        "Мессенджеры": [{"value": "+7 900 000-00-00", "enum_code": "WHATSAPP"}],
    }
    emu.edit_lead(
        lead["id"],
        custom_fields_values=[{"field_id": emu.find_field(k)["id"], "values": v} for k, v in values.items()],
    )
    contact = emu.main_contact_of(lead["id"])
    position = emu.find_field("Должность", "contacts")["id"]
    emu.edit_contact(contact["id"], custom_fields_values=[{"field_id": position, "values": [{"value": "Бухгалтер"}]}])
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    row = only_row(w, "Ольга Новикова")
    shown = only_row(w, "Ольга Новикова", "FORMATTED_VALUE")
    assert row[col("Город")] == "Самара"
    assert row[col("Комментарий")] == "=1+1 не формула"  # text from amoCRM is never evaluated
    assert row[col("Сайт")] == "https://new.example" and row[col("Адрес")] == "пр. Мира, 2"
    assert row[col("Количество")] == 3.75 and row[col("Предоплата")] == 12000
    assert row[col("Оплачено")] is False
    assert row[col("Канал")] == "Звонок" and row[col("Категория")] == "Розница"
    assert row[col("Интересы")] in ("", None)
    assert shown[col("День рождения")] == "1985-07-09"
    serial = row[col("Время звонка")]  # a real date-time: a serial number under a date-time format
    assert isinstance(serial, float) and datetime(1899, 12, 30) + timedelta(days=serial) - datetime(
        2027, 2, 1, 9, 5
    ) < timedelta(seconds=1)
    assert shown[col("Время звонка")].startswith("2027-02-01 9:05")
    assert row[col("Мессенджеры")] == "+7 900 000-00-00"
    assert row[col("Контакт: Должность")] == "Бухгалтер"
    w.reset_stats()
    assert w.run("sync").exit_status == ExitStatus.OK
    amo, sheets = w.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])


def test_amocrm_refusing_one_update_is_that_rows_problem_and_the_other_updates_go_through(world: World):
    emu = world.sb.amocrm
    headers = [*SAMPLE_HEADERS, "Город"]
    world.set_rows([["", "Первая", "", "", "100", "", "", ""], ["", "Вторая", "", "", "200", "", "", "Пермь"]], headers)
    assert world.run("sync").created == 2
    talks = city_required_in(world, "Переговоры")
    world.sb.sheets.edit_cell(world.sid, world.tab, "F2", "Переговоры")  # Первая has no Город
    world.sb.sheets.edit_cell(world.sid, world.tab, "F3", "Переговоры")
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "250")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    [p] = out.problems
    assert p.row == 2 and "amoCRM refused" in p.message and "Город" in p.message
    second = next(le for le in emu.leads() if le["name"] == "Вторая")
    assert second["status_id"] == talks and second["price"] == 250
    first = next(le for le in emu.leads() if le["name"] == "Первая")
    assert first["status_id"] != talks


def test_a_state_set_aside_for_another_account_takes_its_field_catalog_with_it(world: World):
    headers = [*SAMPLE_HEADERS, "Продукт"]
    world.set_rows([["", "Первая", "", "", "100", "", "", "Стандарт"]], headers)
    assert world.run("sync").created == 1
    world.run("pull", backfill=True)  # the state learns which account it is of
    # amoCRM restarted: another account at the same address, whose Продукт is another field
    emu = world.sb.restart_amocrm()
    emu.delete_custom_field(emu.find_field("Продукт")["id"])
    emu.add_custom_field("leads", "Продукт", "select", enums=["Альфа", "Бета"])
    emu.create_lead("Сделка нового аккаунта")  # what tells the run that the account is another one
    world.set_rows([["", "Вторая", "", "", "200", "", "", "Альфа"]], headers)
    out = world.run("sync", backfill=True)  # the listing of every deal shows the other account
    assert any("another account" in n.message for n in out.notices), out.notices
    assert out.created == 1 and not out.problems, out.problems
    lead = next(le for le in emu.leads() if le["name"] == "Вторая")
    assert cf(lead, "Продукт", emu)[0]["value"] == "Альфа"
