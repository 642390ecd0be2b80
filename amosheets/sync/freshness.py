"""What amoCRM holds now: which leads and contacts a run asks for, and each lead's current values
made from amoCRM's answers and what the state remembers."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from amosheets.sync.model import CrmContact, CrmLead, Known
from amosheets.sync.selection import Indexed


def leads_to_fetch(named: Iterable[int], listed: Collection[int], index: Mapping[int, Indexed]) -> set[int]:
    """The leads the sheet names that amoCRM did not list and the state has never seen (typed in by hand,
    or state lost): they are asked for by id."""
    return {
        lid
        for lid in named
        if lid not in listed and ((e := index.get(lid)) is None or (not e.has_crm and not e.deleted))
    }


def contact_owners(changed: Iterable[CrmContact]) -> set[int]:
    """The leads the changed contacts are linked to: the state's values of them are needed."""
    return {lid for c in changed for lid in c.leads}


def contacts_to_fetch(
    main_contacts: Mapping[int, int | None], in_hand: Collection[int], known: Mapping[int, Known]
) -> set[int]:
    """The contacts to ask for: a lead's main contact that is neither in hand nor the one the state holds."""
    return {
        cid
        for lid, cid in main_contacts.items()
        if cid is not None and cid not in in_hand and _held(known, lid, cid) is None
    }


def current_leads(
    leads: Mapping[int, CrmLead],
    in_hand: Collection[int],
    changed: Iterable[CrmContact],
    known: Mapping[int, Known],
) -> dict[int, CrmLead]:
    """Each lead's current values: ``leads`` as amoCRM listed them, with phones and e-mails from the
    contacts ``in_hand``, else from the state when its contact is unchanged.

    A contact edited on its own does not touch its leads' updated_at: ``changed`` contacts' values
    are carried over to the leads the state holds with them.
    """
    out: dict[int, CrmLead] = {}
    for lid, lead in leads.items():
        cid = lead.contact_id
        held = _held(known, lid, cid) if cid is not None and cid not in in_hand else None
        out[lid] = _with_contact(lead, held) if held else lead
    for c in changed:
        for lid in c.leads:
            if lid not in leads and (held := _held(known, lid, c.id)) is not None:
                out[lid] = replace(held, phones=c.phones, emails=c.emails, contact_fields=c.fields)
    return out


def _with_contact(lead: CrmLead, held: CrmLead) -> CrmLead:
    return replace(lead, phones=held.phones, emails=held.emails, contact_fields=held.contact_fields)


def _held(known: Mapping[int, Known], lead_id: int, contact_id: int | None) -> CrmLead | None:
    """The state's values of a lead, when it holds them with this contact."""
    k = known.get(lead_id)
    return k.crm if k and k.crm and k.crm.contact_id == contact_id else None


def deleted_and_restored(events: Iterable[Mapping[str, Any]]) -> tuple[set[int], set[int]]:
    """The deals whose latest lead_deleted / lead_restored event says deleted, and those it says restored.

    amoCRM stamps events to the second and lists them newest first: two in one second (deleted, then
    restored at once) are told apart by their ids, which amoCRM makes in order.
    """
    latest: dict[int, str] = {}
    for e in sorted(events, key=lambda e: (int(e.get("created_at") or 0), str(e.get("id") or ""))):
        latest[int(e["entity_id"])] = str(e["type"])
    return (
        {lid for lid, kind in latest.items() if kind == "lead_deleted"},
        {lid for lid, kind in latest.items() if kind == "lead_restored"},
    )
