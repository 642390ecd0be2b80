"""A strict local emulator of the Google Sheets API v4 — the part gspread 6.x uses.

Served by :class:`amosheets.sandbox.server.RunningServer`; real gspread talks to it through
:func:`amosheets.gspread_transport.client_for`. It rejects what the real API rejects, in the
real shapes (``{"error": {"code", "message", "status"}}``), so that a test that passes here
means something.

API routes (ids and ranges percent-decoded; a title may contain ``/`` when sent as ``%2F``):

* ``GET  /v4/spreadsheets/{id}`` — metadata (``includeGridData``, ``ranges``, ``fields``)
* ``POST /v4/spreadsheets/{id}:batchUpdate`` — addSheet, deleteSheet, updateSheetProperties,
  updateSpreadsheetProperties, insertDimension, deleteDimension, appendDimension, repeatCell
  (number format, bold, data validation), setDataValidation, addProtectedRange,
  updateProtectedRange, deleteProtectedRange; other pure formatting requests are accepted as
  no-ops; other real kinds answer 501; unknown kinds 400
* ``GET  /v4/spreadsheets/{id}/values/{range}`` — values.get
* ``PUT  /v4/spreadsheets/{id}/values/{range}`` — values.update
* ``POST /v4/spreadsheets/{id}/values/{range}:append`` — values.append
* ``POST /v4/spreadsheets/{id}/values/{range}:clear`` — values.clear
* ``GET  /v4/spreadsheets/{id}/values:batchGet`` — values.batchGet
* ``POST /v4/spreadsheets/{id}/values:batchUpdate`` — values.batchUpdate
* ``POST /v4/spreadsheets/{id}/values:batchClear`` — values.batchClear
* ``POST /token`` — Google's OAuth token endpoint: a service account's JWT, a person's refresh token or
  authorization code (a key file's, an ``authorized_user`` file's or a client secrets file's ``token_uri``)
* ``GET  /o/oauth2/auth`` — Google's sign-in page (a client secrets file's ``auth_uri``): the person
  approves at once and is sent back to the loopback ``redirect_uri`` with a code

Control routes (not counted, never faulted; JSON bodies; ``sheet`` defaults to the first sheet;
``GET /_sandbox/`` lists them all, from the table the router uses — the ``control_route`` marks below):

* ``POST /_sandbox/spreadsheets`` ``{"title"?, "sheets"?, "spreadsheet_id"?, "rows"?, "cols"?, "locale"?}``
  → ``{"spreadsheetId"}``; ``GET /_sandbox/spreadsheets`` → ``{"spreadsheets": [{id, title, sheets}]}``
* ``POST /_sandbox/spreadsheets/{sid}/sheets`` ``{"title", "rows"?, "cols"?}`` → ``{"sheetId"}``
* ``GET  /_sandbox/spreadsheets/{sid}/values?sheet=…&render=…&date_time_render=…`` → ``{"values"}`` (trimmed)
* ``PUT  /_sandbox/spreadsheets/{sid}/values?sheet=…`` ``{"values", "start"?, "user_entered"?}`` (a paste)
* ``GET  /_sandbox/spreadsheets/{sid}/cell?sheet=…&a1=B2`` → ``{"entered", "type", "formatted"}``
* ``GET  /_sandbox/spreadsheets/{sid}/format?sheet=…&a1=B2`` → ``{"numberFormat": {type, pattern?}|null, "formatted"}``
* ``POST /_sandbox/spreadsheets/{sid}/format`` ``{"sheet"?, "range": "B2:B9", "type": "DATE"|null, "pattern"?}``
  (Format → Number; null = back to Automatic)
* ``POST /_sandbox/spreadsheets/{sid}/edit`` ``{"sheet"?, "a1", "text"}`` (a person typing)
* ``POST /_sandbox/spreadsheets/{sid}/sort`` ``{"sheet"?, "column_index", "first_row"?, "descending"?,
  "column_only"?}`` (``column_only`` true = the classic one-column sort mistake)
* ``POST /_sandbox/spreadsheets/{sid}/share`` ``{"shared": bool}``
* ``POST /_sandbox/spreadsheets/{sid}/share_with`` ``{"emails": [e-mail, …] | null}`` (``share_with``)
* ``POST /_sandbox/spreadsheets/{sid}/rows/insert`` ``{"sheet"?, "at_row", "n"?}`` (1-based)
* ``POST /_sandbox/spreadsheets/{sid}/rows/delete`` ``{"sheet"?, "start_row", "end_row"}`` (1-based, inclusive)
* ``GET  /_sandbox/spreadsheets/{sid}/grid?sheet=…`` → ``{"rows", "cols"}``
* ``POST /_sandbox/quota`` ``{"read": int|null, "write": int|null}``
* ``POST /_sandbox/oauth/clients`` ``{"client_id"?, "client_secret"?}`` → ``{client_id, client_secret}``
* ``GET  /_sandbox/oauth/client_secrets?client_id=…`` → a client secrets file's content (``{"installed": …}``)
* ``POST /_sandbox/oauth/authorized_user`` ``{"email"?, "client_id"?}`` → an ``authorized_user`` file's content
* ``POST /_sandbox/oauth/sign_in_as`` ``{"email"?, "grants"?, "denies"?}`` (who signs in, and how)
* ``POST /_sandbox/oauth/revoke`` ``{"email"}`` (``revoke_person``)
* plus the shared ``/_sandbox/stats``, ``/stats/reset``, ``/faults``, ``/latency``, ``/clock[/advance]``.

Who calls (:mod:`amosheets.sandbox.google_accounts` has the details):

* Anonymous requests (no ``Authorization``) are served, for gspread with ``AnonymousCredentials``.
* Service accounts: a key file whose ``token_uri`` is ``{sandbox}/token`` gets tokens from
  ``POST /token`` (the JWT's signature is not checked); ``revoke_account(email)`` makes the token
  endpoint refuse one, as a deleted key does.
* People: ``register_oauth_client()`` makes an OAuth client; ``client_secrets_json(url)`` is its
  "Download JSON" pointing here, for ``amosheets auth google``; ``authorized_user_json(url, email)`` is
  a person already signed in (a refresh token; ``token_uri`` here). Refresh tokens last until
  ``revoke_person(email)``. The person who signs in is ``anna@example.com`` unless ``sign_in_as`` says
  otherwise.
* ``share_with(sid, [emails])`` limits a spreadsheet to those accounts, service accounts' or people's
  (others get 403). Access tokens expire after 3599 s on the emulator's clock (401, then google-auth
  refreshes); the request quota is per account.

Storage: each sheet keeps its rows as Python lists of stored values — ``None`` (empty), ``str``,
``int``/``float``, ``bool`` or a :class:`Formula` — so a 100 000 × 7 sheet costs no per-cell
objects except for formulas. How cells look lives beside them (``_Sheet.formats``: per row, a
``{column: _Look}`` dict — number format, bold, data validation), may reach rows without data,
and moves with their rows (insert, delete, sort); clearing values keeps it, as in Sheets.

Dates and number formats (what real Sheets does, as far as this emulator models it):

* A date is a number — the serial, days since 1899-12-30, the time as a fraction of a day
  (:func:`date_serial`) — in a cell whose ``userEnteredFormat.numberFormat`` type is DATE,
  TIME or DATE_TIME. Types accepted: TEXT, NUMBER, PERCENT, CURRENCY, DATE, TIME, DATE_TIME,
  SCIENTIFIC; anything else is a 400 in Google's shape, and a format must name its type.
* USER_ENTERED (and a person typing, :meth:`SheetsEmulator.edit_cell`) turns date text into a
  date: ``2026-12-02`` → DATE ``yyyy-mm-dd``; ``2026-12-02 14:30`` or ``…14:30:00`` → DATE_TIME
  ``yyyy-mm-dd h:mm:ss``; in a ``ru_RU`` spreadsheet also ``02.12.2026`` → DATE ``dd.mm.yyyy``
  and ``02.12.2026 14:30[:00]`` → DATE_TIME ``dd.mm.yyyy h:mm:ss`` (``en_US``: ``12/2/2026`` →
  ``M/d/yyyy`` instead). *Choice:* the pattern follows the form typed, seconds always shown,
  as Sheets does when it infers a date format. Impossible dates/times stay text. A cell that
  already has a number format keeps it (a DATE cell keeps its pattern, even for a date-time).
  A cell formatted as TEXT stores exactly what was typed, as text (no number, date, boolean
  or formula parsing; an apostrophe stays). A leading apostrophe elsewhere keeps text. RAW
  never parses. Numbers written (RAW or USER_ENTERED) stay numbers and take the cell's format.
* Reading: FORMATTED_VALUE shows a date by its pattern, or, without one, by the locale's
  default (:data:`DEFAULT_PATTERNS`: ru_RU ``dd.MM.yyyy`` / ``dd.MM.yyyy H:mm:ss`` /
  ``H:mm:ss``, so ``02.12.2026`` and ``02.12.2026 14:30:00``; en_US ``M/d/yyyy`` /
  ``M/d/yyyy H:mm:ss`` / ``h:mm:ss am/pm``; other locales as en_US). UNFORMATTED_VALUE and
  FORMULA (for non-formulas) give the serial with ``dateTimeRenderOption=SERIAL_NUMBER`` (the
  default) or the formatted text with ``FORMATTED_STRING``; the same for
  ``responseDateTimeRenderOption`` on writes. Month and weekday names are English in every
  locale; NUMBER/PERCENT/CURRENCY patterns (``0``, ``#``, ``,``, decimals, ``%``) render with
  en_US separators, like the "Automatic" format here.
* ``spreadsheets.get`` with grid data gives ``userEnteredFormat.numberFormat`` for formatted
  cells (also empty ones) beside ``userEnteredValue``/``effectiveValue``/``formattedValue``;
  ``effectiveFormat`` is not modelled.
* ``repeatCell`` stores ``cell.userEnteredFormat.numberFormat`` over a GridRange (missing bounds
  are unbounded; beyond the grid → 400) when ``fields`` names ``userEnteredFormat``,
  ``userEnteredFormat.numberFormat`` or ``*``; other CellFormat fields are validated and
  dropped; ``userEnteredValue`` answers 501. ``insertDimension`` gives new rows/columns the
  formats of the one before (``inheritFromBefore``) or after; the control ``insert_rows`` those
  of the row above, as the UI does.
* Sorting compares the stored values, so dates sort as numbers (before text).

Formatting, validation and protection (what the real API does, as far as modelled):

* ``repeatCell`` also stores ``userEnteredFormat.textFormat.bold`` (masks ``userEnteredFormat``,
  ``….textFormat``, ``….textFormat.bold``; other TextFormat fields are validated and dropped) and
  ``dataValidation`` (mask ``dataValidation``). A field the mask names and the cell leaves out is
  cleared; ``*`` names them all.
* ``setDataValidation`` sets a rule on every cell of its range; without a rule (or with an empty
  one) it clears validation there. Conditions modelled: ``ONE_OF_LIST`` (at least one
  ``{userEnteredValue}``) and ``BOOLEAN`` (a checkbox: none, or the checked/unchecked values);
  ``strict``, ``showCustomUi`` and ``inputMessage`` are kept. Other condition types answer 501.
  A rule never refuses a value written through the API — the API stores invalid values, only the
  UI refuses them — and values already in the cells stay.
* ``updateSheetProperties`` checks ``gridProperties.frozenRowCount`` / ``frozenColumnCount``: not
  negative, and less than the grid's rows / columns ("You can't freeze all visible rows on the
  sheet."). A count of 0 disappears from reads (proto3 JSON leaves zeros and false out).
* ``addProtectedRange`` (``range``, ``description``, ``warningOnly``, ``editors``; an id is made
  unless given) answers ``{"addProtectedRange": {"protectedRange": …}}``; ``updateProtectedRange``
  takes a ``fields`` mask; ``deleteProtectedRange`` an id. An id no sheet holds: ``No protected
  range with id: N``; ``warningOnly`` with editors: ``ProtectedRange is warningOnly. Editors cannot
  be set on it.`` Named ranges, tables and ``unprotectedRanges`` answer 501. A range the caller made
  never stops its own writes (it is among the editors), nor does any ``warningOnly`` range; one the
  owner made in the UI (:meth:`SheetsEmulator.protect`) stops every API write into it, and the API
  may not change or delete it. Protected ranges move with inserted and deleted rows and columns.
* ``spreadsheets.get`` lists ``sheets[].protectedRanges`` (``protectedRangeId``, ``range`` without
  its unset or zero fields, ``description``, ``warningOnly``, ``requestingUserCanEdit``,
  ``editors``), and grid data gives ``userEnteredFormat`` (``numberFormat``, ``textFormat.bold``)
  and ``dataValidation`` per cell. With a ``fields`` mask, ``includeGridData`` is ignored: grid
  data comes when the mask asks for ``sheets.data`` (or all of ``sheets``).
* *Unverified wording:* the texts of the 400s for malformed rules (no condition type, a list
  without values, too many checkbox values, ``relativeDate`` in a list), for a protected range
  without a range or with a taken id, and for a negative frozen count are this emulator's; their
  shape and the ``Invalid requests[i].kind:`` prefix are Google's.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import hashlib
import json
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import unquote

from .a1 import (
    A1Error,
    A1Range,
    cell_label,
    column_index,
    column_label,
    format_range,
    parse_cell,
    parse_range,
    quote_title,
)
from .google_accounts import AUTH_PATH, DEFAULT_PERSON, SHEETS_SCOPE, TOKEN_PATH, GoogleAccounts
from .server import ApiError, ControlBody, Emulator, Request, Response, control_route

MAX_CELL_CHARS = 50_000
MAX_CELLS = 10_000_000
API_PREFIX = "/v4/spreadsheets/"
SYSTEM_PARAMS = frozenset(
    {
        "fields",
        "alt",
        "key",
        "prettyPrint",
        "quotaUser",
        "$.xgafv",
        "access_token",
        "callback",
        "oauth_token",
        "upload_protocol",
        "uploadType",
        "userIp",
    }
)
RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DATETIME_OPTIONS = ("SERIAL_NUMBER", "FORMATTED_STRING")
DIMENSIONS = ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED")
INPUT_OPTIONS = ("RAW", "USER_ENTERED", "INPUT_VALUE_OPTION_UNSPECIFIED")
INSERT_OPTIONS = ("OVERWRITE", "INSERT_ROWS")
ERROR_CODES = {
    "#ERROR!": "ERROR",
    "#NAME?": "NAME",
    "#DIV/0!": "DIVIDE_BY_ZERO",
    "#VALUE!": "VALUE",
    "#NUM!": "NUM",
    "#REF!": "REF",
    "#N/A": "N_A",
}
DEFAULT_FORMAT = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
# Real request kinds of spreadsheets.batchUpdate that only change formatting: accepted, no effect.
NOOP_REQUESTS = frozenset(
    {
        "updateBorders",
        "updateDimensionProperties",
        "autoResizeDimensions",
        "mergeCells",
        "unmergeCells",
        "setBasicFilter",
        "clearBasicFilter",
    }
)
# Real request kinds the emulator does not implement: 501, so a test notices instead of lying.
UNSUPPORTED_REQUESTS = frozenset(
    {
        "updateCells",
        "appendCells",
        "insertRange",
        "deleteRange",
        "copyPaste",
        "cutPaste",
        "pasteData",
        "findReplace",
        "sortRange",
        "randomizeRange",
        "duplicateSheet",
        "textToColumns",
        "addNamedRange",
        "updateNamedRange",
        "deleteNamedRange",
        "addConditionalFormatRule",
        "updateConditionalFormatRule",
        "deleteConditionalFormatRule",
        "addBanding",
        "updateBanding",
        "deleteBanding",
        "addFilterView",
        "updateFilterView",
        "deleteFilterView",
        "duplicateFilterView",
        "addChart",
        "updateChartSpec",
        "updateEmbeddedObjectPosition",
        "updateEmbeddedObjectBorder",
        "deleteEmbeddedObject",
        "addDimensionGroup",
        "deleteDimensionGroup",
        "updateDimensionGroup",
        "trimWhitespace",
        "deleteDuplicates",
        "createDeveloperMetadata",
        "updateDeveloperMetadata",
        "deleteDeveloperMetadata",
        "addSlicer",
        "updateSlicerSpec",
        "addDataSource",
        "updateDataSource",
        "deleteDataSource",
        "refreshDataSource",
        "cancelDataSourceRefresh",
        "addTable",
        "updateTable",
        "deleteTable",
    }
)
IMPLEMENTED_REQUESTS = frozenset(
    {
        "addSheet",
        "deleteSheet",
        "updateSheetProperties",
        "updateSpreadsheetProperties",
        "insertDimension",
        "deleteDimension",
        "appendDimension",
        "repeatCell",
        "setDataValidation",
        "addProtectedRange",
        "updateProtectedRange",
        "deleteProtectedRange",
    }
)
CELL_DATA_FIELDS = frozenset(
    {
        "userEnteredValue",
        "effectiveValue",
        "formattedValue",
        "userEnteredFormat",
        "effectiveFormat",
        "hyperlink",
        "note",
        "textFormatRuns",
        "dataValidation",
        "pivotTable",
        "dataSourceTable",
        "dataSourceFormula",
        "chipRuns",
    }
)
CELL_FORMAT_FIELDS = frozenset(
    {
        "numberFormat",
        "backgroundColor",
        "backgroundColorStyle",
        "borders",
        "padding",
        "horizontalAlignment",
        "verticalAlignment",
        "wrapStrategy",
        "textDirection",
        "textFormat",
        "hyperlinkDisplayType",
        "textRotation",
    }
)
TEXT_FORMAT_FIELDS = frozenset(
    {
        "foregroundColor",
        "foregroundColorStyle",
        "fontFamily",
        "fontSize",
        "bold",
        "italic",
        "strikethrough",
        "underline",
        "link",
    }
)
# BooleanCondition.type; data validation here models ONE_OF_LIST and BOOLEAN, the others answer 501.
CONDITION_TYPES = (
    "CONDITION_TYPE_UNSPECIFIED",
    "NUMBER_GREATER",
    "NUMBER_GREATER_THAN_EQ",
    "NUMBER_LESS",
    "NUMBER_LESS_THAN_EQ",
    "NUMBER_EQ",
    "NUMBER_NOT_EQ",
    "NUMBER_BETWEEN",
    "NUMBER_NOT_BETWEEN",
    "TEXT_CONTAINS",
    "TEXT_NOT_CONTAINS",
    "TEXT_STARTS_WITH",
    "TEXT_ENDS_WITH",
    "TEXT_EQ",
    "TEXT_IS_EMAIL",
    "TEXT_IS_URL",
    "DATE_EQ",
    "DATE_BEFORE",
    "DATE_AFTER",
    "DATE_ON_OR_BEFORE",
    "DATE_ON_OR_AFTER",
    "DATE_BETWEEN",
    "DATE_NOT_BETWEEN",
    "DATE_IS_VALID",
    "ONE_OF_RANGE",
    "ONE_OF_LIST",
    "BLANK",
    "NOT_BLANK",
    "CUSTOM_FORMULA",
    "BOOLEAN",
    "TEXT_NOT_EQ",
    "DATE_NOT_EQ",
    "FILTER_EXPRESSION",
)
PROTECTED_MESSAGE = (
    "You are trying to edit a protected cell or object. Please contact the spreadsheet owner "
    "to remove protection if you need to edit."
)
_PROTO = "type.googleapis.com/google.apps.sheets.v4"
_SKIP = object()  # JSON null in written values: leave the cell as it is


class _Entered:
    """A USER_ENTERED string typing would change: its text, its parsed value, the format it implies."""

    __slots__ = ("fmt", "text", "value")

    def __init__(self, text: str, value: Any, fmt: NumberFormat | None) -> None:
        self.text, self.value, self.fmt = text, value, fmt

    def settle(self, sheet: _Sheet, r: int, c: int) -> Any:
        """What the cell at (r, c) stores: the text in a TEXT cell; else the value, giving a
        date's format to a cell that has no number format yet (an existing one is kept)."""
        current = sheet.fmt(r, c)
        if current is not None and current[0] == "TEXT":
            return self.text
        if self.fmt is not None and current is None:
            sheet.set_formats(r, r + 1, c, c + 1, self.fmt)
        return self.value


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
def _error(code: int, status: str, message: str) -> ApiError:
    return ApiError(Response.json(code, {"error": {"code": code, "message": message, "status": status}}))


