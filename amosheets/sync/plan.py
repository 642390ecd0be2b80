"""A plan: what a run will change on each side, before anything is sent.

The planner makes it; the engine carries it out (or, with --dry-run, only prints it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from amosheets.i18n import _
from amosheets.sync.fields import CONTACT_KEYS, Key, header_of, is_contact_key
from amosheets.sync.merge import ConflictPolicy
from amosheets.sync.model import Catalog, CrmLead, Notice, RowProblem, Values


class Direction(str, Enum):
    PUSH = "push"  # sheet → amoCRM
    PULL = "pull"  # amoCRM → sheet
    BOTH = "sync"

    @property
    def pushes(self) -> bool:
        return self is not Direction.PULL

    @property
    def pulls(self) -> bool:
        return self is not Direction.PUSH


@dataclass(frozen=True)
class Conflict:
    lead_id: int
    row: int
    field: str
    base: Any
    sheet: Any
    crm: Any
    winner: ConflictPolicy
    # The pipeline of the base's, the sheet's and amoCRM's value: a status is named within its pipeline.
    pipelines: tuple[int, int, int]


@dataclass
class LeadPlan:
    """One lead that has a row: the merged values and which side each field goes to."""

    lead_id: int
    row: int
    contact_id: int | None
    base: Values  # per field; a missing field was never synced
    sheet: Values  # the sheet's values as read (only the columns the sheet has)
    crm: Values
    final: Values
    to_crm: set[str]
    to_sheet: set[str]
    phones: tuple[str, ...] = ()  # the contact's full lists in amoCRM, for an update that keeps the rest
    emails: tuple[str, ...] = ()

    @property
    def lead_changes(self) -> set[str]:
        return {f for f in self.to_crm if not is_contact_key(f)}

    @property
    def contact_changes(self) -> set[str]:
        return {f for f in self.to_crm if is_contact_key(f)}

    def new_list(self, f: str) -> list[str]:
        """The contact's PHONE or EMAIL values with the first one replaced (or removed when emptied)."""
        current = list(self.phones if f == Key.PHONE else self.emails)
        value = self.final[f]
        rest = current[1:]
        return [value, *[v for v in rest if v != value]] if value else rest

    def crm_after(self, held: CrmLead, done: Collection[str]) -> CrmLead:
        """What amoCRM holds once it took ``done`` of this plan's fields, ``held`` being what it held before."""
        f = self.final
        done_lead = {k: f[k] for k in done if k in f and not is_contact_key(k)}
        done_contact = {k: f[k] for k in done if k in f and is_contact_key(k) and k not in CONTACT_KEYS}
        return replace(
            held,
            fields={**held.fields, **done_lead},
            contact_id=self.contact_id,
            phones=tuple(self.new_list(Key.PHONE)) if Key.PHONE in done else held.phones,
            emails=tuple(self.new_list(Key.EMAIL)) if Key.EMAIL in done else held.emails,
            contact_fields={**held.contact_fields, **done_contact},
        )

    def base_after(self, crm_done: Collection[str], sheet_done: bool) -> Values:
        """The base once this plan's writes have been carried out: ``crm_done``, the fields amoCRM
        took; ``sheet_done``, whether the sheet's cells were written. A field moves only once both
        sides hold its merged value."""
        out = dict(self.base)
        for f, v in self.final.items():
            if (f in self.to_crm and f not in crm_done) or (f in self.to_sheet and not sheet_done):
                continue
            out[f] = v
        return out


@dataclass
class NewRow:
    """A row with an empty lead_id (or a marker whose deal was never made): it becomes a deal."""

    row: int
    fingerprint: str  # its content as read, to find it again when the marker is written
    token: str  # what its marker will say, and the creation's key in the journal
    values: Values  # the new deal's values, defaults filled in
    fill: set[str]  # cells to write once the deal exists: empty ones (status, pipeline), old names restated


@dataclass(frozen=True)
class Link:
    """A row that carries a deal without its ID: the ID goes into its lead_id cell."""

    lead_id: int
    row: int
    token: str | None  # the row holds this pending marker (a creation that finished in amoCRM)
    fingerprint: str | None  # or its lead_id was cleared and its content is the deal's: found again by content


@dataclass
class Append:
    """A lead of the pipeline that no row carries yet: it becomes a new row."""

    lead_id: int
    values: Values


@dataclass(frozen=True)
class Moved:
    """A row whose deal moved to a pipeline another pair follows: that pair's tab has it now, this row
    stays as it is and is no longer synced (the tool never deletes a row)."""

    lead_id: int
    row: int
    pipeline_id: int
    where: str  # "tab «…» (pair «…»)"

    def text(self, catalog: Catalog) -> str:
        return _(
            "deal {lead_id} was moved in amoCRM to pipeline «{pipeline}»: "
            "it is on {where} now; this row is no longer synced"
        ).format(lead_id=self.lead_id, pipeline=catalog.pipeline_name(self.pipeline_id), where=self.where)


@dataclass
class Plan:
    direction: Direction
    catalog: Catalog
    columns: frozenset[str]
    headers: dict[str, str] = field(default_factory=dict)  # field key → the header of its column
    leads: list[LeadPlan] = field(default_factory=list)
    new_rows: list[NewRow] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)  # leads a row carries
    in_sync: set[int] = field(default_factory=set)  # leads whose row was looked at and found as amoCRM has it
    moved: dict[int, Moved] = field(default_factory=dict)  # by lead: rows left to another pair's tab
    removed: set[int] = field(default_factory=set)  # leads whose row has newly gone
    deleted: set[int] = field(default_factory=set)  # leads newly found deleted in amoCRM
    still_deleted: set[int] = field(default_factory=set)  # found so by an earlier run: their rows go on saying it
    # Row digests to remember: a lead found in sync gets its row's digest, any other planned lead None.
    digests: dict[int, str | None] = field(default_factory=dict)
    rows_read: int = 0

    def header_of(self, key: str) -> str:
        return self.headers.get(key) or header_of(key)

    # -- what the engine sends, filtered by direction --------------------------------
    def lead_updates(self) -> list[LeadPlan]:
        return [lp for lp in self.leads if lp.lead_changes] if self.direction.pushes else []

    def contact_updates(self) -> list[LeadPlan]:
        return [lp for lp in self.leads if lp.contact_changes] if self.direction.pushes else []

    def cell_updates(self) -> list[LeadPlan]:
        return [lp for lp in self.leads if lp.to_sheet] if self.direction.pulls else []

    def creates(self) -> list[NewRow]:
        return self.new_rows if self.direction.pushes else []

    def row_appends(self) -> list[Append]:
        return self.appends if self.direction.pulls else []

    def cells_to_write(self) -> int:
        """How many cells of rows the sheet has a run writes if all goes well: what a dry run reports."""
        ids = len(self.links) + len(self.creates())
        fills = sum(len(n.fill & self.columns) for n in self.creates())
        return ids + fills + sum(len(lp.to_sheet & self.columns) for lp in self.cell_updates())

    @property
    def changes_crm(self) -> bool:
        return bool(self.lead_updates() or self.contact_updates() or self.creates())

    @property
    def changes_sheet(self) -> bool:
        return bool(self.cell_updates() or self.row_appends() or self.creates() or self.links)

    @property
    def empty(self) -> bool:
        return not (self.changes_crm or self.changes_sheet)
