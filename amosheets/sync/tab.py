"""The sheet as read: its rows, under a header row bound to the account's fields.

Pure data, apart from the Sheets adapter (``amosheets.sheet``), so that the core and its tests need
neither gspread nor a network.
"""

from __future__ import annotations

from dataclasses import dataclass

from amosheets.sync.fields import Cell, FieldSet, HeaderMap, match_headers
from amosheets.sync.model import SheetRow


@dataclass
class SheetData:
    headers: HeaderMap
    rows: list[SheetRow]
    last_row: int  # the last row that holds anything (1 when only the header)
    header_row: tuple[Cell, ...] = ()


def sheet_data(values: list[list[Cell]], fields: FieldSet) -> SheetData:
    """A tab's values as rows, the header row bound to ``fields`` (raises HeaderError)."""
    headers = match_headers(values[0] if values else [], fields)
    rows = [SheetRow(i + 1, tuple(r)) for i, r in enumerate(values) if i > 0]
    last = max((i + 1 for i, r in enumerate(values) if any(c not in ("", None) for c in r)), default=1)
    return SheetData(headers, rows, last, tuple(values[0]) if values else ())
