"""Deals that share one contact in amoCRM, each on its own row."""

from __future__ import annotations

from amosheets.errors import ExitStatus

from .conftest import World


def phones(w: World, contact_id: int) -> list[str]:
    return [
        v["value"]
        for f in w.sb.amocrm.contact(contact_id)["custom_fields_values"] or []
        if f["field_code"] == "PHONE"
        for v in f["values"]
    ]


def two_rows_one_contact(w: World) -> int:
    """Rows 2 and 3 hold two deals whose main contact is one; returns the contact's id."""
    first = w.sb.amocrm.create_lead("Первая", price=100, phone="+7 000")["id"]
    contact = w.sb.amocrm.main_contact_of(first)["id"]
    second = w.sb.amocrm.create_lead("Вторая", price=200, with_contact=False)["id"]
    w.sb.amocrm.link(second, contact, is_main=True)
    assert w.run("pull", backfill=True).exit_status == ExitStatus.OK
    assert [int(r[0]) for r in w.rows()[1:]] == [first, second]
    return contact


def test_rows_that_set_different_values_on_one_contact_are_a_problem_and_neither_is_sent(world: World):
    contact = two_rows_one_contact(world)
    for a1, typed in (("C2", "'+7 111"), ("E2", "150"), ("C3", "'+7 222"), ("E3", "250")):
        world.sb.sheets.edit_cell(world.sid, world.tab, a1, typed)
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL
    assert sorted((p.row, p.column) for p in out.problems) == [(2, "Телефон"), (3, "Телефон")]
    for p in out.problems:
        assert "rows 2 and 3 share one contact" in p.message
        assert "'+7 111'" in p.message and "'+7 222'" in p.message
    assert phones(world, contact) == ["+7 000"]
    assert sorted(lead["price"] for lead in world.sb.amocrm.leads()) == [150, 250]  # the rest went through
    assert [r[2] for r in world.rows()[1:]] == ["+7 111", "+7 222"]  # the sheet keeps both edits

    world.sb.sheets.edit_cell(world.sid, world.tab, "C3", "'+7 111")  # made the same: it goes, once
    world.reset_stats()
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    assert phones(world, contact) == ["+7 111"] and out.contacts_updated == 1
