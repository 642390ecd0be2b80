"""A1 notation as the Google Sheets API v4 reads and writes it.

``parse_range`` turns the text of a range into an :class:`A1Range` (0-based, end-exclusive
bounds, ``None`` for an open side) without knowing any spreadsheet; resolving the sheet title
and checking the bounds against a grid is the emulator's business.

Accepted forms (column letters case-insensitive, ``$`` absolute markers ignored):

* ``Sheet1!A1:C3``, ``'My Sheet'!A:C``, ``'It''s'!B2`` — a sheet, then ``!``, then cells;
  unquoted titles may contain spaces (the part before the last ``!``);
* ``A1``, ``A1:B2`` — no sheet: the caller uses the first sheet;
* ``Sheet1``, ``'My Sheet'`` — a bare title: the whole sheet;
* ``A:A``, ``A:C`` — whole columns; ``2:5`` — whole rows;
* ``A5:B`` — from row 5 to the last row of the grid; ``A2:2`` — from A2 to the last column;
* reversed corners (``B2:A1``) are normalised, as the real API does.

Anything else raises :class:`A1Error`; so does a text without ``!`` that is not cell
notation *and* is not a plausible title (that check needs the sheet list, so
``parse_range("Foo")`` returns a sheet-only range and the emulator rejects unknown titles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ROWS = 10_000_000
MAX_COLUMNS = 18_278  # ZZZ

_REF = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]+)?$")
_CELL_LIKE_TITLE = re.compile(r"^(?:[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*|[0-9].*|true|false)$", re.IGNORECASE)


class A1Error(ValueError):
    """The text is not a range the Sheets API can parse."""


@dataclass(frozen=True)
class A1Range:
    """A parsed range. Rows and columns are 0-based; ends are exclusive; ``None`` = open."""

    sheet: str | None
    start_row: int | None = None
    start_col: int | None = None
    end_row: int | None = None
    end_col: int | None = None

    @property
    def whole_sheet(self) -> bool:
        return self.start_row is None and self.start_col is None and self.end_row is None and self.end_col is None

    @property
    def is_single_cell(self) -> bool:
        return (
            self.start_row is not None
            and self.start_col is not None
            and self.end_row == self.start_row + 1
            and self.end_col == self.start_col + 1
        )


def column_index(label: str) -> int:
    """``"A"`` → 0, ``"Z"`` → 25, ``"AA"`` → 26 (case-insensitive)."""
    if not label or not label.isascii() or not label.isalpha():
        raise A1Error(f"not a column label: {label!r}")
    n = 0
    for ch in label.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def column_label(index: int) -> str:
    """0 → ``"A"``, 25 → ``"Z"``, 26 → ``"AA"``."""
    if index < 0:
        raise ValueError(f"negative column index {index}")
    n = index + 1
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_label(row: int, col: int) -> str:
    """0-based (row, col) → ``"B2"``."""
    return f"{column_label(col)}{row + 1}"


def parse_cell(text: str) -> tuple[int, int]:
    """``"B2"`` → (1, 1), 0-based. Raises A1Error for anything but a single cell."""
    rng = _parse_cells(text)
    if not rng.is_single_cell:
        raise A1Error(f"not a single cell: {text!r}")
    assert rng.start_row is not None and rng.start_col is not None
    return rng.start_row, rng.start_col


def needs_quotes(title: str) -> bool:
    """Whether the API writes this title quoted in the ranges it returns."""
    if not title:
        return True
    if not all(ch.isalnum() or ch == "_" for ch in title):
        return True
    return bool(_CELL_LIKE_TITLE.match(title))


def quote_title(title: str, force: bool = False) -> str:
    """The title as it appears before ``!``: quoted (``'`` doubled) when needed or forced."""
    if force or needs_quotes(title):
        return "'" + title.replace("'", "''") + "'"
    return title


def format_range(
    title: str, start_row: int, start_col: int, end_row: int, end_col: int, force_quotes: bool = False
) -> str:
    """``Sheet1!A1:B2`` from 0-based, end-exclusive bounds; a 1×1 range is written ``Sheet1!A1``."""
    prefix = quote_title(title, force_quotes) + "!"
    first = cell_label(start_row, start_col)
    if end_row - start_row <= 1 and end_col - start_col <= 1:
        return prefix + first
    return prefix + first + ":" + cell_label(end_row - 1, end_col - 1)


def _ref(text: str) -> tuple[int | None, int | None]:
    """One side of a range: (row, col), each possibly None (``"A"`` or ``"5"``)."""
    m = _REF.match(text)
    if not m or not (m.group(1) or m.group(2)):
        raise A1Error(f"bad reference {text!r}")
    col = column_index(m.group(1)) if m.group(1) else None
    row = None
    if m.group(2):
        row = int(m.group(2)) - 1
        if row < 0 or row >= MAX_ROWS:
            raise A1Error(f"row out of range in {text!r}")
    if col is not None and col >= MAX_COLUMNS:
        raise A1Error(f"column out of range in {text!r}")
    return row, col


def _parse_cells(text: str, sheet: str | None = None) -> A1Range:
    """The part after ``!`` (or a whole sheet-less range)."""
    if not text or text != text.strip():
        raise A1Error(f"bad range {text!r}")
    parts = text.split(":")
    if len(parts) == 1:
        row, col = _ref(parts[0])
        if row is None or col is None:
            raise A1Error(f"a single reference must be a cell: {text!r}")
        return A1Range(sheet, row, col, row + 1, col + 1)
    if len(parts) != 2:
        raise A1Error(f"bad range {text!r}")
    (r1, c1), (r2, c2) = _ref(parts[0]), _ref(parts[1])
    if r1 is not None and c1 is not None:  # starts with a full cell
        if r2 is not None and c2 is not None:  # A1:B2
            return A1Range(sheet, min(r1, r2), min(c1, c2), max(r1, r2) + 1, max(c1, c2) + 1)
        if c2 is not None:  # A5:B — rows open downwards
            return A1Range(sheet, r1, min(c1, c2), None, max(c1, c2) + 1)
        assert r2 is not None  # A2:2 — columns open to the right
        return A1Range(sheet, min(r1, r2), c1, max(r1, r2) + 1, None)
    if r1 is None and r2 is None and c1 is not None and c2 is not None:  # A:C
        return A1Range(sheet, None, min(c1, c2), None, max(c1, c2) + 1)
    if c1 is None and c2 is None and r1 is not None and r2 is not None:  # 2:5
        return A1Range(sheet, min(r1, r2), None, max(r1, r2) + 1, None)
    raise A1Error(f"bad range {text!r}")


def parse_range(text: str) -> A1Range:
    """Parse a range as the API receives it (already percent-decoded)."""
    if not text:
        raise A1Error("empty range")
    if text.startswith("'"):
        i, title = 1, []
        while True:
            j = text.find("'", i)
            if j < 0:
                raise A1Error(f"unterminated quoted title in {text!r}")
            title.append(text[i:j])
            if text[j + 1 : j + 2] == "'":  # doubled quote inside the title
                title.append("'")
                i = j + 2
                continue
            rest = text[j + 1 :]
            break
        name = "".join(title)
        if not name:
            raise A1Error(f"empty sheet title in {text!r}")
        if rest == "":
            return A1Range(name)
        if not rest.startswith("!") or len(rest) == 1:
            raise A1Error(f"bad range {text!r}")
        return _parse_cells(rest[1:], name)
    if "!" in text:
        name, _, cells = text.rpartition("!")
        if not name or not cells or "'" in name:
            raise A1Error(f"bad range {text!r}")
        return _parse_cells(cells, name)
    try:
        return _parse_cells(text)
    except A1Error:
        pass
    if ":" in text or text != text.strip():
        raise A1Error(f"bad range {text!r}")
    return A1Range(text)  # a bare sheet title; the emulator checks that it exists
