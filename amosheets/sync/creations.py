"""Which deal an unanswered create request made: recognised by what was sent, never by the row.

amoCRM keeps no request id, so a create whose answer was lost (a dropped connection, a 504
after the deal was made, a killed run) can only be found again by its content. The journal
holds what was sent; the row may have been edited, sorted or moved since, and does not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from amosheets.sync.fields import Key
from amosheets.sync.model import Creation, CrmLead


@dataclass
class Made:
    """What the creates of a run came to, by creation token."""

    created: dict[str, int] = field(default_factory=dict)  # the deals amoCRM made
    refused: list[str] = field(default_factory=list)  # refused by amoCRM: their markers are cleared


def recognise(unanswered: Iterable[Creation], leads: Iterable[CrmLead]) -> dict[str, int]:
    """Token → the deal it made, for the creations among ``unanswered`` that some lead of ``leads`` matches.

    ``leads`` are deals amoCRM made since the oldest of them that the state does not know.
    Each deal answers for one creation at most; identical creations take identical deals in order.
    """
    found: dict[str, int] = {}
    free = sorted(leads, key=lambda lead: lead.id)
    for c in unanswered:
        match = next((lead for lead in free if _made_by(lead, c)), None)
        if match is not None:
            free.remove(match)
            found[c.token] = match.id
    return found


def _made_by(lead: CrmLead, c: Creation) -> bool:
    v = c.values
    return (
        lead.name.strip() == str(v.get(Key.NAME, "")).strip()
        and lead.price == v.get(Key.PRICE)
        and lead.pipeline_id == v.get(Key.PIPELINE)
        and lead.status_id == v.get(Key.STATUS)
    )
