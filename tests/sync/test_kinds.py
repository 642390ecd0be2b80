"""Field kinds and header binding: a cell ↔ a canonical value ↔ amoCRM's JSON, for every type. Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amosheets.sync.catalog import Account, CustomField, field_set, header_notices, stale_reason
from amosheets.sync.fields import Key, match_headers, suggestions
from amosheets.sync.kinds import (
    Checkbox,
    DateText,
    Day,
    Kind,
    Moment,
    Number,
    Option,
    Options,
    Price,
    Tags,
    User,
    ValueProblem,
    kind_for,
)
from amosheets.sync.planner import header_signature

MOSCOW = ZoneInfo("Europe/Moscow")
PRODUCTS = ((11, "Базовый"), (12, "Стандарт"), (13, "Премиум"))


def test_numbers_are_read_the_way_people_type_them():
    n = Number()
    assert n.read("1 500") == n.read("1500") == n.read(1500.0) == n.read("1500,0") == 1500
    assert n.read("12,5") == 12.5 and n.read("") is None
    assert n.from_amo([{"value": "12.50"}]) == 12.5
    assert n.to_amo(1500) == [{"value": "1500"}] and n.to_amo(None) is None
    with pytest.raises(ValueProblem, match="not a number"):
        n.read("много")


def test_a_price_stays_a_whole_non_negative_amount():
    p = Price()
    assert p.read("15 000 ₽") == p.read(15000) == 15000 and p.read("") == 0
    for bad in ("-5", "10,55", True):
        with pytest.raises(ValueProblem):
            p.read(bad)


def test_checkboxes_read_yes_and_no_in_both_languages():
    c = Checkbox()
    assert all(c.read(v) is True for v in (True, "TRUE", "да", "Yes", "1"))
    assert all(c.read(v) is False for v in (False, "FALSE", "нет", "no", "0", "", None))
    assert c.to_amo(False) == [{"value": False}]
    with pytest.raises(ValueProblem, match="yes/no"):
        c.read("может быть")


def test_options_by_text_case_insensitively_sent_by_enum_id():
    o = Option(PRODUCTS)
    assert o.read(" премиум ") == 13 and o.cell(13) == "Премиум" and o.read("") is None
    assert o.to_amo(13) == [{"enum_id": 13}]
    assert o.from_amo([{"value": "Стандарт", "enum_id": 12}]) == 12
    with pytest.raises(ValueProblem, match="Базовый, Стандарт, Премиум"):
        o.read("Платиновый")


def test_a_multiselect_is_a_set_of_options():
    m = Options(PRODUCTS)
    assert m.read("премиум, Базовый") == m.read("Базовый;премиум") == (11, 13)
    assert m.cell((13, 11)) == "Базовый, Премиум" and m.read("") == ()
    assert m.to_amo(()) is None and m.to_amo((11,)) == [{"enum_id": 11}]


def test_dates_are_calendar_days_in_the_account_time_zone_and_real_date_cells():
    d = Day(MOSCOW)
    assert d.read("2026-12-02") == d.read("02.12.2026") == d.read(46358) == "2026-12-02"
    assert isinstance(d.cell("2026-12-02"), DateText)
    midnight = int(datetime(2026, 12, 2, tzinfo=MOSCOW).timestamp())
    assert d.to_amo("2026-12-02") == [{"value": midnight}]
    # 23:30 UTC on the 1st is already the 2nd in Moscow.
    assert d.from_amo([{"value": int(datetime(2026, 12, 1, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp())}]) == (
        "2026-12-02"
    )
    assert d.from_amo([{"value": "2026-12-02T00:00:00+03:00"}]) == "2026-12-02"
    with pytest.raises(ValueProblem, match="2026-12-02"):
        d.read("когда-нибудь")


def test_date_times_are_compared_to_the_minute():
    m = Moment(MOSCOW)
    assert m.read("2026-12-02 14:30") == m.read("02.12.2026 14:30:59") == "2026-12-02T14:30"
    assert m.read(46358 + 14.5 / 24) == "2026-12-02T14:30"  # a serial's float error does not lose the minute
    assert m.cell("2026-12-02T14:30") == "2026-12-02 14:30:00"
    assert m.to_amo("2026-12-02T14:30") == [{"value": int(datetime(2026, 12, 2, 14, 30, tzinfo=MOSCOW).timestamp())}]


def test_tags_are_a_set_and_users_are_names():
    t = Tags()
    assert t.read("VIP, опт, vip") == ("VIP", "опт") == t.read("опт;VIP")
    u = User({1: "Анна Соколова", 2: "Менеджер"})
    assert u.read("анна соколова") == 1 and u.cell(2) == "Менеджер" and u.writable
    with pytest.raises(ValueProblem, match="Анна Соколова, Менеджер"):
        u.read("Пётр")
    ids_only = User(None)
    assert not ids_only.writable and ids_only.read("2") == 2 and ids_only.cell(2) == 2
    with pytest.raises(ValueProblem, match="administrator"):
        ids_only.read("Менеджер")


def test_each_amocrm_type_gets_the_contract_kind():
    assert type(kind_for("textarea", (), MOSCOW)) is Kind
    assert isinstance(kind_for("monetary", (), MOSCOW), Number)
    assert isinstance(kind_for("radiobutton", PRODUCTS, MOSCOW), Option)
    assert isinstance(kind_for("birthday", (), MOSCOW), Day)
    assert not kind_for("legal_entity", (), MOSCOW).writable and not kind_for("items", (), MOSCOW).writable


kinds = st.sampled_from(
    [
        (Kind(), st.text().map(str.strip).filter(lambda s: not s.startswith(("'", "#")))),
        (Number(), st.integers(-(10**9), 10**9)),
        (Checkbox(), st.booleans()),
        (Option(PRODUCTS), st.sampled_from([11, 12, 13])),
        (Options(PRODUCTS), st.sets(st.sampled_from([11, 12, 13])).map(lambda s: tuple(sorted(s)))),
        (Day(MOSCOW), st.dates().map(lambda d: d.isoformat()).filter(lambda s: s >= "1900")),
        (Tags(), st.sets(st.sampled_from(["VIP", "Опт", "new"])).map(lambda s: tuple(sorted(s, key=str.casefold)))),
    ]
)


@given(st.data())
def test_a_value_written_into_a_cell_reads_back_as_itself(data):
    kind, values = data.draw(kinds)
    value = data.draw(values)
    assert kind.read(kind.cell(value)) == value


@given(st.data())
def test_a_value_sent_to_amocrm_comes_back_as_itself(data):
    kind, values = data.draw(kinds)
    value = data.draw(values)
    if isinstance(kind, Tags):
        return  # tags travel in _embedded.tags, not in custom_fields_values
    sent = kind.to_amo(value)
    # amoCRM answers options with their text as well, and numbers as decimal strings.
    echoed = [{**v, "value": str(v["value"])} if isinstance(kind, Number) else v for v in sent or []]
    assert kind.from_amo(echoed) == (kind.empty if kind.is_empty(value) else value)


ACCOUNT = Account(
    (
        CustomField(1, "Город", "text", "leads"),
        CustomField(2, "Регион", "text", "leads"),
        CustomField(3, "Регион", "select", "leads", enums=((5, "Север"),)),
        CustomField(4, "utm_source", "tracking_data", "leads", code="UTM_SOURCE"),
        CustomField(6, "Имя", "text", "leads"),
        CustomField(7, "Должность", "text", "contacts", code="POSITION"),
        CustomField(8, "Телефон", "multitext", "contacts", code="PHONE"),
    ),
    {1: "Анна"},
    "Europe/Moscow",
)


def test_headers_bind_by_name_cf_id_code_and_contact_prefix_and_built_ins_win():
    fields = field_set(ACCOUNT)
    h = match_headers(["lead_id", "ИМЯ", "город", "cf:3", "utm_source", "Контакт: Должность", "Теги", "Ссылка"], fields)
    assert h.columns[Key.NAME] == 1  # not the custom field called Имя
    assert set(h.columns) == {Key.NAME, "cf:1", "cf:3", "cf:4", "contact_cf:7", Key.TAGS, Key.LINK}
    assert not h.specs["cf:4"].writable and not h.specs[Key.LINK].writable
    # The contact's phone is the built-in Телефон column, not a second custom one.
    assert "contact_cf:8" not in fields.by_key


def test_a_name_two_fields_share_binds_to_neither_and_says_which_ids():
    fields = field_set(ACCOUNT)
    h = match_headers(["lead_id", "Имя", "Регион"], fields)
    assert set(h.columns) == {Key.NAME}
    [problem] = h.problems
    assert "cf:2" in problem and "cf:3" in problem


def test_a_near_miss_gets_the_closest_field_names():
    fields = field_set(ACCOUNT)
    assert suggestions("Сума", fields)[0] == "Сумма"
    assert suggestions("Стаутс", fields)[0] == "Статус"
    assert suggestions("Заметки менеджера", fields) == []
    h = match_headers(["lead_id", "Имя", "Сума", "Заметки менеджера"], fields)
    [notice] = header_notices(h, fields)
    assert "'Сума'" in notice.message and "did you mean 'Сумма'" in notice.message


def test_the_cached_catalog_is_read_again_only_when_something_names_what_it_lacks():
    header = ["lead_id", "Имя", "Регион", "cf:3"]
    then = header_signature(header)
    rows = [["1", "Сделка", "", "Север"]]
    fresh, hour = 60.0, 3601.0
    assert stale_reason(ACCOUNT, fresh, header, then, rows, [(1, ()), (3, (5,))]) is None
    assert stale_reason(ACCOUNT, 25 * 3600, header, then, rows, []) == "it is a day old"
    assert stale_reason(ACCOUNT, -5, header, then, rows, []) == "it is a day old"  # the clock was set back
    # A header the catalog cannot bind: once, when row 1 changes (a notes column does not cost a read a run).
    assert stale_reason(ACCOUNT, fresh, [*header, "Новое поле"], then, rows, []) is not None
    assert (
        stale_reason(ACCOUNT, fresh, [*header, "Новое поле"], header_signature([*header, "Новое поле"]), rows, [])
        is None
    )
    assert stale_reason(ACCOUNT, fresh, header, then, rows, [(99, ())]) == "a deal carries custom field 99"
    # An option the catalog lacks, in a deal or in the sheet: at most once an hour.
    assert stale_reason(ACCOUNT, fresh, header, then, rows, [(3, (6,))]) is None
    assert stale_reason(ACCOUNT, hour, header, then, rows, [(3, (6,))]) is not None
    typed = [["1", "Сделка", "", "Юг"]]
    assert stale_reason(ACCOUNT, fresh, header, then, typed, []) is None
    assert stale_reason(ACCOUNT, hour, header, then, typed, []) == "the sheet names an option it lacks"
    assert stale_reason(ACCOUNT, hour, header, then, [["1", "Сделка", "", "север"]], []) is None
