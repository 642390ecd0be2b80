"""The Google Sheets emulator, driven by real gspread as the project drives Google.

Every behaviour is observed through gspread (pointed at the emulator by
``amosheets.gspread_transport.client_for``) except where gspread cannot express the request
(a missing valueInputOption, an unknown batchUpdate request, raw error bodies): those use
plain ``requests``. The emulator's Python control API is used for setup and inspection.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from gspread.http_client import HTTPClient

from amosheets import gspread_transport
from amosheets.gspread_transport import client_for, http_client_for
from amosheets.sandbox.server import RunningServer
from amosheets.sandbox.sheets import SheetsEmulator

TIMEOUT = 10
VALUES_GET = "GET /v4/spreadsheets/{id}/values/{range}"
METADATA_GET = "GET /v4/spreadsheets/{id}"


@dataclass
class Env:
    emu: SheetsEmulator
    url: str
    sid: str
    gc: gspread.Client

    def open(self) -> gspread.Spreadsheet:
        return self.gc.open_by_key(self.sid)

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        """A request to the API with plain requests (for what gspread cannot send)."""
        return requests.request(method, self.url + path, timeout=TIMEOUT, **kw)

    def ctl(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=TIMEOUT, **kw)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SheetsEmulator, RunningServer]]:
    emu = SheetsEmulator()
    with RunningServer(emu) as server:
        yield emu, server


@pytest.fixture
def env(served: tuple[SheetsEmulator, RunningServer]) -> Env:
    emu, server = served
    emu.set_faults()
    emu.set_quotas(None, None)  # the quota tests set their own small quotas
    emu.latency = 0.0
    sid = emu.create_spreadsheet("Test book", ["Sheet1", "My Sheet", "It's", "A/B"])
    emu.reset_stats()
    return Env(emu, server.url, sid, client_for(server.url, AnonymousCredentials()))


def api_error(exc: pytest.ExceptionInfo[gspread.exceptions.APIError]) -> dict[str, Any]:
    return exc.value.response.json()["error"]


# ---------------------------------------------------------------------------------------
# transport
# ---------------------------------------------------------------------------------------
def test_transport_rewrites_only_the_sheets_origin(monkeypatch: pytest.MonkeyPatch):
    cls = http_client_for("http://127.0.0.1:9/")
    assert issubclass(cls, HTTPClient)
    client = cls(AnonymousCredentials())
    seen: list[str] = []

    class FakeResponse:
        ok = True
        status_code = 200

    def fake_request(method: str, url: str, **kw: Any) -> FakeResponse:
        seen.append(url)
        return FakeResponse()

    monkeypatch.setattr(client.session, "request", fake_request)
    client.request("get", "https://sheets.googleapis.com/v4/spreadsheets/abc/values/A1")
    client.request("get", "https://www.googleapis.com/drive/v3/files/abc")
    client.request("get", "https://sheets.googleapis.com.evil.example/v4/x")
    assert seen == [
        "http://127.0.0.1:9/v4/spreadsheets/abc/values/A1",
        "https://www.googleapis.com/drive/v3/files/abc",
        "https://sheets.googleapis.com.evil.example/v4/x",
    ]


def test_client_for_none_talks_to_google_with_timeouts(monkeypatch: pytest.MonkeyPatch):
    gc = client_for(None, AnonymousCredentials())
    assert isinstance(gc.http_client, HTTPClient)
    seen: list[tuple[str, Any]] = []

    class FakeResponse:
        ok = True
        status_code = 200

    def fake_request(method: str, url: str, **kw: Any) -> FakeResponse:
        seen.append((url, kw["timeout"]))
        return FakeResponse()

    monkeypatch.setattr(gc.http_client.session, "request", fake_request)
    gc.http_client.request("get", "https://sheets.googleapis.com/v4/spreadsheets/abc")
    assert seen == [("https://sheets.googleapis.com/v4/spreadsheets/abc", gspread_transport.TIMEOUT)]


# ---------------------------------------------------------------------------------------
# metadata, worksheets, counters
# ---------------------------------------------------------------------------------------
def test_open_by_key_and_metadata_shape(env: Env):
    sh = env.open()
    assert sh.title == "Test book"
    assert sh.locale == "en_US"
    assert [w.title for w in sh.worksheets()] == ["Sheet1", "My Sheet", "It's", "A/B"]
    ws = sh.sheet1
    assert (ws.id, ws.index, ws.row_count, ws.col_count) == (0, 0, 1000, 26)
    other = sh.worksheet("My Sheet")
    assert other.id != 1 and other.index == 1  # sheet ids are not indexes
    meta = sh.fetch_sheet_metadata()
    assert meta["spreadsheetId"] == env.sid
    assert meta["properties"]["autoRecalc"] == "ON_CHANGE"
    assert meta["spreadsheetUrl"].endswith(f"/d/{env.sid}/edit")
    assert meta["sheets"][0]["properties"] == {
        "sheetId": 0,
        "title": "Sheet1",
        "index": 0,
        "sheetType": "GRID",
        "gridProperties": {"rowCount": 1000, "columnCount": 26},
    }
    assert "data" not in meta["sheets"][0]
    with pytest.raises(gspread.exceptions.WorksheetNotFound):
        sh.worksheet("Nope")


def test_metadata_fields_mask_and_grid_data(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", 1]])
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}", params={"fields": "sheets(properties(title,sheetId))"})
    assert r.json() == {
        "sheets": [
            {"properties": {"title": t, "sheetId": env.emu.sheet_id(env.sid, t)}}
            for t in (
                "Sheet1",
                "My Sheet",
                "It's",
                "A/B",
            )
        ]
    }
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}", params={"includeGridData": "true", "ranges": "Sheet1!A1:B1"})
    sheets = r.json()["sheets"]
    assert len(sheets) == 1
    cells = sheets[0]["data"][0]["rowData"][0]["values"]
    assert cells[0]["userEnteredValue"] == {"stringValue": "a"}
    assert cells[1]["effectiveValue"] == {"numberValue": 1}


def test_counters_by_route(env: Env):
    sh = env.open()
    assert env.emu.stats()["by_route"] == {METADATA_GET: 1}
    ws = sh.sheet1  # gspread fetches the metadata again
    env.emu.reset_stats()
    ws.get_all_values()
    stats = env.emu.stats()
    assert stats["by_route"] == {VALUES_GET: 1}
    assert (stats["requests"], stats["reads"], stats["mutating"]) == (1, 1, 0)
    ws.batch_update([{"range": "A1", "values": [["x"]]}])
    assert env.emu.stats()["by_route"]["POST /v4/spreadsheets/{id}/values:batchUpdate"] == 1
    # control requests are not counted
    before = env.emu.stats()["requests"]
    assert env.ctl("GET", "/stats").status_code == 200
    assert env.ctl("GET", f"/spreadsheets/{env.sid}/values", params={"sheet": "Sheet1"}).status_code == 200
    assert env.emu.stats()["requests"] == before


def test_route_names_group_ids_and_ranges(env: Env):
    emu = env.emu
    assert emu.route_name("/v4/spreadsheets/abc") == METADATA_GET.split(" ")[1]
    assert emu.route_name("/v4/spreadsheets/abc:batchUpdate") == "/v4/spreadsheets/{id}:batchUpdate"
    assert emu.route_name("/v4/spreadsheets/abc/values/'A/B'!A1:B2") == "/v4/spreadsheets/{id}/values/{range}"
    assert emu.route_name("/v4/spreadsheets/abc/values/Sheet1!A1:append") == (
        "/v4/spreadsheets/{id}/values/{range}:append"
    )
    assert emu.route_name("/v4/spreadsheets/abc/values:batchGet") == "/v4/spreadsheets/{id}/values:batchGet"


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
def test_trimming_like_the_api(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b", ""], [], ["", "c"], [], []])
    sh = env.open()
    raw = sh.values_get("'Sheet1'")
    assert raw == {"range": "Sheet1!A1:Z1000", "majorDimension": "ROWS", "values": [["a", "b"], [], ["", "c"]]}
    empty = sh.values_get("'Sheet1'!E10:F12")
    assert empty == {"range": "Sheet1!E10:F12", "majorDimension": "ROWS"}  # no "values" key at all
    assert sh.values_get("'Sheet1'!A2:2") == {"range": "Sheet1!A2:Z2", "majorDimension": "ROWS"}
    # gspread pads what the API trims
    assert sh.sheet1.get_all_values() == [["a", "b"], ["", ""], ["", "c"]]


def test_columns_major_dimension(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b"], ["c"]])
    sh = env.open()
    got = sh.values_get("Sheet1!A1:C3", params={"majorDimension": "COLUMNS"})
    assert got["values"] == [["a", "c"], ["b"]]
    sh.values_update(
        "Sheet1!D1", params={"valueInputOption": "RAW"}, body={"majorDimension": "COLUMNS", "values": [[1, 2]]}
    )
    assert env.emu.values(env.sid, "Sheet1", "UNFORMATTED_VALUE") == [["a", "b", "", 1], ["c", "", "", 2]]


def test_render_options(env: Env):
    ws = env.open().sheet1
    ws.update([[1500, 1.5, 79991234567, True, "=1+2", "=10/4", "text", -2.0]], "A1", raw=False)
    assert ws.get("A1:H1") == [["1500", "1.5", "79991234567", "TRUE", "3", "2.5", "text", "-2"]]
    assert ws.get("A1:H1", value_render_option="UNFORMATTED_VALUE") == [
        [1500, 1.5, 79991234567, True, 3, 2.5, "text", -2]
    ]
    assert ws.get("A1:H1", value_render_option="FORMULA") == [
        [1500, 1.5, 79991234567, True, "=1+2", "=10/4", "text", -2]
    ]
    unformatted = ws.get("A1:A1", value_render_option="UNFORMATTED_VALUE")[0][0]
    assert type(unformatted) is int  # integral numbers come back as JSON integers


def test_batch_get_and_cell(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b"], ["c", "d"]])
    ws = env.open().sheet1
    got = ws.batch_get(["A1:B1", "B2", "F10"])
    assert [list(v) for v in got] == [[["a", "b"]], [["d"]], []]
    assert [v.range for v in got] == ["Sheet1!A1:B1", "Sheet1!B2", "Sheet1!F10"]
    assert ws.cell(2, 1).value == "c"
    assert ws.cell(9, 9).value is None
    assert ws.acell("B1").value == "b"


def test_reads_beyond_the_grid_are_rejected(env: Env):
    ws = env.open().sheet1
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.get("A1001")
    assert exc.value.code == 400
    assert api_error(exc) == {
        "code": 400,
        "message": "Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000, max columns: 26",
        "status": "INVALID_ARGUMENT",
    }
    with pytest.raises(gspread.exceptions.APIError):
        ws.get("AA1")


def test_unparsable_and_unknown_ranges(env: Env):
    sh = env.open()
    for bad in ("Nope!A1", "Sheet1!A0", "Sheet1!A1:B2:C3", "Nope"):
        with pytest.raises(gspread.exceptions.APIError) as exc:
            sh.values_get(bad)
        assert api_error(exc) == {"code": 400, "message": f"Unable to parse range: {bad}", "status": "INVALID_ARGUMENT"}
    # no sheet name: the first sheet; a bare title: that whole sheet
    env.emu.set_values(env.sid, "My Sheet", [["m"]])
    assert sh.values_get("A1")["range"] == "Sheet1!A1"
    assert sh.values_get("My Sheet")["values"] == [["m"]]


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def test_raw_keeps_text_user_entered_parses_it(env: Env):
    ws = env.open().sheet1
    crm = ['=IMPORTXML("http://evil.example","//a")', "+7 999 123-45-67", "0003", "'0003", "1,500", "TRUE", "-2.5"]
    ws.update([crm], "A1", raw=True)
    ws.update([crm], "A2", raw=False)
    ws.update([crm], "A3", value_input_option="USER_ENTERED")
    assert ws.get("A2:G3", value_render_option="FORMULA") == [ws.get("A2:G2", value_render_option="FORMULA")[0]] * 2
    cell = env.emu.cell
    for col in "ABCDEFG":
        assert cell(env.sid, "Sheet1", f"{col}1")["type"] == "string"
    assert ws.get("A1:G1", value_render_option="UNFORMATTED_VALUE") == [crm]
    assert cell(env.sid, "Sheet1", "A2") == {
        "entered": crm[0],
        "type": "formula",
        "formatted": "#NAME?",
    }
    assert cell(env.sid, "Sheet1", "B2") == {"entered": "=+7 999 123-45-67", "type": "formula", "formatted": "#ERROR!"}
    assert cell(env.sid, "Sheet1", "C2") == {"entered": 3, "type": "number", "formatted": "3"}
    assert cell(env.sid, "Sheet1", "D2") == {"entered": "0003", "type": "string", "formatted": "0003"}
    assert ws.get("A2:G2") == [["#NAME?", "#ERROR!", "3", "0003", "1500", "TRUE", "-2.5"]]
    assert ws.get("A2:G2", value_render_option="UNFORMATTED_VALUE") == [
        ["#NAME?", "#ERROR!", 3, "0003", 1500, True, -2.5]
    ]
    assert ws.get("A2:B2", value_render_option="FORMULA") == [[crm[0], "=+7 999 123-45-67"]]


def test_user_entered_phone_numbers(env: Env):
    ws = env.open().sheet1
    ws.update([["+79991234567", "+7 (999) 123-45-67", "8 999 123 45 67"]], "A1", raw=False)
    assert env.emu.cell(env.sid, "Sheet1", "A1") == {
        "entered": 79991234567,
        "type": "number",
        "formatted": "79991234567",
    }
    assert env.emu.cell(env.sid, "Sheet1", "B1")["formatted"] == "#ERROR!"
    assert env.emu.cell(env.sid, "Sheet1", "C1")["type"] == "string"


def test_update_cell_is_user_entered(env: Env):
    ws = env.open().sheet1
    env.emu.reset_stats()
    ws.update_cell(2, 3, "0003")
    ws.update_cell(2, 4, "+7 999 123-45-67")
    assert env.emu.stats()["by_route"] == {"PUT /v4/spreadsheets/{id}/values/{range}": 2}  # one request per cell
    assert ws.cell(2, 3).value == "3"
    assert ws.cell(2, 4).value == "#ERROR!"


def test_null_skips_empty_string_clears(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b", "c"]])
    ws = env.open().sheet1
    reply = ws.update([[None, "", "z"]], "A1")
    assert reply["updatedCells"] == 2
    assert ws.get_all_values() == [["a", "", "z"]]
    assert env.emu.cell(env.sid, "Sheet1", "B1")["type"] == "empty"


def test_update_reply_shape(env: Env):
    ws = env.open().sheet1
    reply = ws.update([["a", "b"], ["c"]], "B2")
    assert reply == {
        "spreadsheetId": env.sid,
        "updatedRange": "Sheet1!B2:C3",
        "updatedRows": 2,
        "updatedColumns": 2,
        "updatedCells": 3,
    }
    reply = ws.update([["=1+1"]], "A1", raw=False, include_values_in_response=True)
    assert reply["updatedData"] == {"range": "Sheet1!A1", "majorDimension": "ROWS", "values": [["2"]]}


def test_quoted_titles(env: Env):
    sh = env.open()
    for title in ("My Sheet", "It's", "A/B"):
        ws = sh.worksheet(title)
        ws.update([[title]], "B2")
        assert ws.get_all_values() == [["", ""], ["", title]]
        assert env.emu.values(env.sid, title) == [[], ["", title]]
    assert sh.values_get("'My Sheet'!B2")["range"] == "'My Sheet'!B2"
    assert sh.values_get("'It''s'!B2")["values"] == [["It's"]]
    assert sh.values_get("'A/B'!A1:B2")["range"] == "'A/B'!A1:B2"
    # gspread sends "/" as %2F; a client that leaves it literal reaches the same sheet
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}/values/'A/B'!B2")
    assert r.status_code == 200 and r.json()["values"] == [["A/B"]]


def test_writes_beyond_the_grid_are_rejected(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["keep"]])
    ws = env.open().sheet1
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x"]], "A1001")
    assert exc.value.code == 400
    assert api_error(exc)["message"] == "Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000, max columns: 26"
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x"], ["y"]], "A1000")  # the data runs off the grid
    assert "exceeds grid limits" in api_error(exc)["message"]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([list(range(27))], "A5")
    assert exc.value.code == 400
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([[1], [2], [3]], "A1:B2")
    assert api_error(exc)["message"] == "Requested writing within range [Sheet1!A1:B2], but tried writing to row [3]"
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([[1, 2, 3]], "A1:B2")
    assert api_error(exc)["message"] == "Requested writing within range [Sheet1!A1:B2], but tried writing to column [C]"
    assert env.emu.values(env.sid, "Sheet1") == [["keep"]]  # nothing was written


def test_values_batch_update_is_all_or_nothing(env: Env):
    ws = env.open().sheet1
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.batch_update([{"range": "A1", "values": [["ok"]]}, {"range": "A1001", "values": [["bad"]]}])
    assert exc.value.code == 400
    assert env.emu.values(env.sid, "Sheet1") == []
    reply = ws.batch_update(
        [{"range": "A1", "values": [["ok", "=1+1"]]}, {"range": "B3", "values": [["x"]]}], value_input_option="RAW"
    )
    assert (reply["totalUpdatedCells"], reply["totalUpdatedSheets"], len(reply["responses"])) == (3, 1, 2)
    assert env.emu.cell(env.sid, "Sheet1", "B1")["type"] == "string"


def test_spreadsheet_level_values_calls(env: Env):
    sh = env.open()
    reply = sh.values_batch_update(
        {
            "valueInputOption": "USER_ENTERED",
            "data": [{"range": "Sheet1!A1", "values": [["=2*3"]]}, {"range": "'My Sheet'!A1", "values": [["m"]]}],
        }
    )
    assert reply["totalUpdatedSheets"] == 2
    assert sh.values_get("Sheet1!A1", params={"valueRenderOption": "UNFORMATTED_VALUE"})["values"] == [[6]]


def test_cell_over_50000_characters_rejected(env: Env):
    ws = env.open().sheet1
    ws.update([["x" * 50_000]], "A1")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["y" * 50_001]], "A2")
    assert api_error(exc) == {
        "code": 400,
        "message": "Your input contains more than the maximum of 50000 characters in a single cell.",
        "status": "INVALID_ARGUMENT",
    }
    assert len(env.emu.values(env.sid, "Sheet1")) == 1


def test_value_input_option_is_required(env: Env):
    path = f"/v4/spreadsheets/{env.sid}/values/Sheet1!A1"
    r = env.raw("PUT", path, json={"values": [["x"]]})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {
        "error": {
            "code": 400,
            "message": "'valueInputOption' is required but not specified",
            "status": "INVALID_ARGUMENT",
        }
    }
    r = env.raw("PUT", path, params={"valueInputOption": "SOMETIMES"}, json={"values": [["x"]]})
    assert r.status_code == 400
    r = env.raw("POST", f"/v4/spreadsheets/{env.sid}/values:batchUpdate", json={"data": []})
    assert r.status_code == 400
    r = env.raw("PUT", path, params={"valueInputOption": "RAW"}, json={"values": [["x"]], "bogus": 1})
    assert r.status_code == 400 and "Unknown name" in r.json()["error"]["message"]
    r = env.raw("PUT", path, params={"valueInputOption": "RAW"}, json={"range": "Sheet1!A2", "values": [["x"]]})
    assert r.status_code == 400
    assert env.emu.values(env.sid, "Sheet1") == []


def test_clear_and_batch_clear(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b"], ["c", "d"]])
    ws = env.open().sheet1
    assert ws.batch_clear(["A1", "B2"]) == {"spreadsheetId": env.sid, "clearedRanges": ["Sheet1!A1", "Sheet1!B2"]}
    assert ws.get_all_values() == [["", "b"], ["c", ""]]
    assert ws.clear() == {"spreadsheetId": env.sid, "clearedRange": "Sheet1!A1:Z1000"}
    assert ws.get_all_values() == [[]]


# ---------------------------------------------------------------------------------------
# append, rows, grid
# ---------------------------------------------------------------------------------------
def test_append_rows_writes_after_the_table_and_grows_the_grid(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["h1", "h2"], ["a", "b"], ["c", "d"]])
    env.emu.sheet_id(env.sid, "Sheet1")
    sh = env.open()
    ws = sh.sheet1
    ws.resize(rows=3)
    reply = ws.append_rows([["e", "f"], ["g", "=1+1"]])
    assert reply["tableRange"] == "Sheet1!A1:B3"
    assert reply["updates"]["updatedRange"] == "Sheet1!A4:B5"
    assert env.emu.grid_size(env.sid, "Sheet1") == (5, 26)
    assert env.emu.cell(env.sid, "Sheet1", "B5")["type"] == "string"  # append_rows defaults to RAW
    ws.append_row(["i", "j"], value_input_option="USER_ENTERED", insert_data_option="INSERT_ROWS")
    assert env.emu.grid_size(env.sid, "Sheet1") == (6, 26)
    assert env.emu.values(env.sid, "Sheet1")[-1] == ["i", "j"]
    # columns grow too
    ws.append_row(list(range(30)))
    assert env.emu.grid_size(env.sid, "Sheet1")[1] == 30


def test_append_to_empty_sheet_and_real_table_detection(env: Env):
    ws = env.open().sheet1
    first = ws.append_row(["x", "", "y"])
    assert "tableRange" not in first and first["updates"]["updatedRange"] == "Sheet1!A1:C1"
    second = ws.append_row(["x", "", "y"])
    # what the real API answered in this case (gspread's recorded test): the "table" is C1 alone
    assert second["tableRange"] == "Sheet1!C1"
    assert second["updates"]["updatedRange"] == "Sheet1!C2:E2"


def test_insert_row_and_delete_rows(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["1"], ["2"], ["3"]])
    ws = env.open().sheet1
    ws.insert_row(["new"], index=2)
    assert env.emu.values(env.sid, "Sheet1") == [["1"], ["new"], ["2"], ["3"]]
    assert env.emu.grid_size(env.sid, "Sheet1") == (1001, 26)
    ws.insert_rows([["a"], ["b"]], row=1)
    assert env.emu.values(env.sid, "Sheet1")[:3] == [["a"], ["b"], ["1"]]
    ws.delete_rows(1, 3)
    assert env.emu.values(env.sid, "Sheet1") == [["new"], ["2"], ["3"]]
    assert env.emu.grid_size(env.sid, "Sheet1") == (1000, 26)
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.delete_rows(1, 1000)
    assert "not possible to delete all non-frozen rows" in api_error(exc)["message"]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.insert_row(["end"], index=1001)  # gspread's known limit: no row to inherit from
    assert "less than the grid size (1000)" in api_error(exc)["message"]


def test_resize_and_add_rows(env: Env):
    env.emu.set_values(env.sid, "Sheet1", [["a", "b", "c", "d"], ["e"], ["f"]])
    ws = env.open().sheet1
    ws.resize(rows=2, cols=3)
    assert env.emu.grid_size(env.sid, "Sheet1") == (2, 3)
    assert env.emu.values(env.sid, "Sheet1") == [["a", "b", "c"], ["e"]]
    ws.add_rows(10)
    assert env.emu.grid_size(env.sid, "Sheet1") == (12, 3)
    ws.add_cols(2)
    assert env.emu.grid_size(env.sid, "Sheet1") == (12, 5)
    assert env.open().sheet1.row_count == 12


def test_add_and_delete_worksheet(env: Env):
    sh = env.open()
    ws = sh.add_worksheet("Added", rows=10, cols=4)
    assert (ws.title, ws.row_count, ws.col_count, ws.index) == ("Added", 10, 4, 4)
    assert ws.id not in (0, 1, 2, 3, 4)
    ws.update([["x"]], "D10")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.add_worksheet("added", rows=1, cols=1)  # titles are unique regardless of case
    assert "already exists" in api_error(exc)["message"]
    sh.del_worksheet(ws)
    assert "Added" not in [w.title for w in sh.worksheets()]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.del_worksheet(ws)
    assert api_error(exc)["message"] == f"Invalid requests[0].deleteSheet: No grid with id: {ws.id}"
    for title in ("My Sheet", "It's", "A/B"):
        sh.del_worksheet(sh.worksheet(title))
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.del_worksheet(sh.sheet1)
    assert "You can't remove all the sheets" in api_error(exc)["message"]


def test_update_title_and_spreadsheet_title(env: Env):
    sh = env.open()
    sh.worksheet("My Sheet").update_title("Renamed")
    sh.update_title("New book title")
    sh = env.open()
    assert sh.title == "New book title"
    assert [w.title for w in sh.worksheets()][1] == "Renamed"
    with pytest.raises(gspread.exceptions.APIError):
        sh.worksheet("Renamed").update_title("Sheet1")


def test_spreadsheets_batch_update_is_all_or_nothing(env: Env):
    sh = env.open()
    body = {
        "requests": [
            {"addSheet": {"properties": {"title": "Will vanish"}}},
            {"deleteSheet": {"sheetId": 424242}},
        ]
    }
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.batch_update(body)
    assert exc.value.code == 400
    assert "Will vanish" not in env.emu.sheet_titles(env.sid)


def test_unknown_batch_update_request(env: Env):
    path = f"/v4/spreadsheets/{env.sid}:batchUpdate"
    r = env.raw("POST", path, json={"requests": [{"frobnicate": {}}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT"
    assert err["message"].startswith('Invalid JSON payload received. Unknown name "frobnicate"')
    r = env.raw("POST", path, json={"requests": [{"sortRange": {}}]})  # real, but not emulated: says so
    assert r.status_code == 501
    r = env.raw("POST", path, json={"requests": []})
    assert r.status_code == 400
    r = env.raw(
        "POST", path, json={"requests": [{"repeatCell": {"range": {"sheetId": 0}, "fields": "userEnteredFormat"}}]}
    )
    assert r.status_code == 200 and r.json() == {"spreadsheetId": env.sid, "replies": [{}]}


def test_ten_million_cell_limit(env: Env):
    sh = env.open()
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sh.add_worksheet("Huge", rows=400_000, cols=26)
    assert api_error(exc)["message"] == (
        "Invalid requests[0].addSheet: This action would increase the number of cells in the workbook "
        "above the limit of 10000000 cells."
    )
    with pytest.raises(gspread.exceptions.APIError):
        sh.sheet1.resize(rows=400_000)


# ---------------------------------------------------------------------------------------
# errors: not found, not shared, unknown routes
# ---------------------------------------------------------------------------------------
def test_unknown_spreadsheet_is_not_found(env: Env):
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        env.gc.open_by_key("1doesNotExist")
    r = env.raw("GET", "/v4/spreadsheets/1doesNotExist/values/A1")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}


def test_not_shared_spreadsheet_is_permission_denied(env: Env):
    ws = env.open().sheet1
    env.emu.set_shared(env.sid, False)
    with pytest.raises(PermissionError):
        env.gc.open_by_key(env.sid)
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.get_all_values()
    assert exc.value.code == 403
    r = env.raw("PUT", f"/v4/spreadsheets/{env.sid}/values/A1", params={"valueInputOption": "RAW"}, json={})
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {
        "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
    }
    env.emu.set_shared(env.sid, True)
    assert ws.get_all_values() == [[]]


def test_unknown_routes_and_params(env: Env):
    for method, path in (
        ("GET", "/v4/nothing"),
        ("DELETE", f"/v4/spreadsheets/{env.sid}"),
        ("GET", f"/v4/spreadsheets/{env.sid}/values:batchUpdate"),
        ("GET", f"/v4/spreadsheets/{env.sid}/sheets/0:copyTo"),
    ):
        r = env.raw(method, path)
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["status"] == "NOT_FOUND"
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}/values/A1", params={"valueRenderOption": "PRETTY"})
    assert r.status_code == 400
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}/values/A1", params={"renderHow": "x"})
    assert r.status_code == 400 and "Cannot bind query parameter" in r.json()["error"]["message"]


# ---------------------------------------------------------------------------------------
# quotas and faults
# ---------------------------------------------------------------------------------------
def test_read_quota_per_minute(env: Env):
    ws = env.open().sheet1
    env.emu.set_quotas(read=5, write=None)
    env.emu.clock.advance(60)  # a fresh minute
    env.emu.reset_stats()
    for _ in range(5):
        ws.get_all_values()
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.get_all_values()
    assert exc.value.code == 429
    err = api_error(exc)
    assert err["status"] == "RESOURCE_EXHAUSTED"
    assert err["message"].startswith(
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' "
        "of service 'sheets.googleapis.com'"
    )
    ws.update([["writes are another quota"]], "A1")
    assert env.emu.stats()["quota_rejections"] == 1
    env.emu.clock.advance(60)
    assert ws.get_all_values() == [["writes are another quota"]]


def test_write_quota_per_minute(env: Env):
    ws = env.open().sheet1
    env.emu.set_quotas(read=None, write=5)
    env.emu.clock.advance(60)
    for i in range(5):
        ws.update([[i]], "A1")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.batch_update([{"range": "A1", "values": [["no"]]}])
    assert exc.value.code == 429
    assert "'Write requests per minute per user'" in api_error(exc)["message"]
    with pytest.raises(gspread.exceptions.APIError):
        env.open().add_worksheet("x", 1, 1)  # spreadsheets:batchUpdate is a write too
    assert env.emu.stats()["quota_rejections_by_kind"] == {"write": 2}
    assert ws.get_all_values() == [["4"]]
    env.emu.clock.advance(60)
    ws.update([["again"]], "A1")


def _token_for(env: Env, email: str) -> str:
    """What google-auth does for a service account: POST a signed JWT to the key's token_uri."""
    claims = base64.urlsafe_b64encode(json.dumps({"iss": email}).encode()).decode().rstrip("=")
    r = requests.post(
        env.url + "/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": f"h.{claims}.sig"},
    )
    assert r.status_code == 200
    return r.json()["access_token"]


