"""The fields a sheet can sync: one ``FieldSpec`` per column kind, and how headers bind to them.

The built-ins (name, phone, e-mail, price, status, pipeline) are specs like the custom fields
the account's catalog adds (``amosheets.sync.catalog``). Every comparison in the planner is
between *canonical* values made by a spec's kind (``amosheets.sync.kinds``), so that "1 500",
"1500" and 1500.0 are one price and a run never churns over formatting.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from amosheets.i18n import _
from amosheets.sync.kinds import Cell, Kind, Price, ValueProblem, text

__all__ = ["Cell", "ValueProblem", "text"]

LEAD_ID = "lead_id"
LEAD_ID_HEADERS = ("lead_id", "id")
# The column the tool reports each row's outcome in (see ``sync.sync_column``); never a field of the deal.
SYNC = "sync"
SYNC_HEADERS = ("Синхронизация", "Sync")


class Side(str, Enum):
    """Where amoCRM keeps a field."""

    LEAD = "lead"
    CONTACT = "contact"  # the lead's main contact
    NONE = "none"  # derived, never sent (created, updated, closed, link)


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One column the tool can sync: its headers, where amoCRM keeps it, and its kind of value.

    ``key`` names it in plans, the state and messages' data: the built-ins by a word (``name``),
    custom fields as ``cf:ID`` (the lead's) or ``contact_cf:ID`` (its main contact's).
    """

    key: str
    headers: tuple[str, ...]  # the first is the original (Russian) one; the rest are aliases
    kind: Kind
    side: Side = Side.LEAD
    cf_id: int | None = None  # an amoCRM custom field's id
    # An empty cell says nothing (the tool fills it in from amoCRM) rather than "clear it".
    no_opinion_when_empty: bool = False

    @property
    def header(self) -> str:
        return self.headers[0]

    @property
    def writable(self) -> bool:
        return self.side is not Side.NONE and self.kind.writable

    def __repr__(self) -> str:
        return f"FieldSpec({self.key!r})"


class Key:
    """The keys of the built-in fields: those with rules of their own in the planner."""

    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    PRICE = "price"
    STATUS = "status"
    PIPELINE = "pipeline"
    TAGS = "tags"
    RESPONSIBLE = "responsible"
    CREATED = "created"
    UPDATED = "updated"
    CLOSED = "closed"
    LINK = "link"


BUILT_INS: tuple[FieldSpec, ...] = (
    FieldSpec(Key.NAME, ("Имя", "Name"), Kind(), no_opinion_when_empty=True),
    FieldSpec(Key.PHONE, ("Телефон", "Phone"), Kind(), Side.CONTACT),
    FieldSpec(Key.EMAIL, ("Email", "E-mail"), Kind(), Side.CONTACT),
    FieldSpec(Key.PRICE, ("Сумма", "Price", "Budget"), Price()),
    # Statuses and pipelines are read by name against the catalog (see planner.RowReader).
    FieldSpec(Key.STATUS, ("Статус", "Status"), Kind(), no_opinion_when_empty=True),
    FieldSpec(Key.PIPELINE, ("Воронка", "Pipeline"), Kind(), no_opinion_when_empty=True),
)
BUILT_IN = {s.key: s for s in BUILT_INS}
DEFAULT_HEADER_ROW = [LEAD_ID_HEADERS[0], *(s.header for s in BUILT_INS)]
CONTACT_KEYS = (Key.PHONE, Key.EMAIL)


def is_contact_key(key: str) -> bool:
    """Is this field kept on the lead's main contact (rather than on the lead)?"""
    return key in CONTACT_KEYS or key.startswith(CONTACT_CF_PREFIX)


CF_PREFIX = "cf:"
CONTACT_CF_PREFIX = "contact_cf:"


def header_of(key: str) -> str:
    """A built-in field's (or lead_id's) column name as the contract's sheet spells it; others' key."""
    spec = BUILT_IN.get(key)
    return spec.header if spec else key


