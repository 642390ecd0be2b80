"""The synced fields: their sheet headers, how a cell's text becomes a value, and back.

Every comparison in the planner is between *canonical* values made here, so that
"1 500", "1500" and 1500.0 are one price and a run never churns over formatting.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

Cell = str | int | float | bool | None


class Field(str, Enum):
    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    PRICE = "price"
    STATUS = "status"
    PIPELINE = "pipeline"

    @property
    def header(self) -> str:
        """The column's name as the contract's sheet spells it (the Russian original)."""
        return HEADERS[self][0]


LEAD_ID = "lead_id"

# The first name of each is the original (Russian) one; the rest are aliases.
HEADERS: dict[str | Field, tuple[str, ...]] = {
    LEAD_ID: ("lead_id", "id"),
    Field.NAME: ("Имя", "Name"),
    Field.PHONE: ("Телефон", "Phone"),
    Field.EMAIL: ("Email", "E-mail"),
    Field.PRICE: ("Сумма", "Price", "Budget"),
    Field.STATUS: ("Статус", "Status"),
    Field.PIPELINE: ("Воронка", "Pipeline"),
}
DEFAULT_HEADER_ROW = [HEADERS[k][0] for k in (LEAD_ID, *Field)]
LEAD_FIELDS = (Field.NAME, Field.PRICE, Field.STATUS, Field.PIPELINE)
CONTACT_FIELDS = (Field.PHONE, Field.EMAIL)

_ALIASES = {alias.strip().casefold(): key for key, names in HEADERS.items() for alias in names}


class HeaderError(ValueError):
    """The header row cannot be used; the message says what to change."""


@dataclass(frozen=True)
class HeaderMap:
    """Which column (0-based) holds each known field; unknown columns are listed, never written."""

    lead_id: int
    columns: dict[Field, int]
    unknown: tuple[str, ...]
    width: int  # how many header cells row 1 has

    def header_of(self, key: Field | str) -> str:
        return HEADERS[key][0]


def match_headers(row: list[Cell]) -> HeaderMap:
    """Match row 1 trimmed and case-insensitively against the known names and aliases."""
    if not any(_text(c) for c in row):
        raise HeaderError(
            "Row 1 is empty: it must hold the headers, e.g. " + " | ".join(DEFAULT_HEADER_ROW) + " (`amosheets init`)."
        )
    seen: dict[str | Field, list[int]] = {}
    unknown: list[str] = []
    for i, cell in enumerate(row):
        text = _text(cell)
        key = _ALIASES.get(text.casefold())
        if key is None:
            if text:
                unknown.append(text)
            continue
        seen.setdefault(key, []).append(i)
    dups = [(k, cols) for k, cols in seen.items() if len(cols) > 1]
    if dups:
        parts = [f"{HEADERS[k][0]} appears in columns " + ", ".join(column_letter(c) for c in cols) for k, cols in dups]
        raise HeaderError("Duplicated headers: " + "; ".join(parts) + ". Keep one column for each.")
    if LEAD_ID not in seen:
        raise HeaderError(
            "There is no lead_id column in row 1. "
            "Add a column headed lead_id (the tool fills it in with the deal's ID)."
        )
    if not any(f in seen for f in Field):
        raise HeaderError(
            "Row 1 has a lead_id column but none of the synced columns: "
            + ", ".join(HEADERS[f][0] for f in Field)
            + "."
        )
    return HeaderMap(
        lead_id=seen[LEAD_ID][0],
        columns={k: cols[0] for k, cols in seen.items() if isinstance(k, Field)},
        unknown=tuple(unknown),
        width=len(row),
    )


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    s = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


# -- cell text → canonical value ----------------------------------------------------


class ValueProblem(ValueError):
    """A cell's value cannot be used; the message says how to write it."""


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return str(int(cell))
    return str(cell).strip()


def text(cell: Cell) -> str:
    """A cell as trimmed text (numbers the sheet stored as numbers come back as digits)."""
    return _text(cell)


_PRICE_JUNK = re.compile(r"[\s\u00a0\u202f'’₽$€]|руб\.?|р\.|rub", re.IGNORECASE)


def parse_price(cell: Cell) -> int:
    """A whole, non-negative amount: 1500, "1 500", "1,500", "1500.00", "15 000 ₽". Empty is 0."""
    if isinstance(cell, bool):
        raise ValueProblem("is not a number; write digits only, like 15000")
    if isinstance(cell, int):
        value: float = cell
    elif isinstance(cell, float):
        value = cell
    else:
        raw = _PRICE_JUNK.sub("", _text(cell))
        if not raw:
            return 0
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw):
            raw = raw.replace(",", "")  # 1,500 or 1,500.00: commas group thousands
        elif re.fullmatch(r"\d+,\d{1,2}", raw):
            raw = raw.replace(",", ".")  # 1500,00: a decimal comma
        try:
            value = float(raw)
        except ValueError:
            raise ValueProblem("is not a number; write digits only, like 15000") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueProblem("is not a number; write digits only, like 15000")
    if value < 0:
        raise ValueProblem("is negative; a deal's amount is 0 or more")
    if not float(value).is_integer():
        raise ValueProblem("has kopecks/cents; amoCRM keeps whole amounts — round it, like 1500")
    if value > 2**53:
        raise ValueProblem("is too large")
    return int(value)


# What a run writes into a new row's lead_id cell *before* it asks amoCRM to create the deal:
# it ties the row to its creation in the journal whatever happens to the row's other cells,
# its position (sorting, inserted rows) or the run (killed, answer lost). The next run reads
# it and puts the deal's ID in its place.
PENDING_PREFIX = "pending:"
_PENDING = re.compile(r"pending:([0-9a-f]{6,40})")


def pending_marker(token: str) -> str:
    return PENDING_PREFIX + token


def parse_pending(cell: Cell) -> str | None:
    """The creation token of a lead_id cell that holds a pending marker, else None."""
    if type(cell) is not str or not cell.lstrip().startswith(PENDING_PREFIX):
        return None
    m = _PENDING.fullmatch(cell.strip())
    return m.group(1) if m else None


def parse_lead_id(cell: Cell) -> int | None:
    """The deal ID in a lead_id cell, None when empty."""
    raw = _text(cell)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueProblem("is not a deal ID (a whole number); clear the cell to create a new deal from this row")
    return int(raw)