def test_quota_is_per_user(env: Env):
    env.emu.set_quotas(read=1, write=None)
    env.emu.clock.advance(60)
    path = f"/v4/spreadsheets/{env.sid}/values/A1"
    one, two = _token_for(env, "one@x.iam.gserviceaccount.com"), _token_for(env, "two@x.iam.gserviceaccount.com")
    assert env.raw("GET", path, headers={"Authorization": f"Bearer {one}"}).status_code == 200
    assert env.raw("GET", path, headers={"Authorization": f"Bearer {one}"}).status_code == 429
    assert env.raw("GET", path, headers={"Authorization": f"Bearer {two}"}).status_code == 200


def test_unknown_bearer_token_is_unauthenticated(env: Env):
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}/values/A1", headers={"Authorization": "Bearer made-up"})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_sharing_is_per_service_account_and_a_revoked_key_gets_no_token(env: Env):
    env.emu.share_with(env.sid, ["one@x.iam.gserviceaccount.com"])
    path = f"/v4/spreadsheets/{env.sid}/values/A1"
    one, two = _token_for(env, "one@x.iam.gserviceaccount.com"), _token_for(env, "two@x.iam.gserviceaccount.com")
    assert env.raw("GET", path, headers={"Authorization": f"Bearer {one}"}).status_code == 200
    assert env.raw("GET", path, headers={"Authorization": f"Bearer {two}"}).status_code == 403
    env.emu.revoke_account("one@x.iam.gserviceaccount.com")
    claims = base64.urlsafe_b64encode(json.dumps({"iss": "one@x.iam.gserviceaccount.com"}).encode()).decode()
    r = requests.post(
        env.url + "/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": f"h.{claims}.sig"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("kind", "status"),
    [("429", "RESOURCE_EXHAUSTED"), ("500", "INTERNAL"), ("503", "UNAVAILABLE"), ("504", "DEADLINE_EXCEEDED")],
)
def test_injected_json_faults(env: Env, kind: str, status: str):
    ws = env.open().sheet1
    env.emu.set_faults(script=[(kind, r"/values/", "GET")])
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.get_all_values()
    assert exc.value.code == int(kind)
    assert api_error(exc)["status"] == status
    assert exc.value.response.headers["Content-Type"].startswith("application/json")
    assert ws.get_all_values() == [[]]  # the scripted fault fired once
    assert env.emu.stats()["faults_injected"] == {kind: 1}


