"""Formatting, data validation, frozen rows and protected ranges in the Google Sheets emulator.

What ``amosheets init --format`` sends, modelled as the real API does: set through real gspread's
``batch_update``, read back through ``spreadsheets.get`` (grid data, field masks), and refused in
Google's 400 shape when malformed. Plain ``requests`` only for raw error bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from amosheets.gspread_transport import client_for
from amosheets.sandbox.server import RunningServer
from amosheets.sandbox.sheets import SheetsEmulator

TIMEOUT = 10
LIST = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Новая"}, {"userEnteredValue": "Done"}]}}
STRICT_LIST = {**LIST, "strict": True, "showCustomUi": True}
CHECKBOX = {"condition": {"type": "BOOLEAN"}}
CELLS = "sheets.data.rowData.values(userEnteredValue,userEnteredFormat,dataValidation)"


@dataclass
class Env:
    emu: SheetsEmulator
    url: str
    sid: str
    gc: gspread.Client

    def book(self) -> gspread.Spreadsheet:
        return self.gc.open_by_key(self.sid)

    def send(self, *requests_: dict[str, Any]) -> dict[str, Any]:
        return self.book().batch_update({"requests": list(requests_)})

    def refused(self, *requests_: dict[str, Any]) -> dict[str, Any]:
        """The error of a batchUpdate the API refuses."""
        with pytest.raises(gspread.exceptions.APIError) as exc:
            self.send(*requests_)
        return exc.value.response.json()["error"]

    def meta(self, **params: str) -> dict[str, Any]:
        return self.book().fetch_sheet_metadata(params=params)

    def cells(self, a1: str, **params: str) -> list[list[dict[str, Any]]]:
        """Each row's cells of ``a1`` (on Sheet1) as grid data gives them."""
        meta = self.meta(ranges=f"Sheet1!{a1}", fields=CELLS, **params)
        return [row.get("values", []) for row in meta["sheets"][0]["data"][0].get("rowData", [])]

    def raw_batch(self, body: Any) -> requests.Response:
        return requests.post(f"{self.url}/v4/spreadsheets/{self.sid}:batchUpdate", json=body, timeout=TIMEOUT)


@pytest.fixture
def env(quota_free_sheets: tuple[SheetsEmulator, RunningServer]) -> Env:
    emu, server = quota_free_sheets
    sid = emu.create_spreadsheet("Formats", ["Sheet1", "Second"], rows=20, cols=6)
    return Env(emu, server.url, sid, client_for(server.url, AnonymousCredentials()))


def column(c: int, sheet_id: int = 0, start: int = 1, end: int | None = None) -> dict[str, Any]:
    rng: dict[str, Any] = {"sheetId": sheet_id, "startRowIndex": start, "startColumnIndex": c, "endColumnIndex": c + 1}
    if end is not None:
        rng["endRowIndex"] = end
    return rng


def validation(rng: dict[str, Any], rule: dict[str, Any] | None) -> dict[str, Any]:
    return {"setDataValidation": {"range": rng, **({"rule": rule} if rule is not None else {})}}


# ---------------------------------------------------------------------------------------
# data validation
# ---------------------------------------------------------------------------------------
def test_drop_downs_and_checkboxes_read_back_through_grid_data(env: Env):
    env.send(validation(column(0, end=3), STRICT_LIST), validation(column(1, end=3), CHECKBOX))
    rows = env.cells("A1:B3", includeGridData="true")
    assert rows[0] == []  # the header row is outside both ranges
    assert rows[1][0]["dataValidation"] == {
        "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Новая"}, {"userEnteredValue": "Done"}]},
        "strict": True,
        "showCustomUi": True,
    }
    assert rows[2][1]["dataValidation"] == {"condition": {"type": "BOOLEAN"}}  # false flags are left out
    # a field mask alone brings grid data (includeGridData is ignored once fields is set) …
    assert env.cells("B2:B2") == [[{"dataValidation": {"condition": {"type": "BOOLEAN"}}}]]
    # … and without one, neither grid data nor validation comes
    assert "data" not in env.meta(includeGridData="false")["sheets"][0]
    assert env.emu.number_format(env.sid, None, "A2") is None  # a rule is not a number format


