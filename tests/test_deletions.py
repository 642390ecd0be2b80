"""Deals deleted (and restored) in amoCRM: noticed within one run from the events API, at no extra request.

A deleted deal never appears in a listing of changes, so a row nobody edits would never hear of it;
amoCRM's events say so (``lead_deleted``, ``lead_restored``), and they are asked for with the changes.
"""

from __future__ import annotations

from amosheets.errors import ExitStatus
from amosheets.sandbox import SAMPLE_HEADERS

from .conftest import World

HEADERS = [*SAMPLE_HEADERS, "Синхронизация"]
LEAD_ID, NAME, PRICE, SYNC = 0, 1, 4, 7
LISTINGS = {"GET /api/v4/leads": 1, "GET /api/v4/contacts": 1, "GET /api/v4/events": 1}


def row(name: str, price: str = "") -> list[str]:
    return ["", name, "", "", price, "", ""]


def synced(w: World, names: list[str], headers: list[str] = HEADERS) -> list[int]:
    """These rows made into deals, and one more run so that the next is an ordinary one."""
    w.set_rows([row(n, "100") for n in names], headers)
    assert w.run().exit_status == ExitStatus.OK
    w.sb.amocrm.clock.advance(300)
    assert w.run().plan.empty
    return [int(r[LEAD_ID]) for r in w.rows()[1:]]


def line(w: World, lead_id: int) -> str:
    r = next(r + [""] * 8 for r in w.rows()[1:] if r and r[LEAD_ID] == str(lead_id))
    return r[SYNC]


def said(out, lead_id: int) -> list[str]:
    return [n.message for n in out.notices if n.lead_id == lead_id and "deleted in amoCRM" in n.message]


def test_a_deal_deleted_while_nobody_touches_its_row_is_marked_by_the_next_run_at_no_extra_request(world: World):
    kept, gone = synced(world, ["Остаётся", "Удалят"])
    world.sb.amocrm.clock.advance(60)
    world.sb.amocrm.delete_lead(gone)
    world.sb.amocrm.clock.advance(240)
    world.reset_stats()
    out = world.run()
    amo, sheets = world.stats()
    assert out.exit_status == ExitStatus.OK and said(out, gone)
    assert amo["by_route"] == LISTINGS  # the deletion came with the changes: no request of its own
    assert sheets["mutating"] == 1  # the mark
    assert line(world, gone) == f"⚠ deal {gone} was deleted in amoCRM; this row is no longer synced"
    assert [r[NAME] for r in world.rows()[1:]] == ["Остаётся", "Удалят"]  # no row is deleted

    world.sb.amocrm.clock.advance(300)
    world.reset_stats()
    out = world.run()
    amo, sheets = world.stats()
    assert not said(out, gone) and out.created == 0  # said once, never made again
    assert amo["requests"] == 3 and sheets["mutating"] == 0
    assert [d["id"] for d in world.sb.amocrm.leads()] == [kept]


def test_without_a_sync_column_a_deletion_is_a_notice_once_and_the_row_is_left(world: World):
    [gone] = synced(world, ["Удалят"], SAMPLE_HEADERS)
    world.sb.amocrm.delete_lead(gone)
    world.sb.amocrm.clock.advance(300)
    before = world.rows()
    world.reset_stats()
    out = world.run()
    assert said(out, gone) and world.stats()[1]["mutating"] == 0
    assert world.rows() == before
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "500")  # an edit to a deleted deal's row goes nowhere
    out = world.run()
    assert not said(out, gone) and out.created == 0 and out.leads_updated == 0
    assert world.sb.amocrm.leads() == []


def test_a_restored_deal_syncs_again_both_ways(world: World):
    [lid] = synced(world, ["Вернут"])
    world.sb.amocrm.delete_lead(lid)
    world.sb.amocrm.clock.advance(300)
    world.run()
    assert line(world, lid).startswith("⚠")

    world.sb.amocrm.clock.advance(60)
    world.sb.amocrm.restore_lead(lid)  # its updated_at stays as it was: only the event tells
    world.sb.amocrm.clock.advance(240)
    out = world.run()
    assert out.exit_status == ExitStatus.OK
    assert line(world, lid).startswith("✓"), line(world, lid)

    world.sb.amocrm.clock.advance(60)
    world.sb.amocrm.edit_lead(lid, price=777)
    world.sb.amocrm.clock.advance(240)
    world.run()
    assert world.rows()[1][PRICE] in ("777", 777)
    world.sb.sheets.edit_cell(world.sid, world.tab, "B2", "Вернули")
    assert world.run().leads_updated == 1
    assert world.sb.amocrm.lead(lid)["name"] == "Вернули"


def test_a_deal_deleted_and_restored_between_two_runs_is_left_alone(world: World):
    [lid] = synced(world, ["Туда и обратно"])
    world.sb.amocrm.delete_lead(lid)
    world.sb.amocrm.clock.advance(30)
    world.sb.amocrm.restore_lead(lid)
    world.sb.amocrm.clock.advance(270)
    out = world.run()
    assert not said(out, lid) and out.exit_status == ExitStatus.OK
    assert not line(world, lid).startswith("⚠")


def test_deletions_of_deals_the_tab_never_held_say_nothing(world: World):
    synced(world, ["Своя"])
    partners = next(p["id"] for p in world.sb.amocrm.pipelines() if p["name"] == "Партнёры")
    other = world.sb.amocrm.create_lead("Чужая", price=1, pipeline_id=partners)["id"]
    world.sb.amocrm.delete_lead(other)
    world.sb.amocrm.clock.advance(300)
    out = world.run()
    assert out.plan.empty and not out.notices


def test_a_mark_lost_with_a_failed_write_is_written_by_the_next_run_where_the_row_now_is(world: World):
    first, gone = synced(world, ["Первая", "Удалят"])
    world.sb.amocrm.delete_lead(gone)
    world.sb.amocrm.clock.advance(300)
    world.sb.sheets.set_faults(script=[("echo403", "values:batchUpdate", "POST")])
    out = world.cli("sync")
    assert out.returncode == ExitStatus.AUTH, out.stderr
    # Meanwhile a person sorts the tab the other way round and inserts a row at the top.
    world.sb.sheets.sort_rows(world.sid, world.tab, NAME, descending=True)
    world.sb.sheets.insert_rows(world.sid, world.tab, 2)
    world.sb.amocrm.clock.advance(300)
    out = world.run()
    assert out.exit_status == ExitStatus.OK
    assert line(world, gone) == f"⚠ deal {gone} was deleted in amoCRM; this row is no longer synced"
    assert not line(world, first).startswith("⚠")
    assert out.created == 0 and [d["id"] for d in world.sb.amocrm.leads()] == [first]