def test_injected_503_body(env: Env):
    env.emu.set_faults(script=[("503", None, None)])
    r = env.raw("GET", f"/v4/spreadsheets/{env.sid}")
    assert r.json() == {
        "error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}
    }


def test_injected_502_is_an_html_page(env: Env):
    ws = env.open().sheet1
    env.emu.set_faults(script=[("502", None, "POST")])
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.batch_update([{"range": "A1", "values": [["x"]]}])
    assert exc.value.response.status_code == 502
    assert exc.value.code == -1  # gspread could not read a JSON error
    assert exc.value.response.headers["Content-Type"].startswith("text/html")
    assert env.emu.values(env.sid, "Sheet1") == []


def test_dropped_connection(env: Env):
    ws = env.open().sheet1
    env.emu.set_faults(script=[("drop", r"/values/", None)])
    with pytest.raises(requests.exceptions.ConnectionError):
        ws.get_all_values()
    assert ws.get_all_values() == [[]]


def test_random_faults_are_seeded(env: Env):
    def run() -> list[int]:
        env.emu.set_faults(rates={"503": 0.5}, seed=7)
        return [env.raw("GET", f"/v4/spreadsheets/{env.sid}/values/A1").status_code for _ in range(20)]

    first = run()
    assert set(first) == {200, 503}
    assert run() == first