def _bad(message: str) -> ApiError:
    return _error(400, "INVALID_ARGUMENT", message)


def _not_found() -> ApiError:
    return _error(404, "NOT_FOUND", "Requested entity was not found.")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _unknown_field(name: str, where: str = "") -> ApiError:
    at = f" at '{where}'" if where else ""
    return _bad(f'Invalid JSON payload received. Unknown name "{_snake(name)}"{at}: Cannot find field.')


# ---------------------------------------------------------------------------------------
# cells, numbers, formulas
# ---------------------------------------------------------------------------------------
class Formula:
    """A formula cell: what was entered and the value it computed to (or an error string)."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: Any) -> None:
        self.text = text
        self.value = value

    def __repr__(self) -> str:
        return f"Formula({self.text!r} -> {self.value!r})"


def _is_error(value: Any) -> bool:
    return type(value) is str and value in ERROR_CODES


def format_number(v: int | float) -> str:
    """A number as the default "Automatic" format displays it (en_US)."""
    if type(v) is int:
        if abs(v) < 10**15:
            return str(v)
        v = float(v)
    if math.isnan(v) or math.isinf(v):
        return "#NUM!"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = format(v, ".10g")
    if "e" in text or abs(v) >= 1e15:
        mantissa, _, exp = format(v, ".5e").partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{int(exp):+03d}"
    return text


_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?$")


def _parse_number(text: str) -> int | float | None:
    """A number as typing it would read (en_US: ``,`` groups thousands), else None."""
    if not _NUMBER.match(text):
        return None
    mantissa = re.split(r"[eE]", text, maxsplit=1)[0]
    if not any(ch.isdigit() for ch in mantissa):
        return None
    clean = text.replace(",", "")
    if any(ch in clean for ch in ".eE"):
        value: int | float = float(clean)
        if math.isinf(value):
            return None
    else:
        value = int(clean)
    return _normalise_number(value)


def _normalise_number(value: int | float) -> int | float:
    """Sheets keeps numbers as doubles: integral values come back as ints, huge ints lose digits."""
    if type(value) is float:
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if abs(value) > 2**53:
        return float(value)
    return value


class _FormulaSyntaxError(Exception):
    pass


class _NotComputable(Exception):
    pass


class _EvalError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<str>"(?:[^"]|"")*")
    | (?P<qref>'(?:[^']|'')+'![$A-Za-z0-9:]+)
    | (?P<name>[A-Za-z_\\$][A-Za-z0-9_.$]*(?:![$A-Za-z0-9:]+)?)
    | (?P<op><>|<=|>=|[-+*/^&=<>%(),;:{}])
    )""",
    re.X,
)


