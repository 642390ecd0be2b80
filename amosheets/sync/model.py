"""The data the planner reasons about: plain values, no I/O.

A lead's values are held *canonically*: name, phone and e-mail as trimmed text, price as
an int, status and pipeline as amoCRM ids. The sheet's text is turned into these by
``amosheets.sync.fields`` and the ``Catalog``; CRM data by the amoCRM adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from amosheets.i18n import _
from amosheets.sync.fields import BUILT_IN, BUILT_IN_FIELDS, Cell, FieldSet, Key

Values = dict[str, Any]  # field key → canonical value

INCOMING_STATUS_TYPE = 1  # "Неразобранное": the leads API cannot put a lead there
WON, LOST = 142, 143


@dataclass(frozen=True)
class Status:
    id: int
    name: str
    sort: int = 0
    type: int = 0


@dataclass(frozen=True)
class Pipeline:
    id: int
    name: str
    is_main: bool
    statuses: tuple[Status, ...]

    def status(self, status_id: int) -> Status | None:
        return next((s for s in self.statuses if s.id == status_id), None)

    def first_settable_status(self) -> Status:
        settable = sorted((s for s in self.statuses if s.type != INCOMING_STATUS_TYPE), key=lambda s: s.sort)
        open_ = [s for s in settable if s.id not in (WON, LOST)]
        return (open_ or settable)[0]


@dataclass(frozen=True)
class Catalog:
    """The account's pipelines, the defaults for new deals, the pipelines followed, and the fields
    a header may name.

    Where new deals go and which pipelines the sheet follows are two settings: a pair follows the
    one pipeline its new deals go to, or every pipeline (``pipeline = "*"``: a row's Воронка cell
    then says where its new deal goes).
    """

    pipelines: dict[int, Pipeline]
    new_deal_pipeline_id: int  # where a row's new deal goes when the row names no pipeline
    default_status_id: int  # … and its status there, when the row names none
    fields: FieldSet = BUILT_IN_FIELDS
    followed: frozenset[int] = frozenset()  # the pipelines whose deals the tab holds; empty: the new deals' one
    # The pipelines other pairs of the account follow → where their deals are kept ("tab «…» (pair «…»)"):
    # a row whose deal moved into one of them is left as it is there.
    elsewhere: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.followed:  # never empty once made: every reader takes it as it is
            object.__setattr__(self, "followed", frozenset({self.new_deal_pipeline_id}))

    def pipeline(self, pipeline_id: int) -> Pipeline | None:
        return self.pipelines.get(pipeline_id)

    def pipeline_name(self, pipeline_id: int) -> str:
        p = self.pipelines.get(pipeline_id)
        return p.name if p else str(pipeline_id)

    def status_name(self, pipeline_id: int, status_id: int) -> str:
        p = self.pipelines.get(pipeline_id)
        s = p.status(status_id) if p else None
        return s.name if s else str(status_id)

    def show(self, key: str, value: Any, values: Mapping[str, Any] | None = None) -> str:
        """A field's value as a person reads it (ids as names); ``values`` gives a status its pipeline."""
        if value is None:
            return "—"
        if key == Key.STATUS:
            # A status with no pipeline beside it is a new row's: in the pipeline new deals go to.
            return self.status_name((values or {}).get(Key.PIPELINE, self.new_deal_pipeline_id), value)
        if key == Key.PIPELINE:
            return self.pipeline_name(value)
        spec = self.fields.get(key)
        if spec is not None and key not in BUILT_IN:
            return spec.kind.show(value)
        return str(value) if value != "" else "∅"

    def lists(self, pipeline_id: int, status_id: int) -> bool:
        """Does amoCRM list this pipeline, and this status in it? (A deal may be where it no longer does.)"""
        p = self.pipelines.get(pipeline_id)
        return p is not None and p.status(status_id) is not None


def _name_key(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True)
class Names:
    """Every name the tool has seen pipelines and statuses under (trimmed, casefolded) → the id.

    A cell goes on showing the name it was written with after the status or pipeline is renamed
    in amoCRM, or is no longer listed: these say which one it still means.
    """

    pipelines: Mapping[str, int] = field(default_factory=dict)
    statuses: Mapping[int, Mapping[str, int]] = field(default_factory=dict)  # by pipeline id

    def pipeline(self, name: str) -> int | None:
        return self.pipelines.get(_name_key(name))

    def status(self, pipeline_id: int, name: str) -> int | None:
        return self.statuses.get(pipeline_id, {}).get(_name_key(name))

    def with_catalog(self, catalog: Catalog) -> Names:
        """These names and the catalog's; a name another id has taken since means that id now."""
        pipelines = {**self.pipelines, **{_name_key(p.name): p.id for p in catalog.pipelines.values()}}
        statuses = {pid: dict(names) for pid, names in self.statuses.items()}
        for p in catalog.pipelines.values():
            statuses.setdefault(p.id, {}).update({_name_key(s.name): s.id for s in p.statuses})
        return Names(pipelines, statuses)