# ---------------------------------------------------------------------------------------
# control interface
# ---------------------------------------------------------------------------------------
def test_control_python_api(env: Env):
    emu, sid = env.emu, env.sid
    emu.set_values(sid, "Sheet1", [["id", "name"], [3, "c"], [1, "a"], [2, "b"], [None, "z"]])
    emu.sort_rows(sid, "Sheet1", 0)
    assert emu.values(sid, "Sheet1") == [["id", "name"], ["1", "a"], ["2", "b"], ["3", "c"], ["", "z"]]
    emu.sort_rows(sid, "Sheet1", "B", descending=True)
    assert [r[1] for r in emu.values(sid, "Sheet1")] == ["name", "z", "c", "b", "a"]
    emu.sort_column_only(sid, "Sheet1", 1)  # the classic mistake: names move, ids stay
    assert emu.values(sid, "Sheet1") == [["id", "name"], ["", "a"], ["3", "b"], ["2", "c"], ["1", "z"]]
    emu.edit_cell(sid, "Sheet1", "C1", "+7 999 123-45-67")
    assert emu.cell(sid, "Sheet1", "C1")["formatted"] == "#ERROR!"
    emu.insert_rows(sid, "Sheet1", 2, 2)
    assert emu.values(sid, "Sheet1")[1:3] == [[], []]
    emu.delete_rows(sid, "Sheet1", 2, 3)
    assert emu.values(sid, "Sheet1")[1] == ["", "a"]
    assert emu.grid_size(sid, "Sheet1") == (1000, 26)
    with pytest.raises(KeyError):
        emu.values("nope")
    with pytest.raises(ValueError):
        emu.edit_cell(sid, "Sheet1", "A1001", "x")


