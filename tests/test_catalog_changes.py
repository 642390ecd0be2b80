"""Pipelines and statuses change in amoCRM under a synced sheet: renamed, or no longer listed."""

from __future__ import annotations

from amosheets.errors import ExitStatus

from .conftest import World

ROWS = [
    ["", "Партнёр", "", "", "100", "Новая заявка", "Партнёры"],
    ["", "Клиент", "", "", "200", "Переговоры", "Воронка"],
]


def synced(w: World) -> tuple[int, int]:
    """The two ROWS made into deals: (the partner's id, the client's id)."""
    w.set_rows(ROWS)
    assert w.run("sync").exit_status == ExitStatus.OK
    rows = w.rows()
    return int(rows[1][0]), int(rows[2][0])


def partners_id(w: World) -> int:
    return next(p["id"] for p in w.sb.amocrm.pipelines() if p["name"] == "Партнёры")


# -- a pipeline amoCRM no longer lists -------------------------------------------------------
def test_a_deal_of_an_unlisted_pipeline_is_reported_once_and_every_row_still_syncs(world: World):
    partner, client = synced(world)
    pid = partners_id(world)
    world.sb.amocrm.unlist_pipeline(pid)
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "150")
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "250")
    r = world.cli("sync")
    assert r.returncode == ExitStatus.OK, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    [notice] = [line for line in r.stderr.splitlines() if "no longer lists" in line]
    assert f"pipeline {pid}" in notice and str(partner) in notice and str(client) not in notice
    assert world.sb.amocrm.lead(partner)["price"] == 150 and world.sb.amocrm.lead(client)["price"] == 250
    assert world.rows()[1][5:7] == ["Новая заявка", "Партнёры"]  # the names it had are kept


def test_without_a_pipeline_column_a_deal_of_an_unlisted_pipeline_does_not_stop_the_run(world: World):
    headers = ["lead_id", "Имя", "Сумма", "Статус"]
    world.set_rows([["", "Клиент", "200", "Переговоры"]], headers=headers)
    assert world.run("sync").exit_status == ExitStatus.OK
    pid = partners_id(world)
    partner = world.sb.amocrm.create_lead("Партнёр", price=100, pipeline_id=pid)["id"]
    world.sb.sheets.set_values(world.sid, world.tab, [[partner, "Партнёр", "100", "Новая заявка"]], start="A3")
    assert world.run("sync").exit_status == ExitStatus.OK
    world.sb.amocrm.unlist_pipeline(pid)
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.edit_cell(world.sid, world.tab, "C2", "250")
    world.sb.sheets.edit_cell(world.sid, world.tab, "C3", "150")
    r = world.cli("sync")
    assert r.returncode == ExitStatus.OK, r.stderr
    assert "no longer lists" in r.stderr and str(partner) in r.stderr
    assert world.sb.amocrm.lead(partner)["price"] == 150
    assert world.sb.amocrm.lead(int(world.rows()[1][0]))["price"] == 250


def test_cells_of_an_unlisted_pipeline_show_its_ids_and_read_back_as_them(world: World):
    partner, _ = synced(world)
    pid = partners_id(world)
    status = world.sb.amocrm.lead(partner)["status_id"]
    world.sb.amocrm.unlist_pipeline(pid)
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.set_values(world.sid, world.tab, [["", ""]], start="F2")  # cleared: amoCRM's values fill in
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.rows()[1][5:7] == [str(status), str(pid)]
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "300")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.sb.amocrm.lead(partner)["price"] == 300
    assert [n for n in out.notices if "no longer lists" in n.message]  # said on every run while it lasts


def test_a_deal_moved_out_of_an_unlisted_pipeline_in_the_sheet_goes_to_the_chosen_one(world: World):
    partner, _ = synced(world)
    world.sb.amocrm.unlist_pipeline(partners_id(world))
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.set_values(world.sid, world.tab, [["Переговоры", "Воронка"]], start="F2")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    lead = world.sb.amocrm.lead(partner)
    main = world.sb.amocrm.main_pipeline()["id"]
    assert (lead["pipeline_id"], lead["status_id"]) == (main, world.status_id("Переговоры"))


# -- renamed statuses and pipelines ----------------------------------------------------------
def test_a_renamed_status_still_names_its_status_and_the_cell_gets_the_new_name(world: World):
    _, client = synced(world)
    talks = world.status_id("Переговоры")
    world.sb.amocrm.rename_status(talks, "Обсуждение")
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "20000")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    lead = world.sb.amocrm.lead(client)
    assert (lead["price"], lead["status_id"]) == (20000, talks)
    assert world.rows()[2][5] == "Обсуждение"
    assert world.run("sync").plan.empty


