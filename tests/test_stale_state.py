"""State that no longer matches amoCRM: its clock set back, deals gone, another account behind the same address."""

from __future__ import annotations

import time

from amosheets.errors import ExitStatus

from .conftest import World

NEW = ["", "Иван Петров", "+7 999 123-45-67", "ivan@example.com", "15 000", "Переговоры", "Воронка"]


def synced_while_amocrm_is_ahead(w: World, seconds: int = 7200) -> int:
    """A sync while amoCRM's clock is ``seconds`` ahead, then the clock is corrected; the deal's id."""
    w.sb.amocrm.clock.advance(seconds)
    w.set_rows([NEW])
    assert w.run("sync").exit_status == ExitStatus.OK
    w.sb.amocrm.clock.advance(-seconds)
    [lid] = w.by_lead()
    return lid


# -- amoCRM's clock ----------------------------------------------------------------------
def test_an_edit_made_after_amocrms_clock_was_set_back_is_pulled(world: World):
    lid = synced_while_amocrm_is_ahead(world)
    world.sb.amocrm.edit_lead(lid, price=777)
    out = world.run("pull")
    assert world.by_lead()[lid][4] == "777"
    [notice] = out.notices
    assert "clock" in notice.message and "set back" in notice.message
    store = world.store()
    assert store.cursor is not None and store.cursor <= world.sb.amocrm.clock.now()  # not left in the future
    store.close()
    assert not world.run("pull").notices  # said once


def test_an_edit_made_minutes_before_the_run_after_the_clock_was_set_back_is_pulled(world: World):
    lid = synced_while_amocrm_is_ahead(world)
    world.sb.amocrm.edit_lead(lid, price=888)
    world.sb.amocrm.clock.advance(600)  # the next cron run comes ten minutes after the edit
    store = world.store()  # … and by this machine's clock, fifteen minutes after the last sync
    store.set_cursor(store.cursor, taken_at=time.time() - 900)
    store.close()
    world.run("pull")
    assert world.by_lead()[lid][4] == "888"


def test_edits_made_just_before_amocrms_clock_was_set_back_by_hours_are_pulled(world: World):
    """Found by the property test: edits stamped by the clock before it went back hours lie ahead of its
    time now, beyond a window that ended an hour after now."""
    world.set_rows([NEW])
    assert world.run("sync").exit_status == ExitStatus.OK
    [lid] = world.by_lead()
    world.sb.amocrm.edit_lead(lid, price=999)
    contact = world.sb.amocrm.main_contact_of(lid)
    world.sb.amocrm.edit_contact(contact["id"], phone="+7 111")
    world.sb.amocrm.clock.advance(-8 * 3600)
    store = world.store()  # by this machine's clock, ten minutes since the last sync
    store.set_cursor(store.cursor, taken_at=time.time() - 600)
    store.close()
    world.run("pull")
    row = world.by_lead()[lid]
    assert (row[4], row[2]) == ("999", "+7 111")


def test_an_edit_between_two_corrections_of_amocrms_clock_is_pulled(world: World):
    """Found by the long property run: the clock set back hours, a deal edited, the clock put forward a
    little (more than the window's overlap) before the next run, all within seconds of this machine's time."""
    world.set_rows([NEW])
    assert world.run("sync").exit_status == ExitStatus.OK
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(-6 * 3600)
    world.sb.amocrm.edit_lead(lid, price=555)
    world.sb.amocrm.clock.advance(120)
    world.run("pull")
    assert world.by_lead()[lid][4] == "555"


# -- deals amoCRM no longer has ------------------------------------------------------------
def test_pull_all_adds_no_row_for_a_deal_deleted_after_its_row_was_removed(world: World):
    world.set_rows([["", f"Клиент {i}", "", "", str(i), "", ""] for i in (1, 2, 3)])
    world.run("sync")
    kept, gone, back = (int(r[0]) for r in world.rows()[1:4])
    world.sb.sheets.delete_rows(world.sid, world.tab, 3, 4)  # the rows of `gone` and `back`
    world.sb.amocrm.delete_lead(gone)
    world.run("sync")
    out = world.run("pull", backfill=True)
    assert out.exit_status == ExitStatus.OK and out.rows_appended == 1
    assert sorted(world.by_lead()) == sorted([kept, back])  # a removed row of a deal that exists comes back
    # The sync between heard of the deletion from amoCRM's events: nothing is left to say about it.
    assert out.notices == []


# -- another account behind the same address ------------------------------------------------
def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line]


def test_a_restarted_sandbox_with_the_same_sheet_is_noticed_once_and_no_row_is_made_up(world: World):
    for i in range(30):
        world.sb.amocrm.create_lead(f"Старая {i}")
    world.set_rows([])
    world.run("sync")
    world.run("pull", backfill=True)
    old_ids = sorted(world.by_lead())
    assert len(old_ids) == 30
    # amoCRM restarted: another account at the same address; the sheet made anew under the same id
    world.sb.restart_amocrm()
    fresh = sorted(world.sb.amocrm.create_lead(f"Новая {i}")["id"] for i in range(3))
    world.set_rows([[str(old_ids[-1]), "Старая 29", "", "", "", "", ""]])

    r = world.cli("sync", "--dry-run")
    assert r.returncode == ExitStatus.PARTIAL, r.stderr
    [warning] = warnings(r.stderr)  # one plain warning, no "row removed" for each of the 30
    assert "another account" in warning and "sync-" in warning and "dry run" in warning
    assert "row 2" in r.stderr and "no deal with this ID" in r.stderr  # the old id, matched afresh
    state_dir = world.settings().state_dir
    assert not list(state_dir.glob("sync-*.account-*"))  # a dry run leaves the state where it was

    r = world.cli("pull", "--all")
    assert r.returncode == ExitStatus.PARTIAL, r.stderr
    [warning] = warnings(r.stderr)
    assert "moved to" in warning
    assert len(list(state_dir.glob("sync-*.account-*.sqlite3"))) == 1  # the old state is kept aside
    store = world.store()
    [run] = store.runs()  # the run that set the old state aside is logged in the new one
    assert (run.command, run.exit_status) == ("pull", ExitStatus.PARTIAL)
    store.close()
    rows = world.by_lead()
    assert sorted(rows) == sorted([old_ids[-1], *fresh])  # rows only for deals that exist, and the row typed in
    assert [rows[lid][1] for lid in fresh] == ["Новая 0", "Новая 1", "Новая 2"]

    r = world.cli("sync")
    assert not warnings(r.stderr)  # said once: the new state is trusted


# -- many rows at once ---------------------------------------------------------------------------
def test_thirty_removed_rows_are_summarised_in_one_line_and_listed_with_v_and_json(world: World):
    import json

    world.set_rows([["", f"Клиент {i}", "", "", str(i), "", ""] for i in range(32)])
    world.run("sync")
    world.sb.sheets.delete_rows(world.sid, world.tab, 2, 31)  # 30 rows; two stay
    r = world.cli("sync", "--dry-run")
    [line] = warnings(r.stderr)
    assert line.count("removed from the sheet") == 1 and "30 " in line and "and 25 more" in line
    r = world.cli("-v", "sync", "--dry-run")
    assert len(warnings(r.stderr)) == 30
    r = world.cli("sync", "--json")
    assert len(warnings(r.stderr)) == 1
    assert len(json.loads(r.stdout)["notice_list"]) == 30