@dataclass(frozen=True)
class FieldSet:
    """Every field a header may name: the built-ins first, then what the account's catalog adds."""

    specs: tuple[FieldSpec, ...] = BUILT_INS

    @cached_property
    def by_key(self) -> dict[str, FieldSpec]:
        return {s.key: s for s in self.specs}

    def get(self, key: str) -> FieldSpec | None:
        return self.by_key.get(key)

    def __getitem__(self, key: str) -> FieldSpec:
        return self.by_key[key]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {s.key: i for i, s in enumerate(self.specs)}

    def position(self, key: str) -> int:
        """Where a field comes when columns are listed: the built-ins first, a key it lacks last."""
        return self._positions.get(key, len(self._positions))

    @cached_property
    def aliases(self) -> dict[str, str | tuple[str, ...]]:
        """Header (casefolded) → the key it binds; a tuple of keys when custom fields share that name."""
        out: dict[str, str | tuple[str, ...]] = {h.casefold(): LEAD_ID for h in LEAD_ID_HEADERS}
        out.update((h.casefold(), SYNC) for h in SYNC_HEADERS)
        for spec in self.specs:
            for alias in spec.headers:
                a = alias.strip().casefold()
                held = out.get(a)
                if held is None:
                    out[a] = spec.key
                elif (
                    spec.cf_id is not None
                    and held != spec.key
                    and (isinstance(held, tuple) or ((h := self.by_key.get(held)) is not None and h.cf_id is not None))
                ):
                    # (lead_id and the sync column have no spec: like the built-ins, they win.)
                    # Two custom fields of one name: the name binds to neither (built-ins always win).
                    out[a] = (*held, spec.key) if isinstance(held, tuple) else (held, spec.key)
        return out


BUILT_IN_FIELDS = FieldSet()


class HeaderError(ValueError):
    """The header row cannot be used; the message says what to change."""


@dataclass(frozen=True)
class HeaderMap:
    """Which column (0-based) holds each field; unknown columns are listed, never written."""

    lead_id: int
    columns: dict[str, int]  # field key → column
    specs: dict[str, FieldSpec]  # field key → its spec, for the columns bound
    unknown: tuple[str, ...]
    width: int  # how many header cells row 1 has
    problems: tuple[str, ...] = ()  # headers that name two fields at once
    sync: int | None = None  # the sync column, if row 1 has one
    typed: dict[str, str] = field(default_factory=dict)  # field key (and lead_id) → its header as row 1 spells it

    def header_of(self, key: str) -> str:
        """The column's header as the user typed it (``Price``, not ``Сумма``): what messages name."""
        if key in self.typed:
            return self.typed[key]
        return LEAD_ID if key == LEAD_ID else self.specs[key].header if key in self.specs else header_of(key)


