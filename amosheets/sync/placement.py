"""Where a plan's values go in the sheet as it is now.

Users sort, insert and delete rows while a run works, so every row is found again in the sheet
as re-read just before writing: by the deal's ID or the creation's marker in its lead_id cell
(or, for a cleared ID, by content).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from amosheets.sync.creations import Made
from amosheets.sync.fields import Cell, HeaderMap, parse_pending, pending_marker, text
from amosheets.sync.model import SheetRow
from amosheets.sync.plan import NewRow, Plan
from amosheets.sync.planner import lead_in, new_row_fingerprints, render, rows_by_lead
from amosheets.sync.sync_column import Lines

Write = tuple[int, int, Cell]  # row number, column, value


class SheetView(Protocol):
    """The sheet as read."""

    @property
    def headers(self) -> HeaderMap: ...
    @property
    def rows(self) -> list[SheetRow]: ...
    @property
    def last_row(self) -> int: ...


@dataclass
class Placement:
    cells: list[Write] = field(default_factory=list)  # into rows the sheet has
    appended: list[Write] = field(default_factory=list)  # the new rows below the last used one
    rows_appended: int = 0
    last_row: int = 0  # the sheet must reach this row
    sheet_done: set[int] = field(default_factory=set)  # leads whose planned cells were all written
    finished: list[str] = field(default_factory=list)  # creations whose deal's ID reaches its row
    linked: set[int] = field(default_factory=set)  # leads whose ID goes back into their row
    appended_at: dict[int, int] = field(default_factory=dict)  # lead → the number of its new row


def touches_sheet(plan: Plan, made: Made) -> bool:
    """Whether anything is to be written to the sheet after the creates."""
    return bool(plan.cell_updates() or plan.row_appends() or plan.links or made.created or made.refused)


def place(plan: Plan, before: SheetView, now: SheetView, made: Made, pending: Mapping[str, int | None]) -> Placement:
    """``before``, the sheet the plan was made from; ``now``, as re-read; ``pending``, the journal's token → deal."""
    out = Placement(last_row=now.last_row)
    headers = now.headers
    at = rows_by_lead(now.rows, headers, {**pending, **made.created})
    by_token = {t: r for r in now.rows if (t := parse_pending(r.cell(headers.lead_id))) is not None}
    free = new_row_fingerprints(now.rows, headers, pending)
    catalog = plan.catalog
    for link in plan.links:
        row = by_token.get(link.token) if link.token else free.pop(link.fingerprint or "", None)
        if row is None:
            continue  # moved out of reach meanwhile: the next run links it
        at.setdefault(link.lead_id, row)
        out.cells.append((row.number, headers.lead_id, link.lead_id))
        out.linked.add(link.lead_id)
        if link.token:
            out.finished.append(link.token)
    for n in plan.creates():
        lid = made.created.get(n.token)
        row = by_token.get(n.token)
        if lid is None or row is None:
            continue  # not made, or its marker was cleared meanwhile: the deal is known, the next run says where
        out.cells.append((row.number, headers.lead_id, lid))
        out.cells.extend(
            (row.number, headers.columns[f], render(f, n.values, catalog)) for f in n.fill if f in headers.columns
        )
        out.finished.append(n.token)
    # amoCRM refused these: the row is new again (its problem is reported).
    out.cells.extend((r.number, headers.lead_id, "") for t in made.refused if (r := by_token.get(t)) is not None)
    old_rows = {r.number: r for r in before.rows}
    for lp in plan.cell_updates():
        row = at.get(lp.lead_id)
        old = old_rows.get(lp.row)
        if row is None or old is None:
            continue
        intact = True
        for f in lp.to_sheet:
            col = headers.columns.get(f)
            if col is None:
                continue
            if text(row.cell(col)) != text(old.cell(before.headers.columns[f])):
                intact = False  # typed over since it was read: the person's value wins, the next run syncs it
                continue
            out.cells.append((row.number, col, render(f, lp.final, catalog)))
        if intact:
            out.sheet_done.add(lp.lead_id)
    # New rows go below the last used row at explicit positions: a write there is idempotent
    # (a retry can't add a row twice), unlike values.append.
    todo = [a for a in plan.row_appends() if a.lead_id not in at]
    for number, a in enumerate(todo, start=now.last_row + 1):
        out.appended_at[a.lead_id] = number
        out.appended.append((number, headers.lead_id, a.lead_id))
        out.appended.extend((number, col, render(f, a.values, catalog)) for f, col in headers.columns.items())
    out.rows_appended = len(todo)
    out.last_row = now.last_row + len(todo)
    return out


def markers(todo: list[NewRow], now: SheetView, pending: Mapping[str, int | None]) -> tuple[list[Write], list[NewRow]]:
    """Each new row's pending marker in its lead_id cell, and the rows that get one.

    A row that changed since it was read is not found by its content, and is left for the next run.
    """
    free = new_row_fingerprints(now.rows, now.headers, pending)
    writes: list[Write] = []
    marked: list[NewRow] = []
    for n in todo:
        row = free.pop(n.fingerprint, None)
        if row is not None:
            writes.append((row.number, now.headers.lead_id, pending_marker(n.token)))
            marked.append(n)
    return writes, marked


def place_lines(
    lines: Lines,
    plan: Plan,
    before: SheetView,
    now: SheetView,
    made: Made,
    placed: Placement,
    pending: Mapping[str, int | None],
) -> list[Write]:
    """The sync column's lines at their rows in the sheet as re-read; a line the cell already shows is not written.

    A row is found as the other writes find it: by its deal, by its creation's marker, by its
    content (a new row), or else at its number if it still reads the same there.
    """
    col = now.headers.sync
    if col is None or not lines:
        return []
    headers = now.headers
    deals = {**pending, **made.created}
    at = {lid: r.number for lid, r in rows_by_lead(now.rows, headers, deals).items()}
    at.update(placed.appended_at)
    by_token = {t: r.number for r in now.rows if (t := parse_pending(r.cell(headers.lead_id))) is not None}
    free = {fp: r.number for fp, r in new_row_fingerprints(now.rows, headers, pending).items()}
    made_from = {n.row: n.token for n in plan.creates()}
    old_rows = {r.number: r for r in before.rows}
    new_before = {r.number: fp for fp, r in new_row_fingerprints(before.rows, before.headers, pending).items()}
    now_rows = {r.number: r for r in now.rows}
    carried = Counter(lead_in(r.cell(before.headers.lead_id), deals) for r in before.rows)

    def found(number: int) -> int | None:
        old = old_rows.get(number)
        if old is None:
            return None
        lid = lead_in(old.cell(before.headers.lead_id), deals)
        if lid is not None:
            if carried[lid] == 1:
                return at.get(lid)
            # A deal on several rows: each row is found where it was, if it still reads the same there.
        elif number in made_from:
            return by_token.get(made_from[number])
        elif number in new_before:
            return free.get(new_before[number])
        same = now_rows.get(number)
        return number if same is not None and _content(same, col) == _content(old, before.headers.sync) else None

    out: dict[int, str] = {}
    for number, line in lines.by_row.items():
        if (where := found(number)) is not None:
            out[where] = line
    for lid, line in lines.by_lead.items():
        if (where := at.get(lid)) is not None:
            out[where] = line
    return [
        (number, col, line)
        for number, line in sorted(out.items())
        if number not in now_rows or text(now_rows[number].cell(col)) != line
    ]


def _content(row: SheetRow, skip: int | None) -> tuple[str, ...]:
    cells = [text(c) for i, c in enumerate(row.cells) if i != skip]
    while cells and not cells[-1]:
        cells.pop()
    return tuple(cells)
