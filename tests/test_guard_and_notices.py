"""What a run says and holds back: the guard against a shuffled column, notices, the summary."""

from __future__ import annotations

import pytest

from amosheets.errors import ExitStatus

from .conftest import World


def synced_rows(w: World, prices: list[int]) -> list[int]:
    w.set_rows([["", f"Клиент {i}", "", "", str(p), "", ""] for i, p in enumerate(prices)])
    assert w.run("sync").exit_status == ExitStatus.OK
    return [int(r[0]) for r in w.rows()[1:]]


# -- the guard -----------------------------------------------------------------------------
def test_a_column_sorted_on_its_own_in_a_small_sheet_is_held_back_until_force(world: World):
    prices = [1000 + 10 * i for i in range(12)]
    ids = synced_rows(world, prices)
    world.sb.sheets.set_values(world.sid, world.tab, [[str(p)] for p in reversed(prices)], start="E2")
    world.reset_stats()
    r = world.cli("sync")
    assert r.returncode == ExitStatus.NEEDS_FORCE, r.stderr
    assert "In column Сумма, rows 2, 3, 4" in r.stderr and "sorted on its own" in r.stderr
    assert "held back by the guard, nothing was sent" in r.stderr and "nothing to change" not in r.stderr
    assert world.sb.amocrm.stats()["mutating"] == 0
    assert world.cli("sync", "--force").returncode == ExitStatus.OK
    assert [world.sb.amocrm.lead(lid)["price"] for lid in ids] == prices[::-1]


@pytest.mark.parametrize(
    ("typed", "held"), [({"E2": "1020", "E4": "1000"}, False), ({"E2": "1010", "E3": "1020", "E4": "1000"}, True)]
)
def test_in_a_three_row_sheet_a_swap_is_an_edit_and_a_rotation_is_a_sort(world: World, typed, held):
    synced_rows(world, [1000, 1010, 1020])
    for a1, value in typed.items():
        world.sb.sheets.edit_cell(world.sid, world.tab, a1, value)
    out = world.run("sync")
    assert (out.exit_status == ExitStatus.NEEDS_FORCE) is held
    assert out.leads_updated == (0 if held else 2)


# -- notices -------------------------------------------------------------------------------
def test_a_lead_id_cell_that_cannot_be_read_is_a_problem_not_a_removed_row(world: World):
    lid = synced_rows(world, [1, 2])[0]
    for typed in (f"{lid}a", f"{str(lid)[:4]} {str(lid)[4:]}"):
        world.sb.sheets.edit_cell(world.sid, world.tab, "A2", typed)
        out = world.run("sync")
        assert [(p.row, p.column, p.value) for p in out.problems] == [(2, "lead_id", typed)]
        assert not [n.message for n in out.notices if "removed" in n.message]
    world.sb.sheets.edit_cell(world.sid, world.tab, "A2", str(lid))
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and not out.notices


def test_a_status_conflict_outside_the_main_pipeline_names_the_statuses(world: World):
    world.set_rows([["", "Партнёр", "", "", "100", "Новая заявка", "Партнёры"]])
    assert world.run("sync").exit_status == ExitStatus.OK
    lid = int(world.rows()[1][0])
    partners = world.sb.amocrm.lead(lid)["pipeline_id"]
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, status_id=world.status_id("Встреча назначена", partners))
    world.sb.sheets.edit_cell(world.sid, world.tab, "F2", "Успешно реализовано")
    r = world.cli("sync")
    assert r.returncode == ExitStatus.OK, r.stderr
    assert (
        "the sheet has 'Успешно реализовано', amoCRM has 'Встреча назначена' (both changed since 'Новая заявка')"
        in r.stderr
    )