def match_headers(row: list[Cell], fields: FieldSet = BUILT_IN_FIELDS) -> HeaderMap:
    """Match row 1 trimmed and case-insensitively against the fields' names and aliases.

    The built-in names win over a custom field of the same name; a name two custom fields share
    binds to neither (``HeaderMap.problems`` says to use ``cf:ID``).
    """
    if not any(text(c) for c in row):
        raise HeaderError(
            _("Row 1 is empty: it must hold the headers, e.g. {headers} (`amosheets init`).").format(
                headers=" | ".join(DEFAULT_HEADER_ROW)
            )
        )
    aliases = fields.aliases
    seen: dict[str, list[int]] = {}
    unknown: list[str] = []
    problems: list[str] = []
    for i, cell in enumerate(row):
        t = text(cell)
        found = aliases.get(t.casefold())
        if isinstance(found, tuple):
            either = ""
            for k in found:
                cf = f"cf:{fields[k].cf_id}"
                # i18n: the custom fields' ids a header may name: "cf:1 and cf:2" (and each further: "and cf:3")
                either = _("{first} and {second}").format(first=either, second=cf) if either else cf
            problems.append(
                _(
                    "column {column} ({header!r}) names {n} custom fields of that name; head it "
                    "{ids} to say which (that column is not synced until then)"
                ).format(column=column_letter(i), header=t, n=len(found), ids=either)
            )
            continue
        if found is None:
            if t:
                unknown.append(t)
            continue
        seen.setdefault(found, []).append(i)
    dups = [(k, cols) for k, cols in seen.items() if len(cols) > 1]
    if dups:
        parts = [
            _("{header} appears in columns {columns}").format(
                header=text(row[cols[0]]), columns=", ".join(column_letter(c) for c in cols)
            )
            for k, cols in dups
        ]
        raise HeaderError(
            _("Duplicated headers: {headers}. Keep one column for each.").format(headers="; ".join(parts))
        )
    if LEAD_ID not in seen:
        raise HeaderError(
            _(
                "There is no lead_id column in row 1. "
                "Add a column headed lead_id (the tool fills it in with the deal's ID)."
            )
        )
    if not seen.keys() - {LEAD_ID, SYNC}:
        raise HeaderError(
            _("Row 1 has a lead_id column but none of the synced columns: {headers}.").format(
                headers=", ".join(s.header for s in BUILT_INS)
            )
        )
    return HeaderMap(
        lead_id=seen[LEAD_ID][0],
        columns={k: cols[0] for k, cols in seen.items() if k not in (LEAD_ID, SYNC)},
        specs={k: fields[k] for k in seen if k not in (LEAD_ID, SYNC)},
        unknown=tuple(unknown),
        width=len(row),
        problems=tuple(problems),
        sync=seen[SYNC][0] if SYNC in seen else None,
        typed={k: text(row[cols[0]]).strip() for k, cols in seen.items() if k != SYNC},
    )


def sync_header_for(header_row: Sequence[Cell], values: Sequence[Sequence[Cell]]) -> tuple[int, str]:
    """Where ``init`` adds the sync column to a tab that has a header row, and its header.

    The first column right of the headers that is empty in every row: a column without a header may
    hold someone's notes, which the tool's lines would overwrite. English headers get ``Sync``.
    """
    width = max((i + 1 for i, c in enumerate(header_row) if text(c)), default=0)
    used = {i for row in values for i, c in enumerate(row) if text(c)}
    col = next(i for i in range(width, width + len(used) + 1) if i not in used)
    english = all(text(c).isascii() for c in header_row)
    return col, SYNC_HEADERS[1] if english else SYNC_HEADERS[0]


def suggestions(header: str, fields: FieldSet, most: int = 3) -> list[str]:
    """The field names closest to a header that binds to nothing (a typo such as `Сума` or `Стаутс`)."""
    want = header.strip().casefold()
    scored: dict[str, float] = {}
    for spec in fields.specs:
        for h in spec.headers:
            ratio = difflib.SequenceMatcher(None, want, h.casefold()).ratio()
            if ratio >= SIMILAR and ratio > scored.get(spec.header, 0):
                scored[spec.header] = ratio
    return sorted(scored, key=lambda h: -scored[h])[:most]


SIMILAR = 0.75  # how alike a header and a field's name must be for "did you mean" (Сума ~ Сумма is 0.89)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    s = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


# What a run writes into a new row's lead_id cell *before* it asks amoCRM to create the deal:
# it ties the row to its creation in the journal whatever happens to the row's other cells,
# its position (sorting, inserted rows) or the run (killed, answer lost). The next run reads
# it and puts the deal's ID in its place.
PENDING_PREFIX = "pending:"
_PENDING = re.compile(r"pending:([0-9a-f]{6,40})")


def pending_marker(token: str) -> str:
    return PENDING_PREFIX + token


def parse_pending(cell: Cell) -> str | None:
    """The creation token of a lead_id cell that holds a pending marker, else None."""
    if type(cell) is not str or not cell.lstrip().startswith(PENDING_PREFIX):
        return None
    m = _PENDING.fullmatch(cell.strip())
    return m.group(1) if m else None


def parse_lead_id(cell: Cell) -> int | None:
    """The deal ID in a lead_id cell, None when empty."""
    raw = text(cell)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueProblem(_("is not a deal ID (a whole number); clear the cell to create a new deal from this row"))
    return int(raw)