def test_control_routes_over_http(env: Env):
    before = env.emu.stats()["requests"]
    r = env.ctl("POST", "/spreadsheets", {"title": "Over HTTP", "sheets": ["Leads"], "rows": 10, "cols": 5})
    sid = r.json()["spreadsheetId"]
    assert env.ctl("GET", f"/spreadsheets/{sid}/grid", params={"sheet": "Leads"}).json() == {"rows": 10, "cols": 5}
    body = {"sheet": "Leads", "values": [["id", "phone"], [2, "+7 1"], [1, "+7 2"]]}
    assert env.ctl("PUT", f"/spreadsheets/{sid}/values", body).status_code == 200
    assert env.ctl("GET", f"/spreadsheets/{sid}/cell", params={"sheet": "Leads", "a1": "B2"}).json() == {
        "entered": "+7 1",
        "type": "string",
        "formatted": "+7 1",
    }
    assert env.ctl("POST", f"/spreadsheets/{sid}/edit", {"sheet": "Leads", "a1": "C1", "text": "=1+2"}).ok
    assert env.ctl("POST", f"/spreadsheets/{sid}/sort", {"sheet": "Leads", "column_index": 0}).ok
    got = env.ctl("GET", f"/spreadsheets/{sid}/values", params={"sheet": "Leads"}).json()["values"]
    assert got == [["id", "phone", "3"], ["1", "+7 2"], ["2", "+7 1"]]
    assert env.ctl("POST", f"/spreadsheets/{sid}/sort", {"sheet": "Leads", "column_index": 1, "column_only": True}).ok
    assert env.ctl("POST", f"/spreadsheets/{sid}/rows/insert", {"sheet": "Leads", "at_row": 2, "n": 1}).ok
    assert env.ctl("POST", f"/spreadsheets/{sid}/rows/delete", {"sheet": "Leads", "start_row": 2, "end_row": 2}).ok
    assert env.ctl("POST", f"/spreadsheets/{sid}/sheets", {"title": "Extra", "rows": 3, "cols": 3}).json()["sheetId"]
    assert env.ctl("POST", f"/spreadsheets/{sid}/share", {"shared": False}).ok
    assert env.raw("GET", f"/v4/spreadsheets/{sid}").status_code == 403
    assert env.ctl("POST", f"/spreadsheets/{sid}/share", {"shared": True}).ok
    listing = env.ctl("GET", "/spreadsheets").json()["spreadsheets"]
    assert {"spreadsheetId": sid, "title": "Over HTTP", "sheets": ["Leads", "Extra"], "shared": True} in listing
    assert env.ctl("POST", "/quota", {"read": 100, "write": None}).json() == {"read": 100, "write": None}
    assert env.ctl("GET", f"/spreadsheets/{sid}/values", params={"sheet": "Nope"}).status_code == 400
    assert env.ctl("GET", f"/spreadsheets/{sid}/bogus").status_code == 404
    assert env.emu.stats()["requests"] == before + 1  # only the one API call above


# ---------------------------------------------------------------------------------------
# size
# ---------------------------------------------------------------------------------------
def test_large_sheet_reads_through_gspread(env: Env):
    rows = [
        [f"{i}", f"Name {i}", f"+7 999 {i:07d}", f"u{i}@example.com", i * 10, "Status", "Pipeline"]
        for i in range(100_000)
    ]
    env.emu.set_values(env.sid, "Sheet1", rows)
    assert env.emu.grid_size(env.sid, "Sheet1") == (100_000, 26)
    values = env.open().sheet1.get_all_values()
    assert len(values) == 100_000
    assert all(len(row) == 7 for row in values)
    assert values[-1] == ["99999", "Name 99999", "+7 999 0099999", "u99999@example.com", "999990", "Status", "Pipeline"]