_BLANK_TAIL = re.compile(r"\s*\Z")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if _BLANK_TAIL.match(text, pos):
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _FormulaSyntaxError(text[pos:])
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _FormulaParser:
    """Recursive descent over the Sheets formula grammar (enough to tell good from bad)."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def _peek(self) -> tuple[str | None, str | None]:
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def _take(self) -> tuple[str | None, str | None]:
        tok = self._peek()
        self.i += 1
        return tok

    def _is_op(self, *ops: str) -> bool:
        kind, val = self._peek()
        return kind == "op" and val in ops

    def _expect(self, op: str) -> None:
        if not self._is_op(op):
            raise _FormulaSyntaxError(f"expected {op}")
        self.i += 1

    def parse(self) -> tuple:
        if not self.tokens:
            raise _FormulaSyntaxError("empty formula")
        node = self._comparison()
        if self.i != len(self.tokens):
            raise _FormulaSyntaxError("trailing tokens")
        return node

    def _binary(self, ops: tuple[str, ...], operand: Any) -> tuple:
        node = operand()
        while self._is_op(*ops):
            _, op = self._take()
            node = ("bin", op, node, operand())
        return node

    def _comparison(self) -> tuple:
        return self._binary(("=", "<>", "<", "<=", ">", ">="), self._concat)

    def _concat(self) -> tuple:
        return self._binary(("&",), self._additive)

    def _additive(self) -> tuple:
        return self._binary(("+", "-"), self._term)

    def _term(self) -> tuple:
        return self._binary(("*", "/"), self._power)

    def _power(self) -> tuple:
        return self._binary(("^",), self._unary)

    def _unary(self) -> tuple:
        if self._is_op("+", "-"):
            _, op = self._take()
            return ("neg" if op == "-" else "pos", self._unary())
        node = self._range()
        while self._is_op("%"):
            self.i += 1
            node = ("pct", node)
        return node

    def _range(self) -> tuple:
        node = self._primary()
        while self._is_op(":"):
            self.i += 1
            node = ("range", node, self._primary())
        return node

    def _primary(self) -> tuple:
        kind, val = self._take()
        assert val is not None or kind is None
        if kind == "num":
            return ("num", float(val))  # type: ignore[arg-type]
        if kind == "str":
            return ("str", val[1:-1].replace('""', '"'))  # type: ignore[index]
        if kind == "qref":
            return ("ref", val)
        if kind == "name":
            if self._is_op("("):
                self.i += 1
                return ("call", val.upper(), self._args(")"))  # type: ignore[union-attr]
            if val.upper() in ("TRUE", "FALSE"):  # type: ignore[union-attr]
                return ("bool", val.upper() == "TRUE")  # type: ignore[union-attr]
            return ("ref", val)
        if kind == "op" and val == "(":
            node = self._comparison()
            self._expect(")")
            return node
        if kind == "op" and val == "{":
            rows = [self._args("}", separators=(",", ";"))]
            return ("array", rows)
        raise _FormulaSyntaxError(f"unexpected {val!r}")

    def _args(self, closing: str, separators: tuple[str, ...] = (",",)) -> list[tuple]:
        args: list[tuple] = []
        if self._is_op(closing):
            self.i += 1
            return args
        while True:
            if self._is_op(*separators, closing):
                args.append(("empty",))
            else:
                args.append(self._comparison())
            if self._is_op(closing):
                self.i += 1
                return args
            if not self._is_op(*separators):
                raise _FormulaSyntaxError("expected separator")
            self.i += 1


def _as_number(v: Any) -> int | float:
    if type(v) is bool:
        return int(v)
    if type(v) in (int, float):
        return v
    if type(v) is str:
        if v == "":
            return 0
        n = _parse_number(v.strip())
        if n is not None:
            return n
    raise _EvalError("#VALUE!")


def _as_text(v: Any) -> str:
    if type(v) is bool:
        return "TRUE" if v else "FALSE"
    if type(v) in (int, float):
        return format_number(v)
    return str(v)


def _evaluate(node: tuple) -> Any:
    kind = node[0]
    if kind in ("num", "str", "bool"):
        return node[1]
    if kind == "neg":
        return -_as_number(_evaluate(node[1]))
    if kind == "pos":
        return _evaluate(node[1])
    if kind == "pct":
        return _as_number(_evaluate(node[1])) / 100
    if kind == "bin":
        op, left, right = node[1], _evaluate(node[2]), _evaluate(node[3])
        if op == "&":
            return _as_text(left) + _as_text(right)
        if op in ("=", "<>", "<", "<=", ">", ">="):
            a, b = (left.lower(), right.lower()) if type(left) is str and type(right) is str else (left, right)
            try:
                return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
            except TypeError as e:
                raise _NotComputable from e
        x, y = _as_number(left), _as_number(right)
        try:
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if op == "/":
                if y == 0:
                    raise _EvalError("#DIV/0!")
                return x / y
            result = float(x) ** float(y)
            if isinstance(result, complex) or math.isinf(result) or math.isnan(result):
                raise _EvalError("#NUM!")
            return result
        except OverflowError as e:
            raise _EvalError("#NUM!") from e
    raise _NotComputable(kind)  # references, functions, ranges, arrays


def make_formula(text: str) -> Formula:
    """A formula cell for ``text`` (which starts with ``=``), its value computed if simple.

    Arithmetic on literals is evaluated (``=1+2`` → 3); anything that parses but refers to
    cells or functions gives ``#NAME?``; anything that does not parse gives ``#ERROR!``.
    """
    try:
        tree = _FormulaParser(_tokenize(text[1:])).parse()
    except _FormulaSyntaxError:
        return Formula(text, "#ERROR!")
    try:
        value = _evaluate(tree)
    except _NotComputable:
        value = "#NAME?"
    except _EvalError as e:
        value = e.code
    if type(value) in (int, float):
        if math.isinf(value) or math.isnan(value):
            value = "#NUM!"
        else:
            value = _normalise_number(value)
    return Formula(text, value)


# ---------------------------------------------------------------------------------------
# number formats and dates
# ---------------------------------------------------------------------------------------
# A cell's userEnteredFormat.numberFormat, stored as an immutable (type, pattern) pair.
NumberFormat = tuple[str, str]
NUMBER_FORMAT_TYPES = (
    "NUMBER_FORMAT_TYPE_UNSPECIFIED",
    "TEXT",
    "NUMBER",
    "PERCENT",
    "CURRENCY",
    "DATE",
    "TIME",
    "DATE_TIME",
    "SCIENTIFIC",
)
DATE_TYPES = frozenset({"DATE", "TIME", "DATE_TIME"})
EPOCH = _dt.date(1899, 12, 30)  # serial number 0
# The patterns a date cell without its own pattern is shown with, by spreadsheet locale.
DEFAULT_PATTERNS: dict[str, dict[str, str]] = {
    "ru_RU": {"DATE": "dd.MM.yyyy", "TIME": "H:mm:ss", "DATE_TIME": "dd.MM.yyyy H:mm:ss"},
    "en_US": {"DATE": "M/d/yyyy", "TIME": "h:mm:ss am/pm", "DATE_TIME": "M/d/yyyy H:mm:ss"},
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_TIME_PART = r"(?:[ ]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
# What typing recognises as a date, per locale: (regex, group order, pattern given to the cell).
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME_PART + r"$")
_LOCAL_DATES: dict[str, tuple[re.Pattern[str], str, str]] = {
    "ru_RU": (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME_PART + r"$"), "dmy", "dd.mm.yyyy"),
    "en_US": (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME_PART + r"$"), "mdy", "M/d/yyyy"),
}


def date_serial(value: _dt.date | _dt.datetime) -> int | float:
    """The serial number Sheets stores for a date (days since 1899-12-30, time as a fraction)."""
    if isinstance(value, _dt.datetime):
        days = (value.date() - EPOCH).days
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        return _normalise_number(days + seconds / 86400)
    return (value - EPOCH).days


def serial_datetime(serial: float) -> _dt.datetime | None:
    """The date-time a serial number stands for (to the second), or None out of range."""
    days = math.floor(serial)
    seconds = round((serial - days) * 86400)
    if seconds >= 86400:
        days, seconds = days + 1, seconds - 86400
    try:
        return _dt.datetime.combine(EPOCH + _dt.timedelta(days=days), _dt.time()) + _dt.timedelta(seconds=seconds)
    except OverflowError:
        return None


def _parse_date(text: str, locale: str) -> tuple[int | float, NumberFormat] | None:
    """A typed date or date-time → (serial, format), or None when it is not one."""
    m = _ISO_DATE.match(text)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        base = "yyyy-mm-dd"
    else:
        local = _LOCAL_DATES.get(locale)
        if local is None or not (m := local[0].match(text)):
            return None
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        d, mo = (a, b) if local[1] == "dmy" else (b, a)
        base = local[2]
    try:
        day = _dt.date(y, mo, d)
    except ValueError:
        return None
    if m.group(4) is None:
        return date_serial(day), ("DATE", base)
    h, mi, s = int(m.group(4)), int(m.group(5)), int(m.group(6) or 0)
    if h > 23 or mi > 59 or s > 59:
        return None
    moment = _dt.datetime(day.year, day.month, day.day, h, mi, s)
    return date_serial(moment), ("DATE_TIME", base + " h:mm:ss")


_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|am/pm|a/p|y+|m+|d+|h+|s+|\.0+|.',
    re.I | re.S,
)


def format_date(serial: float, fmt: NumberFormat, locale: str = "en_US") -> str:
    """A serial number shown by a date/time pattern (the locale's default when it has none).

    Tokens: ``yyyy yy`` year; ``m mm mmm mmmm`` month (minutes when after an hour or before
    seconds); ``d dd ddd dddd`` day; ``h hh`` (``H`` the same) hour, 12-hour only with
    ``am/pm``/``a/p`` (shown as ``AM``/``PM``); ``s ss`` seconds; ``"text"`` and ``\\c`` literals. Names are English.
    """
    kind, pattern = fmt
    if not pattern:
        pattern = DEFAULT_PATTERNS.get(locale, DEFAULT_PATTERNS["en_US"])[kind]
    moment = serial_datetime(serial)
    if moment is None:
        return format_number(serial)
    tokens = _DATE_TOKEN.findall(pattern)
    twelve = any(t.lower() in ("am/pm", "a/p") for t in tokens)
    kinds = [t[0].lower() if t[0].lower() in "ymdhs" and len(set(t.lower())) == 1 else "" for t in tokens]
    out = []
    for i, tok in enumerate(tokens):
        low, kind_ = tok.lower(), kinds[i]
        n = len(tok)
        if kind_ == "y":
            out.append(f"{moment.year:04d}" if n > 2 else f"{moment.year % 100:02d}")
        elif kind_ == "m":
            before = next((k for k in reversed(kinds[:i]) if k), "")
            after = next((k for k in kinds[i + 1 :] if k), "")
            if n <= 2 and (before == "h" or after == "s"):
                out.append(f"{moment.minute:0{n}d}")
            elif n <= 2:
                out.append(f"{moment.month:0{n}d}")
            elif n == 3:
                out.append(_MONTHS[moment.month - 1][:3])
            elif n == 4:
                out.append(_MONTHS[moment.month - 1])
            else:
                out.append(_MONTHS[moment.month - 1][0])
        elif kind_ == "d":
            if n <= 2:
                out.append(f"{moment.day:0{n}d}")
            else:
                name = _WEEKDAYS[moment.weekday()]
                out.append(name[:3] if n == 3 else name)
        elif kind_ == "h":
            hour = (moment.hour % 12 or 12) if twelve else moment.hour
            out.append(f"{hour:0{min(n, 2)}d}")
        elif kind_ == "s":
            out.append(f"{moment.second:0{min(n, 2)}d}")
        elif low in ("am/pm", "a/p"):
            word = ("AM" if moment.hour < 12 else "PM")[: 2 if low == "am/pm" else 1]
            out.append(word)  # Sheets shows AM/PM in capitals whatever the pattern's case
        elif low.startswith(".0"):
            out.append("." + "0" * (n - 1))  # fractions of a second: stored to the second
        elif tok.startswith('"'):
            out.append(tok[1:-1])
        elif tok.startswith("\\"):
            out.append(tok[1:])
        else:
            out.append(tok)
    return "".join(out)


_NUMBER_PATTERN = re.compile(r"^(?P<pre>[^#0,.%]*)(?P<int>[#0,]*)(?:\.(?P<dec>[#0]*))?(?P<post>[^#0]*)$")


def format_number_pattern(v: int | float, fmt: NumberFormat) -> str:
    """A number shown by a NUMBER/PERCENT/CURRENCY pattern (en_US separators).

    Understands ``0``/``#`` digits, ``,`` grouping, decimals, ``%`` and literal text around
    them; a pattern it does not understand (or none) shows the number as "Automatic" does.
    """
    kind, pattern = fmt
    section = pattern.split(";")[0].replace('"', "")
    m = _NUMBER_PATTERN.match(section) if section else None
    if m is None or not m.group("int") + (m.group("dec") or ""):
        return format_number(v * 100) + "%" if kind == "PERCENT" and not pattern else format_number(v)
    value = float(v) * (100 if "%" in m.group("post") else 1)
    dec = m.group("dec") or ""
    places, required = len(dec), len(dec.rstrip("#"))
    text = f"{abs(value):{',' if ',' in m.group('int') else ''}.{places}f}"
    if places > required:
        whole, _, frac = text.partition(".")
        frac = frac[:required] + frac[required:].rstrip("0")
        text = whole + ("." + frac if frac else "")
    if m.group("int").strip(",").startswith("#") and text.startswith("0") and "0" not in m.group("int"):
        text = text[1:]
    sign = "-" if value < 0 and float(text.replace(",", "") or 0) != 0 else ""
    return sign + m.group("pre") + text + m.group("post")


def parse_user_entered(text: str, locale: str = "en_US") -> Any:
    """A string as typing it into a cell would store it (USER_ENTERED); a date becomes its serial."""
    return _parse_entered(text, locale)[0]


def _parse_entered(text: str, locale: str) -> tuple[Any, NumberFormat | None]:
    """Typing ``text`` into a cell without a TEXT format: (stored value, number format it implies)."""
    if text.startswith("'"):
        return text[1:] or None, None
    if text.startswith("="):
        return make_formula(text), None
    stripped = text.strip()
    date = _parse_date(stripped, locale)
    if date is not None:
        return date
    return _parse_plain(text, stripped), None


def _parse_plain(text: str, stripped: str) -> Any:
    number = _parse_number(stripped)
    if number is not None:
        return number
    if stripped.upper() in ("TRUE", "FALSE"):
        return stripped.upper() == "TRUE"
    if text[:1] in ("+", "-") and len(stripped) > 1:
        return make_formula("=" + text)
    return text


def _render_formatted(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v
    if v is None:
        return ""
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int or t is float:
        return format_number(v)
    return _render_formatted(v.value)


def _render_unformatted(v: Any) -> Any:
    t = type(v)
    if t is str or t is int or t is bool:
        return v
    if v is None:
        return ""
    if t is float:
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    return _render_unformatted(v.value)


def _render_formula(v: Any) -> Any:
    if type(v) is Formula:
        return v.text
    return _render_unformatted(v)


def _render_cell(v: Any, fmt: NumberFormat | None, render: str, dt_render: str, locale: str) -> Any:
    """One stored value in ``render`` given the cell's number format (None: "Automatic")."""
    inner = v.value if type(v) is Formula else v
    if fmt is None or not (type(inner) is int or type(inner) is float):
        return RENDERERS[render](v)
    if render == "FORMULA" and type(v) is Formula:
        return v.text
    if fmt[0] in DATE_TYPES:
        if render == "FORMATTED_VALUE" or dt_render == "FORMATTED_STRING":
            return format_date(inner, fmt, locale)
        return _render_unformatted(inner)
    if render == "FORMATTED_VALUE":
        return format_number(inner) if fmt[0] == "TEXT" else format_number_pattern(inner, fmt)
    return _render_unformatted(inner)


RENDERERS = {
    "FORMATTED_VALUE": _render_formatted,
    "UNFORMATTED_VALUE": _render_unformatted,
    "FORMULA": _render_formula,
}


def _cell_type(v: Any) -> str:
    if v is None:
        return "empty"
    if type(v) is Formula:
        return "formula"
    if type(v) is bool:
        return "bool"
    if type(v) in (int, float):
        return "number"
    return "string"


def _extended_value(v: Any) -> dict[str, Any]:
    if _is_error(v):
        return {"errorValue": {"type": ERROR_CODES[v], "message": f"Error: {v}"}}
    if type(v) is bool:
        return {"boolValue": v}
    if type(v) in (int, float):
        return {"numberValue": v}
    return {"stringValue": str(v)}


def _number_of(look: _Look | None) -> NumberFormat | None:
    return None if look is None else look.number


def _number_format_json(fmt: NumberFormat) -> dict[str, str]:
    out = {"type": fmt[0]}
    if fmt[1]:
        out["pattern"] = fmt[1]
    return out


def _cell_data(v: Any, look: _Look | None = None, locale: str = "en_US") -> dict[str, Any]:
    out: dict[str, Any] = {}
    fmt = None if look is None else look.number
    if v is not None:
        entered = {"formulaValue": v.text} if type(v) is Formula else _extended_value(v)
        computed = v.value if type(v) is Formula else v
        out = {
            "userEnteredValue": entered,
            "effectiveValue": _extended_value(computed),
            "formattedValue": _render_cell(v, fmt, "FORMATTED_VALUE", "SERIAL_NUMBER", locale),
        }
    if look is not None:
        if user_format := look.format_json():
            out["userEnteredFormat"] = user_format
        if look.rule is not None:
            out["dataValidation"] = look.rule.json()
    return out


def _sort_key(v: Any) -> tuple:
    if type(v) is Formula:
        v = v.value
    if type(v) is bool:
        return (2, v)
    if type(v) in (int, float):
        return (0, v)
    return (1, str(v).casefold())


# ---------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rule:
    """A cell's data validation rule (``DataValidationRule``) as stored: immutable, shared by many cells."""

    kind: str  # the condition's type: ONE_OF_LIST or BOOLEAN
    values: tuple[str, ...] = ()  # the condition's userEnteredValues
    strict: bool = False
    custom_ui: bool = False
    message: str = ""

    def json(self) -> dict[str, Any]:
        condition: dict[str, Any] = {"type": self.kind}
        if self.values:
            condition["values"] = [{"userEnteredValue": v} for v in self.values]
        out: dict[str, Any] = {"condition": condition}
        if self.message:
            out["inputMessage"] = self.message
        if self.strict:  # proto3 JSON leaves false out
            out["strict"] = True
        if self.custom_ui:
            out["showCustomUi"] = True
        return out


@dataclass(frozen=True)
class _Look:
    """Everything a cell carries besides its value that the emulator models: its number format, bold text
    and data validation. Immutable and shared (a block formatted at once holds one object)."""

    number: NumberFormat | None = None
    bold: bool = False
    rule: _Rule | None = None

    def __bool__(self) -> bool:
        return self.number is not None or self.bold or self.rule is not None

    def format_json(self) -> dict[str, Any]:
        """The cell's ``userEnteredFormat`` (empty when it has none)."""
        out: dict[str, Any] = {}
        if self.number is not None:
            out["numberFormat"] = _number_format_json(self.number)
        if self.bold:
            out["textFormat"] = {"bold": True}
        return out


_PLAIN = _Look()


def _same(look: _Look, _: _Look) -> _Look:
    return look


Restyle = Callable[[_Look], _Look]


@dataclass
class _Protection:
    """A protected range. Bounds are 0-based, end-exclusive; None = unbounded (it grows with the grid)."""

    id: int
    r0: int | None
    r1: int | None
    c0: int | None
    c1: int | None
    description: str = ""
    warning_only: bool = False
    editors: dict[str, Any] | None = None
    # Made by the spreadsheet's owner in the UI (``SheetsEmulator.protect``): the API's caller is not an
    # editor, so its writes into the range fail. One the caller made through the API it may edit.
    owner_only: bool = False

    def covers(self, r0: int, c0: int, r1: int, c1: int) -> bool:
        return (
            r0 < (self.r1 if self.r1 is not None else r1)
            and (self.r0 or 0) < r1
            and c0 < (self.c1 if self.c1 is not None else c1)
            and (self.c0 or 0) < c1
        )

    def blocks_api(self) -> bool:
        return self.owner_only and not self.warning_only

    def json(self, sheet_id: int) -> dict[str, Any]:
        rng = {
            "sheetId": sheet_id,
            "startRowIndex": self.r0,
            "endRowIndex": self.r1,
            "startColumnIndex": self.c0,
            "endColumnIndex": self.c1,
        }
        out: dict[str, Any] = {
            "protectedRangeId": self.id,
            # proto3 JSON: unset and zero fields are left out (so sheet 0's ranges carry no sheetId)
            "range": {k: v for k, v in rng.items() if v},
        }
        if self.description:
            out["description"] = self.description
        if self.warning_only:
            out["warningOnly"] = True
        if not self.owner_only:
            out["requestingUserCanEdit"] = True
            if self.editors:
                out["editors"] = copy.deepcopy(self.editors)
        return out


def _shift(lo: int | None, hi: int | None, at: int, n: int) -> tuple[int | None, int | None]:
    """A protected range's bounds on one dimension after ``n`` lines are inserted before ``at``."""
    if lo is not None and lo >= at:
        lo += n
    if hi is not None and hi > at:
        hi += n
    return lo, hi


def _cut(lo: int | None, hi: int | None, start: int, end: int) -> tuple[int | None, int | None] | None:
    """… after lines ``start``..``end`` (end-exclusive) are deleted; None when nothing of it is left."""
    n = end - start

    def moved(i: int) -> int:
        return i if i <= start else (start if i <= end else i - n)

    new_lo = None if lo is None else moved(lo)
    new_hi = None if hi is None else moved(hi)
    if new_lo is not None and new_hi is not None and new_hi <= new_lo:
        return None
    return new_lo, new_hi


class _Sheet:
    __slots__ = ("col_count", "extra", "formats", "protected", "row_count", "rows", "sheet_id", "title")

    def __init__(self, sheet_id: int, title: str, row_count: int, col_count: int) -> None:
        self.sheet_id = sheet_id
        self.title = title
        self.rows: list[list[Any]] = []
        # how cells look (number format, bold, validation): per row, None or {column: _Look}; may reach
        # past the data. The dicts are copy-on-write (a clone shares them): replace one, never mutate it.
        self.formats: list[dict[int, _Look] | None] = []
        self.row_count = row_count
        self.col_count = col_count
        self.extra: dict[str, Any] = {}  # other properties: hidden, tabColor, gridProperties.frozen…
        self.protected: list[_Protection] = []

    def clone(self) -> _Sheet:
        """A copy sharing the row lists; dimension changes must replace rows, never mutate them."""
        other = _Sheet(self.sheet_id, self.title, self.row_count, self.col_count)
        other.rows = list(self.rows)
        other.formats = list(self.formats)
        other.extra = copy.deepcopy(self.extra)
        other.protected = [replace(p) for p in self.protected]
        return other

    def cell(self, r: int, c: int) -> Any:
        if r < len(self.rows):
            row = self.rows[r]
            if c < len(row):
                return row[c]
        return None

    def cell_row(self, r: int) -> list[Any]:
        return self.rows[r] if r < len(self.rows) else []

    def look(self, r: int, c: int) -> _Look | None:
        if r < len(self.formats):
            row = self.formats[r]
            if row:
                return row.get(c)
        return None

    def fmt(self, r: int, c: int) -> NumberFormat | None:
        look = self.look(r, c)
        return None if look is None else look.number

    def restyle(self, r0: int, r1: int, c0: int, c1: int, change: Restyle) -> None:
        """Change how every cell of a block looks (end-exclusive); equal results share one object."""
        formats = self.formats
        if len(formats) < r1:
            formats.extend([None] * (r1 - len(formats)))
        made: dict[_Look | None, _Look] = {}
        for r in range(r0, r1):
            old_row = formats[r]
            row = dict(old_row or {})
            for c in range(c0, c1):
                old = row.get(c)
                new = made.get(old)
                if new is None:
                    new = made[old] = change(old or _PLAIN)
                if new:
                    row[c] = new
                else:
                    row.pop(c, None)
            formats[r] = row or None
        while formats and not formats[-1]:
            formats.pop()

    def set_formats(self, r0: int, r1: int, c0: int, c1: int, fmt: NumberFormat | None) -> None:
        """Set (None: clear) the number format of every cell in a block (end-exclusive)."""
        self.restyle(r0, r1, c0, c1, lambda look: replace(look, number=fmt))

    def last_data_row(self) -> int:
        """Index of the last row holding any value, or -1."""
        for r in range(len(self.rows) - 1, -1, -1):
            if any(v is not None for v in self.rows[r]):
                return r
        return -1

    # dimension changes: they replace row lists instead of mutating them (see clone)
    def insert_rows(self, at: int, n: int, like: int | None = None) -> None:
        """``n`` empty rows before ``at``; they look like row ``like`` (old index)."""
        if at < len(self.rows):
            self.rows[at:at] = [[] for _ in range(n)]
        template = self.formats[like] if like is not None and 0 <= like < len(self.formats) else None
        if at < len(self.formats) or template:
            if len(self.formats) < at:
                self.formats.extend([None] * (at - len(self.formats)))
            self.formats[at:at] = [template] * n
        self.row_count += n
        for p in self.protected:
            p.r0, p.r1 = _shift(p.r0, p.r1, at, n)

    def delete_rows(self, start: int, end: int) -> None:
        del self.rows[start:end]
        del self.formats[start:end]
        self.row_count -= end - start
        kept = []
        for p in self.protected:
            bounds = _cut(p.r0, p.r1, start, end)
            if bounds is not None:
                p.r0, p.r1 = bounds
                kept.append(p)
        self.protected = kept

    def insert_cols(self, at: int, n: int, like: int | None = None) -> None:
        pad = [None] * n
        self.rows = [row[:at] + pad + row[at:] if len(row) > at else row for row in self.rows]

        def shifted(row: dict[int, _Look] | None) -> dict[int, _Look] | None:
            if not row:
                return row
            out = {c + n if c >= at else c: f for c, f in row.items()}
            if like is not None and like in row:
                out.update(dict.fromkeys(range(at, at + n), row[like]))
            return out

        self.formats = [shifted(row) for row in self.formats]
        self.col_count += n
        for p in self.protected:
            p.c0, p.c1 = _shift(p.c0, p.c1, at, n)

    def delete_cols(self, start: int, end: int) -> None:
        self.rows = [row[:start] + row[end:] if len(row) > start else row for row in self.rows]
        n = end - start
        self.formats = [
            {c - n if c >= end else c: f for c, f in row.items() if not start <= c < end} or None if row else row
            for row in self.formats
        ]
        self.col_count -= n
        kept = []
        for p in self.protected:
            bounds = _cut(p.c0, p.c1, start, end)
            if bounds is not None:
                p.c0, p.c1 = bounds
                kept.append(p)
        self.protected = kept

    def resize(self, rows: int | None = None, cols: int | None = None) -> None:
        if rows is not None:
            if rows < self.row_count:
                del self.rows[rows:]
                del self.formats[rows:]
            self.row_count = rows
        if cols is not None:
            if cols < self.col_count:
                self.rows = [row[:cols] if len(row) > cols else row for row in self.rows]
                self.formats = [
                    {c: f for c, f in row.items() if c < cols} or None if row else row for row in self.formats
                ]
            self.col_count = cols


class _Book:
    __slots__ = ("auto_recalc", "id", "locale", "rng", "shared", "shared_with", "sheets", "time_zone", "title")

    def __init__(self, sid: str, title: str) -> None:
        self.id = sid
        self.title = title
        self.locale = "en_US"
        self.time_zone = "Etc/GMT"
        self.auto_recalc = "ON_CHANGE"
        self.sheets: list[_Sheet] = []
        self.shared = True
        self.shared_with: set[str] | None = None
        self.rng = random.Random(sid)

    def clone(self) -> _Book:
        other = _Book(self.id, self.title)
        other.locale, other.time_zone, other.auto_recalc = self.locale, self.time_zone, self.auto_recalc
        other.sheets = [s.clone() for s in self.sheets]
        other.shared = self.shared
        other.shared_with = None if self.shared_with is None else set(self.shared_with)
        other.rng = random.Random()
        other.rng.setstate(self.rng.getstate())
        return other

    def find(self, title: str) -> _Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        folded = title.casefold()
        for sheet in self.sheets:
            if sheet.title.casefold() == folded:
                return sheet
        return None

    def by_id(self, sheet_id: int) -> _Sheet | None:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        return None

    def new_sheet_id(self) -> int:
        if not self.sheets:
            return 0
        while True:
            candidate = self.rng.randint(1, 2_147_483_646)
            if self.by_id(candidate) is None:
                return candidate

    def total_cells(self) -> int:
        return sum(s.row_count * s.col_count for s in self.sheets)


@dataclass
class _Target:
    """A range resolved against a sheet: 0-based, end-exclusive bounds."""

    sheet: _Sheet
    rng: A1Range
    r0: int
    c0: int
    r1: int
    c1: int

    @property
    def display(self) -> str:
        return format_range(self.sheet.title, self.r0, self.c0, max(self.r1, self.r0 + 1), max(self.c1, self.c0 + 1))


def _grid_error(sheet: _Sheet, r0: int, c0: int, r1: int, c1: int) -> ApiError:
    shown = format_range(sheet.title, r0, c0, max(r1, r0 + 1), max(c1, c0 + 1))
    return _bad(f"Range ({shown}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}")


def _cells_error(prefix: str = "") -> ApiError:
    return _bad(
        f"{prefix}This action would increase the number of cells in the workbook above the limit of {MAX_CELLS} cells."
    )


# ---------------------------------------------------------------------------------------
# small helpers over JSON input
# ---------------------------------------------------------------------------------------
def _parse_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    raise _bad(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{value}\"")


def _bool(value: Any, where: str) -> bool | None:
    """A JSON boolean field of a request body (None when absent)."""
    if value is None or type(value) is bool:
        return value
    raise _bad(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value, ensure_ascii=False)}")


