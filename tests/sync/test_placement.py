"""Where a plan's values go in the sheet as re-read just before writing."""

from __future__ import annotations

from amosheets.sync.creations import Made
from amosheets.sync.fields import Key, pending_marker
from amosheets.sync.model import Known, SheetRow
from amosheets.sync.placement import markers, place, touches_sheet
from amosheets.sync.planner import plan
from amosheets.sync.tab import SheetData

from .factories import HEADERS, TALKS, catalog, lead, row, synced

SYNCED = row(2, "11", "Иван", "+7 999", "", "1 000", "Первичный контакт", "Воронка")
NEW = row(3, "", "Пётр", "+7 555", "", "500")


def sheet(*rows: SheetRow) -> SheetData:
    return SheetData(HEADERS, list(rows), max((r.number for r in rows), default=1))


def moved(r: SheetRow, number: int, **cells: object) -> SheetRow:
    values = list(r.cells)
    for f, v in cells.items():
        values[HEADERS.columns[f] if f != "lead_id" else HEADERS.lead_id] = v
    return SheetRow(number, tuple(values))


def crm_edit_plan(*rows: SheetRow):
    """amoCRM changed lead 11's price and status since the last sync."""
    known = {11: Known(11, crm=lead(11, price=2000, status=TALKS), base=lead(11).values(), has_row=True)}
    return plan(headers=HEADERS, rows=list(rows), catalog=catalog(), known=known)


def test_cells_go_to_the_rows_new_place_and_the_lead_is_done() -> None:
    before = sheet(SYNCED)
    p = crm_edit_plan(SYNCED)
    placed = place(p, before, sheet(row(2, "", "Someone else"), moved(SYNCED, 5)), Made(), {})
    price, status = HEADERS.columns[Key.PRICE], HEADERS.columns[Key.STATUS]
    assert {(r, c) for r, c, _ in placed.cells} == {(5, price), (5, status)}
    assert placed.sheet_done == {11}
    assert not placed.appended and placed.rows_appended == 0


def test_a_cell_typed_over_since_it_was_read_is_left_and_the_lead_not_done() -> None:
    p = crm_edit_plan(SYNCED)
    placed = place(p, sheet(SYNCED), sheet(moved(SYNCED, 2, price="777")), Made(), {})
    assert [c for _, c, _ in placed.cells] == [HEADERS.columns[Key.STATUS]]
    assert placed.sheet_done == set()


def test_a_made_deal_gets_its_id_where_its_marker_is_and_a_refused_one_is_cleared() -> None:
    other = row(4, "", "Анна", "+7 444")
    p = plan(headers=HEADERS, rows=[NEW, other], catalog=catalog(), known={}, salt="s")
    made_row, refused_row = p.new_rows
    now = sheet(
        moved(NEW, 6, lead_id=pending_marker(made_row.token)),
        moved(other, 3, lead_id=pending_marker(refused_row.token)),
    )
    made = Made({made_row.token: 77}, [refused_row.token])
    assert touches_sheet(p, made)
    placed = place(p, sheet(NEW, other), now, made, {})
    assert (6, HEADERS.lead_id, 77) in placed.cells
    assert (3, HEADERS.lead_id, "") in placed.cells
    assert {(r, c) for r, c, _ in placed.cells if c != HEADERS.lead_id} == {
        (6, HEADERS.columns[f]) for f in made_row.fill
    }
    assert placed.finished == [made_row.token]


def test_a_lead_without_a_row_is_appended_below_the_last_used_row() -> None:
    p = plan(
        headers=HEADERS, rows=[SYNCED], catalog=catalog(), known={11: synced(lead(11)), 21: Known(21, crm=lead(21))}
    )
    assert [a.lead_id for a in p.appends] == [21]
    placed = place(p, sheet(SYNCED), sheet(moved(SYNCED, 9)), Made(), {})
    assert placed.rows_appended == 1 and placed.last_row == 10
    assert (10, HEADERS.lead_id, 21) in placed.appended
    assert {r for r, _, _ in placed.appended} == {10}


def test_markers_go_to_new_rows_found_by_content_and_skip_one_edited_since() -> None:
    other = row(4, "", "Анна", "+7 444")
    p = plan(headers=HEADERS, rows=[NEW, other], catalog=catalog(), known={}, salt="s")
    writes, marked = markers(p.new_rows, sheet(moved(NEW, 8), moved(other, 4, name="Анна Б.")), {})
    assert writes == [(8, HEADERS.lead_id, pending_marker(p.new_rows[0].token))]
    assert marked == [p.new_rows[0]]
