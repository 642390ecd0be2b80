"""`amosheets init --format` (and `init` on a new tab) through the CLI against the sandbox: what it
sets is read back through the Sheets API, it costs one spreadsheets:batchUpdate, running it again
changes nothing, and what the tool then writes into the formatted columns reads back the same.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import gspread
import pytest
from google.auth.credentials import AnonymousCredentials

from amosheets.errors import ExitStatus
from amosheets.gspread_transport import client_for
from amosheets.sandbox import SAMPLE_HEADERS

from .conftest import World

MOSCOW = ZoneInfo("Europe/Moscow")  # the sandbox account's time zone
CUSTOM = ["Заметки", "Оплачено", "Продукт", "Интересы", "Дата встречи", "Время звонка", "Создана"]
HEADERS = [*SAMPLE_HEADERS, *CUSTOM]  # "Заметки" is no field of the account: never touched
CELLS = "sheets.data.rowData.values(userEnteredValue,userEnteredFormat,dataValidation)"
METADATA = "GET /v4/spreadsheets/{id}"
BATCH_UPDATE = "POST /v4/spreadsheets/{id}:batchUpdate"


def book(w: World) -> gspread.Spreadsheet:
    return client_for(w.sb.sheets_url, AnonymousCredentials()).open_by_key(w.sid)


def cells(w: World, a1: str) -> list[list[dict[str, Any]]]:
    """Each row of ``a1`` as grid data gives it, padded to the range's width."""
    meta = book(w).fetch_sheet_metadata(params={"ranges": f"'{w.tab}'!{a1}", "fields": CELLS})
    rows = [row.get("values", []) for row in meta["sheets"][0]["data"][0].get("rowData", [])]
    width = max((len(r) for r in rows), default=0)
    return [r + [{}] * (width - len(r)) for r in rows]


def column_of(header: str, headers: list[str] = HEADERS) -> int:
    return headers.index(header)


def cell(w: World, header: str, row: int = 2, headers: list[str] = HEADERS) -> dict[str, Any]:
    letter = chr(ord("A") + column_of(header, headers))
    got = cells(w, f"{letter}{row}")
    return got[0][0] if got and got[0] else {}


def rule(w: World, header: str, row: int = 2, headers: list[str] = HEADERS) -> dict[str, Any] | None:
    return cell(w, header, row, headers).get("dataValidation")


def listed(r: dict[str, Any] | None) -> list[str]:
    assert r is not None and r["condition"]["type"] == "ONE_OF_LIST", r
    return [v["userEnteredValue"] for v in r["condition"]["values"]]


def state(w: World) -> dict[str, Any]:
    """Everything init --format sets, as one read of the API shows it."""
    meta = book(w).fetch_sheet_metadata(
        params={
            "ranges": f"'{w.tab}'!A1:N4",
            "fields": f"sheets(properties.gridProperties,protectedRanges,{CELLS.removeprefix('sheets.')})",
        }
    )
    return meta["sheets"][0]


def status_names(w: World) -> list[str]:
    """What the Статус drop-down offers with a Воронка column: every pipeline's statuses, each name once,
    but not the incoming-leads one (amoCRM's API cannot put a deal there)."""
    names: list[str] = []
    for p in w.sb.amocrm.pipelines():
        statuses = sorted(p["_embedded"]["statuses"], key=lambda s: s["sort"])
        names += [s["name"] for s in statuses if s["type"] != 1 and s["name"] not in names]
    return names


def said(r: Any) -> str:
    return r.stdout + r.stderr


def ok(r: Any) -> None:
    assert r.returncode == 0, said(r)
    assert "Traceback" not in said(r)


@pytest.fixture
def custom(world: World) -> World:
    world.set_rows([["", "Иван", "", "", "", "", "", "своё"]], HEADERS)
    return world


