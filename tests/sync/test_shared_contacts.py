"""The planner when two rows' deals share one contact."""

from __future__ import annotations

from amosheets.sync.fields import Key

from .factories import lead, row, synced
from .test_planner import make


def rows(phone_a: str, phone_b: str, price_b: str = "1000"):
    return [
        row(2, "11", "Иван", phone_a, "", "1000", "Первичный контакт", "Воронка"),
        row(3, "12", "Иван", phone_b, "", price_b, "Первичный контакт", "Воронка"),
    ]


KNOWN = {11: synced(lead(11, contact=5)), 12: synced(lead(12, contact=5))}


def test_different_values_for_one_contact_field_send_neither_and_report_both_rows():
    p = make(rows("+7 111", "+7 222", price_b="2000"), KNOWN)
    assert not p.contact_updates()
    assert [lp.lead_id for lp in p.lead_updates()] == [12]  # the other column still goes
    assert [(x.row, x.column, x.value) for x in p.problems] == [(2, "Телефон", "+7 111"), (3, "Телефон", "+7 222")]
    assert all("rows 2 and 3 share one contact" in x.message for x in p.problems)


def test_the_same_value_from_both_rows_is_sent_once():
    p = make(rows("+7 111", "+7 111"), KNOWN)
    [lp] = p.contact_updates()
    assert lp.contact_changes == {Key.PHONE} and lp.final[Key.PHONE] == "+7 111"
    assert not p.problems


def test_a_row_that_keeps_the_contacts_value_does_not_clash_with_one_that_changes_it():
    p = make(rows("+7 111", "+7 999"), KNOWN)
    [lp] = p.contact_updates()
    assert lp.lead_id == 11 and not p.problems