def test_a_rule_refuses_nothing_written_through_the_api(env: Env):
    ws = env.book().sheet1
    ws.update([["Старое"], ["TRUE"]], "A2", raw=False)  # values already there stay
    env.send(validation(column(0), STRICT_LIST), validation(column(1), CHECKBOX))
    ws.update([["не из списка"], ["тоже"]], "A4", raw=True)
    ws.update([["maybe", "да"]], "A6", raw=False)
    assert ws.get("A2:B6", value_render_option="UNFORMATTED_VALUE") == [
        ["Старое"],
        [True],
        ["не из списка"],
        ["тоже"],
        ["maybe", "да"],
    ]
    ws.update([[True], [False]], "B2", raw=False)  # a checkbox cell holds a real boolean, read as TRUE/FALSE
    assert ws.get("B2:B3") == [["TRUE"], ["FALSE"]]
    assert ws.get("B2:B3", value_render_option="UNFORMATTED_VALUE") == [[True], [False]]


def test_no_rule_or_an_empty_rule_clears_validation(env: Env):
    env.send(validation(column(0), STRICT_LIST), validation(column(1), CHECKBOX), validation(column(2), CHECKBOX))
    env.send(validation(column(0), None), validation(column(1), {}))
    assert env.cells("A2:C2") == [[{}, {}, {"dataValidation": {"condition": {"type": "BOOLEAN"}}}]]


def test_a_rule_through_repeat_cell_and_one_replaced_by_another(env: Env):
    request = {"repeatCell": {"range": column(3), "cell": {"dataValidation": LIST}, "fields": "dataValidation"}}
    env.send(request)
    assert env.cells("D5:D5")[0][0]["dataValidation"]["condition"]["type"] == "ONE_OF_LIST"
    env.send(validation(column(3, start=4, end=5), CHECKBOX))  # the last rule set on a cell is its rule
    assert [row[0]["dataValidation"]["condition"]["type"] for row in env.cells("D4:D6")] == [
        "ONE_OF_LIST",
        "BOOLEAN",
        "ONE_OF_LIST",
    ]


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"condition": {"values": [{"userEnteredValue": "a"}]}}, "the condition must have a type"),
        ({"condition": {"type": "ONE_OF_LISTS"}}, 'google.apps.sheets.v4.ConditionType), "ONE_OF_LISTS"'),
        ({"condition": {"type": "ONE_OF_LIST"}}, "it needs at least one value"),
        ({"condition": {"type": "ONE_OF_LIST", "values": []}}, "it needs at least one value"),
        ({"condition": {"type": "ONE_OF_LIST", "values": ["a"]}}, "Expected an object"),
        ({"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": 5}]}}, "(TYPE_STRING), 5"),
        ({"condition": {"type": "ONE_OF_LIST", "values": [{"relativeDate": "TODAY"}]}}, "relativeDate"),
        ({"condition": {"type": "BOOLEAN", "values": [{"userEnteredValue": v} for v in "abc"]}}, "at most two"),
        ({**CHECKBOX, "strict": "yes"}, "Invalid value at 'requests[0].set_data_validation.rule.strict' (TYPE_BOOL)"),
        ({**CHECKBOX, "showCustomUI": True}, 'Unknown name "show_custom_u_i"'),
        ({"condition": {"type": "BOOLEAN", "value": []}}, 'Unknown name "value"'),
    ],
)
def test_malformed_rules_are_refused_in_googles_shape(env: Env, rule: dict[str, Any], needle: str):
    error = env.refused(validation(column(0), rule))
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]
    assert env.cells("A2:A2") == []  # nothing was set