def test_init_on_an_empty_tab_writes_the_headers_then_formats_them_in_one_batch_update(world: World):
    world.set_rows([], headers=[""])
    world.reset_stats()
    r = world.cli("init")
    ok(r)
    assert world.sb.sheets.stats()["by_route"] == {
        METADATA: 1,  # the tab, its protected ranges and row 2's formats
        "GET /v4/spreadsheets/{id}/values/{range}": 1,
        "POST /v4/spreadsheets/{id}/values:batchUpdate": 1,  # the header row
        BATCH_UPDATE: 1,  # everything else
    }
    assert world.rows() == [[*SAMPLE_HEADERS, "Синхронизация"]]
    sheet = state(world)
    assert sheet["properties"]["gridProperties"]["frozenRowCount"] == 1
    (protection,) = sheet["protectedRanges"]
    assert protection["warningOnly"] is True and protection["description"].startswith("amosheets:")
    assert protection["range"] == {"endColumnIndex": 1}  # all of column A (sheet 0's zeros are left out)
    header, row2 = sheet["data"][0]["rowData"][:2]
    assert [c["userEnteredFormat"] for c in header["values"]] == [{"textFormat": {"bold": True}}] * 8
    row2 = row2["values"]
    assert row2[column_of("Телефон")] == {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}}
    status = row2[column_of("Статус")]["dataValidation"]
    assert listed(status) == status_names(world)
    # a deal moved to the other pipeline from the sheet takes one of its statuses: not in this list
    assert status.get("strict") is None and status["showCustomUi"] is True
    pipelines = row2[column_of("Воронка")]["dataValidation"]
    assert listed(pipelines) == ["Воронка", "Партнёры"] and pipelines["strict"] is True
    assert all("dataValidation" not in row2[column_of(h)] for h in ("lead_id", "Имя", "Email", "Сумма"))
    assert f"Статус (F): a drop-down of the {len(status_names(world))} statuses of «Воронка», «Партнёры»" in said(r)
    assert "Неразобранное" not in listed(status)
    assert "lead_id (A): protected with a warning" in said(r)


def test_init_format_formats_a_tab_that_has_headers_and_leaves_unknown_columns_alone(custom: World):
    w = custom
    w.reset_stats()
    r = w.cli("init", "--format")
    ok(r)
    assert w.sb.sheets.stats()["by_route"] == {
        METADATA: 1,
        "GET /v4/spreadsheets/{id}/values/{range}": 1,
        "POST /v4/spreadsheets/{id}/values:batchUpdate": 1,  # the sync column's header, added
        BATCH_UPDATE: 1,
    }
    assert w.rows()[0] == [*HEADERS, "Синхронизация"]
    assert rule(w, "Оплачено") == {"condition": {"type": "BOOLEAN"}}
    product = rule(w, "Продукт")
    assert listed(product) == ["Базовый", "Стандарт", "Премиум"] and product is not None and product["strict"] is True
    interests = rule(w, "Интересы")  # several options in one cell: never one item of the list
    assert listed(interests) == ["Доставка", "Монтаж", "Сервис", "Обучение"] and "strict" not in (interests or {})
    number = {column: cell(w, column, row=900).get("userEnteredFormat") for column in CUSTOM[4:]}
    assert number == {
        "Дата встречи": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}},
        "Время звонка": {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}},
        "Создана": {"numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}},
    }
    # the column the tool does not know: no bold header, no rule, no format, its value as it was
    assert cell(w, "Заметки", row=1) == {"userEnteredValue": {"stringValue": "Заметки"}}
    assert cell(w, "Заметки") == {"userEnteredValue": {"stringValue": "своё"}}
    assert cell(w, "Оплачено", row=1)["userEnteredFormat"] == {"textFormat": {"bold": True}}
    for line in ("Оплачено (I): checkboxes", "Продукт (J): a drop-down of its 3 options", "Дата встречи (L): dates"):
        assert line in said(r)
    # plain init on a tab that has its header row and a sync column: nothing to add, and it says what --format does
    again = w.cli("init")
    ok(again)
    assert "nothing to add" in said(again) and "init --format" in said(again)


