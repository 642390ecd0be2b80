"""push, pull and sync end to end: the real clients against the sandbox."""

from __future__ import annotations

import pytest

from amosheets.errors import ExitStatus

from .conftest import World

NEW = ["", "Иван Петров", "+7 999 123-45-67", "ivan@example.com", "15 000", "Переговоры", "Воронка"]


def first_sync(w: World, rows: list[list]) -> dict[int, list]:
    w.set_rows(rows)
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    return w.by_lead()


# -- push -------------------------------------------------------------------------------
def test_push_creates_a_deal_with_its_contact_and_writes_the_id_back(world: World):
    world.set_rows([NEW])
    out = world.run("push")
    assert out.exit_status == ExitStatus.OK and out.created == 1
    [lid] = world.by_lead()
    lead = world.sb.amocrm.lead(lid)
    assert lead["name"] == "Иван Петров" and lead["price"] == 15000
    assert lead["status_id"] == world.status_id("Переговоры")
    contact = world.sb.amocrm.main_contact_of(lid)
    codes = {f["field_code"]: [v["value"] for v in f["values"]] for f in contact["custom_fields_values"]}
    assert codes == {"PHONE": ["+7 999 123-45-67"], "EMAIL": ["ivan@example.com"]}


def test_push_fills_default_status_and_pipeline_into_empty_cells(world: World):
    world.set_rows([["", "Анна", "", "", "", "", ""]])
    world.run("push")
    row = world.rows()[1]
    assert row[5] == "Первичный контакт" and row[6] == "Воронка"
    lead = world.sb.amocrm.lead(int(row[0]))
    assert lead["status_id"] == world.status_id("Первичный контакт")
    assert world.sb.amocrm.main_contact_of(int(row[0])) is None  # no phone, no e-mail: no contact


def test_configured_pipeline_and_status_are_the_defaults(world: World):
    partners = next(p for p in world.sb.amocrm.pipelines() if p["name"] == "Партнёры")
    active = next(s for s in partners["_embedded"]["statuses"] if s["type"] == 0 and s["id"] not in (142, 143))
    world.env.update(AMOCRM_PIPELINE_ID=str(partners["id"]), AMOCRM_STATUS_ID=str(active["id"]))
    world.set_rows([["", "Партнёр", "", "", "", "", ""]])
    world.run("push")
    lead = world.sb.amocrm.lead(int(world.rows()[1][0]))
    assert (lead["pipeline_id"], lead["status_id"]) == (partners["id"], active["id"])


def test_sheet_edits_update_the_deal_and_its_contact(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "20000")
    world.sb.sheets.edit_cell(world.sid, world.tab, "C2", "'+7 111")
    world.sb.sheets.edit_cell(world.sid, world.tab, "F2", "Принимают решение")
    out = world.run("push")
    assert out.leads_updated == 1 and out.contacts_updated == 1
    lead = world.sb.amocrm.lead(lid)
    assert lead["price"] == 20000 and lead["status_id"] == world.status_id("Принимают решение")
    phones = [
        v["value"]
        for f in world.sb.amocrm.main_contact_of(lid)["custom_fields_values"]
        if f["field_code"] == "PHONE"
        for v in f["values"]
    ]
    assert phones == ["+7 111"]


