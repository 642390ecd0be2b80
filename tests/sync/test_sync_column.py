"""The sync column's lines (pure) and where they land in a sheet sorted meanwhile."""

from __future__ import annotations

from amosheets.sync.creations import Made
from amosheets.sync.fields import DEFAULT_HEADER_ROW, match_headers
from amosheets.sync.model import Known, RowProblem, SheetRow
from amosheets.sync.placement import Placement, place, place_lines
from amosheets.sync.planner import plan
from amosheets.sync.sync_column import Lines, Ran, lines
from amosheets.sync.tab import SheetData

from .factories import TALKS, catalog, lead

HEADERS = match_headers([*DEFAULT_HEADER_ROW, "Sync"])
SYNC = 7
WHEN = "2026-12-02 16:20"


def row(number: int, lead_id="", name="", price="", status="", sync="", pipeline="") -> SheetRow:
    return SheetRow(number, (lead_id, name, "+7 999", "", price, status, pipeline, sync))


def sheet(*rows: SheetRow) -> SheetData:
    return SheetData(HEADERS, list(rows), max((r.number for r in rows), default=1))


def test_the_sync_header_binds_to_no_field_and_is_left_out_of_the_columns():
    assert HEADERS.sync == SYNC and "sync" not in HEADERS.columns
    assert match_headers(["lead_id", "Имя"]).sync is None


def test_a_problem_names_column_value_and_fix_and_wins_over_done():
    r = row(2, "", "Анна", "abc")
    p = plan(headers=HEADERS, rows=[r], catalog=catalog(), known={})
    problem = RowProblem(2, "Сумма", "abc", "is not a number")
    said = lines(p, Ran(problems=[problem]), [r], HEADERS, WHEN)
    assert said.by_row == {2: "✗ Сумма: «abc» — is not a number"}


def test_a_row_the_run_did_nothing_to_keeps_its_line():
    crm = lead(11)
    r = row(2, "11", "Иван", "1 000", "Первичный контакт", "✓ 2026-12-01 10:00", "Воронка")
    known = {11: Known(11, crm=crm, base=crm.values(), has_row=True)}
    p = plan(headers=HEADERS, rows=[r], catalog=catalog(), known=known)
    assert p.in_sync == {11}
    assert not lines(p, Ran(), [r], HEADERS, WHEN)


def test_a_row_that_showed_a_problem_and_is_now_in_sync_says_done():
    crm = lead(11)
    r = row(2, "11", "Иван", "1 000", "Первичный контакт", "✗ Сумма: «abc» — is not a number", "Воронка")
    known = {11: Known(11, crm=crm, base=crm.values(), has_row=True)}
    p = plan(headers=HEADERS, rows=[r], catalog=catalog(), known=known)
    assert lines(p, Ran(), [r], HEADERS, WHEN).by_row == {2: f"✓ {WHEN}"}


def test_lines_land_on_their_rows_after_a_sort():
    """Read as (bad new row 2, synced row 3); sorted before the write, they are (3, 2)."""
    bad = row(2, "", "Плохая", "abc")
    synced = row(3, "11", "Иван", "1 000", "Первичный контакт")
    known = {11: Known(11, crm=lead(11, status=TALKS), base=lead(11).values(), has_row=True)}
    p = plan(headers=HEADERS, rows=[bad, synced], catalog=catalog(), known=known)
    before = sheet(bad, synced)
    now = sheet(SheetRow(2, synced.cells), SheetRow(3, bad.cells))
    placed = place(p, before, now, Made(), {})
    problem = RowProblem(2, "Сумма", "abc", "is not a number")
    said = lines(p, Ran(sheet_done=placed.sheet_done, problems=[problem]), before.rows, HEADERS, WHEN)
    writes = place_lines(said, p, before, now, Made(), placed, {})
    assert writes == [
        (2, SYNC, f"✓ {WHEN} from amoCRM: Статус, Воронка"),
        (3, SYNC, "✗ Сумма: «abc» — is not a number"),
    ]


def test_a_line_the_cell_already_shows_is_not_written_and_a_row_gone_gets_none():
    bad = row(2, "", "Плохая", "abc", sync="✗ Сумма: «abc» — is not a number")
    p = plan(headers=HEADERS, rows=[bad], catalog=catalog(), known={})
    said = Lines(by_row={2: "✗ Сумма: «abc» — is not a number"})
    assert place_lines(said, p, sheet(bad), sheet(bad), Made(), Placement(), {}) == []
    edited = SheetRow(2, (*bad.cells[:4], "abd", *bad.cells[5:]))
    assert place_lines(Lines(by_row={2: "✗ x"}), p, sheet(bad), sheet(edited), Made(), Placement(), {}) == []
