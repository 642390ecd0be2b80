"""What a run says and holds back: the guard against a shuffled column, notices, the summary."""

from __future__ import annotations

from amosheets.errors import ExitStatus

from .conftest import World


def synced_rows(w: World, prices: list[int]) -> list[int]:
    w.set_rows([["", f"Клиент {i}", "", "", str(p), "", ""] for i, p in enumerate(prices)])
    assert w.run("sync").exit_status == ExitStatus.OK
    return [int(r[0]) for r in w.rows()[1:]]


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