def test_running_it_again_changes_nothing_and_keeps_one_protected_range(custom: World):
    w = custom
    ok(w.cli("init", "--format"))
    first = state(w)
    mine = {"range": {"sheetId": 0, "startColumnIndex": 3, "endColumnIndex": 4}, "description": "e-mail: ask Анна"}
    book(w).batch_update({"requests": [{"addProtectedRange": {"protectedRange": mine}}]})
    w.reset_stats()
    ok(w.cli("init", "--format"))
    assert w.sb.sheets.stats()["by_route"][BATCH_UPDATE] == 1
    again = state(w)
    ours = [p for p in again["protectedRanges"] if p["description"].startswith("amosheets:")]
    assert ours == first["protectedRanges"]  # the same one, same id: updated, not added again
    assert [p["description"] for p in again["protectedRanges"]] == [ours[0]["description"], mine["description"]]
    assert again["data"] == first["data"] and again["properties"] == first["properties"]


def test_a_status_added_in_amocrm_joins_the_drop_down_when_it_runs_again(custom: World):
    w = custom
    ok(w.cli("init", "--format"))
    assert "Счёт выставлен" not in listed(rule(w, "Статус"))
    w.sb.amocrm.add_status("Счёт выставлен")
    ok(w.cli("init", "--format"))
    assert listed(rule(w, "Статус", row=500)) == status_names(w)
    assert "Счёт выставлен" in status_names(w)


def test_a_column_that_moved_does_not_keep_its_old_drop_down(custom: World):
    w = custom
    ok(w.cli("init", "--format"))
    moved = list(HEADERS)
    i, j = moved.index("Продукт"), moved.index("Имя")
    moved[i], moved[j] = moved[j], moved[i]
    w.set_rows([], moved)
    ok(w.cli("init", "--format"))
    assert listed(rule(w, "Продукт", headers=moved)) == ["Базовый", "Стандарт", "Премиум"]
    assert rule(w, "Имя", headers=moved) is None  # where Продукт was


def test_what_a_sync_writes_into_formatted_columns_reads_back_the_same(custom: World):
    """Dates under init's patterns are still the same day and minute, a phone in the plain-text column has
    no apostrophe added, a checkbox holds a boolean; and a second sync finds nothing to change."""
    w, amo = custom, custom.sb.amocrm
    w.sb.sheets.edit_cell(w.sid, w.tab, "A2", "")  # no row of its own to push
    w.sb.sheets.edit_cell(w.sid, w.tab, "B2", "")
    ok(w.cli("init", "--format"))
    field = {n: amo.find_field(n)["id"] for n in ("Оплачено", "Дата встречи", "Время звонка")}
    call = int(datetime(2026, 12, 10, 14, 30, tzinfo=MOSCOW).timestamp())
    amo.create_lead(
        "Ольга",
        phone="+7 911 000-11-22",
        custom_fields_values=[
            {"field_id": field["Оплачено"], "values": [{"value": True}]},
            {"field_id": field["Дата встречи"], "values": [{"value": "2026-12-02T00:00:00+03:00"}]},
            {"field_id": field["Время звонка"], "values": [{"value": call}]},
        ],
    )
    amo.create_lead("Пётр", phone="89991234567")  # digits only: a number, unless the cell is plain text
    ok(w.cli("pull", "--all"))
    rows = {r[1]: r for r in w.rows("UNFORMATTED_VALUE")[1:]}
    olga, petr = rows["Ольга"], rows["Пётр"]
    assert olga[column_of("Телефон")] == "+7 911 000-11-22" and petr[column_of("Телефон")] == "89991234567"
    assert olga[column_of("Оплачено")] is True and petr[column_of("Оплачено")] is False  # booleans: ticked, not
    shown = {r[1]: r for r in w.rows()[1:]}
    assert shown["Ольга"][column_of("Оплачено")] == "TRUE"
    assert shown["Ольга"][column_of("Дата встречи")] == "2026-12-02"
    assert shown["Ольга"][column_of("Время звонка")] == "2026-12-10 14:30"
    row = 1 + [r[1] for r in w.rows()].index("Ольга")
    assert cell(w, "Дата встречи", row=row)["userEnteredValue"] == {"numberValue": 46358}  # a real date
    assert cell(w, "Телефон", row=row)["userEnteredValue"] == {"stringValue": "+7 911 000-11-22"}
    w.reset_stats()
    ok(w.cli("sync"))
    amo_stats, sheets = w.stats()
    assert amo_stats["mutating"] == 0 and sheets["mutating"] == 0, (amo_stats["by_route"], sheets["by_route"])
    # a person unticks the checkbox: the cell holds FALSE, and amoCRM hears it
    w.sb.sheets.edit_cell(w.sid, w.tab, f"{chr(ord('A') + column_of('Оплачено'))}{row}", "FALSE")
    ok(w.cli("sync"))
    olga_lead = next(le for le in amo.leads() if le["name"] == "Ольга")
    paid = next(f for f in olga_lead["custom_fields_values"] if f["field_id"] == field["Оплачено"])
    assert paid["values"][0]["value"] is False


