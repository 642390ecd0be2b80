"""LeadPlan's rules for what each side holds once the writes are done."""

from __future__ import annotations

from amosheets.sync.fields import Key
from amosheets.sync.plan import LeadPlan
from tests.sync.factories import TALKS, lead


def _plan() -> LeadPlan:
    held = lead(5, name="Иван", price=1000, phones=("+7 999", "+7 111"), contact=None)
    final = {**held.values(), Key.NAME: "Пётр", Key.PRICE: 2000, Key.STATUS: TALKS, Key.PHONE: "+7 555"}
    return LeadPlan(
        5,
        2,
        9,
        held.values(),
        final,
        held.values(),
        final,
        {Key.NAME, Key.PRICE, Key.STATUS, Key.PHONE},
        set(),
        phones=held.phones,
    )


def test_crm_after_takes_only_the_fields_amocrm_took() -> None:
    held = lead(5, name="Иван", price=1000, phones=("+7 999", "+7 111"), contact=None)
    after = _plan().crm_after(held, {Key.NAME, Key.PHONE})
    assert (after.name, after.price, after.status_id) == ("Пётр", 1000, held.status_id)
    assert after.phones == ("+7 555", "+7 111")  # the first phone replaced, the rest kept
    assert after.contact_id == 9  # the contact the plan ended with (made or linked this run)


def test_crm_after_nothing_done_keeps_the_values() -> None:
    held = lead(5, name="Иван", price=1000, phones=("+7 999", "+7 111"), contact=None)
    after = _plan().crm_after(held, set())
    assert after.values() == held.values()