@dataclass(frozen=True)
class CrmLead:
    """A lead as amoCRM holds it: its fields' canonical values, and its main contact's.

    ``fields`` holds the lead's own fields by key (name, price, status, pipeline, its custom
    fields, tags, …); ``contact_fields`` the main contact's custom fields. The contact's phone
    and e-mail are its whole lists, ``phones`` and ``emails``: a row shows the first of each.
    """

    id: int
    fields: Mapping[str, Any]
    updated_at: int = 0
    contact_id: int | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    contact_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.fields.get(Key.NAME, ""))

    @property
    def price(self) -> int:
        return int(self.fields.get(Key.PRICE, 0))

    @property
    def status_id(self) -> int:
        return int(self.fields[Key.STATUS])

    @property
    def pipeline_id(self) -> int:
        return int(self.fields[Key.PIPELINE])

    def values(self) -> Values:
        """Its values in the planner's terms (computed once; do not modify the dict)."""
        return self._values

    @cached_property
    def _values(self) -> Values:
        return {
            **self.fields,
            Key.PHONE: self.phones[0] if self.phones else "",
            Key.EMAIL: self.emails[0] if self.emails else "",
            **self.contact_fields,
        }

    @classmethod
    def of(
        cls,
        id: int,
        name: str,
        price: int,
        status_id: int,
        pipeline_id: int,
        updated_at: int = 0,
        contact_id: int | None = None,
        phones: tuple[str, ...] = (),
        emails: tuple[str, ...] = (),
        **more: Any,
    ) -> CrmLead:
        """A lead from its built-in fields (and ``more`` fields by key)."""
        fields = {Key.NAME: name, Key.PRICE: price, Key.STATUS: status_id, Key.PIPELINE: pipeline_id, **more}
        return cls(id, fields, updated_at, contact_id, phones, emails)

    def value(self, key: str, fields: FieldSet) -> Any:
        """One field's value; a field amoCRM sent nothing for holds its kind's empty value."""
        v = self.values().get(key)
        if v is None and key in fields.by_key:
            return fields[key].kind.empty
        return v


@dataclass(frozen=True)
class CrmContact:
    """A contact as amoCRM holds it: its phones and e-mails, its custom fields, and the leads it is linked to."""

    id: int
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    leads: tuple[int, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Known:
    """What the state remembers of one lead."""

    lead_id: int
    crm: CrmLead | None = None  # its values in amoCRM as last seen
    base: Values | None = None  # the values both sides held at the last sync; None: never synced
    has_row: bool = False  # a row of the sheet has carried it
    row_removed: bool = False  # that row has since been removed (reported once)
    deleted: bool = False  # deleted in amoCRM (reported once)
    row_digest: str | None = None  # the row's cells as last synced, to skip unchanged rows quickly


@dataclass(frozen=True)
class SheetRow:
    number: int  # 1-based, as the sheet shows it
    cells: tuple[Cell, ...]

    def cell(self, col: int | None) -> Cell:
        """The cell in column ``col`` (0-based); None past the row's end (Sheets trims empty cells) or for no column."""
        return None if col is None or col >= len(self.cells) else self.cells[col]


@dataclass(frozen=True)
class Creation:
    """A deal the tool asked amoCRM to create, as the journal remembers it.

    The row is tied to it by ``token`` (the pending marker written into its lead_id cell
    before the request was sent); the deal is recognised by ``values``, what was sent.
    """

    token: str
    lead_id: int | None  # None: the request went out (or was about to) and no answer came back
    created_at: int  # amoCRM's clock when it was sent
    values: Values  # what was sent: name, phone, email, price, status, pipeline
    finished: bool = False  # the deal's ID reached its row (kept a while: an undo can bring the marker back)


@dataclass
class RowProblem:
    """A row that could not be synced: what is wrong and how to fix it."""

    row: int
    column: str | None
    value: str | None
    message: str
    lead_id: int | None = None

    def __str__(self) -> str:
        if self.value not in (None, ""):
            if self.column:
                return _("row {row}, column {column} ({value!r}): {message}").format(
                    row=self.row, column=self.column, value=self.value, message=self.message
                )
            return _("row {row} ({value!r}): {message}").format(row=self.row, value=self.value, message=self.message)
        if self.column:
            return _("row {row}, column {column}: {message}").format(
                row=self.row, column=self.column, message=self.message
            )
        return _("row {row}: {message}").format(row=self.row, message=self.message)


@dataclass
class Notice:
    row: int | None
    message: str
    lead_id: int | None = None


__all__ = [
    "Catalog",
    "Creation",
    "CrmLead",
    "Known",
    "Names",
    "Notice",
    "Pipeline",
    "RowProblem",
    "SheetRow",
    "Status",
    "Values",
]