def test_a_phone_that_sheets_turned_into_an_error_is_reported_not_sent(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.sheets.edit_cell(world.sid, world.tab, "C2", "+7 111 22-33")  # typed without an apostrophe
    assert world.rows()[1][2] == "#ERROR!"
    out = world.run("sync")
    [p] = out.problems
    assert (p.row, p.column, p.value) == (2, "Телефон", "#ERROR!") and "apostrophe" in p.message
    contact = world.sb.amocrm.main_contact_of(lid)
    assert [f["values"][0]["value"] for f in contact["custom_fields_values"] if f["field_code"] == "PHONE"] == [
        "+7 999 123-45-67"
    ]


def test_a_phone_added_to_a_deal_without_contact_creates_and_links_one(world: World):
    [lid] = first_sync(world, [["", "Без контакта", "", "", "", "", ""]])
    world.sb.sheets.edit_cell(world.sid, world.tab, "D2", "new@example.com")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.contacts_updated == 1
    contact = world.sb.amocrm.main_contact_of(lid)
    assert contact is not None
    assert [f["values"][0]["value"] for f in contact["custom_fields_values"] if f["field_code"] == "EMAIL"] == [
        "new@example.com"
    ]
    assert world.run("sync").plan.empty


def test_phone_edit_keeps_the_contacts_other_phones(world: World):
    [lid] = first_sync(world, [NEW])
    cid = world.sb.amocrm.main_contact_of(lid)["id"]
    world.sb.amocrm.add_phone(cid, "+7 222")
    world.sb.amocrm.clock.advance(2)
    world.run("sync")
    world.sb.sheets.edit_cell(world.sid, world.tab, "C2", "'+7 333")
    world.run("sync")
    phones = [
        v["value"]
        for f in world.sb.amocrm.contact(cid)["custom_fields_values"]
        if f["field_code"] == "PHONE"
        for v in f["values"]
    ]
    assert phones == ["+7 333", "+7 222"]


# -- pull -------------------------------------------------------------------------------
def test_crm_edits_update_the_row(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=99000, status_id=world.status_id("Согласование договора"))
    out = world.run("pull")
    assert out.exit_status == ExitStatus.OK
    row = world.by_lead()[lid]
    assert row[4] == "99000" and row[5] == "Согласование договора"


def test_a_contact_edit_reaches_the_row_although_the_deal_did_not_change(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    cid = world.sb.amocrm.main_contact_of(lid)["id"]
    before = world.sb.amocrm.lead(lid)["updated_at"]
    world.sb.amocrm.edit_contact(cid, phone="+7 000 000-00-00", email="other@example.com")
    assert world.sb.amocrm.lead(lid)["updated_at"] == before
    world.run("pull")
    row = world.by_lead()[lid]
    assert row[2] == "+7 000 000-00-00" and row[3] == "other@example.com"


def test_new_deals_of_the_pipeline_are_appended_others_are_not(world: World):
    first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    new = world.sb.amocrm.create_lead("Новая сделка", price=500, phone="+7 5")
    partners = next(p for p in world.sb.amocrm.pipelines() if p["name"] == "Партнёры")
    other = world.sb.amocrm.create_lead("Чужая воронка", pipeline_id=partners["id"])
    out = world.run("pull")
    assert out.rows_appended == 1
    rows = world.by_lead()
    assert rows[new["id"]][1:5] == ["Новая сделка", "+7 5", "", "500"]
    assert other["id"] not in rows


def test_first_run_does_not_pull_old_deals_and_pull_all_does(world: World):
    old = world.sb.amocrm.create_lead("Старая", price=1)
    world.set_rows([])
    out = world.run("sync")
    assert out.first_run and out.rows_appended == 0
    out = world.run("pull", backfill=True)
    assert out.rows_appended == 1 and old["id"] in world.by_lead()


def test_pull_since_takes_changes_from_that_time(world: World):
    world.set_rows([])
    world.run("sync")
    old = world.sb.amocrm.create_lead("Вчерашняя")
    now = world.sb.amocrm.clock.now()
    out = world.run("pull", since=now - 3600)
    assert out.rows_appended == 1 and old["id"] in world.by_lead()


def test_crm_text_is_stored_as_text_never_evaluated(world: World):
    world.set_rows([])
    world.run("sync")
    evil = world.sb.amocrm.create_lead('=IMPORTXML("http://x","//a")', phone="+7 999 123-45-67")
    world.run("pull", backfill=True)
    row = next(i for i, r in enumerate(world.rows()) if r and str(r[0]) == str(evil["id"])) + 1
    for col in ("B", "C"):
        cell = world.sb.sheets.cell(world.sid, world.tab, f"{col}{row}")
        assert cell["type"] == "string", cell
    assert world.rows()[row - 1][1] == '=IMPORTXML("http://x","//a")'


# -- sync: both ways, rows that move -------------------------------------------------------
def test_sync_both_ways_in_one_run(world: World):
    ids = first_sync(world, [NEW, ["", "Пётр", "", "", "100", "", ""]])
    a, b = sorted(ids)
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(a, name="Иван Петрович")
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "200")
    out = world.run("sync")
    assert out.leads_updated == 1 and out.cells_written == 1
    assert world.by_lead()[a][1] == "Иван Петрович" and world.sb.amocrm.lead(b)["price"] == 200


def test_rows_sorted_and_inserted_between_runs_are_found_by_lead_id(world: World):
    ids = first_sync(world, [["", f"Клиент {i}", "", "", str(i * 100), "", ""] for i in range(1, 6)])
    world.sb.sheets.sort_rows(world.sid, world.tab, 4, descending=True)
    world.sb.sheets.insert_rows(world.sid, world.tab, 3, 2)
    world.sb.amocrm.clock.advance(5)
    target = sorted(ids)[0]  # "Клиент 1", price 100, now near the bottom
    world.sb.amocrm.edit_lead(target, price=111)
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.cells_written == 1
    rows = world.by_lead()
    assert rows[target][1] == "Клиент 1" and rows[target][4] == "111"
    assert [rows[i][4] for i in sorted(ids)[1:]] == ["200", "300", "400", "500"]


def test_a_cell_typed_over_while_the_run_works_is_not_overwritten(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=1)
    from amosheets.config import load_settings
    from amosheets.engine import Engine, Options
    from amosheets.sheet import Sheet
    from amosheets.sync.plan import Direction

    settings = load_settings(environ=world.env)

    class TypingSheet(Sheet):
        reads = 0

        def read_values(self):
            TypingSheet.reads += 1
            if TypingSheet.reads == 2:  # just before the write: a person types a new price
                world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "777")
            return super().read_values()

    Engine.from_settings(settings, Options(Direction.BOTH), sheet=TypingSheet(settings.tab())).run()
    assert world.by_lead()[lid][4] == "777"  # not overwritten by amoCRM's 1
    # Both sides changed since the last sync: the next run reports it as a conflict with both values.
    [c] = world.run("sync").plan.conflicts
    assert (c.sheet, c.crm) == (777, 1)