def test_malformed_ranges_and_condition_types_the_emulator_does_not_model(env: Env):
    error = env.refused(validation({"sheetId": 0, "startColumnIndex": 0, "endColumnIndex": 7}, CHECKBOX))
    assert "exceeds grid limits. Max rows: 20, max columns: 6" in error["message"]
    error = env.refused(validation({"sheetId": 99}, CHECKBOX))
    assert error["message"] == "Invalid requests[0].setDataValidation: No grid with id: 99"
    error = env.refused({"setDataValidation": {"rule": CHECKBOX}})
    assert error["message"] == "Invalid requests[0].setDataValidation: range must be specified"
    r = env.raw_batch({"requests": [validation(column(0), {"condition": {"type": "NUMBER_GREATER"}})]})
    assert r.status_code == 501  # real, but not modelled: says so rather than pretend


def test_a_batch_with_a_bad_request_sets_nothing(env: Env):
    error = env.refused(validation(column(0), STRICT_LIST), {"deleteProtectedRange": {"protectedRangeId": 7}})
    assert error["message"] == "Invalid requests[1].deleteProtectedRange: No protected range with id: 7"
    assert env.cells("A2:A2") == []


# ---------------------------------------------------------------------------------------
# repeatCell: number formats and bold text
# ---------------------------------------------------------------------------------------
def bold(rng: dict[str, Any], on: bool = True, fields: str = "userEnteredFormat.textFormat.bold") -> dict[str, Any]:
    return {"repeatCell": {"range": rng, "cell": {"userEnteredFormat": {"textFormat": {"bold": on}}}, "fields": fields}}


def number(rng: dict[str, Any], kind: str, pattern: str = "") -> dict[str, Any]:
    fmt = {"type": kind, **({"pattern": pattern} if pattern else {})}
    cell = {"userEnteredFormat": {"numberFormat": fmt}}
    return {"repeatCell": {"range": rng, "cell": cell, "fields": "userEnteredFormat.numberFormat"}}


def test_bold_and_number_formats_are_set_apart_and_read_back_together(env: Env):
    env.book().sheet1.update([["Дата", "Телефон"]], "A1", raw=True)
    header = {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 2}
    env.send(number(column(0), "DATE", "yyyy-mm-dd"), number(column(1), "TEXT"), bold(header))
    rows = env.cells("A1:B2")
    assert rows[0] == [
        {"userEnteredValue": {"stringValue": "Дата"}, "userEnteredFormat": {"textFormat": {"bold": True}}},
        {"userEnteredValue": {"stringValue": "Телефон"}, "userEnteredFormat": {"textFormat": {"bold": True}}},
    ]
    assert rows[1] == [
        {"userEnteredFormat": {"numberFormat": {"type": "DATE", "pattern": "yyyy-mm-dd"}}},
        {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
    ]
    env.send(number(column(0, start=0, end=1), "NUMBER", "0"))  # one field changed, the other kept
    assert env.cells("A1:A1")[0][0]["userEnteredFormat"] == {
        "numberFormat": {"type": "NUMBER", "pattern": "0"},
        "textFormat": {"bold": True},
    }
    env.send(bold(header, on=False, fields="userEnteredFormat.textFormat"))  # a named field left out is cleared
    assert env.cells("A1:B1")[0][1] == {"userEnteredValue": {"stringValue": "Телефон"}}
    env.send(bold(header, fields="userEnteredFormat.textFormat.italic"))  # italic is not modelled: no bold either
    assert "userEnteredFormat" not in env.cells("A1:B1")[0][1]
    env.send(bold(header, fields="userEnteredFormat"))  # the whole format replaced: bold, no number format
    assert env.cells("A1:A1")[0][0]["userEnteredFormat"] == {"textFormat": {"bold": True}}


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (bold(column(0), fields="userEnteredFormat.textFormat.boldd"), "Invalid field mask path"),
        (bold(column(0), fields="dataValidation.condition"), "Invalid field mask path"),
        (
            {
                "repeatCell": {
                    "range": column(0),
                    "cell": {"userEnteredFormat": {"textFormat": {"bold": "yes"}}},
                    "fields": "*",
                }
            },
            "(TYPE_BOOL)",
        ),
        (
            {
                "repeatCell": {
                    "range": column(0),
                    "cell": {"userEnteredFormat": {"textFormat": {"heavy": True}}},
                    "fields": "*",
                }
            },
            'Unknown name "heavy"',
        ),
    ],
)
def test_repeat_cell_refuses_malformed_text_formats(env: Env, request_: dict[str, Any], needle: str):
    error = env.refused(request_)
    assert error["code"] == 400 and needle in error["message"]


