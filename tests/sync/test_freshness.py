"""Which leads and contacts a run asks amoCRM for, and each lead's current values."""

from __future__ import annotations

from dataclasses import dataclass

from amosheets.sync.freshness import (
    contact_owners,
    contacts_to_fetch,
    current_leads,
    deleted_and_restored,
    leads_to_fetch,
)
from amosheets.sync.model import CrmContact, Known

from .factories import lead


@dataclass
class Entry:
    has_crm: bool = True
    deleted: bool = False
    has_row: bool = True
    row_removed: bool = False
    crm_pipeline: int | None = None


def test_leads_named_by_the_sheet_and_unseen_are_fetched() -> None:
    index = {1: Entry(), 2: Entry(has_crm=False), 3: Entry(has_crm=False, deleted=True)}
    assert leads_to_fetch([1, 2, 3, 4, 5], listed={5}, index=index) == {2, 4}


def test_a_contact_is_fetched_unless_in_hand_or_held_by_the_state() -> None:
    known = {1: Known(1, crm=lead(1, contact=10)), 2: Known(2, crm=lead(2, contact=10))}
    mains = {1: 10, 2: 20, 3: 30, 4: None}
    assert contacts_to_fetch(mains, in_hand={30}, known=known) == {20}


def test_a_lead_keeps_the_states_phones_when_its_contact_is_unchanged() -> None:
    known = {1: Known(1, crm=lead(1, phones=("+7 111",), contact=10))}
    listed = {1: lead(1, name="new", phones=(), contact=10), 2: lead(2, phones=("+7 222",), contact=20)}
    fresh = current_leads(listed, in_hand={20}, changed=[], known=known)
    assert fresh[1] == lead(1, name="new", phones=("+7 111",), contact=10)
    assert fresh[2] == listed[2]


def test_a_contact_edited_on_its_own_carries_over_to_the_leads_the_state_holds_with_it() -> None:
    known = {1: Known(1, crm=lead(1, contact=10)), 2: Known(2, crm=lead(2, contact=99))}
    changed = [CrmContact(10, ("+7 555",), ("a@b.c",), (1, 2, 3))]
    assert contact_owners(changed) == {1, 2, 3}
    fresh = current_leads({}, in_hand={10}, changed=changed, known=known)
    assert fresh == {1: lead(1, phones=("+7 555",), emails=("a@b.c",), contact=10)}  # 2 is held with another


def event(kind: str, lead_id: int, at: int, eid: str) -> dict[str, object]:
    return {"id": eid, "type": f"lead_{kind}", "entity_id": lead_id, "entity_type": "lead", "created_at": at}


def test_a_deals_latest_event_says_whether_it_is_deleted_or_restored_also_within_one_second():
    # Listed newest first, as amoCRM lists them; in one second the ids tell the order.
    events = [
        event("restored", 1, 100, "01b"),
        event("deleted", 1, 100, "01a"),
        event("deleted", 2, 100, "01d"),
        event("restored", 2, 100, "01c"),
        event("deleted", 3, 90, "019"),
        event("restored", 4, 101, "01e"),
        event("deleted", 4, 50, "010"),
    ]
    assert deleted_and_restored(events) == ({2, 3}, {1, 4})
    assert deleted_and_restored([]) == (set(), set())