def test_a_renamed_pipeline_still_names_its_pipeline_and_the_cell_gets_the_new_name(world: World):
    _, client = synced(world)
    main = world.sb.amocrm.main_pipeline()["id"]
    world.sb.amocrm.rename_pipeline(main, "Продажи")
    world.a_day_later()  # the state keeps the pipelines a day
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "20000")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.sb.amocrm.lead(client)["price"] == 20000
    assert world.rows()[2][5:7] == ["Переговоры", "Продажи"]


def test_rows_nobody_touched_get_the_new_name_on_the_next_run(world: World):
    synced(world)
    world.sb.amocrm.rename_status(world.status_id("Переговоры"), "Обсуждение")
    world.a_day_later()  # the state keeps the pipelines a day
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.cells_written == 1
    assert world.rows()[2][5] == "Обсуждение"


def test_a_new_row_typed_with_a_status_renamed_since_makes_the_deal_and_shows_the_new_name(world: World):
    """Found by the long property run: the new name used to reach the cell only on the run after."""
    assert world.run("sync").exit_status == ExitStatus.OK  # the names as shown are remembered
    deciding = world.status_id("Принимают решение")
    world.set_rows([["", "Анна", "", "", "1500", "Принимают решение", ""]])
    world.sb.amocrm.rename_status(deciding, "Решают")
    world.a_day_later()  # the state keeps the pipelines a day
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.created == 1, out.problems
    [(lid, row)] = world.by_lead().items()
    assert world.sb.amocrm.lead(lid)["status_id"] == deciding and row[5] == "Решают"
    assert world.run("sync").plan.empty


# -- the state's copy of the pipelines ---------------------------------------------------------
PIPELINES = "GET /api/v4/leads/pipelines"


def test_within_a_day_a_rename_costs_no_request_and_reaches_the_sheet_when_the_copy_is_read_again(world: World):
    synced(world)
    world.sb.amocrm.rename_status(world.status_id("Переговоры"), "Обсуждение")
    world.reset_stats()
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and PIPELINES not in world.stats()[0]["by_route"]
    assert world.rows()[2][5] == "Переговоры"  # the state's copy still has the old name
    world.a_day_later()
    world.reset_stats()
    world.run("sync")
    assert world.stats()[0]["by_route"][PIPELINES] == 1
    assert world.rows()[2][5] == "Обсуждение"


def test_a_deal_moved_to_a_status_added_since_has_the_pipelines_read_again_at_once(world: World):
    _, client = synced(world)
    new = world.sb.amocrm.add_status("Счёт выставлен")["id"]
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(client, status_id=new)
    world.reset_stats()
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.stats()[0]["by_route"][PIPELINES] == 1
    assert world.rows()[2][5] == "Счёт выставлен"
    world.reset_stats()
    assert world.run("sync").plan.empty and PIPELINES not in world.stats()[0]["by_route"]


def test_a_status_typed_in_the_sheet_that_the_copy_lacks_has_it_read_again_at_once(world: World):
    _, client = synced(world)
    world.sb.amocrm.add_status("Счёт выставлен")
    world.sb.sheets.edit_cell(world.sid, world.tab, "F3", "Счёт выставлен")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.sb.amocrm.lead(client)["status_id"] == world.status_id("Счёт выставлен")


def test_a_typo_in_a_status_costs_one_reading_of_the_pipelines_a_run_while_its_row_fails(world: World):
    synced(world)
    world.sb.sheets.edit_cell(world.sid, world.tab, "F3", "Переговорры")
    for _ in range(2):
        world.reset_stats()
        out = world.run("sync")
        assert [p.column for p in out.problems] == ["Статус"]
        assert world.stats()[0]["by_route"][PIPELINES] == 1


def test_a_pipeline_chosen_since_the_copy_was_read_has_it_read_again(world: World):
    synced(world)
    wholesale = world.sb.amocrm.add_pipeline("Опт", ["Заявка"])
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Оптовик", "", "", "5", "", ""]], start="A4")
    world.env["AMOCRM_PIPELINE_ID"] = str(wholesale["id"])
    world.reset_stats()
    out = world.run("push")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert world.stats()[0]["by_route"][PIPELINES] == 1
    made = next(d for d in world.sb.amocrm.leads() if d["name"] == "Оптовик")
    assert made["pipeline_id"] == wholesale["id"]