# ---------------------------------------------------------------------------------------
# frozen rows
# ---------------------------------------------------------------------------------------
def freeze(rows: int, sheet_id: int = 0) -> dict[str, Any]:
    props = {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": rows}}
    return {"updateSheetProperties": {"properties": props, "fields": "gridProperties.frozenRowCount"}}


def test_a_frozen_header_row_reads_back_and_unfreezes(env: Env):
    env.send(freeze(1))
    meta = env.meta(fields="sheets.properties.gridProperties.frozenRowCount")
    assert meta["sheets"][0] == {"properties": {"gridProperties": {"frozenRowCount": 1}}}
    assert env.book().sheet1.frozen_row_count == 1
    env.send(freeze(0))
    grid = env.meta()["sheets"][0]["properties"]["gridProperties"]
    assert grid == {"rowCount": 20, "columnCount": 6}  # a zero is left out


def test_freezing_every_row_or_a_negative_count_is_refused(env: Env):
    assert env.refused(freeze(20))["message"] == (
        "Invalid requests[0].updateSheetProperties: You can't freeze all visible rows on the sheet."
    )
    assert "must not be negative" in env.refused(freeze(-1))["message"]
    assert "frozenRowCount" not in env.meta()["sheets"][0]["properties"]["gridProperties"]


# ---------------------------------------------------------------------------------------
# protected ranges
# ---------------------------------------------------------------------------------------
def protect(rng: dict[str, Any], description: str = "amosheets", **more: Any) -> dict[str, Any]:
    return {"addProtectedRange": {"protectedRange": {"range": rng, "description": description, **more}}}


def protected(env: Env, sheet: int = 0) -> list[dict[str, Any]]:
    return env.meta(fields="sheets.protectedRanges")["sheets"][sheet].get("protectedRanges", [])


def test_a_warning_only_range_is_added_read_back_and_never_stops_api_writes(env: Env):
    reply = env.send(protect(column(0, start=0), warningOnly=True))
    made = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    pid = made["protectedRangeId"]
    assert type(pid) is int
    expected = {
        "protectedRangeId": pid,
        "range": {"endColumnIndex": 1},  # unset and zero fields (sheet 0, row 0, column 0) are left out
        "description": "amosheets",
        "warningOnly": True,
        "requestingUserCanEdit": True,
    }
    assert made == expected
    assert protected(env) == [expected]
    assert env.book().list_protected_ranges(0) == [expected]  # gspread's own read (sheets.protectedRanges mask)
    ws = env.book().sheet1
    ws.update([["1"], ["2"]], "A1", raw=True)
    assert ws.get("A1:A2") == [["1"], ["2"]]


def test_a_range_is_updated_by_mask_and_deleted_by_id(env: Env):
    second = env.emu.sheet_id(env.sid, "Second")
    pid = env.send(protect(column(2), warningOnly=True))["replies"][0]["addProtectedRange"]["protectedRange"][
        "protectedRangeId"
    ]
    moved = {"protectedRangeId": pid, "range": column(4, sheet_id=second), "description": "new", "warningOnly": False}
    env.send({"updateProtectedRange": {"protectedRange": moved, "fields": "range,description"}})
    assert protected(env) == []
    assert protected(env, 1) == [
        {
            "protectedRangeId": pid,
            "range": {"sheetId": second, "startRowIndex": 1, "startColumnIndex": 4, "endColumnIndex": 5},
            "description": "new",
            "warningOnly": True,  # not in the mask: kept
            "requestingUserCanEdit": True,
        }
    ]
    env.send({"deleteProtectedRange": {"protectedRangeId": pid}})
    assert protected(env, 1) == []
    error = env.refused({"deleteProtectedRange": {"protectedRangeId": pid}})
    assert error["message"] == f"Invalid requests[0].deleteProtectedRange: No protected range with id: {pid}"
    update = {"updateProtectedRange": {"protectedRange": {"protectedRangeId": 5, "description": "x"}, "fields": "*"}}
    assert env.refused(update)["message"] == "Invalid requests[0].updateProtectedRange: No protected range with id: 5"


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (
            protect(column(0), warningOnly=True, editors={"users": ["a@example.com"]}),
            "Invalid requests[0].addProtectedRange: ProtectedRange is warningOnly. Editors cannot be set on it.",
        ),
        ({"addProtectedRange": {"protectedRange": {"description": "x"}}}, "must have a range"),
        (protect(column(0), warningOnly="true"), "(TYPE_BOOL)"),
        (protect(column(9)), "exceeds grid limits"),
        (protect(column(0), editors={"users": "a@example.com"}), "(TYPE_STRING)"),
        (
            {"addProtectedRange": {"protectedRange": {"range": column(0), "warning_only": True}}},
            'Unknown name "warning_only"',
        ),
        ({"updateProtectedRange": {"protectedRange": {"protectedRangeId": 1}}}, "At least one field"),
    ],
)
def test_malformed_protected_ranges_are_refused(env: Env, request_: dict[str, Any], needle: str):
    error = env.refused(request_)
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT") and needle in error["message"]
    assert protected(env) == []


