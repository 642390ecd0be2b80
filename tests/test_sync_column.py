"""The sync column: each row the run acted on says what became of it, in the run's one write."""

from __future__ import annotations

import re
import tempfile

from amosheets.errors import ExitStatus
from amosheets.sandbox import SAMPLE_HEADERS, Sandbox

from .conftest import World

HEADERS = [*SAMPLE_HEADERS, "Синхронизация"]
LEAD_ID, NAME, PRICE, STATUS, SYNC = 0, 1, 4, 5, 7
DONE = re.compile(r"^✓ \d{4}-\d\d-\d\d \d\d:\d\d")


def row(name: str, price: str = "", status: str = "") -> list[str]:
    return ["", name, "", "", price, status, ""]


def sync_cells(w: World) -> list[str]:
    return [(r + [""] * 8)[SYNC] for r in w.rows()[1:]]


def a_synced_deal(w: World, name: str = "Анна", price: str = "1000") -> int:
    w.set_rows([row(name, price)], HEADERS)
    assert w.run().exit_status == ExitStatus.OK
    return int(w.rows()[1][LEAD_ID])


def test_a_created_deal_says_so_and_an_idle_run_writes_nothing(world: World):
    a_synced_deal(world)
    [line] = sync_cells(world)
    assert DONE.match(line) and line.endswith("deal created"), line
    world.reset_stats()
    out = world.run()
    amo, sheets = world.stats()
    assert out.exit_status == ExitStatus.OK
    assert sheets["mutating"] == 0 and amo["mutating"] == 0
    assert sync_cells(world) == [line]


def test_a_bad_row_says_what_is_wrong_and_the_line_is_replaced_once_it_is_fixed(world: World):
    world.set_rows([row("Плохая", "abc"), row("Хорошая", "500")], HEADERS)
    out = world.run()
    assert out.exit_status == ExitStatus.PARTIAL and out.created == 1
    bad, good = sync_cells(world)
    assert bad.startswith("✗ Сумма: «abc» — ") and "number" in bad, bad
    assert DONE.match(good)
    # Run again with nothing changed: the problem is told again, the same line is not written again.
    world.reset_stats()
    world.run()
    assert world.stats()[1]["mutating"] == 0
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "700")
    assert world.run().exit_status == ExitStatus.OK
    fixed = sync_cells(world)[0]
    assert DONE.match(fixed) and "created" in fixed, fixed


def test_a_problem_undone_by_typing_the_old_value_back_clears_the_line(world: World):
    a_synced_deal(world)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "тысяча")
    assert world.run().exit_status == ExitStatus.PARTIAL
    assert sync_cells(world)[0].startswith("✗ Сумма: «тысяча»")
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "1000")
    world.reset_stats()
    assert world.run().exit_status == ExitStatus.OK
    assert world.stats()[0]["mutating"] == 0  # nothing to send: only the line changes
    assert DONE.match(sync_cells(world)[0]) and sync_cells(world)[0].count(" ") == 2


def test_each_direction_is_named_with_its_columns(world: World):
    lid = a_synced_deal(world)
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, status_id=world.status_id("Переговоры"))
    world.sb.sheets.edit_cell(world.sid, world.tab, "B2", "Анна Сергеевна")
    world.run()
    line = sync_cells(world)[0]
    assert DONE.match(line) and line.endswith("sent to amoCRM: Имя; from amoCRM: Статус"), line


def test_a_conflict_shows_the_value_that_lost(world: World):
    lid = a_synced_deal(world, price="30000")
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=27500)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "31000")
    world.run()
    line = sync_cells(world)[0]
    assert "Сумма: amoCRM has 27500, the sheet had 31000 — kept amoCRM's" in line, line
    assert world.rows()[1][PRICE] in ("27500", "27 500")


def test_a_deal_deleted_in_amocrm_is_marked_and_the_row_kept(world: World):
    lid = a_synced_deal(world)
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.delete_lead(lid)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "2000")  # an edit has the run find out
    world.run()
    assert world.rows()[1][NAME] == "Анна"
    assert sync_cells(world)[0] == f"⚠ deal {lid} was deleted in amoCRM; this row is no longer synced"


def test_a_row_added_from_amocrm_says_where_it_came_from(world: World):
    a_synced_deal(world)
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.create_lead("Из amoCRM", price=10)
    world.run()
    rows = world.rows()
    assert rows[2][NAME] == "Из amoCRM"
    assert DONE.match(rows[2][SYNC]) and rows[2][SYNC].endswith("added from amoCRM")


def test_a_dry_run_writes_no_line(world: World):
    world.set_rows([row("Плохая", "abc"), row("Новая")], HEADERS)
    world.run(dry_run=True)
    assert sync_cells(world) == ["", ""]


def write_requests(with_sync: bool) -> list[int]:
    """Sheets write requests of each run of one scenario: creates, edits both ways, an append, an idle run."""
    headers = HEADERS if with_sync else SAMPLE_HEADERS
    counts = []
    with Sandbox() as sb, tempfile.TemporaryDirectory() as state:
        sb.new_spreadsheet([])
        w = World(sb, {**sb.env(), "AMOSHEETS_STATE_DIR": state})
        w.set_rows([row("Анна", "100"), row("Борис", "200"), row("Плохая", "abc")], headers)

        def run() -> None:
            w.reset_stats()
            w.run()
            counts.append(w.stats()[1]["mutating"])

        run()  # creates (and a bad row)
        lids = [int(r[LEAD_ID]) for r in w.rows()[1:3]]
        sb.amocrm.clock.advance(5)
        sb.amocrm.edit_lead(lids[0], price=150)
        sb.sheets.edit_cell(w.sid, w.tab, "B3", "Борис Иванович")
        sb.amocrm.create_lead("Из amoCRM", price=10)
        run()  # a pull, a push and an append
        run()  # idle
        if with_sync:  # every row got its line in those writes
            assert all(r[SYNC] for r in w.rows()[1:]), w.rows()
    return counts


def test_the_sync_column_costs_no_write_request():
    without, with_sync = write_requests(False), write_requests(True)
    assert with_sync == without, (with_sync, without)
    assert without[-1] == 0


def test_each_row_of_a_deal_on_two_rows_gets_its_line(world: World):
    lid = a_synced_deal(world)
    copy = [str(lid), "Анна", "", "", "1000", "Первичный контакт", "Воронка"]
    rows = world.rows()
    world.set_rows([rows[1][:7], copy], HEADERS)
    assert world.run().exit_status == ExitStatus.PARTIAL
    first, second = sync_cells(world)
    assert first.startswith("✗ lead_id: «") and first == second, (first, second)


def test_lines_and_messages_name_the_column_as_row_1_spells_it(world: World):
    english = ["id", "Name", "Phone", "E-mail", "Price", "Status", "Pipeline", "Sync"]
    world.set_rows([row("Bad", "abc"), row("Good", "10", "Нет такого")], english)
    out = world.run()
    assert {p.column for p in out.problems} == {"Price", "Status"}
    bad, good = sync_cells(world)
    assert bad.startswith("✗ Price: «abc» — ") and good.startswith("✗ Status: «Нет такого» — "), (bad, good)


def test_check_says_whether_the_sheet_has_a_sync_column(world: World):
    world.set_rows([], HEADERS)
    r = world.cli("check")
    assert r.returncode == 0 and "each row's outcome goes into 'Синхронизация'" in r.stdout, r.stdout + r.stderr
    world.set_rows([], SAMPLE_HEADERS)
    r = world.cli("check")
    assert "no Синхронизация / Sync column (add one" in r.stdout, r.stdout