def _enum(value: Any, allowed: tuple[str, ...], name: str, proto: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise _bad(
            f"Invalid value at '{_snake(name)}' (type.googleapis.com/google.apps.sheets.v4.{proto}), \"{value}\""
        )
    return value


def _int(value: Any, where: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _bad(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")


def _check_fields(obj: Any, allowed: set[str] | frozenset[str], where: str = "") -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise _bad(f"Invalid JSON payload received. Expected an object{f' at {where!r}' if where else ''}.")
    for key in obj:
        if key not in allowed:
            raise _unknown_field(key, where)
    return obj


def _mask_paths(fields: str) -> list[list[str]]:
    """``"sheets(properties(title,sheetId)),spreadsheetId"`` → list of paths."""
    paths: list[list[str]] = []

    def parse(i: int, prefix: list[str]) -> int:
        token = ""
        while i < len(fields):
            ch = fields[i]
            if ch == "(":
                i = parse(i + 1, prefix + [p for p in re.split(r"[./]", token.strip()) if p])
                token = ""
                continue
            if ch == ")":
                if token.strip():
                    paths.append(prefix + [p for p in re.split(r"[./]", token.strip()) if p])
                return i + 1
            if ch == ",":
                if token.strip():
                    paths.append(prefix + [p for p in re.split(r"[./]", token.strip()) if p])
                token = ""
            else:
                token += ch
            i += 1
        if token.strip():
            paths.append(prefix + [p for p in re.split(r"[./]", token.strip()) if p])
        return i

    parse(0, [])
    return paths


def _apply_mask(obj: Any, paths: list[list[str]]) -> Any:
    if not paths or any(not p or p == ["*"] for p in paths):
        return obj
    if isinstance(obj, list):
        return [_apply_mask(x, paths) for x in obj]
    if not isinstance(obj, dict):
        return obj
    groups: dict[str, list[list[str]]] = {}
    for p in paths:
        groups.setdefault(p[0], []).append(p[1:])
    out = {}
    for key, subs in groups.items():
        if key in obj:
            out[key] = obj[key] if any(not s for s in subs) else _apply_mask(obj[key], subs)
    return out


# ---------------------------------------------------------------------------------------
# the emulator
# ---------------------------------------------------------------------------------------
class SheetsEmulator(Emulator):
    """The Google Sheets API v4, in memory. See the module docstring for the routes."""

    name = "sheets"

    def __init__(self, latency: float = 0.0, read_quota: int | None = 60, write_quota: int | None = 60) -> None:
        super().__init__(latency=latency)
        self.read_quota = read_quota
        self.write_quota = write_quota
        self._books: dict[str, _Book] = {}
        self._created = 0
        self._quota_use: dict[tuple[str, str], tuple[int, int]] = {}
        self._quota_rejections: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        # Who may call: service accounts' and people's tokens, OAuth clients (amosheets.sandbox.google_accounts).
        self.accounts = GoogleAccounts(self.clock, self.lock)

    # -- plumbing hooks ---------------------------------------------------------------
    def route_name(self, path: str) -> str:
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", path)
        if not m:
            return path
        tail = m.group(2)
        base = "/v4/spreadsheets/{id}"
        if tail.startswith("/values/"):
            for suffix in (":append", ":clear"):
                if tail.endswith(suffix):
                    return base + "/values/{range}" + suffix
            return base + "/values/{range}"
        if tail.startswith("/sheets/"):
            return base + re.sub(r"^/sheets/[^/:]+", "/sheets/{sheetId}", tail)
        return base + tail

    def fault_response(self, status: int, req: Request) -> Response:
        if status == 429:
            return self._quota_response("read" if req.method == "GET" else "write")
        if status == 502:
            return Response.html(502, _HTML_502)
        messages = {
            500: ("Internal error encountered.", "INTERNAL"),
            503: ("The service is currently unavailable.", "UNAVAILABLE"),
            504: ("Deadline expired before operation could complete.", "DEADLINE_EXCEEDED"),
        }
        message, state = messages.get(status, ("Unknown error.", "UNKNOWN"))
        return Response.json(status, {"error": {"code": status, "message": message, "status": state}})

    def echo_response(self, status: int, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        state = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED"}.get(status, "UNKNOWN")
        return Response.json(status, {"error": {"code": status, "message": f"Rejected: {auth}", "status": state}})

    def internal_error(self, exc: Exception) -> Response:
        body = {"error": {"code": 500, "message": f"Internal error encountered. ({exc!r})", "status": "INTERNAL"}}
        return Response.json(500, body)

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        state = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "UNKNOWN")
        return Response.json(status, {"error": {"code": status, "message": message, "status": state}}, headers)

    def bad_json(self, detail: str) -> Response:
        return _bad(f"Invalid JSON payload received. {detail}").response

    def extra_stats(self) -> dict[str, Any]:
        with self._stats_lock:
            by_kind = dict(self._quota_rejections)
        return {"quota_rejections": sum(by_kind.values()), "quota_rejections_by_kind": by_kind}

    def reset_extra_stats(self) -> None:
        with self._stats_lock:
            self._quota_rejections.clear()

    # -- quota ------------------------------------------------------------------------
    def set_quotas(self, read: int | None = 60, write: int | None = 60) -> None:
        """Requests per clock minute per user; None = unlimited."""
        with self.lock:
            self.read_quota, self.write_quota = read, write

    def _quota_response(self, kind: str) -> Response:
        metric = "Read requests" if kind == "read" else "Write requests"
        body = {
            "error": {
                "code": 429,
                "message": (
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' "
                    "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
                ),
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "quota_metric": f"sheets.googleapis.com/{kind}_requests",
                            "service": "sheets.googleapis.com",
                            "quota_limit": f"{kind.capitalize()}RequestsPerMinutePerUser",
                            "consumer": "projects/000000000000",
                        },
                    }
                ],
            }
        }
        return Response.json(429, body)

    def _take_quota(self, req: Request, kind: str, caller: str | None = None) -> None:
        limit = self.read_quota if kind == "read" else self.write_quota
        if limit is None:
            return
        # Per user: the account behind the token (a refreshed token is the same user), else the header as sent.
        user = caller or req.headers.get("authorization") or "anonymous"
        window = int(self.clock.time() // 60)
        seen_window, used = self._quota_use.get((user, kind), (window, 0))
        if seen_window != window:
            used = 0
        if used >= limit:
            with self._stats_lock:
                self._quota_rejections[kind] += 1
            raise ApiError(self._quota_response(kind))
        self._quota_use[(user, kind)] = (window, used + 1)

    # -- routing ----------------------------------------------------------------------
    def route(self, req: Request) -> Response:
        if req.path == TOKEN_PATH and req.method == "POST":
            return self._oauth_token(req)
        if req.path == AUTH_PATH and req.method == "GET":
            return self.accounts.authorize(req.query)
        op, sid, range_text = self._parse_route(req)
        with self.lock:
            caller = self._caller(req)
            self._take_quota(req, "read" if req.method == "GET" else "write", caller)
            book = self._books.get(sid)
            if book is None:
                raise _not_found()
            if not book.shared or (book.shared_with is not None and caller not in book.shared_with):
                raise _error(403, "PERMISSION_DENIED", "The caller does not have permission")
            handler = getattr(self, "_api_" + op)
            return handler(req, book, range_text)

    # -- who is calling: Google's OAuth endpoints (amosheets.sandbox.google_accounts) -------------
    def _oauth_token(self, req: Request) -> Response:
        """Google's token endpoint: a service account's signed JWT, a person's refresh token or authorization code."""
        return self.accounts.token(req.headers, req.body)

    def _caller(self, req: Request) -> str | None:
        """The e-mail (a service account's or a person's) behind the bearer token; None for anonymous requests."""
        return self.accounts.caller(req.headers.get("authorization", ""), write=req.method != "GET")

    def protect(self, sid: str, sheet_title: str | None, a1: str) -> None:
        """Protect a range, as the owner does in Data → Protect sheets and ranges: API writes into it fail."""
        with self.lock:
            book = self._book(sid)
            t = self._resolve(book, f"{quote_title(sheet_title)}!{a1}" if sheet_title else a1, check_grid=False)
            pid = self._new_protection_id(book)
            t.sheet.protected.append(_Protection(pid, t.r0, t.r1, t.c0, t.c1, owner_only=True))

    def unprotect(self, sid: str) -> None:
        """Remove every protected range (the owner's and the API's)."""
        with self.lock:
            for sheet in self._book(sid).sheets:
                sheet.protected.clear()

    @staticmethod
    def _new_protection_id(book: _Book) -> int:
        taken = {p.id for sheet in book.sheets for p in sheet.protected}
        while True:
            candidate = book.rng.randint(1, 2_147_483_646)
            if candidate not in taken:
                return candidate

    def share_with(self, sid: str, emails: list[str] | None) -> None:
        """Only these accounts — service accounts' or people's e-mails — may use the spreadsheet (None: anyone,
        as by default; anonymous requests too)."""
        with self.lock:
            self._book(sid).shared_with = None if emails is None else set(emails)

    def revoke_account(self, email: str) -> None:
        """The service account's key is deleted: the token endpoint refuses it."""
        self.accounts.revoke_account(email)

    # -- people: OAuth clients and sign-ins ------------------------------------------------------
    def register_oauth_client(self, client_id: str | None = None, client_secret: str | None = None) -> dict[str, str]:
        """An OAuth client (a "Desktop app" of a Google Cloud project) → ``{client_id, client_secret}``;
        deterministic by default (see ``GoogleAccounts.register_client``)."""
        return self.accounts.register_client(client_id, client_secret)

    def sign_in_as(
        self, email: str = DEFAULT_PERSON, grants: list[str] | None = None, denies: bool = False
    ) -> dict[str, Any]:
        """The person who signs in at ``GET /o/oauth2/auth``: their e-mail, the scopes they leave ticked (None:
        all asked), or that they press Cancel."""
        return self.accounts.sign_in_as(email, grants, denies)

    def revoke_person(self, email: str) -> int:
        """The person removes the app's access: their refresh tokens, and access tokens made from them, end."""
        return self.accounts.revoke_person(email)

    def client_secrets_json(self, base_url: str, client_id: str | None = None) -> dict[str, Any]:
        """What the console's "Download JSON" of an OAuth client gives, pointing at this emulator (``base_url``:
        where it is served): ``{"installed": {client_id, client_secret, auth_uri, token_uri, redirect_uris}}``."""
        client = self.accounts.client(client_id)
        origin = base_url.rstrip("/")
        return {
            "installed": {
                "client_id": client["client_id"],
                "project_id": "amosheets-sandbox",
                "auth_uri": origin + AUTH_PATH,
                "token_uri": origin + TOKEN_PATH,
                "client_secret": client["client_secret"],
                "redirect_uris": ["http://localhost"],
            }
        }

    def authorized_user_json(
        self, base_url: str, email: str | None = None, client_id: str | None = None, scopes: list[str] | None = None
    ) -> dict[str, Any]:
        """A person already signed in (``email``, default the one who signs in): an ``authorized_user`` file's
        content with a fresh refresh token (for ``scopes``, default the spreadsheets scope) and a ``token_uri``
        at this emulator (``base_url``: where it is served)."""
        client = self.accounts.client(client_id)
        refresh_token = self.accounts.grant(email, client["client_id"], scopes or [SHEETS_SCOPE])
        return {
            "type": "authorized_user",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "refresh_token": refresh_token,
            "token_uri": base_url.rstrip("/") + TOKEN_PATH,
        }

    def access_tokens(self, email: str | None = None) -> list[str]:
        """Access tokens issued and still valid or expired-but-known (to ``email``, or to anyone): what a test
        looks for in output that must not hold them."""
        return self.accounts.access_tokens(email)

    def _parse_route(self, req: Request) -> tuple[str, str, str]:
        raw = req.raw_path
        if not raw.startswith(API_PREFIX):
            raise _not_found()
        rest = raw[len(API_PREFIX) :]
        sid_part, slash, tail = rest.partition("/")
        method = req.method
        if not slash:
            sid, colon, verb = sid_part.partition(":")
            if not colon and method == "GET":
                return "get", unquote(sid), ""
            if verb == "batchUpdate" and method == "POST":
                return "batch_update", unquote(sid), ""
            raise _not_found()
        sid = unquote(sid_part)
        if ":" in sid:
            raise _not_found()
        simple = {
            ("values:batchGet", "GET"): "values_batch_get",
            ("values:batchUpdate", "POST"): "values_batch_update",
            ("values:batchClear", "POST"): "values_batch_clear",
        }
        if (tail, method) in simple:
            return simple[(tail, method)], sid, ""
        if tail.startswith("values/") and len(tail) > len("values/"):
            range_raw = tail[len("values/") :]
            for suffix, op in ((":append", "values_append"), (":clear", "values_clear")):
                if range_raw.endswith(suffix) and method == "POST":
                    return op, sid, unquote(range_raw[: -len(suffix)])
            if method == "GET":
                return "values_get", sid, unquote(range_raw)
            if method == "PUT":
                return "values_update", sid, unquote(range_raw)
        raise _not_found()

    # -- request helpers --------------------------------------------------------------
    @staticmethod
    def _check_params(req: Request, allowed: set[str]) -> None:
        for name in req.query:
            if name not in allowed and name not in SYSTEM_PARAMS:
                raise _bad(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message."
                )

    @staticmethod
    def _body(req: Request) -> Any:
        if not req.body or not req.body.strip():
            return None
        try:
            data = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise _bad(f"Invalid JSON payload received. {e}") from e
        if data is None:  # a body of JSON null is not an empty body: the request message must be an object
            raise _bad("Invalid JSON payload received. Expected an object.")
        return data

    def _resolve(self, book: _Book, text: str, check_grid: bool = True) -> _Target:
        try:
            rng = parse_range(text)
        except A1Error as e:
            raise _bad(f"Unable to parse range: {text}") from e
        if rng.sheet is None:
            sheet = book.sheets[0]
        else:
            found = book.find(rng.sheet)
            if found is None:
                raise _bad(f"Unable to parse range: {text}")
            sheet = found
        r0 = 0 if rng.start_row is None else rng.start_row
        c0 = 0 if rng.start_col is None else rng.start_col
        r1 = sheet.row_count if rng.end_row is None else rng.end_row
        c1 = sheet.col_count if rng.end_col is None else rng.end_col
        if check_grid and (
            r0 >= sheet.row_count or c0 >= sheet.col_count or r1 > sheet.row_count or c1 > sheet.col_count
        ):
            raise _grid_error(sheet, r0, c0, r1, c1)
        return _Target(sheet, rng, r0, c0, r1, c1)

    @staticmethod
    def _read(
        sheet: _Sheet,
        r0: int,
        c0: int,
        r1: int,
        c1: int,
        render: str,
        major: str,
        dt_render: str = "SERIAL_NUMBER",
        locale: str = "en_US",
    ) -> list[list[Any]]:
        """Values in a block, trimmed like the API: no trailing empty cells or rows."""
        rows = sheet.rows
        raw: list[list[Any]] = []
        whole_rows = c0 == 0
        last = -1
        for r in range(r0, min(r1, len(rows))):
            row = rows[r]
            seg = row if whole_rows and len(row) <= c1 else row[c0:c1]
            if seg and seg[-1] is None:
                n = len(seg) - 1
                while n and seg[n - 1] is None:
                    n -= 1
                seg = seg[:n]
            raw.append(seg)
            if seg:
                last = len(raw)
        del raw[last if last > 0 else 0 :]
        formats = sheet.formats
        formatted = any(formats[r] for r in range(r0, min(r0 + len(raw), len(formats))))
        if formatted:  # render the cells that carry a number format now, in place (None stays empty)
            fn_ = RENDERERS[render]
            out: list[list[Any]] = []
            for i, seg in enumerate(raw):
                fmts = formats[r0 + i] if r0 + i < len(formats) else None
                if fmts:
                    out.append(
                        [
                            None
                            if v is None
                            else _render_cell(v, _number_of(fmts.get(c0 + j)), render, dt_render, locale)
                            for j, v in enumerate(seg)
                        ]
                    )
                else:
                    out.append([None if v is None else fn_(v) for v in seg])
            raw = out
        if major == "COLUMNS" and raw:
            width = max(len(row) for row in raw)
            cols = []
            for j in range(width):
                col = [row[j] if j < len(row) else None for row in raw]
                n = len(col)
                while n and col[n - 1] is None:
                    n -= 1
                cols.append(col[:n])
            while cols and not cols[-1]:
                cols.pop()
            raw = cols
        if formatted:
            return [["" if v is None else v for v in row] for row in raw]
        fn = RENDERERS[render]
        if render == "FORMATTED_VALUE":
            return [[v if type(v) is str else fn(v) for v in row] for row in raw]
        return [[fn(v) for v in row] for row in raw]

    def _value_range(
        self, t: _Target, render: str, major: str, dt_render: str = "SERIAL_NUMBER", locale: str = "en_US"
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"range": t.display, "majorDimension": major}
        values = self._read(t.sheet, t.r0, t.c0, t.r1, t.c1, render, major, dt_render, locale)
        if values:
            out["values"] = values
        return out

    def _read_options(self, req: Request) -> tuple[str, str, str]:
        render = _enum(req.arg("valueRenderOption"), RENDER_OPTIONS, "valueRenderOption", "ValueRenderOption")
        major = _enum(req.arg("majorDimension"), DIMENSIONS, "majorDimension", "Dimension")
        dt = _enum(req.arg("dateTimeRenderOption"), DATETIME_OPTIONS, "dateTimeRenderOption", "DateTimeRenderOption")
        return render or "FORMATTED_VALUE", "COLUMNS" if major == "COLUMNS" else "ROWS", dt or "SERIAL_NUMBER"

    @staticmethod
    def _convert_cell(v: Any, user_entered: bool, i: int = 0, j: int = 0, locale: str = "en_US") -> Any:
        """One written value → what the cell stores (``_SKIP`` for JSON null).

        A USER_ENTERED string that typing would turn into something else comes back as an
        :class:`_Entered`, settled by :meth:`_write` against the cell's number format.
        """
        t = type(v)
        if v is None:
            return _SKIP
        if t is str:
            if len(v) > MAX_CELL_CHARS:
                raise _bad(
                    f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell."
                )
            if v == "":
                return None
            if not user_entered:
                return v
            value, fmt = _parse_entered(v, locale)
            return v if value is v else _Entered(v, value, fmt)
        if t is bool:
            return v
        if t is int:
            return _normalise_number(v)
        if t is float:
            if math.isnan(v) or math.isinf(v):
                raise _bad(f"Invalid values[{i}][{j}]: number_value {v}")
            return _normalise_number(v)
        kind = "struct_value" if isinstance(v, dict) else "list_value"
        raise _bad(f"Invalid values[{i}][{j}]: {kind} {json.dumps(v, ensure_ascii=False)}")

    def _convert_values(
        self, values: Any, user_entered: bool, major: str, where: str, locale: str = "en_US"
    ) -> list[list[Any]]:
        if values is None:
            return []
        if not isinstance(values, list):
            raise _bad(
                f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(values)}"
            )
        matrix: list[list[Any]] = []
        convert = self._convert_cell
        for i, row in enumerate(values):
            if not isinstance(row, list):
                raise _bad(
                    f"Invalid value at '{where}[{i}]' (type.googleapis.com/google.protobuf.ListValue), "
                    f"{json.dumps(row, ensure_ascii=False)}"
                )
            if user_entered:
                matrix.append([convert(v, True, i, j, locale) for j, v in enumerate(row)])
            else:  # RAW: most cells are plain non-empty strings; keep them without a call
                matrix.append(
                    [
                        v if type(v) is str and v and len(v) <= MAX_CELL_CHARS else convert(v, False, i, j)
                        for j, v in enumerate(row)
                    ]
                )
        if major == "COLUMNS" and matrix:
            height = max(len(col) for col in matrix)
            rows = []
            for i in range(height):
                row = [col[i] if i < len(col) else _SKIP for col in matrix]
                while row and row[-1] is _SKIP:
                    row.pop()
                rows.append(row)
            matrix = rows
        return matrix

    @staticmethod
    def _check_fits(t: _Target, matrix: list[list[Any]]) -> None:
        nr = len(matrix)
        nc = max((len(row) for row in matrix), default=0)
        if nr == 0 or nc == 0:
            return
        for p in t.sheet.protected:
            if p.blocks_api() and p.covers(t.r0, t.c0, t.r0 + nr, t.c0 + nc):
                raise _bad(PROTECTED_MESSAGE)
        single = t.rng.is_single_cell
        if t.rng.end_row is not None and not single and t.r0 + nr > t.r1:
            raise _bad(f"Requested writing within range [{t.display}], but tried writing to row [{t.r1 + 1}]")
        if t.rng.end_col is not None and not single and t.c0 + nc > t.c1:
            raise _bad(
                f"Requested writing within range [{t.display}], but tried writing to column [{column_label(t.c1)}]"
            )
        if t.r0 + nr > t.sheet.row_count or t.c0 + nc > t.sheet.col_count:
            raise _grid_error(t.sheet, t.r0, t.c0, t.r0 + nr, t.c0 + nc)

    @staticmethod
    def _write(sheet: _Sheet, r0: int, c0: int, matrix: list[list[Any]]) -> None:
        """Store a converted block; a typed value meets the cell's number format here."""
        rows = sheet.rows
        for i, vals in enumerate(matrix):
            if not vals or all(v is _SKIP for v in vals):
                continue
            r = r0 + i
            if len(rows) <= r:
                rows.extend([] for _ in range(r + 1 - len(rows)))
            row = rows[r]
            end = c0 + len(vals)
            if len(row) < end:
                row.extend([None] * (end - len(row)))
            for j, v in enumerate(vals):
                if v is not _SKIP:
                    if type(v) is _Entered:
                        v = v.settle(sheet, r, c0 + j)
                    row[c0 + j] = v

    @staticmethod
    def _clear(sheet: _Sheet, r0: int, c0: int, r1: int, c1: int) -> None:
        rows = sheet.rows
        for r in range(r0, min(r1, len(rows))):
            row = rows[r]
            if c0 == 0 and c1 >= len(row):
                row.clear()
                continue
            for c in range(c0, min(c1, len(row))):
                row[c] = None

    def _write_reply(
        self,
        book: _Book,
        sheet: _Sheet,
        r0: int,
        c0: int,
        matrix: list[list[Any]],
        include: bool,
        render: str,
        fallback_range: str,
        dt_render: str = "SERIAL_NUMBER",
    ) -> dict[str, Any]:
        nr = len(matrix)
        nc = max((len(row) for row in matrix), default=0)
        reply: dict[str, Any] = {"spreadsheetId": book.id}
        if nr == 0 or nc == 0:
            reply["updatedRange"] = fallback_range
            return reply
        reply["updatedRange"] = format_range(sheet.title, r0, c0, r0 + nr, c0 + nc)
        cols_touched: set[int] = set()
        rows_touched = cells = 0
        for row in matrix:
            hit = False
            for j, v in enumerate(row):
                if v is not _SKIP:
                    hit = True
                    cells += 1
                    cols_touched.add(j)
            rows_touched += hit
        for key, n in (("updatedRows", rows_touched), ("updatedColumns", len(cols_touched)), ("updatedCells", cells)):
            if n:  # proto3 JSON leaves zero out
                reply[key] = n
        if include:
            data: dict[str, Any] = {"range": reply["updatedRange"], "majorDimension": "ROWS"}
            values = self._read(sheet, r0, c0, r0 + nr, c0 + nc, render, "ROWS", dt_render, book.locale)
            if values:
                data["values"] = values
            reply["updatedData"] = data
        return reply

    def _write_options(self, req_value: Any, name: str) -> bool:
        """valueInputOption → user_entered flag (required; RAW or USER_ENTERED)."""
        if req_value is None:
            raise _bad(f"'{name}' is required but not specified")
        _enum(req_value, INPUT_OPTIONS, name, "ValueInputOption")
        if req_value == "INPUT_VALUE_OPTION_UNSPECIFIED":
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        return req_value == "USER_ENTERED"

    # -- API: metadata ----------------------------------------------------------------
    @staticmethod
    def _sheet_properties(sheet: _Sheet, index: int) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": sheet.row_count, "columnCount": sheet.col_count}
        grid.update(sheet.extra.get("gridProperties", {}))
        props: dict[str, Any] = {
            "sheetId": sheet.sheet_id,
            "title": sheet.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        for key, value in sheet.extra.items():
            if key != "gridProperties":
                props[key] = copy.deepcopy(value)
        return props

    def _metadata(self, book: _Book, grid_data: bool = False, ranges: list[_Target] | None = None) -> dict[str, Any]:
        sheets_out = []
        if ranges:
            wanted: list[_Sheet] = []
            for t in ranges:
                if t.sheet not in wanted:
                    wanted.append(t.sheet)
        else:
            wanted = list(book.sheets)
        for sheet in wanted:
            index = book.sheets.index(sheet)
            entry: dict[str, Any] = {"properties": self._sheet_properties(sheet, index)}
            if sheet.protected:
                entry["protectedRanges"] = [p.json(sheet.sheet_id) for p in sheet.protected]
            if grid_data:
                areas = [t for t in ranges if t.sheet is sheet] if ranges else None
                if areas is None:
                    entry["data"] = [self._grid_data(sheet, 0, 0, sheet.row_count, sheet.col_count, book.locale)]
                else:
                    entry["data"] = [self._grid_data(sheet, t.r0, t.c0, t.r1, t.c1, book.locale) for t in areas]
            sheets_out.append(entry)
        return {
            "spreadsheetId": book.id,
            "properties": {
                "title": book.title,
                "locale": book.locale,
                "autoRecalc": book.auto_recalc,
                "timeZone": book.time_zone,
                "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            },
            "sheets": sheets_out,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }

    @staticmethod
    def _grid_data(sheet: _Sheet, r0: int, c0: int, r1: int, c1: int, locale: str = "en_US") -> dict[str, Any]:
        row_data: list[dict[str, Any]] = []
        for r in range(r0, min(r1, max(len(sheet.rows), len(sheet.formats)))):
            fmts = sheet.formats[r] if r < len(sheet.formats) else None
            if fmts:
                width = max([c + 1 for c in fmts if c0 <= c < c1] + [min(c1, len(sheet.cell_row(r)))], default=c0)
                cells = [_cell_data(sheet.cell(r, c), fmts.get(c), locale) for c in range(c0, width)]
            else:
                cells = [_cell_data(v) for v in sheet.cell_row(r)[c0:c1]]
            while cells and not cells[-1]:
                cells.pop()
            row_data.append({"values": cells} if cells else {})
        while row_data and not row_data[-1]:
            row_data.pop()
        out: dict[str, Any] = {}
        if r0:
            out["startRow"] = r0
        if c0:
            out["startColumn"] = c0
        if row_data:
            out["rowData"] = row_data
        return out

    def _api_get(self, req: Request, book: _Book, _: str) -> Response:
        self._check_params(req, {"includeGridData", "ranges", "excludeTablesInBandedRanges"})
        grid_data = bool(_parse_bool(req.arg("includeGridData"), "includeGridData"))
        _parse_bool(req.arg("excludeTablesInBandedRanges"), "excludeTablesInBandedRanges")
        ranges = [self._resolve(book, r) for r in req.query.get("ranges", [])]
        fields = req.arg("fields")
        paths = _mask_paths(fields) if fields else []
        if paths:  # includeGridData is ignored when a field mask is set: the mask says whether grid data comes
            grid_data = any(p[0] == "*" or (p[0] == "sheets" and (len(p) == 1 or p[1] in ("data", "*"))) for p in paths)
        payload = self._metadata(book, grid_data, ranges)
        if paths:
            payload = _apply_mask(payload, paths)
        return Response.json(200, payload)

    # -- API: values ------------------------------------------------------------------
    def _api_values_get(self, req: Request, book: _Book, text: str) -> Response:
        self._check_params(req, {"valueRenderOption", "majorDimension", "dateTimeRenderOption"})
        render, major, dt = self._read_options(req)
        return Response.json(200, self._value_range(self._resolve(book, text), render, major, dt, book.locale))

    def _api_values_batch_get(self, req: Request, book: _Book, _: str) -> Response:
        self._check_params(req, {"ranges", "valueRenderOption", "majorDimension", "dateTimeRenderOption"})
        render, major, dt = self._read_options(req)
        targets = [self._resolve(book, r) for r in req.query.get("ranges", [])]
        payload: dict[str, Any] = {"spreadsheetId": book.id}
        if targets:
            payload["valueRanges"] = [self._value_range(t, render, major, dt, book.locale) for t in targets]
        return Response.json(200, payload)

    def _response_render(self, value: Any) -> str:
        return _enum(value, RENDER_OPTIONS, "responseValueRenderOption", "ValueRenderOption") or "FORMATTED_VALUE"

    def _api_values_update(self, req: Request, book: _Book, text: str) -> Response:
        self._check_params(
            req,
            {
                "valueInputOption",
                "includeValuesInResponse",
                "responseValueRenderOption",
                "responseDateTimeRenderOption",
            },
        )
        user_entered = self._write_options(req.arg("valueInputOption"), "valueInputOption")
        include = bool(_parse_bool(req.arg("includeValuesInResponse"), "includeValuesInResponse"))
        render = self._response_render(req.arg("responseValueRenderOption"))
        dt_render = _enum(
            req.arg("responseDateTimeRenderOption"),
            DATETIME_OPTIONS,
            "responseDateTimeRenderOption",
            "DateTimeRenderOption",
        )
        body = _check_fields(self._body(req), {"range", "majorDimension", "values"})
        t = self._resolve(book, text)
        self._check_body_range(book, body.get("range"), t, text)
        major = _enum(body.get("majorDimension"), DIMENSIONS, "majorDimension", "Dimension")
        matrix = self._convert_values(body.get("values"), user_entered, major or "ROWS", "data.values", book.locale)
        self._check_fits(t, matrix)
        self._write(t.sheet, t.r0, t.c0, matrix)
        return Response.json(
            200,
            self._write_reply(
                book, t.sheet, t.r0, t.c0, matrix, include, render, t.display, dt_render or "SERIAL_NUMBER"
            ),
        )

    def _check_body_range(self, book: _Book, body_range: Any, t: _Target, url_text: str) -> None:
        if body_range is None:
            return
        if not isinstance(body_range, str):
            raise _bad(f"Invalid value at 'data.range' (TYPE_STRING), {json.dumps(body_range)}")
        other = self._resolve(book, body_range, check_grid=False)
        if (other.sheet, other.r0, other.c0, other.r1, other.c1) != (t.sheet, t.r0, t.c0, t.r1, t.c1):
            raise _bad(f"Requested range [{body_range}] does not match the range in the URL [{url_text}].")

    def _api_values_batch_update(self, req: Request, book: _Book, _: str) -> Response:
        self._check_params(req, set())
        body = _check_fields(
            self._body(req),
            {
                "valueInputOption",
                "data",
                "includeValuesInResponse",
                "responseValueRenderOption",
                "responseDateTimeRenderOption",
            },
        )
        user_entered = self._write_options(body.get("valueInputOption"), "valueInputOption")
        include = body.get("includeValuesInResponse")
        if include is not None and type(include) is not bool:
            raise _bad(f"Invalid value at 'include_values_in_response' (TYPE_BOOL), {json.dumps(include)}")
        render = self._response_render(body.get("responseValueRenderOption"))
        dt_render = _enum(
            body.get("responseDateTimeRenderOption"),
            DATETIME_OPTIONS,
            "responseDateTimeRenderOption",
            "DateTimeRenderOption",
        )
        data = body.get("data") or []
        if not isinstance(data, list):
            raise _bad(
                f"Invalid value at 'data' (type.googleapis.com/google.apps.sheets.v4.ValueRange), {json.dumps(data)}"
            )
        planned = []
        for i, item in enumerate(data):  # validate everything first: all or nothing
            item = _check_fields(item, {"range", "majorDimension", "values"}, f"data[{i}]")
            text = item.get("range")
            if not isinstance(text, str):
                raise _bad(f"Invalid data[{i}]: range must be specified")
            t = self._resolve(book, text)
            major = _enum(item.get("majorDimension"), DIMENSIONS, "majorDimension", "Dimension")
            matrix = self._convert_values(
                item.get("values"), user_entered, major or "ROWS", f"data[{i}].values", book.locale
            )
            self._check_fits(t, matrix)
            planned.append((t, matrix))
        payload: dict[str, Any] = {"spreadsheetId": book.id}
        if not planned:
            return Response.json(200, payload)
        for t, matrix in planned:
            self._write(t.sheet, t.r0, t.c0, matrix)
        responses = [
            self._write_reply(
                book, t.sheet, t.r0, t.c0, m, bool(include), render, t.display, dt_render or "SERIAL_NUMBER"
            )
            for t, m in planned
        ]
        totals = {
            "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
            "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
            "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
            "totalUpdatedSheets": len(
                {id(t.sheet) for (t, _), r in zip(planned, responses, strict=True) if r.get("updatedCells")}
            ),
        }
        payload.update({k: v for k, v in totals.items() if v})
        payload["responses"] = responses
        return Response.json(200, payload)

    def _api_values_clear(self, req: Request, book: _Book, text: str) -> Response:
        self._check_params(req, set())
        _check_fields(self._body(req), set())
        t = self._resolve(book, text)
        self._clear(t.sheet, t.r0, t.c0, t.r1, t.c1)
        return Response.json(200, {"spreadsheetId": book.id, "clearedRange": t.display})

    def _api_values_batch_clear(self, req: Request, book: _Book, _: str) -> Response:
        self._check_params(req, set())
        body = _check_fields(self._body(req), {"ranges"})
        ranges = body.get("ranges") or []
        if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
            raise _bad(f"Invalid value at 'ranges' (TYPE_STRING), {json.dumps(ranges)}")
        targets = [self._resolve(book, r) for r in ranges]
        for t in targets:
            self._clear(t.sheet, t.r0, t.c0, t.r1, t.c1)
        payload: dict[str, Any] = {"spreadsheetId": book.id}
        if targets:
            payload["clearedRanges"] = [t.display for t in targets]
        return Response.json(200, payload)

    @staticmethod
    def _find_table(t: _Target) -> tuple[int, int, int, int] | None:
        """The "table" values.append appends to, as (top, left, bottom, right) inclusive, or None.

        Like the real API: the last non-empty cell of the input range (row-major), grown to the
        block of data around it (bounded by empty rows and columns, like a spreadsheet's
        "current region"). Empty input range → no table: the data goes at its top-left cell.
        """
        sheet = t.sheet
        rows = sheet.rows
        anchor = None
        for r in range(min(t.r1, len(rows)) - 1, t.r0 - 1, -1):
            seg = rows[r][t.c0 : t.c1]
            for j in range(len(seg) - 1, -1, -1):
                if seg[j] is not None:
                    anchor = (r, t.c0 + j)
                    break
            if anchor:
                break
        if anchor is None:
            return None

        def any_data(r_from: int, r_to: int, c_from: int, c_to: int) -> bool:
            for r in range(max(r_from, 0), min(r_to, len(rows) - 1) + 1):
                row = rows[r]
                for c in range(max(c_from, 0), min(c_to, len(row) - 1) + 1):
                    if row[c] is not None:
                        return True
            return False

        top = bottom = anchor[0]
        left = right = anchor[1]
        changed = True
        while changed:
            changed = False
            while bottom + 1 < sheet.row_count and any_data(bottom + 1, bottom + 1, left - 1, right + 1):
                bottom += 1
                changed = True
            while top > 0 and any_data(top - 1, top - 1, left - 1, right + 1):
                top -= 1
                changed = True
            if right + 1 < sheet.col_count and any_data(top - 1, bottom + 1, right + 1, right + 1):
                right += 1
                changed = True
            if left > 0 and any_data(top - 1, bottom + 1, left - 1, left - 1):
                left -= 1
                changed = True
        return top, left, bottom, right

    def _api_values_append(self, req: Request, book: _Book, text: str) -> Response:
        self._check_params(
            req,
            {
                "valueInputOption",
                "insertDataOption",
                "includeValuesInResponse",
                "responseValueRenderOption",
                "responseDateTimeRenderOption",
            },
        )
        user_entered = self._write_options(req.arg("valueInputOption"), "valueInputOption")
        insert = _enum(req.arg("insertDataOption"), INSERT_OPTIONS, "insertDataOption", "InsertDataOption")
        include = bool(_parse_bool(req.arg("includeValuesInResponse"), "includeValuesInResponse"))
        render = self._response_render(req.arg("responseValueRenderOption"))
        dt_render = _enum(
            req.arg("responseDateTimeRenderOption"),
            DATETIME_OPTIONS,
            "responseDateTimeRenderOption",
            "DateTimeRenderOption",
        )
        body = _check_fields(self._body(req), {"range", "majorDimension", "values"})
        t = self._resolve(book, text)
        self._check_body_range(book, body.get("range"), t, text)
        major = _enum(body.get("majorDimension"), DIMENSIONS, "majorDimension", "Dimension")
        matrix = self._convert_values(body.get("values"), user_entered, major or "ROWS", "data.values", book.locale)
        table = self._find_table(t)
        if table is None:
            row, col = t.r0, t.c0
        else:
            row, col = table[2] + 1, table[1]
        nr = len(matrix)
        nc = max((len(r) for r in matrix), default=0)
        sheet = t.sheet
        new_rows = sheet.row_count
        if nr:
            new_rows = sheet.row_count + nr if insert == "INSERT_ROWS" else max(sheet.row_count, row + nr)
            if insert == "INSERT_ROWS" and row >= sheet.row_count:
                new_rows = row + nr
        new_cols = max(sheet.col_count, col + nc)
        extra = new_rows * new_cols - sheet.row_count * sheet.col_count
        if book.total_cells() + extra > MAX_CELLS:
            raise _cells_error()
        if nr and insert == "INSERT_ROWS" and row < sheet.row_count:
            sheet.insert_rows(row, nr)
        sheet.row_count = max(sheet.row_count, new_rows)
        sheet.col_count = new_cols
        self._write(sheet, row, col, matrix)
        payload: dict[str, Any] = {"spreadsheetId": book.id}
        if table is not None:
            payload["tableRange"] = format_range(sheet.title, table[0], table[1], table[2] + 1, table[3] + 1)
        fallback = format_range(sheet.title, row, col, row + 1, col + 1)
        payload["updates"] = self._write_reply(
            book, sheet, row, col, matrix, include, render, fallback, dt_render or "SERIAL_NUMBER"
        )
        return Response.json(200, payload)

    # -- API: spreadsheets.batchUpdate ------------------------------------------------
    def _api_batch_update(self, req: Request, book: _Book, _: str) -> Response:
        self._check_params(req, set())
        body = _check_fields(
            self._body(req),
            {"requests", "includeSpreadsheetInResponse", "responseRanges", "responseIncludeGridData"},
        )
        requests_ = body.get("requests")
        if not requests_:
            raise _bad("Must specify at least one request.")
        if not isinstance(requests_, list):
            raise _bad(
                "Invalid value at 'requests' (type.googleapis.com/google.apps.sheets.v4.Request), "
                + json.dumps(requests_)
            )
        work = book.clone()  # all or nothing: apply to a copy, swap it in at the end
        replies = []
        for i, request in enumerate(requests_):
            if not isinstance(request, dict):
                raise _bad(f"Invalid value at 'requests[{i}]' (type.googleapis.com/google.apps.sheets.v4.Request)")
            for key in request:
                if key not in IMPLEMENTED_REQUESTS | NOOP_REQUESTS | UNSUPPORTED_REQUESTS:
                    raise _unknown_field(key, f"requests[{i}]")
            if len(request) != 1:
                if not request:
                    raise _bad(f"Invalid requests[{i}]: No request set.")
                kinds = list(request)
                raise _bad(
                    f"Invalid value at 'requests[{i}]' (oneof), oneof field 'kind' is already set. "
                    f"Cannot set '{_snake(kinds[1])}'"
                )
            kind, payload = next(iter(request.items()))
            if kind in UNSUPPORTED_REQUESTS:
                raise _error(501, "NOT_IMPLEMENTED", f"requests[{i}].{kind} is not supported by the sandbox emulator")
            if payload is not None and not isinstance(payload, dict):
                raise _bad(f"Invalid value at 'requests[{i}].{_snake(kind)}', {json.dumps(payload)}")
            prefix = f"Invalid requests[{i}].{kind}: "
            handler = getattr(self, "_req_" + _snake(kind), None)
            if handler is None:
                replies.append(self._req_noop(work, payload or {}, prefix, kind))
            else:
                replies.append(handler(work, payload or {}, prefix, i))
        if work.total_cells() > MAX_CELLS:
            raise _cells_error()
        self._books[book.id] = work
        out: dict[str, Any] = {"spreadsheetId": work.id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            out["updatedSpreadsheet"] = self._metadata(work, bool(body.get("responseIncludeGridData")))
        return Response.json(200, out)

    @staticmethod
    def _sheet_by_id(work: _Book, sheet_id: Any, prefix: str) -> _Sheet:
        sid = _int(sheet_id, "sheetId", 0)
        sheet = work.by_id(sid)  # type: ignore[arg-type]
        if sheet is None:
            raise _bad(f"{prefix}No grid with id: {sid}")
        return sheet

    def _req_noop(self, work: _Book, payload: dict, prefix: str, kind: str) -> dict:
        for key in ("range", "dimensions"):
            if isinstance(payload.get(key), dict):
                self._sheet_by_id(work, payload[key].get("sheetId"), prefix)
        if "filter" in payload and isinstance(payload["filter"], dict):
            rng = payload["filter"].get("range")
            if isinstance(rng, dict):
                self._sheet_by_id(work, rng.get("sheetId"), prefix)
        if kind == "clearBasicFilter":
            self._sheet_by_id(work, payload.get("sheetId"), prefix)
        return {}

    def _grid_range(self, work: _Book, rng: Any, prefix: str, where: str) -> tuple[_Sheet, int, int, int, int]:
        """A GridRange → (sheet, r0, r1, c0, c1), end-exclusive; a missing bound is unbounded."""
        rng = _check_fields(
            rng, {"sheetId", "startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex"}, where
        )
        sheet = self._sheet_by_id(work, rng.get("sheetId"), prefix)
        r0 = _int(rng.get("startRowIndex"), f"{where}.start_row_index", 0)
        r1 = _int(rng.get("endRowIndex"), f"{where}.end_row_index", sheet.row_count)
        c0 = _int(rng.get("startColumnIndex"), f"{where}.start_column_index", 0)
        c1 = _int(rng.get("endColumnIndex"), f"{where}.end_column_index", sheet.col_count)
        assert r0 is not None and r1 is not None and c0 is not None and c1 is not None
        if min(r0, r1, c0, c1) < 0:
            raise _bad(f"{prefix}GridRange indexes must be >= 0")
        if r1 < r0 or c1 < c0:
            raise _bad(f"{prefix}GridRange end indexes must not be less than start indexes")
        if r1 > sheet.row_count or c1 > sheet.col_count:
            shown = format_range(sheet.title, r0, c0, max(r1, r0 + 1), max(c1, c0 + 1))
            raise _bad(
                f"{prefix}Range ({shown}) exceeds grid limits. "
                f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}"
            )
        return sheet, r0, r1, c0, c1

    @staticmethod
    def _number_format(value: Any, prefix: str, where: str) -> NumberFormat | None:
        """A NumberFormat from a request (None when absent); the type is required and checked."""
        if value is None:
            return None
        value = _check_fields(value, {"type", "pattern"}, where)
        kind = _enum(value.get("type"), NUMBER_FORMAT_TYPES, f"{where}.type", "NumberFormatType")
        if kind in (None, "NUMBER_FORMAT_TYPE_UNSPECIFIED"):
            raise _bad(f"{prefix}Invalid numberFormat: type must be set.")
        pattern = value.get("pattern", "")
        if not isinstance(pattern, str):
            raise _bad(f"Invalid value at '{where}.pattern' (TYPE_STRING), {json.dumps(pattern)}")
        assert kind is not None
        return kind, pattern

    def _req_repeat_cell(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        """The number format, bold text and data validation are stored; other format fields are validated
        and dropped. ``fields`` says which of the cell's fields are replaced (a named field the cell leaves
        out is cleared)."""
        where = f"requests[{i}].repeat_cell"
        payload = _check_fields(payload, {"range", "cell", "fields"}, where)
        fields = payload.get("fields")
        if not fields or not isinstance(fields, str):
            raise _bad(f"{prefix}At least one field must be specified in 'fields'.")
        if payload.get("range") is None:
            raise _bad(f"{prefix}range must be specified")
        sheet, r0, r1, c0, c1 = self._grid_range(work, payload["range"], prefix, f"{where}.range")
        cell = _check_fields(payload.get("cell"), CELL_DATA_FIELDS, f"{where}.cell")
        fwhere = f"{where}.cell.user_entered_format"
        fmt_in = _check_fields(cell.get("userEnteredFormat"), CELL_FORMAT_FIELDS, fwhere)
        wanted = self._number_format(fmt_in.get("numberFormat"), prefix, f"{fwhere}.number_format")
        text_in = _check_fields(fmt_in.get("textFormat"), TEXT_FORMAT_FIELDS, f"{fwhere}.text_format")
        bold = _bool(text_in.get("bold"), f"{fwhere}.text_format.bold")
        rule = self._rule(cell.get("dataValidation"), prefix, f"{where}.cell.data_validation")
        paths = _mask_paths(fields)
        if any(p == ["*"] for p in paths):
            paths = [[k] for k in cell] + [["userEnteredFormat"], ["dataValidation"]]
        changes: list[Restyle] = []
        for path in paths:
            shown = ".".join(path)
            if path[0] not in CELL_DATA_FIELDS:
                raise _bad(f"{prefix}Invalid field mask path: {shown}")
            if path[0] == "userEnteredValue":
                raise _error(501, "NOT_IMPLEMENTED", f"{prefix}writing values with repeatCell is not supported")
            if path[0] == "dataValidation":
                if len(path) > 1:
                    raise _bad(f"{prefix}Invalid field mask path: {shown}")
                changes.append(lambda look: replace(look, rule=rule))
            if path[0] != "userEnteredFormat":
                continue
            if len(path) == 1:
                changes.append(lambda look: replace(look, number=wanted, bold=bool(bold)))
                continue
            if path[1] not in CELL_FORMAT_FIELDS:
                raise _bad(f"{prefix}Invalid field mask path: {shown}")
            if path[1] == "numberFormat":
                if len(path) > 2 and (len(path) > 3 or path[2] not in ("type", "pattern")):
                    raise _bad(f"{prefix}Invalid field mask path: {shown}")
                changes.append(lambda look: replace(look, number=wanted))
            elif path[1] == "textFormat":
                if len(path) > 3 or (len(path) == 3 and path[2] not in TEXT_FORMAT_FIELDS):
                    raise _bad(f"{prefix}Invalid field mask path: {shown}")
                if len(path) == 2 or path[2] == "bold":
                    changes.append(lambda look: replace(look, bold=bool(bold)))
        if changes and r1 > r0 and c1 > c0:

            def change(look: _Look) -> _Look:
                for step in changes:
                    look = step(look)
                return look

            sheet.restyle(r0, r1, c0, c1, change)
        return {}

    def _rule(self, value: Any, prefix: str, where: str) -> _Rule | None:
        """A DataValidationRule from a request; None (no rule, or an empty one) clears validation."""
        if not value:
            if value is not None and not isinstance(value, dict):
                raise _bad(f"Invalid value at '{where}' ({_PROTO}.DataValidationRule), {json.dumps(value)}")
            return None
        value = _check_fields(value, {"condition", "inputMessage", "strict", "showCustomUi"}, where)
        condition = _check_fields(value.get("condition"), {"type", "values"}, f"{where}.condition")
        kind = _enum(condition.get("type"), CONDITION_TYPES, f"{where}.condition.type", "ConditionType")
        if kind in (None, "CONDITION_TYPE_UNSPECIFIED"):
            raise _bad(f"{prefix}Invalid DataValidationRule: the condition must have a type.")
        if kind not in ("ONE_OF_LIST", "BOOLEAN"):
            raise _error(501, "NOT_IMPLEMENTED", f"{prefix}condition {kind} is not supported by the sandbox emulator")
        raw = condition.get("values") or []
        if not isinstance(raw, list):
            raise _bad(f"Invalid value at '{where}.condition.values' ({_PROTO}.ConditionValue), {json.dumps(raw)}")
        values = []
        for k, item in enumerate(raw):
            item = _check_fields(item, {"userEnteredValue", "relativeDate"}, f"{where}.condition.values[{k}]")
            if "relativeDate" in item:
                raise _bad(f"{prefix}Invalid ConditionValue: relativeDate is not allowed for {kind}.")
            text = item.get("userEnteredValue")
            if not isinstance(text, str):
                shown = json.dumps(text, ensure_ascii=False)
                raise _bad(
                    f"Invalid value at '{where}.condition.values[{k}].user_entered_value' (TYPE_STRING), {shown}"
                )
            values.append(text)
        if kind == "ONE_OF_LIST" and not values:
            raise _bad(f"{prefix}Invalid ConditionValue count for ONE_OF_LIST: it needs at least one value.")
        if kind == "BOOLEAN" and len(values) > 2:
            raise _bad(f"{prefix}Invalid ConditionValue count for BOOLEAN: it takes at most two values.")
        message = value.get("inputMessage", "")
        if not isinstance(message, str):
            raise _bad(f"Invalid value at '{where}.input_message' (TYPE_STRING), {json.dumps(message)}")
        strict = _bool(value.get("strict"), f"{where}.strict")
        custom_ui = _bool(value.get("showCustomUi"), f"{where}.show_custom_ui")
        assert kind is not None
        return _Rule(kind, tuple(values), bool(strict), bool(custom_ui), message)

    def _req_set_data_validation(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        """A rule on every cell of the range; no rule clears it. Values already there are kept, valid or
        not, and later writes are never checked against it: only the UI refuses what a rule forbids."""
        where = f"requests[{i}].set_data_validation"
        payload = _check_fields(payload, {"range", "rule", "filteredRowsIncluded"}, where)
        _bool(payload.get("filteredRowsIncluded"), f"{where}.filtered_rows_included")
        if payload.get("range") is None:
            raise _bad(f"{prefix}range must be specified")
        sheet, r0, r1, c0, c1 = self._grid_range(work, payload["range"], prefix, f"{where}.range")
        rule = self._rule(payload.get("rule"), prefix, f"{where}.rule")
        if r1 > r0 and c1 > c0:
            sheet.restyle(r0, r1, c0, c1, lambda look: replace(look, rule=rule))
        return {}

    # -- protected ranges ---------------------------------------------------------------
    _PROTECTED_FIELDS = frozenset(
        {
            "protectedRangeId",
            "range",
            "namedRangeId",
            "tableId",
            "description",
            "warningOnly",
            "requestingUserCanEdit",
            "unprotectedRanges",
            "editors",
        }
    )

    @staticmethod
    def _find_protection(work: _Book, pid: Any, prefix: str, where: str) -> tuple[_Sheet, _Protection]:
        wanted = _int(pid, where, 0)
        for sheet in work.sheets:
            for p in sheet.protected:
                if p.id == wanted:
                    if p.owner_only:  # the caller is not among its editors
                        raise _bad(PROTECTED_MESSAGE)
                    return sheet, p
        raise _bad(f"{prefix}No protected range with id: {wanted}")

    def _protected_parts(
        self, work: _Book, given: dict[str, Any], prefix: str, where: str, names: set[str]
    ) -> dict[str, Any]:
        """The fields of a ProtectedRange named in ``names``, checked: {field: value as stored}."""
        out: dict[str, Any] = {}
        for name in names:
            value = given.get(name)
            if name == "range":
                if value is None:
                    raise _bad(f"{prefix}A protected range must have a range.")
                sheet, *_ = self._grid_range(work, value, prefix, f"{where}.range")
                bounds = [
                    _int(value.get(k), f"{where}.range.{_snake(k)}")
                    for k in ("startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex")
                ]
                out["range"] = (sheet, *bounds)
            elif name in ("namedRangeId", "tableId", "unprotectedRanges"):
                if value:
                    raise _error(501, "NOT_IMPLEMENTED", f"{prefix}{name} is not supported by the sandbox emulator")
            elif name == "description":
                if value is not None and not isinstance(value, str):
                    raise _bad(f"Invalid value at '{where}.description' (TYPE_STRING), {json.dumps(value)}")
                out["description"] = value or ""
            elif name == "warningOnly":
                out["warning_only"] = bool(_bool(value, f"{where}.warning_only"))
            elif name == "editors":
                editors = _check_fields(value, {"users", "groups", "domainUsersCanEdit"}, f"{where}.editors")
                for key in ("users", "groups"):
                    listed = editors.get(key)
                    if listed is not None and (
                        not isinstance(listed, list) or not all(isinstance(e, str) for e in listed)
                    ):
                        raise _bad(f"Invalid value at '{where}.editors.{key}' (TYPE_STRING), {json.dumps(listed)}")
                _bool(editors.get("domainUsersCanEdit"), f"{where}.editors.domain_users_can_edit")
                out["editors"] = {k: v for k, v in editors.items() if v} or None
        return out

    @staticmethod
    def _place(p: _Protection, parts: dict[str, Any], current: _Sheet, prefix: str) -> _Sheet:
        """Put checked parts into a protection; returns the sheet it is on now."""
        if "range" in parts:
            sheet, p.r0, p.r1, p.c0, p.c1 = parts["range"]
        else:
            sheet = current
        for key in ("description", "warning_only", "editors"):
            if key in parts:
                setattr(p, key, parts[key])
        if p.warning_only and p.editors:
            raise _bad(f"{prefix}ProtectedRange is warningOnly. Editors cannot be set on it.")
        return sheet

    def _req_add_protected_range(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        where = f"requests[{i}].add_protected_range"
        payload = _check_fields(payload, {"protectedRange"}, where)
        given = _check_fields(payload.get("protectedRange"), self._PROTECTED_FIELDS, f"{where}.protected_range")
        names = {"range", "description", "warningOnly", "editors", "namedRangeId", "tableId", "unprotectedRanges"}
        parts = self._protected_parts(work, given, prefix, f"{where}.protected_range", names)
        pid = _int(given.get("protectedRangeId"), f"{where}.protected_range.protected_range_id")
        if pid is None:
            pid = self._new_protection_id(work)
        elif any(p.id == pid for sheet in work.sheets for p in sheet.protected):
            raise _bad(f"{prefix}A protected range with id {pid} already exists.")
        protection = _Protection(pid, None, None, None, None)
        sheet = self._place(protection, parts, work.sheets[0], prefix)
        sheet.protected.append(protection)
        return {"addProtectedRange": {"protectedRange": protection.json(sheet.sheet_id)}}

    def _req_update_protected_range(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        where = f"requests[{i}].update_protected_range"
        payload = _check_fields(payload, {"protectedRange", "fields"}, where)
        given = _check_fields(payload.get("protectedRange"), self._PROTECTED_FIELDS, f"{where}.protected_range")
        fields = payload.get("fields")
        if not fields or not isinstance(fields, str):
            raise _bad(f"{prefix}At least one field must be specified in 'fields'.")
        sheet, protection = self._find_protection(
            work, given.get("protectedRangeId"), prefix, f"{where}.protected_range.protected_range_id"
        )
        editable = {"range", "description", "warningOnly", "editors", "namedRangeId", "tableId", "unprotectedRanges"}
        names: set[str] = set()
        for path in _mask_paths(fields):
            if path == ["*"]:
                names |= editable
            elif path[0] == "editors" and len(path) <= 2:
                names.add("editors")  # editors.users etc. replace the whole editors here
            elif path[0] in editable and len(path) == 1:
                names.add(path[0])
            else:
                raise _bad(f"{prefix}Invalid field mask path: {'.'.join(path)}")
        parts = self._protected_parts(work, given, prefix, f"{where}.protected_range", names)
        updated = replace(protection)
        new_sheet = self._place(updated, parts, sheet, prefix)
        if new_sheet is sheet:
            sheet.protected[sheet.protected.index(protection)] = updated
        else:
            sheet.protected.remove(protection)
            new_sheet.protected.append(updated)
        return {}

    def _req_delete_protected_range(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        where = f"requests[{i}].delete_protected_range"
        payload = _check_fields(payload, {"protectedRangeId"}, where)
        sheet, protection = self._find_protection(
            work, payload.get("protectedRangeId"), prefix, f"{where}.protected_range_id"
        )
        sheet.protected.remove(protection)
        return {}

    @staticmethod
    def _check_title(work: _Book, title: Any, prefix: str, exclude: _Sheet | None = None) -> str:
        if not isinstance(title, str) or not title.strip():
            raise _bad(f"{prefix}The sheet name cannot be empty.")
        if len(title) > 100:
            raise _bad(f"{prefix}The sheet name cannot be longer than 100 characters.")
        other = work.find(title)  # titles are unique regardless of case
        if other is not None and other is not exclude:
            raise _bad(f'{prefix}A sheet with the name "{title}" already exists. Please enter another name.')
        return title

    _SHEET_PROPS = frozenset(
        {
            "sheetId",
            "title",
            "index",
            "sheetType",
            "gridProperties",
            "hidden",
            "tabColor",
            "tabColorStyle",
            "rightToLeft",
        }
    )
    _GRID_PROPS = frozenset(
        {
            "rowCount",
            "columnCount",
            "frozenRowCount",
            "frozenColumnCount",
            "hideGridlines",
            "rowGroupControlAfter",
            "columnGroupControlAfter",
        }
    )

    def _validate_sheet_props(self, props: Any, where: str) -> dict[str, Any]:
        props = _check_fields(props, self._SHEET_PROPS, where)
        _check_fields(props.get("gridProperties"), self._GRID_PROPS, where + ".grid_properties")
        if props.get("sheetType") not in (None, "GRID"):
            raise _error(
                501, "NOT_IMPLEMENTED", f"sheetType {props['sheetType']} is not supported by the sandbox emulator"
            )
        return props

    def _req_add_sheet(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"properties"}, f"requests[{i}].add_sheet")
        props = self._validate_sheet_props(payload.get("properties"), f"requests[{i}].add_sheet.properties")
        title = props.get("title")
        if title is None:
            n = len(work.sheets) + 1
            while work.find(f"Sheet{n}") is not None:
                n += 1
            title = f"Sheet{n}"
        self._check_title(work, title, prefix)
        grid = props.get("gridProperties") or {}
        rows = _int(grid.get("rowCount"), "rowCount", 1000)
        cols = _int(grid.get("columnCount"), "columnCount", 26)
        assert rows is not None and cols is not None
        if rows < 1 or cols < 1:
            raise _bad(f"{prefix}The grid must have at least one row and one column.")
        if props.get("sheetId") is not None:
            sheet_id = _int(props["sheetId"], "sheetId")
            assert sheet_id is not None
            if sheet_id < 0:
                raise _bad(f"{prefix}Sheet ids must be non-negative.")
            if work.by_id(sheet_id) is not None:
                raise _bad(f"{prefix}Sheet with id {sheet_id} already exists.")
        else:
            sheet_id = work.new_sheet_id()
        if work.total_cells() + rows * cols > MAX_CELLS:
            raise _cells_error(prefix)
        sheet = _Sheet(sheet_id, title, rows, cols)
        extra_grid = {k: v for k, v in grid.items() if k not in ("rowCount", "columnCount")}
        if extra_grid:
            sheet.extra["gridProperties"] = extra_grid
        for key in ("hidden", "tabColor", "tabColorStyle", "rightToLeft"):
            if key in props:
                sheet.extra[key] = props[key]
        index = _int(props.get("index"), "index", len(work.sheets))
        assert index is not None
        work.sheets.insert(max(0, min(index, len(work.sheets))), sheet)
        return {"addSheet": {"properties": self._sheet_properties(sheet, work.sheets.index(sheet))}}

    def _req_delete_sheet(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"sheetId"}, f"requests[{i}].delete_sheet")
        sheet = self._sheet_by_id(work, payload.get("sheetId"), prefix)
        if len(work.sheets) == 1:
            raise _bad(f"{prefix}You can't remove all the sheets in a document.")
        work.sheets.remove(sheet)
        return {}

    def _req_update_sheet_properties(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"properties", "fields"}, f"requests[{i}].update_sheet_properties")
        props = self._validate_sheet_props(
            payload.get("properties"), f"requests[{i}].update_sheet_properties.properties"
        )
        fields = payload.get("fields")
        if not fields or not isinstance(fields, str):
            raise _bad(f"{prefix}At least one field must be specified in 'fields'.")
        sheet = self._sheet_by_id(work, props.get("sheetId"), prefix)
        current = self._sheet_properties(sheet, work.sheets.index(sheet))
        paths = _mask_paths(fields)
        if any(p == ["*"] for p in paths):
            paths = [[k] for k in self._SHEET_PROPS if k != "sheetId"]
        for path in paths:
            if path[0] not in self._SHEET_PROPS or (len(path) > 1 and path[0] != "gridProperties"):
                raise _bad(f"{prefix}Invalid field mask path: {'.'.join(path)}")
            if path[0] == "gridProperties" and len(path) > 1 and path[1] not in self._GRID_PROPS:
                raise _bad(f"{prefix}Invalid field mask path: {'.'.join(path)}")
            src: Any = props
            dst: Any = current
            for key in path[:-1]:
                src = src.get(key) if isinstance(src, dict) else None
                dst = dst.setdefault(key, {})
            leaf = path[-1]
            if isinstance(src, dict) and leaf in src:
                dst[leaf] = copy.deepcopy(src[leaf])
            else:
                dst.pop(leaf, None)
        if current.get("sheetType", "GRID") != "GRID":
            raise _bad(f"{prefix}Cannot change sheetType.")
        title = self._check_title(work, current.get("title"), prefix, exclude=sheet)
        grid = current.get("gridProperties") or {}
        rows = _int(grid.get("rowCount"), "rowCount", 0)
        cols = _int(grid.get("columnCount"), "columnCount", 0)
        assert rows is not None and cols is not None
        if rows < 1:
            raise _bad(f"{prefix}Sorry, it is not possible to delete all non-frozen rows.")
        if cols < 1:
            raise _bad(f"{prefix}Sorry, it is not possible to delete all non-frozen columns.")
        if work.total_cells() - sheet.row_count * sheet.col_count + rows * cols > MAX_CELLS:
            raise _cells_error(prefix)
        for key, noun, size in (("frozenRowCount", "rows", rows), ("frozenColumnCount", "columns", cols)):
            frozen = _int(grid.get(key), f"requests[{i}].update_sheet_properties.properties.grid_properties", 0)
            assert frozen is not None
            if frozen < 0:
                raise _bad(f"{prefix}{key} must not be negative.")
            if frozen >= size:
                raise _bad(f"{prefix}You can't freeze all visible {noun} on the sheet.")
        sheet.title = title
        sheet.resize(rows, cols)
        sheet.extra = {k: v for k, v in current.items() if k in ("hidden", "tabColor", "tabColorStyle", "rightToLeft")}
        # proto3 JSON leaves zeros and false out: unfreezing (0) makes frozenRowCount disappear from a read
        extra_grid = {k: v for k, v in grid.items() if k not in ("rowCount", "columnCount") and v not in (0, False)}
        if extra_grid:
            sheet.extra["gridProperties"] = extra_grid
        index = _int(current.get("index"), "index", 0)
        assert index is not None
        if index != work.sheets.index(sheet):
            work.sheets.remove(sheet)
            work.sheets.insert(max(0, min(index, len(work.sheets))), sheet)
        return {}

    def _req_update_spreadsheet_properties(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"properties", "fields"}, f"requests[{i}].update_spreadsheet_properties")
        props = _check_fields(
            payload.get("properties"),
            {
                "title",
                "locale",
                "timeZone",
                "autoRecalc",
                "defaultFormat",
                "iterativeCalculationSettings",
                "spreadsheetTheme",
            },
            f"requests[{i}].update_spreadsheet_properties.properties",
        )
        fields = payload.get("fields")
        if not fields or not isinstance(fields, str):
            raise _bad(f"{prefix}At least one field must be specified in 'fields'.")
        paths = {p[0] for p in _mask_paths(fields)}
        if "*" in paths:
            paths = set(props)
        if "title" in paths:
            title = props.get("title")
            if not isinstance(title, str) or not title:
                raise _bad(f"{prefix}The spreadsheet title cannot be empty.")
            work.title = title
        if "locale" in paths and isinstance(props.get("locale"), str):
            work.locale = props["locale"]
        if "timeZone" in paths and isinstance(props.get("timeZone"), str):
            work.time_zone = props["timeZone"]
        if "autoRecalc" in paths and isinstance(props.get("autoRecalc"), str):
            work.auto_recalc = props["autoRecalc"]
        return {}

    def _dimension_range(self, work: _Book, rng: Any, prefix: str, where: str) -> tuple[_Sheet, str, int, int | None]:
        rng = _check_fields(rng, {"sheetId", "dimension", "startIndex", "endIndex"}, where)
        sheet = self._sheet_by_id(work, rng.get("sheetId"), prefix)
        dimension = rng.get("dimension")
        if dimension not in ("ROWS", "COLUMNS"):
            raise _bad(f"{prefix}range.dimension must be ROWS or COLUMNS.")
        start = _int(rng.get("startIndex"), "startIndex", 0)
        end = _int(rng.get("endIndex"), "endIndex", None)
        assert start is not None
        if start < 0 or (end is not None and end < 0):
            raise _bad(f"{prefix}DimensionRange indexes must be >= 0")
        return sheet, dimension, start, end

    def _req_insert_dimension(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"range", "inheritFromBefore"}, f"requests[{i}].insert_dimension")
        sheet, dimension, start, end = self._dimension_range(
            work, payload.get("range"), prefix, f"requests[{i}].insert_dimension.range"
        )
        inherit = bool(payload.get("inheritFromBefore"))
        size = sheet.row_count if dimension == "ROWS" else sheet.col_count
        if end is None or end <= start:
            raise _bad(f"{prefix}range.endIndex must be greater than range.startIndex.")
        if not inherit and start >= size:
            raise _bad(
                f"{prefix}range.startIndex must be less than the grid size ({size}) if inheritFromBefore is false."
            )
        if inherit and start == 0:
            raise _bad(f"{prefix}range.startIndex must be greater than 0 if inheritFromBefore is true.")
        if start > size:
            raise _bad(f"{prefix}range.startIndex must be less than or equal to the grid size ({size}).")
        n = end - start
        added = n * (sheet.col_count if dimension == "ROWS" else sheet.row_count)
        if work.total_cells() + added > MAX_CELLS:
            raise _cells_error(prefix)
        like = start - 1 if inherit else (start if start < size else None)  # whose formats the new ones get
        if dimension == "ROWS":
            sheet.insert_rows(start, n, like)
        else:
            sheet.insert_cols(start, n, like)
        return {}

    def _req_delete_dimension(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"range"}, f"requests[{i}].delete_dimension")
        sheet, dimension, start, end = self._dimension_range(
            work, payload.get("range"), prefix, f"requests[{i}].delete_dimension.range"
        )
        size = sheet.row_count if dimension == "ROWS" else sheet.col_count
        noun = "row" if dimension == "ROWS" else "column"
        end = size if end is None else end
        if end > size:
            raise _bad(
                f"{prefix}Cannot delete a {noun} that doesn't exist. "
                f"Tried to delete {noun} index {end - 1} but there are only {size} {noun}s."
            )
        if end <= start:
            raise _bad(f"{prefix}range.endIndex must be greater than range.startIndex.")
        if start == 0 and end == size:
            raise _bad(f"{prefix}Sorry, it is not possible to delete all non-frozen {noun}s.")
        if dimension == "ROWS":
            sheet.delete_rows(start, end)
        else:
            sheet.delete_cols(start, end)
        return {}

    def _req_append_dimension(self, work: _Book, payload: dict, prefix: str, i: int) -> dict:
        payload = _check_fields(payload, {"sheetId", "dimension", "length"}, f"requests[{i}].append_dimension")
        sheet = self._sheet_by_id(work, payload.get("sheetId"), prefix)
        dimension = payload.get("dimension")
        if dimension not in ("ROWS", "COLUMNS"):
            raise _bad(f"{prefix}dimension must be ROWS or COLUMNS.")
        length = _int(payload.get("length"), "length", 0)
        assert length is not None
        if length < 1:
            raise _bad(f"{prefix}length must be greater than 0.")
        added = length * (sheet.col_count if dimension == "ROWS" else sheet.row_count)
        if work.total_cells() + added > MAX_CELLS:
            raise _cells_error(prefix)
        if dimension == "ROWS":
            sheet.row_count += length
        else:
            sheet.col_count += length
        return {}

    # -- control: Python API ----------------------------------------------------------
    def _book(self, sid: str) -> _Book:
        book = self._books.get(sid)
        if book is None:
            raise KeyError(f"no spreadsheet {sid!r}")
        return book

    @staticmethod
    def _sheet(book: _Book, title: str | None) -> _Sheet:
        if title is None:
            return book.sheets[0]
        sheet = book.find(title)
        if sheet is None:
            raise KeyError(f"no sheet {title!r} in spreadsheet {book.id!r}")
        return sheet

    def create_spreadsheet(
        self,
        title: str = "Sandbox",
        sheets: list[str] | None = None,
        spreadsheet_id: str | None = None,
        rows: int = 1000,
        cols: int = 26,
        locale: str = "en_US",
    ) -> str:
        """A new spreadsheet (shared with the caller); returns its id. First sheet id is 0.

        ``locale`` (``en_US`` or ``ru_RU``) decides which local date form typing recognises
        and the default date patterns (see the module docstring).
        """
        titles = list(sheets) if sheets else ["Sheet1"]
        if len({t.casefold() for t in titles}) != len(titles):
            raise ValueError(f"duplicate sheet titles: {titles}")
        with self.lock:
            if spreadsheet_id is None:
                self._created += 1
                digest = hashlib.sha256(f"{self._created}:{title}".encode()).digest()
                spreadsheet_id = "1" + re.sub(r"[^A-Za-z0-9_-]", "x", _b64(digest))[:43]
            if spreadsheet_id in self._books:
                raise ValueError(f"spreadsheet {spreadsheet_id!r} exists")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", spreadsheet_id):
                raise ValueError(f"bad spreadsheet id {spreadsheet_id!r}")
            if rows * cols * len(titles) > MAX_CELLS:
                raise ValueError("more than 10 000 000 cells")
            book = _Book(spreadsheet_id, title)
            book.locale = locale
            for t in titles:
                book.sheets.append(_Sheet(book.new_sheet_id(), t, rows, cols))
            self._books[spreadsheet_id] = book
            return spreadsheet_id

    def add_sheet(self, sid: str, title: str, rows: int = 1000, cols: int = 26) -> int:
        """Add a sheet at the end (as a person would); returns its sheetId."""
        with self.lock:
            book = self._book(sid)
            if book.find(title) is not None:
                raise ValueError(f"sheet {title!r} exists")
            if book.total_cells() + rows * cols > MAX_CELLS:
                raise ValueError("more than 10 000 000 cells")
            sheet = _Sheet(book.new_sheet_id(), title, rows, cols)
            book.sheets.append(sheet)
            return sheet.sheet_id

    def set_values(
        self, sid: str, sheet_title: str | None, rows: list[list[Any]], start: str = "A1", user_entered: bool = False
    ) -> None:
        """Paste a block at ``start`` as a person would: blanks clear, the grid grows to fit."""
        with self.lock:
            book = self._book(sid)
            sheet = self._sheet(book, sheet_title)
            r0, c0 = parse_cell(start)
            try:
                matrix = self._convert_values([list(row) for row in rows], user_entered, "ROWS", "values", book.locale)
            except ApiError as e:
                raise ValueError(e.response.body.decode()) from e
            matrix = [[None if v is _SKIP else v for v in row] for row in matrix]  # a paste's blanks clear
            rows_needed = max(sheet.row_count, r0 + len(matrix))
            cols_needed = max(sheet.col_count, c0 + max((len(r) for r in matrix), default=0))
            if book.total_cells() - sheet.row_count * sheet.col_count + rows_needed * cols_needed > MAX_CELLS:
                raise ValueError("the paste would take the spreadsheet over 10 000 000 cells")
            sheet.row_count, sheet.col_count = rows_needed, cols_needed
            self._write(sheet, r0, c0, matrix)

    def values(
        self,
        sid: str,
        sheet_title: str | None = None,
        render: str = "FORMATTED_VALUE",
        date_time_render: str = "SERIAL_NUMBER",
    ) -> list[list[Any]]:
        """The whole sheet as values.get would return it (trimmed), in ``render``."""
        if render not in RENDERERS:
            raise ValueError(f"render must be one of {RENDER_OPTIONS}")
        if date_time_render not in DATETIME_OPTIONS:
            raise ValueError(f"date_time_render must be one of {DATETIME_OPTIONS}")
        with self.lock:
            book = self._book(sid)
            sheet = self._sheet(book, sheet_title)
            return self._read(
                sheet, 0, 0, sheet.row_count, sheet.col_count, render, "ROWS", date_time_render, book.locale
            )

    def cell(self, sid: str, sheet_title: str | None, a1: str) -> dict[str, Any]:
        """``{"entered", "type": "string|number|bool|formula|empty", "formatted"}`` of one cell.

        A date cell is a ``number`` (its serial) whose ``formatted`` is the date as shown.
        """
        with self.lock:
            book = self._book(sid)
            sheet = self._sheet(book, sheet_title)
            r, c = parse_cell(a1)
            v = sheet.cell(r, c)
            entered = v.text if type(v) is Formula else v
            formatted = (
                "" if v is None else _render_cell(v, sheet.fmt(r, c), "FORMATTED_VALUE", "SERIAL_NUMBER", book.locale)
            )
            return {"entered": entered, "type": _cell_type(v), "formatted": formatted}

    def number_format(self, sid: str, sheet_title: str | None, a1: str) -> dict[str, str] | None:
        """A cell's ``userEnteredFormat.numberFormat`` as the API shows it (``{"type", "pattern"?}``), or None."""
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            r, c = parse_cell(a1)
            fmt = sheet.fmt(r, c)
            return None if fmt is None else _number_format_json(fmt)

    def formatted(self, sid: str, sheet_title: str | None, a1: str) -> str:
        """A cell's FORMATTED_VALUE (``""`` when empty): a date as its pattern shows it."""
        return str(self.cell(sid, sheet_title, a1)["formatted"])

    def set_number_format(
        self, sid: str, sheet_title: str | None, a1_range: str, type_: str | None, pattern: str = ""
    ) -> None:
        """Format → Number on a range, as a person does (``type_`` None: back to "Automatic").

        Values stay as they are: text that looks like a date stays text, as in Sheets.
        """
        if type_ is not None and type_ not in NUMBER_FORMAT_TYPES[1:]:
            raise ValueError(f"type must be one of {NUMBER_FORMAT_TYPES[1:]}")
        with self.lock:
            book = self._book(sid)
            sheet = self._sheet(book, sheet_title)
            try:
                t = self._resolve(book, f"{quote_title(sheet.title)}!{a1_range}")
            except ApiError as e:
                raise ValueError(e.response.body.decode()) from e
            sheet.set_formats(t.r0, t.r1, t.c0, t.c1, None if type_ is None else (type_, pattern))

    def edit_cell(self, sid: str, sheet_title: str | None, a1: str, text: Any) -> None:
        """A person typing ``text`` into a cell (USER_ENTERED); ``""`` or None empties it.

        Typing a date (``2026-12-02``, ``2026-12-02 14:30``, in ru_RU also ``02.12.2026``) makes a
        date cell; into a cell formatted as TEXT it stays the text typed.
        """
        with self.lock:
            book = self._book(sid)
            sheet = self._sheet(book, sheet_title)
            r, c = parse_cell(a1)
            if r >= sheet.row_count or c >= sheet.col_count:
                raise ValueError(f"{a1} is outside the grid {sheet.row_count}x{sheet.col_count}")
            try:
                value = None if text is None else self._convert_cell(text, True, locale=book.locale)
            except ApiError as e:
                raise ValueError(e.response.body.decode()) from e
            self._write(sheet, r, c, [[value]])

    def insert_rows(self, sid: str, sheet_title: str | None, at_row: int, n: int = 1) -> None:
        """Insert ``n`` empty rows before 1-based ``at_row`` (``row_count + 1`` appends).

        Like the UI, the new rows take the number formats of the row above (of the row below
        when inserting above row 1).
        """
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            if not 1 <= at_row <= sheet.row_count + 1 or n < 1:
                raise ValueError(f"cannot insert {n} rows at {at_row} in {sheet.row_count} rows")
            sheet.insert_rows(at_row - 1, n, at_row - 2 if at_row > 1 else 0)

    def delete_rows(self, sid: str, sheet_title: str | None, start_row: int, end_row: int) -> None:
        """Delete 1-based rows ``start_row``..``end_row`` inclusive."""
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            if not 1 <= start_row <= end_row <= sheet.row_count:
                raise ValueError(f"bad rows {start_row}..{end_row} of {sheet.row_count}")
            if start_row == 1 and end_row == sheet.row_count:
                raise ValueError("cannot delete every row")
            sheet.delete_rows(start_row - 1, end_row)

    @staticmethod
    def _column(column_index_: int | str) -> int:
        if isinstance(column_index_, str):
            return column_index(column_index_)
        if column_index_ < 0:
            raise ValueError("column_index is 0-based and must be >= 0")
        return column_index_

    def _sort_block(self, sheet: _Sheet, first_row: int) -> tuple[int, int]:
        if first_row < 1:
            raise ValueError("first_row is 1-based")
        return first_row - 1, sheet.last_data_row() + 1

    @staticmethod
    def _sorted_keys(values: list[Any], descending: bool) -> list[int]:
        """Indices of ``values`` in sorted order; empty cells last either way (stable)."""
        filled = [i for i, v in enumerate(values) if v is not None]
        empty = [i for i, v in enumerate(values) if v is None]
        filled.sort(key=lambda i: _sort_key(values[i]), reverse=descending)
        return filled + empty

    def sort_rows(
        self, sid: str, sheet_title: str | None, column_index: int | str, first_row: int = 2, descending: bool = False
    ) -> None:
        """The UI's "sort range" on rows ``first_row``.. (1-based) by a 0-based column (or letter)."""
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            col = self._column(column_index)
            start, end = self._sort_block(sheet, first_row)
            if end - start < 2:
                return
            block = sheet.rows[start:end]
            keys = [row[col] if col < len(row) else None for row in block]
            order = self._sorted_keys(keys, descending)
            sheet.rows[start:end] = [block[i] for i in order]
            if start < len(sheet.formats):  # formats move with their rows
                fmts = sheet.formats[start:end] + [None] * (end - min(end, len(sheet.formats)))
                sheet.formats[start:end] = [fmts[i] for i in order]
                while sheet.formats and not sheet.formats[-1]:
                    sheet.formats.pop()

    def sort_column_only(self, sid: str, sheet_title: str | None, column_index: int | str, first_row: int = 2) -> None:
        """The classic mistake: sort one column's values in place, leaving the other columns."""
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            col = self._column(column_index)
            start, end = self._sort_block(sheet, first_row)
            if end - start < 2:
                return
            values = [sheet.cell(r, col) for r in range(start, end)]
            looks = [sheet.look(r, col) or _PLAIN for r in range(start, end)]
            order = self._sorted_keys(values, False)
            self._write(sheet, start, col, [[values[i] if values[i] is not None else None] for i in order])
            for k, i in enumerate(order):  # the column's formats and validation move with its values
                if looks[i] != looks[k]:
                    sheet.restyle(start + k, start + k + 1, col, col + 1, partial(_same, looks[i]))

    def set_shared(self, sid: str, shared: bool) -> None:
        """False: every API request on this spreadsheet answers 403 PERMISSION_DENIED."""
        with self.lock:
            self._book(sid).shared = bool(shared)

    def grid_size(self, sid: str, sheet_title: str | None) -> tuple[int, int]:
        """(rowCount, columnCount) of a sheet."""
        with self.lock:
            sheet = self._sheet(self._book(sid), sheet_title)
            return sheet.row_count, sheet.col_count

    def sheet_id(self, sid: str, sheet_title: str | None) -> int:
        with self.lock:
            return self._sheet(self._book(sid), sheet_title).sheet_id

    def sheet_titles(self, sid: str) -> list[str]:
        with self.lock:
            return [s.title for s in self._book(sid).sheets]

    # -- control: HTTP (GET /_sandbox/ lists these) ----------------------------------------
    @control_route(
        "POST", "/quota", '{"read"?: int|null, "write"?: int|null}: requests per minute per user; null: none'
    )
    def _c_quota(self, req: Request, body: ControlBody) -> Any:
        self.set_quotas(body.get("read", self.read_quota), body.get("write", self.write_quota))
        return {"read": self.read_quota, "write": self.write_quota}

    @control_route(
        "POST",
        "/spreadsheets",
        '{"title"?, "sheets"?: [tab titles], "spreadsheet_id"?, "rows"?, "cols"?, "locale"?}: a new spreadsheet '
        "→ {spreadsheetId}",
    )
    def _c_create(self, req: Request, body: ControlBody) -> Any:
        sid = self.create_spreadsheet(
            title=body.get("title", "Sandbox"),
            sheets=body.get("sheets"),
            spreadsheet_id=body.get("spreadsheet_id"),
            rows=int(body.get("rows", 1000)),
            cols=int(body.get("cols", 26)),
            locale=str(body.get("locale", "en_US")),
        )
        return {"spreadsheetId": sid}

    @control_route("GET", "/spreadsheets", "every spreadsheet: id, title, tab titles, shared")
    def _c_list(self, req: Request, body: ControlBody) -> Any:
        with self.lock:
            listing = [
                {"spreadsheetId": b.id, "title": b.title, "sheets": [s.title for s in b.sheets], "shared": b.shared}
                for b in self._books.values()
            ]
        return {"spreadsheets": listing}

    @staticmethod
    def _tab(req: Request, body: ControlBody) -> str | None:
        """The tab a control request names (``sheet`` in the body or the query); None: the first tab."""
        return body.get("sheet", req.arg("sheet"))

    @control_route("POST", "/spreadsheets/{sid}/sheets", '{"title", "rows"?, "cols"?}: add a tab → {sheetId}')
    def _c_add_sheet(self, req: Request, body: ControlBody, sid: str) -> Any:
        return {"sheetId": self.add_sheet(sid, body["title"], int(body.get("rows", 1000)), int(body.get("cols", 26)))}

    @control_route(
        "GET",
        "/spreadsheets/{sid}/values",
        "?sheet=…&render=FORMATTED_VALUE|UNFORMATTED_VALUE|FORMULA&date_time_render=…: a tab's values, trimmed",
    )
    def _c_values(self, req: Request, body: ControlBody, sid: str) -> Any:
        render = req.arg("render", "FORMATTED_VALUE") or "FORMATTED_VALUE"
        dt_render = req.arg("date_time_render", "SERIAL_NUMBER") or "SERIAL_NUMBER"
        return {"values": self.values(sid, self._tab(req, body), render, dt_render)}

    @control_route(
        "PUT",
        "/spreadsheets/{sid}/values",
        '{"values", "sheet"?, "start"?: "A1", "user_entered"?}: paste values into a tab, as a person does',
    )
    def _c_set_values(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.set_values(
            sid, self._tab(req, body), body["values"], body.get("start", "A1"), bool(body.get("user_entered", False))
        )
        return {"ok": True}

    @control_route("GET", "/spreadsheets/{sid}/cell", "?sheet=…&a1=B2: a cell as entered, its type and as shown")
    def _c_cell(self, req: Request, body: ControlBody, sid: str) -> Any:
        return self.cell(sid, self._tab(req, body), req.arg("a1") or "")

    @control_route("GET", "/spreadsheets/{sid}/format", "?sheet=…&a1=B2: a cell's number format and how it shows")
    def _c_format(self, req: Request, body: ControlBody, sid: str) -> Any:
        tab, a1 = self._tab(req, body), req.arg("a1") or ""
        return {"numberFormat": self.number_format(sid, tab, a1), "formatted": self.formatted(sid, tab, a1)}

    @control_route(
        "POST",
        "/spreadsheets/{sid}/format",
        '{"range": "B2:B9", "type": "DATE"|…|null, "pattern"?, "sheet"?}: Format → Number (null: Automatic)',
    )
    def _c_set_format(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.set_number_format(sid, self._tab(req, body), body["range"], body.get("type"), str(body.get("pattern", "")))
        return {"ok": True}

    @control_route("GET", "/spreadsheets/{sid}/grid", "?sheet=…: a tab's grid size {rows, cols}")
    def _c_grid(self, req: Request, body: ControlBody, sid: str) -> Any:
        rows, cols = self.grid_size(sid, self._tab(req, body))
        return {"rows": rows, "cols": cols}

    @control_route("POST", "/spreadsheets/{sid}/edit", '{"a1", "text", "sheet"?}: a person types text into a cell')
    def _c_edit(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.edit_cell(sid, self._tab(req, body), body["a1"], body["text"])
        return {"ok": True}

    @control_route(
        "POST",
        "/spreadsheets/{sid}/sort",
        '{"column_index", "first_row"?: 2, "descending"?, "column_only"?, "sheet"?}: sort the rows '
        "(column_only: the one-column sort mistake)",
    )
    def _c_sort(self, req: Request, body: ControlBody, sid: str) -> Any:
        column, first_row = body["column_index"], int(body.get("first_row", 2))
        if body.get("column_only"):
            self.sort_column_only(sid, self._tab(req, body), column, first_row)
        else:
            self.sort_rows(sid, self._tab(req, body), column, first_row, bool(body.get("descending", False)))
        return {"ok": True}

    @control_route("POST", "/spreadsheets/{sid}/share", '{"shared": bool}: share the spreadsheet or take access away')
    def _c_share(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.set_shared(sid, bool(body["shared"]))
        return {"ok": True}

    @control_route(
        "POST",
        "/spreadsheets/{sid}/share_with",
        '{"emails": [e-mail, …]|null}: only these service accounts and people may use it (null: anyone)',
    )
    def _c_share_with(self, req: Request, body: ControlBody, sid: str) -> Any:
        emails = body["emails"]
        self.share_with(sid, None if emails is None else [str(e) for e in emails])
        return {"ok": True}

    @staticmethod
    def _origin(req: Request) -> str:
        """Where this emulator is served, as the control request reached it."""
        return "http://" + req.headers.get("host", "127.0.0.1")

    @control_route(
        "POST",
        "/oauth/clients",
        '{"client_id"?, "client_secret"?}: register an OAuth client (a secret given resets it) → {client_id, '
        "client_secret}",
    )
    def _c_oauth_client(self, req: Request, body: ControlBody) -> Any:
        return self.register_oauth_client(body.get("client_id"), body.get("client_secret"))

    @control_route(
        "GET", "/oauth/client_secrets", "?client_id=…: an OAuth client's secrets file (Download JSON) pointing here"
    )
    def _c_client_secrets(self, req: Request, body: ControlBody) -> Any:
        return self.client_secrets_json(self._origin(req), req.arg("client_id"))

    @control_route(
        "POST",
        "/oauth/authorized_user",
        '{"email"?, "client_id"?}: a person already signed in → an authorized_user file\'s content (token_uri here)',
    )
    def _c_authorized_user(self, req: Request, body: ControlBody) -> Any:
        return self.authorized_user_json(self._origin(req), body.get("email"), body.get("client_id"))

    @control_route(
        "POST",
        "/oauth/sign_in_as",
        '{"email"?, "grants"?: [scope, …], "denies"?}: who signs in at /o/oauth2/auth, what they leave ticked, '
        "or that they press Cancel",
    )
    def _c_sign_in_as(self, req: Request, body: ControlBody) -> Any:
        grants = body.get("grants")
        return self.sign_in_as(
            str(body.get("email", DEFAULT_PERSON)),
            None if grants is None else [str(g) for g in grants],
            bool(body.get("denies", False)),
        )

    @control_route(
        "POST", "/oauth/revoke", '{"email"}: the person removes the app\'s access: their tokens stop working'
    )
    def _c_revoke_person(self, req: Request, body: ControlBody) -> Any:
        return {"refresh_tokens_ended": self.revoke_person(str(body["email"]))}

    @control_route("POST", "/spreadsheets/{sid}/rows/insert", '{"at_row", "n"?: 1, "sheet"?}: insert rows (1-based)')
    def _c_insert_rows(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.insert_rows(sid, self._tab(req, body), int(body["at_row"]), int(body.get("n", 1)))
        return {"ok": True}

    @control_route(
        "POST",
        "/spreadsheets/{sid}/rows/delete",
        '{"start_row", "end_row", "sheet"?}: delete rows (1-based, inclusive)',
    )
    def _c_delete_rows(self, req: Request, body: ControlBody, sid: str) -> Any:
        self.delete_rows(sid, self._tab(req, body), int(body["start_row"]), int(body["end_row"]))
        return {"ok": True}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


_HTML_502 = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error 502 (Server Error)!!1</title>
  <p><b>502.</b> <ins>That's an error.</ins>
  <p>The server encountered a temporary error and could not complete your request.
  <p>Please try again in 30 seconds.  <ins>That's all we know.</ins>
"""

__all__ = [
    "Formula",
    "SheetsEmulator",
    "cell_label",
    "format_number",
    "make_formula",
    "parse_user_entered",
]