def test_editors_of_a_full_protection_and_an_update_that_makes_it_warning_only(env: Env):
    pid = env.send(protect(column(1), editors={"users": ["robot@example.iam.gserviceaccount.com"]}))["replies"][0][
        "addProtectedRange"
    ]["protectedRange"]["protectedRangeId"]
    assert protected(env)[0]["editors"] == {"users": ["robot@example.iam.gserviceaccount.com"]}
    env.book().sheet1.update([["made by the caller: it may write"]], "B2", raw=True)  # the caller is an editor
    update = {"protectedRangeId": pid, "warningOnly": True}
    error = env.refused({"updateProtectedRange": {"protectedRange": update, "fields": "warningOnly"}})
    assert "Editors cannot be set on it" in error["message"]
    env.send({"updateProtectedRange": {"protectedRange": update, "fields": "warningOnly,editors"}})
    assert "editors" not in protected(env)[0] and protected(env)[0]["warningOnly"] is True


def test_the_owners_protection_is_listed_but_the_api_may_not_change_it(env: Env):
    env.emu.protect(env.sid, "Sheet1", "C1:C20")
    (owner,) = protected(env)
    assert owner == {
        "protectedRangeId": owner["protectedRangeId"],
        "range": {"startColumnIndex": 2, "endRowIndex": 20, "endColumnIndex": 3},
    }
    error = env.refused({"deleteProtectedRange": {"protectedRangeId": owner["protectedRangeId"]}})
    assert "protected cell or object" in error["message"]
    with pytest.raises(gspread.exceptions.APIError):
        env.book().sheet1.update([["x"]], "C2", raw=True)


def test_protections_and_rules_move_with_inserted_and_deleted_columns_and_rows(env: Env):
    env.send(protect(column(1, start=0), warningOnly=True), validation(column(1, end=3), CHECKBOX))
    insert = {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 2}}
    env.send({"insertDimension": insert})
    assert protected(env)[0]["range"] == {"startColumnIndex": 3, "endColumnIndex": 4}
    assert env.cells("D2:D2") == [[{"dataValidation": {"condition": {"type": "BOOLEAN"}}}]]
    # rows inserted after the last one, inheriting from it, carry its rule (as the tool grows the grid)
    rows = {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 3, "endIndex": 5}, "inheritFromBefore": True}
    env.send({"insertDimension": rows})
    assert [len(r) for r in env.cells("D3:D6")] == [1, 1, 1]  # D6 (the old D4) has none: trimmed
    env.send({"deleteDimension": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 3, "endIndex": 4}}})
    assert protected(env) == []  # its only column is gone
    assert env.cells("D2:D2") == []
