"""Dates and number formats in the Google Sheets emulator, through real gspread.

A date in Sheets is a serial number (days since 1899-12-30) in a cell whose number format is
DATE / DATE_TIME: USER_ENTERED parses date-looking text into one, RAW never does, reads give
the serial (UNFORMATTED_VALUE) or the text its pattern shows (FORMATTED_VALUE, or
FORMATTED_STRING). Plain ``requests`` only where gspread cannot say it (raw error bodies).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from amosheets.gspread_transport import client_for
from amosheets.sandbox.server import RunningServer
from amosheets.sandbox.sheets import SheetsEmulator, date_serial, format_date

TIMEOUT = 10
DEC_2 = 46358  # 2026-12-02
DEC_2_1430 = DEC_2 + (14 * 60 + 30) / 1440


@dataclass
class Env:
    emu: SheetsEmulator
    url: str
    sid: str
    gc: gspread.Client

    def ws(self) -> gspread.Worksheet:
        return self.gc.open_by_key(self.sid).sheet1

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=TIMEOUT, **kw)

    def ctl(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=TIMEOUT, **kw)


@pytest.fixture
def env(quota_free_sheets: tuple[SheetsEmulator, RunningServer]) -> Env:
    emu, server = quota_free_sheets
    sid = emu.create_spreadsheet("Dates", ["Sheet1"], locale="ru_RU")
    return Env(emu, server.url, sid, client_for(server.url, AnonymousCredentials()))


def repeat_cell(
    sheet: gspread.Spreadsheet,
    number_format: dict[str, Any] | None,
    fields: str = "userEnteredFormat.numberFormat",
    **rng: int,
) -> dict[str, Any]:
    cell = {"userEnteredFormat": {"numberFormat": number_format}} if number_format is not None else {}
    request = {"repeatCell": {"range": {"sheetId": 0, **rng}, "cell": cell, "fields": fields}}
    return sheet.batch_update({"requests": [request]})


def grid(env: Env, a1: str) -> list[dict[str, Any]]:
    meta = env.gc.open_by_key(env.sid).fetch_sheet_metadata(
        params={
            "includeGridData": "true",
            "ranges": f"Sheet1!{a1}",
            "fields": "sheets.data.rowData.values(userEnteredFormat.numberFormat,effectiveValue,userEnteredValue)",
        }
    )
    rows = meta["sheets"][0]["data"][0].get("rowData", [])
    return [row.get("values", [{}])[0] for row in rows]


# ---------------------------------------------------------------------------------------
# serials and patterns
# ---------------------------------------------------------------------------------------
def test_serial_numbers_and_default_patterns():
    assert date_serial(dt.date(1899, 12, 30)) == 0
    assert date_serial(dt.date(1900, 1, 1)) == 2
    assert date_serial(dt.datetime(1900, 2, 1, 15, 0)) == 33.625  # the documented examples
    assert date_serial(dt.date(2026, 12, 2)) == DEC_2
    assert format_date(DEC_2_1430, ("DATE_TIME", ""), "ru_RU") == "02.12.2026 14:30:00"
    assert format_date(DEC_2, ("DATE", ""), "ru_RU") == "02.12.2026"
    assert format_date(DEC_2_1430, ("DATE_TIME", ""), "en_US") == "12/2/2026 14:30:00"
    assert format_date(DEC_2_1430, ("TIME", ""), "en_US") == "2:30:00 PM"
    # m is the month, except right after an hour or before seconds
    assert format_date(DEC_2_1430, ("DATE_TIME", "yyyy-mm-dd hh:mm"), "ru_RU") == "2026-12-02 14:30"
    assert format_date(DEC_2, ("DATE", 'dddd", "d mmmm yy'), "en_US") == "Wednesday, 2 December 26"


# ---------------------------------------------------------------------------------------
# USER_ENTERED and RAW
# ---------------------------------------------------------------------------------------
def test_user_entered_dates_round_trip(env: Env):
    ws = env.ws()
    ws.update(
        [["2026-12-02"], ["2026-12-02 14:30"], ["2026-12-02 14:30:00"], ["02.12.2026"], ["02.12.2026 14:30"]],
        "A1",
        raw=False,
    )
    assert ws.get("A1:A5", value_render_option="UNFORMATTED_VALUE") == [
        [DEC_2],
        [pytest.approx(DEC_2_1430)],
        [pytest.approx(DEC_2_1430)],
        [DEC_2],
        [pytest.approx(DEC_2_1430)],
    ]
    assert type(ws.get("A1", value_render_option="UNFORMATTED_VALUE")[0][0]) is int
    shown = [["2026-12-02"], ["2026-12-02 14:30:00"], ["2026-12-02 14:30:00"], ["02.12.2026"], ["02.12.2026 14:30:00"]]
    assert ws.get("A1:A5") == shown  # FORMATTED_VALUE: as each cell's pattern shows it
    formatted = ws.get("A1:A5", value_render_option="UNFORMATTED_VALUE", date_time_render_option="FORMATTED_STRING")
    assert formatted == shown
    assert ws.get("A1", value_render_option="FORMULA") == [[DEC_2]]  # FORMULA reads a non-formula unformatted
    assert [c["userEnteredFormat"]["numberFormat"] for c in grid(env, "A1:A5")] == [
        {"type": "DATE", "pattern": "yyyy-mm-dd"},
        {"type": "DATE_TIME", "pattern": "yyyy-mm-dd h:mm:ss"},
        {"type": "DATE_TIME", "pattern": "yyyy-mm-dd h:mm:ss"},
        {"type": "DATE", "pattern": "dd.mm.yyyy"},
        {"type": "DATE_TIME", "pattern": "dd.mm.yyyy h:mm:ss"},
    ]
    assert grid(env, "A1")[0]["userEnteredValue"] == {"numberValue": DEC_2}
    assert grid(env, "A1")[0]["effectiveValue"] == {"numberValue": DEC_2}


def test_what_is_not_a_date_stays_text(env: Env):
    ws = env.ws()
    ws.update([["2026-02-30"], ["12/2/2026"], ["2026-12-02 25:00"], ["'2026-12-02"]], "A1", raw=False)
    # no such day; the en_US form in a ru_RU spreadsheet; no such hour; a leading apostrophe
    assert ws.get("A1:A4", value_render_option="UNFORMATTED_VALUE") == [
        ["2026-02-30"],
        ["12/2/2026"],
        ["2026-12-02 25:00"],
        ["2026-12-02"],
    ]
    assert env.emu.number_format(env.sid, None, "A4") is None


def test_en_us_spreadsheet_reads_its_own_local_form(env: Env):
    sid = env.emu.create_spreadsheet("US", locale="en_US")
    ws = env.gc.open_by_key(sid).sheet1
    ws.update([["12/2/2026"], ["02.12.2026"]], "A1", raw=False)
    assert ws.get("A1:A2", value_render_option="UNFORMATTED_VALUE") == [[DEC_2], ["02.12.2026"]]
    assert ws.get("A1") == [["12/2/2026"]]


def test_raw_never_parses(env: Env):
    ws = env.ws()
    ws.update([["2026-12-02", "02.12.2026 14:30"]], "A1", raw=True)
    assert ws.get("A1:B1", value_render_option="UNFORMATTED_VALUE") == [["2026-12-02", "02.12.2026 14:30"]]
    assert env.emu.number_format(env.sid, None, "A1") is None
    # not even into a DATE cell: the text stays text
    repeat_cell(ws.spreadsheet, {"type": "DATE", "pattern": "dd.mm.yyyy"}, startColumnIndex=2, endColumnIndex=3)
    ws.update([["2026-12-02"]], "C1", raw=True)
    assert ws.get("C1", value_render_option="UNFORMATTED_VALUE") == [["2026-12-02"]]


def test_values_batch_update_and_append_parse_dates_too(env: Env):
    ws = env.ws()
    ws.batch_update([{"range": "A1", "values": [["2026-12-02"]]}], value_input_option="USER_ENTERED")
    ws.append_rows([["02.12.2026 14:30"]], value_input_option="USER_ENTERED")
    assert ws.get("A1:A2", value_render_option="UNFORMATTED_VALUE") == [[DEC_2], [pytest.approx(DEC_2_1430)]]
    reply = ws.spreadsheet.values_update(
        "Sheet1!B1",
        params={
            "valueInputOption": "USER_ENTERED",
            "includeValuesInResponse": "true",
            "responseValueRenderOption": "UNFORMATTED_VALUE",
            "responseDateTimeRenderOption": "FORMATTED_STRING",
        },
        body={"values": [["2026-12-02"]]},
    )
    assert reply["updatedData"]["values"] == [["2026-12-02"]]


# ---------------------------------------------------------------------------------------
# cells that already carry a format
# ---------------------------------------------------------------------------------------
def test_a_date_cell_keeps_its_pattern(env: Env):
    ws = env.ws()
    repeat_cell(
        ws.spreadsheet, {"type": "DATE", "pattern": "dd.mm.yyyy"}, endRowIndex=5, startColumnIndex=0, endColumnIndex=1
    )
    ws.update([["2026-12-02"], ["2026-12-02 14:30"]], "A1", raw=False)
    assert ws.get("A1:A2") == [["02.12.2026"], ["02.12.2026"]]  # the time is there, the pattern hides it
    assert ws.get("A2", value_render_option="UNFORMATTED_VALUE") == [[pytest.approx(DEC_2_1430)]]
    assert env.emu.number_format(env.sid, None, "A2") == {"type": "DATE", "pattern": "dd.mm.yyyy"}


def test_numbers_into_date_cells_render_as_dates(env: Env):
    ws = env.ws()
    repeat_cell(ws.spreadsheet, {"type": "DATE"}, startColumnIndex=0, endColumnIndex=1)
    repeat_cell(ws.spreadsheet, {"type": "DATE_TIME"}, startColumnIndex=1, endColumnIndex=2)
    ws.update([[DEC_2, DEC_2_1430]], "A1", raw=True)
    ws.update([[DEC_2 + 1, DEC_2_1430 + 1]], "A2", raw=False)
    assert ws.get("A1:B2") == [  # no pattern of their own: the ru_RU defaults
        ["02.12.2026", "02.12.2026 14:30:00"],
        ["03.12.2026", "03.12.2026 14:30:00"],
    ]
    assert ws.get("A1:B1", value_render_option="UNFORMATTED_VALUE") == [[DEC_2, pytest.approx(DEC_2_1430)]]
    assert ws.get("A1", value_render_option="UNFORMATTED_VALUE", date_time_render_option="FORMATTED_STRING") == [
        ["02.12.2026"]
    ]
    assert grid(env, "A1")[0]["userEnteredValue"] == {"numberValue": DEC_2}
    assert grid(env, "A1")[0]["userEnteredFormat"] == {"numberFormat": {"type": "DATE"}}


def test_text_format_cells_keep_what_is_typed(env: Env):
    ws = env.ws()
    repeat_cell(ws.spreadsheet, {"type": "TEXT"}, startColumnIndex=0, endColumnIndex=1)
    typed = ["2026-12-02", "0003", "=1+2", "+7 999 123-45-67", "TRUE", "02.12.2026 14:30"]
    ws.update([[t] for t in typed], "A1", raw=False)
    assert ws.get("A1:A6", value_render_option="UNFORMATTED_VALUE") == [[t] for t in typed]
    assert ws.get("A1:A6", value_render_option="FORMULA") == [[t] for t in typed]
    assert env.emu.number_format(env.sid, None, "A1") == {"type": "TEXT"}
    env.emu.edit_cell(env.sid, None, "A7", "2026-12-02")  # a person typing into the column, too
    assert env.emu.cell(env.sid, None, "A7") == {"entered": "2026-12-02", "type": "string", "formatted": "2026-12-02"}


def test_number_patterns(env: Env):
    ws = env.ws()
    repeat_cell(ws.spreadsheet, {"type": "NUMBER", "pattern": "#,##0.00"}, startColumnIndex=0, endColumnIndex=1)
    repeat_cell(ws.spreadsheet, {"type": "PERCENT", "pattern": "0.0%"}, startColumnIndex=1, endColumnIndex=2)
    ws.update([[1234.5, 0.256]], "A1", raw=True)
    assert ws.get("A1:B1") == [["1,234.50", "25.6%"]]
    assert ws.get("A1:B1", value_render_option="UNFORMATTED_VALUE") == [[1234.5, 0.256]]


# ---------------------------------------------------------------------------------------
# repeatCell
# ---------------------------------------------------------------------------------------
def test_repeat_cell_sets_formats_beyond_the_data_and_reads_back(env: Env):
    ws = env.ws()
    ws.update([["2026-12-02"]], "A1", raw=True)  # text: a format does not turn it into a date
    repeat_cell(
        ws.spreadsheet,
        {"type": "DATE_TIME", "pattern": "dd.mm.yyyy hh:mm"},
        startRowIndex=0,
        endRowIndex=1000,
        startColumnIndex=0,
        endColumnIndex=1,
    )
    assert env.emu.number_format(env.sid, None, "A1000") == {"type": "DATE_TIME", "pattern": "dd.mm.yyyy hh:mm"}
    assert env.emu.number_format(env.sid, None, "B1") is None
    assert ws.get("A1", value_render_option="UNFORMATTED_VALUE") == [["2026-12-02"]]
    cells = grid(env, "A1:A3")
    assert cells[0] == {
        "userEnteredValue": {"stringValue": "2026-12-02"},
        "effectiveValue": {"stringValue": "2026-12-02"},
        "userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": "dd.mm.yyyy hh:mm"}},
    }
    assert cells[2] == {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": "dd.mm.yyyy hh:mm"}}}
    ws.update([["2026-12-02 14:30"]], "A999", raw=False)
    assert ws.get("A999") == [["02.12.2026 14:30"]]
    # other format fields are accepted and leave the number format alone; the whole format replaced clears it
    request = {
        "repeatCell": {
            "range": {"sheetId": 0, "endRowIndex": 1},
            "fields": "userEnteredFormat.textFormat.bold",
            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
        }
    }
    ws.spreadsheet.batch_update({"requests": [request]})
    assert env.emu.number_format(env.sid, None, "A1") is not None
    repeat_cell(ws.spreadsheet, None, fields="userEnteredFormat", endRowIndex=1)
    assert env.emu.number_format(env.sid, None, "A1") is None
    assert env.emu.number_format(env.sid, None, "A2") is not None


@pytest.mark.parametrize(
    ("number_format", "fields", "needle"),
    [
        ({"type": "DATES"}, "userEnteredFormat.numberFormat", '"DATES"'),
        ({"type": "DATE", "patern": "d"}, "userEnteredFormat.numberFormat", '"patern"'),
        ({"pattern": "dd.mm.yyyy"}, "userEnteredFormat.numberFormat", "type must be set"),
        ({"type": "DATE"}, "userEnteredFormat.numberFormatt", "Invalid field mask path"),
        ({"type": "DATE"}, "", "At least one field"),
    ],
)
def test_repeat_cell_is_strict(env: Env, number_format: dict[str, Any], fields: str, needle: str):
    ws = env.ws()
    with pytest.raises(gspread.exceptions.APIError) as exc:
        repeat_cell(ws.spreadsheet, number_format, fields=fields, endRowIndex=1)
    error = exc.value.response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]
    assert env.emu.number_format(env.sid, None, "A1") is None


def test_repeat_cell_range_and_atomicity(env: Env):
    body = {
        "requests": [
            {
                "repeatCell": {
                    "range": {"sheetId": 0, "endRowIndex": 2},
                    "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}},
                    "fields": "userEnteredFormat.numberFormat",
                }
            },
            {
                "repeatCell": {
                    "range": {"sheetId": 0, "endRowIndex": 1001},
                    "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}},
                    "fields": "userEnteredFormat.numberFormat",
                }
            },
        ]
    }
    r = env.raw("POST", f"/v4/spreadsheets/{env.sid}:batchUpdate", json=body)
    assert r.status_code == 400
    assert "exceeds grid limits" in r.json()["error"]["message"]
    assert env.emu.number_format(env.sid, None, "A1") is None  # the first request was rolled back too
    body["requests"][1]["repeatCell"]["range"] = {"sheetId": 42}
    assert "No grid with id: 42" in env.raw("POST", f"/v4/spreadsheets/{env.sid}:batchUpdate", json=body).text


# ---------------------------------------------------------------------------------------
# a person: typing, formats, sorting, inserting rows
# ---------------------------------------------------------------------------------------
def test_control_api_typing_and_formats(env: Env):
    emu, sid = env.emu, env.sid
    emu.edit_cell(sid, None, "A1", "2026-12-02")
    assert emu.cell(sid, None, "A1") == {"entered": DEC_2, "type": "number", "formatted": "2026-12-02"}
    assert emu.number_format(sid, None, "A1") == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    emu.edit_cell(sid, None, "A2", "02.12.2026 14:30")
    assert emu.formatted(sid, None, "A2") == "02.12.2026 14:30:00"
    emu.set_number_format(sid, None, "B1:B3", "DATE", "d mmm yyyy")
    emu.set_values(sid, None, [[DEC_2]], start="B1")
    assert emu.formatted(sid, None, "B1") == "2 Dec 2026"
    emu.set_number_format(sid, None, "B1:B3", None)
    assert emu.formatted(sid, None, "B1") == str(DEC_2)
    assert emu.values(sid, render="UNFORMATTED_VALUE", date_time_render="FORMATTED_STRING")[0] == ["2026-12-02", DEC_2]
    # over HTTP
    assert env.ctl("POST", f"/spreadsheets/{sid}/format", {"range": "C1", "type": "DATE_TIME"}).ok
    assert env.ctl("POST", f"/spreadsheets/{sid}/edit", {"a1": "C1", "text": DEC_2_1430}).ok
    got = env.ctl("GET", f"/spreadsheets/{sid}/format", params={"a1": "C1"}).json()
    assert got == {"numberFormat": {"type": "DATE_TIME"}, "formatted": "02.12.2026 14:30:00"}
    with pytest.raises(ValueError):
        emu.set_number_format(sid, None, "A1", "DATES")


def test_dates_sort_as_numbers_and_formats_move_with_rows(env: Env):
    emu, sid = env.emu, env.sid
    emu.set_values(sid, None, [["when", "who"]])
    for i, (when, who) in enumerate([("15.01.2027", "c"), ("2026-12-02", "a"), ("03.12.2026 10:00", "b")], start=2):
        emu.edit_cell(sid, None, f"A{i}", when)
        emu.edit_cell(sid, None, f"B{i}", who)
    emu.sort_rows(sid, None, 0)  # as text "03.12…" < "15.01…" < "2026…": as dates a, b, c
    assert emu.values(sid) == [["when", "who"], ["2026-12-02", "a"], ["03.12.2026 10:00:00", "b"], ["15.01.2027", "c"]]
    emu.sort_rows(sid, None, 0, descending=True)
    assert [r[1] for r in emu.values(sid)[1:]] == ["c", "b", "a"]
    emu.sort_column_only(sid, None, 0)
    assert [r[0] for r in emu.values(sid)[1:]] == ["2026-12-02", "03.12.2026 10:00:00", "15.01.2027"]


def test_inserted_rows_inherit_formats(env: Env):
    emu, sid = env.emu, env.sid
    sh = env.gc.open_by_key(sid)
    repeat_cell(sh, {"type": "DATE"}, startRowIndex=1, endRowIndex=3, startColumnIndex=0, endColumnIndex=1)
    emu.insert_rows(sid, None, 3)  # a person inserting a row under row 2: formatted like row 2
    assert emu.number_format(sid, None, "A3") == {"type": "DATE"}
    request = {
        "insertDimension": {
            "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2},
            "inheritFromBefore": True,
        }
    }
    sh.batch_update({"requests": [request]})  # after the header: formatted like the header (none)
    assert emu.number_format(sid, None, "A2") is None
    assert [emu.number_format(sid, None, f"A{r}") for r in (3, 4, 5, 6)] == [{"type": "DATE"}] * 3 + [None]
    emu.delete_rows(sid, None, 2, 3)
    assert [emu.number_format(sid, None, f"A{r}") for r in (2, 3, 4)] == [{"type": "DATE"}] * 2 + [None]