def test_unknown_columns_are_never_written(world: World):
    headers = ["Заметки", "lead_id", "Имя", "Сумма", "Менеджер"]
    world.set_rows([["моя заметка", "", "Иван", "100", "Оля"], ["", "", "Пётр", "", ""]], headers=headers)
    world.run("sync")
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.create_lead("Из CRM", price=5)
    world.run("pull", backfill=True)
    rows = world.rows()
    assert rows[1][0] == "моя заметка" and rows[1][4] == "Оля"
    assert rows[2][0] == "" and rows[2][4:] == []
    appended = rows[3]
    assert appended[0] == "" and appended[2] == "Из CRM"


# -- conflicts ---------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "expected"), [("crm", 300), ("sheet", 200)])
def test_a_field_changed_on_both_sides_is_settled_by_the_policy_and_reported(world: World, policy, expected):
    from amosheets.sync.merge import ConflictPolicy

    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=300)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "200")
    out = world.run("sync", policy=ConflictPolicy(policy))
    [c] = out.plan.conflicts
    assert (c.sheet, c.crm, c.base) == (200, 300, 15000)
    assert world.sb.amocrm.lead(lid)["price"] == expected
    assert world.by_lead()[lid][4] == str(expected)
    assert world.run("sync").plan.empty


def test_both_sides_changed_to_the_same_value_is_no_conflict_and_sends_nothing(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=500)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "500")
    world.reset_stats()
    out = world.run("sync")
    amo, sheets = world.stats()
    assert not out.plan.conflicts and amo["mutating"] == 0 and sheets["mutating"] == 0


# -- bad rows ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cells", "column", "needle"),
    [
        ({4: "пять тысяч"}, "Сумма", "not a number"),
        ({5: "Нет такого"}, "Статус", "no such status"),
        ({6: "Нет такой"}, "Воронка", "no such pipeline"),
        ({0: "123456789"}, "lead_id", "no deal with this ID"),
    ],
)
def test_a_bad_row_is_reported_and_the_others_go_through(world: World, cells, column, needle):
    bad = ["", "Плохая", "", "", "", "", ""]
    for i, v in cells.items():
        bad[i] = v
    world.set_rows([["", "Хорошая 1", "", "", "", "", ""], bad, ["", "Хорошая 2", "", "", "", "", ""]])
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    [p] = out.problems
    assert (p.row, p.column) == (3, column) and needle in p.message
    assert out.created == 2
    names = sorted(lead["name"] for lead in world.sb.amocrm.leads())
    assert names == ["Хорошая 1", "Хорошая 2"]


def test_the_same_lead_id_on_two_rows(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.sheets.set_values(world.sid, world.tab, [[str(lid), "Копия"]], start="A3")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    assert sorted(p.row for p in out.problems) == [2, 3]
    assert all("rows 2, 3" in p.message for p in out.problems)


# -- deletions ---------------------------------------------------------------------------
def test_a_deal_deleted_in_amocrm_is_reported_and_never_made_again(world: World):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.delete_lead(lid)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "1")  # an edit that would go to amoCRM
    out = world.run("sync")
    assert any("deleted in amoCRM" in n.message for n in out.notices)
    assert out.exit_status == ExitStatus.OK and out.created == 0
    assert world.sb.amocrm.leads() == []
    out = world.run("sync")
    assert out.created == 0 and world.sb.amocrm.leads() == []
    assert world.rows()[1][1] == "Иван Петров"  # the row is kept