def test_rows_the_tool_adds_past_the_grid_are_formatted_like_the_rest(world: World):
    sheet_id = world.sb.sheets.sheet_id(world.sid, world.tab)
    grid = {"sheetId": sheet_id, "gridProperties": {"rowCount": 3}}
    book(world).batch_update(
        {"requests": [{"updateSheetProperties": {"properties": grid, "fields": "gridProperties.rowCount"}}]}
    )
    ok(world.cli("init", "--format"))
    for i in range(4):
        world.sb.amocrm.create_lead(f"Клиент {i}", phone=f"+7 900 000-00-0{i}")
    ok(world.cli("pull", "--all"))
    assert world.sb.sheets.grid_size(world.sid, world.tab)[0] >= 5
    last = len(world.rows())
    assert cell(world, "Телефон", row=last, headers=SAMPLE_HEADERS)["userEnteredValue"]["stringValue"].startswith("+7")
    assert cell(world, "Телефон", row=last, headers=SAMPLE_HEADERS)["userEnteredFormat"] == {
        "numberFormat": {"type": "TEXT"}
    }
    assert listed(rule(world, "Статус", row=last, headers=SAMPLE_HEADERS)) == status_names(world)


def test_without_the_amocrm_settings_init_writes_headers_and_init_format_names_what_is_missing(world: World):
    world.set_rows([], headers=[""])
    env = {k: v for k, v in world.env.items() if not k.startswith("AMOCRM_")}
    r = world.cli("init", env=env)
    ok(r)
    assert world.rows() == [[*SAMPLE_HEADERS, "Синхронизация"]]
    assert "not formatted" in r.stderr and "init --format" in r.stderr
    r = world.cli("init", "--format", env=env)
    assert r.returncode == ExitStatus.CONFIG and "AMOCRM_INTEGRATION_TOKEN" in r.stderr
    assert "Traceback" not in said(r)


def test_a_header_row_it_cannot_use_is_named_not_formatted(world: World):
    world.set_rows([["Иван", ""]], ["Имя", "Статус"])
    world.reset_stats()
    r = world.cli("init", "--format")
    assert r.returncode == ExitStatus.CONFIG and "no lead_id column" in r.stderr, said(r)
    assert "Traceback" not in said(r)
    assert BATCH_UPDATE not in world.sb.sheets.stats()["by_route"]


def test_the_format_request_goes_through_the_same_transport_as_every_sheet_request(custom: World):
    w = custom
    w.reset_stats()
    r = w.cli("--debug", "init", "--format")
    ok(r)
    lines = re.findall(r" Sheets (GET|POST) (\S+) → 200 ", r.stderr)
    assert len(lines) == w.sb.sheets.stats()["requests"] == 4
    assert ("POST", f"/v4/spreadsheets/{w.sid}:batchUpdate") in lines


def test_help_says_what_format_sets_with_one_example_a_line(world: World):
    r = world.cli("init", "--help")
    ok(r)
    assert "--format" in r.stdout and "drop-downs" in r.stdout and "checkboxes" in r.stdout
    examples = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("amosheets init")]
    assert examples == [
        "amosheets init",
        "amosheets init --all-fields",
        "amosheets init --format",
        "amosheets init --pair partners --format",
    ]
