"""Which leads a run looks at beyond the rows it read: chosen from the state's index and the creation journal."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from amosheets.sync.model import Creation, CrmLead, Known, Values
from amosheets.sync.planner import Triage


class Indexed(Protocol):
    """What the state's index says of one lead."""

    @property
    def has_row(self) -> bool: ...
    @property
    def row_removed(self) -> bool: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def has_crm(self) -> bool: ...
    @property
    def crm_pipeline(self) -> int | None: ...


@dataclass(frozen=True)
class Selection:
    candidates: set[int]  # deals of the pipeline that may get a row appended
    adopted: set[int]  # deals made for a row by an unfinished creation the state did not know yet
    with_rows: list[int]  # deals a row carries (or, adopted, is about to)
    orphans: set[int]  # deals whose row has gone: a row whose lead_id was cleared is matched against them


def select(
    index: Mapping[int, Indexed],
    unfinished: Iterable[Creation],
    rows: Triage,
    followed: Collection[int],
    backfill: bool,
) -> Selection:
    """``backfill`` (pull --all): every deal of the followed pipelines is a candidate, not only those no
    row has carried."""
    candidates = {
        lid
        for lid, e in index.items()
        if e.has_crm and not e.deleted and (backfill or not e.has_row) and e.crm_pipeline in followed
    }
    adopted = {c.lead_id for c in unfinished if c.lead_id is not None and c.lead_id not in index}
    with_rows = [lid for lid, e in index.items() if e.has_row and not e.row_removed and not e.deleted]
    with_rows += sorted(adopted)
    orphans = set(with_rows) - rows.by_id.keys() if rows.new else set()
    return Selection(candidates, adopted, with_rows, orphans)


def known_now(
    stored: Mapping[int, Known], fresh: Mapping[int, CrmLead], unfinished: Iterable[Creation]
) -> tuple[dict[int, Known], dict[int, Values]]:
    """The leads as amoCRM holds them now, and the bases of the deals made for rows that had none.

    A deal made for a row was last synced as what was sent (also when its answer was lost).
    """
    known = dict(stored)
    for lead in fresh.values():
        k = known.get(lead.id)
        known[lead.id] = replace(k, crm=lead, deleted=False) if k else Known(lead.id, crm=lead)
    bases = {c.lead_id: dict(c.values) for c in unfinished if c.lead_id in known and known[c.lead_id].base is None}
    for lid, base in bases.items():
        known[lid] = replace(known[lid], base=base, has_row=True)
    return known, bases