def test_a_row_deleted_from_the_sheet_never_deletes_the_deal(world: World):
    ids = first_sync(world, [NEW, ["", "Второй", "", "", "", "", ""]])
    world.sb.sheets.delete_rows(world.sid, world.tab, 2, 2)
    out = world.run("sync")
    assert any("removed from the sheet" in n.message for n in out.notices)
    assert sorted(lead["id"] for lead in world.sb.amocrm.leads()) == sorted(ids)
    assert len(world.rows()) == 2  # not added back
    assert not world.run("sync").notices  # said once


# -- dry run -----------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["push", "pull", "sync"])
def test_dry_run_sends_nothing_and_leaves_the_state_alone(world: World, direction):
    [lid] = first_sync(world, [NEW])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=1)
    world.sb.amocrm.create_lead("Новая")
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Новая строка"]], start="A3")
    world.sb.sheets.edit_cell(world.sid, world.tab, "B2", "Другое имя")
    store = world.store()
    before = (store.load_known(), store.cursor, store.creations(), store.runs(100))
    store.close()
    sheet_before = world.rows()
    world.reset_stats()
    out = world.run(direction, dry_run=True)
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0
    assert world.rows() == sheet_before
    store = world.store()
    assert (store.load_known(), store.cursor, store.creations(), store.runs(100)) == before
    store.close()
    p = out.plan
    assert bool(p.creates()) == (direction != "pull") and bool(p.row_appends()) == (direction != "push")


# -- request economy ---------------------------------------------------------------------
def test_idle_sync_of_2000_synced_rows_costs_1_sheets_and_3_amocrm_requests_deletions_included(world: World):
    world.sb.amocrm.seed_bulk(2000)
    world.set_rows([])
    world.run("pull", backfill=True)
    assert len(world.rows()) == 2001
    world.run("sync")
    # Cron runs five minutes apart. The first of them still re-reads the leads seeded within the
    # cursor's 60 s overlap; from the next one on, an idle run is what is measured here.
    world.sb.amocrm.clock.advance(300)
    world.run("sync")
    world.sb.amocrm.clock.advance(300)
    world.reset_stats()
    out = world.run("sync")
    amo, sheets = world.stats()
    assert out.plan.empty and out.plan.rows_read == 2000
    # The changes, the contacts' changes and the deletions; the pipelines and fields are the state's.
    assert amo["by_route"] == {"GET /api/v4/leads": 1, "GET /api/v4/contacts": 1, "GET /api/v4/events": 1}
    assert sheets["by_route"] == {"GET /v4/spreadsheets/{id}/values/{range}": 1}


def test_pushing_120_new_rows_takes_3_create_requests_and_2_sheet_writes(world: World):
    """One write puts each row's pending marker in before the creates go out; one writes the IDs."""
    world.set_rows([["", f"Клиент {i}", f"+7 {i}", "", str(i), "", ""] for i in range(120)])
    world.reset_stats()
    out = world.run("push")
    amo, sheets = world.stats()
    assert out.created == 120 and len(world.by_lead()) == 120
    assert amo["by_route"].get("POST /api/v4/leads/complex") == 3
    assert amo["mutating"] == 3
    assert sheets["mutating"] == 2


@pytest.mark.parametrize("direction", ["push", "pull", "sync"])
def test_a_sync_right_after_any_run_changes_nothing(world: World, direction):
    first_sync(world, [NEW, ["", "Пётр", "+7 1", "", "5", "", ""]])
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.create_lead("Из CRM", phone="+7 2")
    world.sb.amocrm.edit_lead(world.sb.amocrm.leads()[0]["id"], price=42)
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Новая", "", "x@y.z", "7", "", ""]], start="A4")
    world.run(direction)
    world.run("sync")  # finish whatever the one-directional run left for the other side
    world.reset_stats()
    out = world.run("sync")
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])
    assert out.plan.empty and not out.problems


def test_a_dry_run_counts_the_cells_the_run_then_writes(world: World):
    """New rows get their IDs and empty Статус/Воронка filled; a deal changed in amoCRM updates its row."""
    first_sync(world, [NEW])
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=4242)
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Пётр", "+7 1", "", "5", "", ""]], start="A3")
    dry = world.run("sync", dry_run=True)
    real = world.run("sync")
    assert real.cells_written == dry.summary()["cells_written"] == 4  # the price; Пётр's ID, Статус, Воронка
