"""The planner: (sheet rows, what amoCRM holds, last-synced state) → a Plan. No I/O.

Each row is read into canonical values (a row that can't be read is reported and left
alone, never stopping the others), then each of its fields is reconciled by
``amosheets.sync.merge``. Rows without a lead_id become new leads; leads of the pipeline
that no row carries become new rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amosheets.i18n import _, and_list, listing, plural
from amosheets.sync.fields import (
    BUILT_IN,
    LEAD_ID,
    Cell,
    FieldSpec,
    HeaderMap,
    Key,
    ValueProblem,
    header_of,
    parse_lead_id,
    parse_pending,
    text,
)
from amosheets.sync.kinds import Tags
from amosheets.sync.merge import ConflictPolicy, merge
from amosheets.sync.model import (
    INCOMING_STATUS_TYPE,
    Catalog,
    CrmLead,
    Known,
    Names,
    Notice,
    RowProblem,
    SheetRow,
    Status,
    Values,
)
from amosheets.sync.plan import Append, Conflict, Direction, LeadPlan, Link, Moved, NewRow, Plan

# What Sheets shows in place of a value when a formula fails (or text was taken for one).
SHEET_ERRORS = frozenset({"#ERROR!", "#NAME?", "#REF!", "#VALUE!", "#N/A", "#DIV/0!", "#NUM!", "#NULL!", "#SPILL!"})


class _RowError(Exception):
    def __init__(self, problem: RowProblem) -> None:
        self.problem = problem


def fingerprint(row: SheetRow, headers: HeaderMap) -> str:
    """What identifies a new row's content (for recognising it again on the next run)."""
    parts = [text(row.cell(headers.columns.get(k))) for k in _fingerprint_keys(headers)]
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _fingerprint_keys(headers: HeaderMap) -> list[str]:
    return [*BUILT_IN, *sorted(k for k in headers.columns if k not in BUILT_IN)]


def new_row_fingerprints(
    rows: Iterable[SheetRow], headers: HeaderMap, pending: Mapping[str, int | None] = {}
) -> dict[str, SheetRow]:
    """The rows that are new (no lead_id, or a marker of a deal never made) by fingerprint.

    Identical rows are told apart by their order.
    """
    out: dict[str, SheetRow] = {}
    seen: dict[str, int] = {}
    col = headers.lead_id
    for row in rows:
        raw = row.cells[col] if col < len(row.cells) else None
        if text(raw):
            token = parse_pending(raw)
            if token is None or pending.get(token) is not None:
                continue
        if is_blank(row, headers, with_lead_id=False):
            continue
        fp = fingerprint(row, headers)
        n = seen[fp] = seen.get(fp, 0) + 1
        out[fp if n == 1 else f"{fp}#{n}"] = row
    return out


def rows_by_lead(
    rows: Iterable[SheetRow], headers: HeaderMap, pending: Mapping[str, int | None]
) -> dict[int, SheetRow]:
    """Where each deal's row is: by the ID in its lead_id cell, or by the marker of the creation that made it."""
    out: dict[int, SheetRow] = {}
    col = headers.lead_id
    for r in rows:
        raw = r.cells[col] if col < len(r.cells) else None
        lid = lead_in(raw, pending)
        if lid is not None:
            out.setdefault(lid, r)
    return out


def lead_in(raw: Cell, pending: Mapping[str, int | None]) -> int | None:
    """The deal a lead_id cell names (an ID, or a marker whose creation made one); None otherwise."""
    if type(raw) is int:
        return raw if raw > 0 else None
    token = parse_pending(raw)
    if token is not None:
        return pending.get(token)
    t = text(raw)
    return int(t) if t.isdigit() and int(t) > 0 else None


def is_blank(row: SheetRow, headers: HeaderMap, with_lead_id: bool = True) -> bool:
    """A row whose known cells are all empty is skipped."""
    cols = [headers.lead_id, *headers.columns.values()] if with_lead_id else list(headers.columns.values())
    return not any(text(row.cell(c)) for c in cols)


def row_digest(header_sig: str, row: SheetRow, sync: int | None = None) -> str:
    """What a row's cells were when it was last found in sync (to skip it cheaply while it stays so).

    The sync column (``sync``) is left out: the tool's own report in it is not an edit.
    """
    cells = row.cells
    if sync is not None and sync < len(cells):
        cells = cells[:sync] + cells[sync + 1 :]
        # The API trims a row's empty cells at the end: without its report, the row reads as before it.
        while cells and cells[-1] in ("", None):
            cells = cells[:-1]
    return hashlib.blake2b((header_sig + repr(cells)).encode("utf-8"), digest_size=8).hexdigest()


def header_signature(header_row: Iterable[Cell]) -> str:
    return repr(tuple(header_row))


def digest_context(header_row: Iterable[Cell], catalog: Catalog) -> str:
    """What a row's digest depends on besides its cells: the headers, and the names cells show for ids.

    A status or pipeline renamed (or no longer listed) in amoCRM thus has every row looked at again.
    """
    names = sorted((p.id, p.name, tuple((s.id, s.name) for s in p.statuses)) for p in catalog.pipelines.values())
    return header_signature(header_row) + hashlib.blake2b(repr(names).encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class Triage:
    """The sheet's rows sorted out before planning: which carry which lead, which are new or unchanged."""

    by_id: dict[int, SheetRow] = field(default_factory=dict)
    duplicates: dict[int, list[SheetRow]] = field(default_factory=dict)  # leads on more than one row
    new: list[SheetRow] = field(default_factory=list)
    marked: dict[int, str] = field(default_factory=dict)  # lead → the token of the pending marker its row holds
    problems: list[RowProblem] = field(default_factory=list)
    digests: dict[int, str] = field(default_factory=dict)  # lead id → its row's digest as read
    unchanged: set[int] = field(default_factory=set)  # as last synced on both sides: nothing to plan
    sync: int | None = None  # the sync column, which a row's digest leaves out

    def to_plan(self) -> set[int]:
        """Leads whose state the planner needs."""
        return set(self.by_id) - self.unchanged


def triage(rows: Iterable[SheetRow], headers: HeaderMap, pending: Mapping[str, int | None] = {}) -> Triage:
    """Group rows by lead_id (see ``mark_unchanged`` for the rows that need no planning).

    ``pending`` maps the tokens of the journal's creations to the deal each made (None: not
    made). A row holding the marker of a made deal is that deal's row; one whose deal was
    never made is new again.
    """
    t = Triage(sync=headers.sync)
    col = headers.lead_id
    by_id = t.by_id
    for row in rows:
        cells = row.cells
        raw = cells[col] if col < len(cells) else None
        if type(raw) is int and raw > 0:
            lid: int | None = raw
        elif (token := parse_pending(raw)) is not None:
            lid = pending.get(token)
            if lid is None:
                if not is_blank(row, headers, with_lead_id=False):
                    t.new.append(row)
                continue
            t.marked.setdefault(lid, token)
        else:
            try:
                lid = parse_lead_id(raw)
            except ValueProblem as e:
                t.problems.append(RowProblem(row.number, headers.header_of(LEAD_ID), text(raw), str(e)))
                continue
        if lid is None:
            if not is_blank(row, headers):
                t.new.append(row)
            continue
        first = by_id.get(lid)
        if first is None:
            by_id[lid] = row
        else:
            t.duplicates.setdefault(lid, [first]).append(row)
    return t


def mark_unchanged(t: Triage, header_sig: str, stored: Mapping[int, str | None], fresh: Collection[int]) -> None:
    """A lead whose row is as when last found in sync, and that amoCRM did not change since, needs no plan."""
    for lid, row in t.by_id.items():
        if lid in t.duplicates:
            continue
        d = row_digest(header_sig, row, t.sync)
        t.digests[lid] = d
        if d == stored.get(lid) and lid not in fresh:
            t.unchanged.add(lid)


class RowReader:
    """Reads rows into canonical values against one header row and one catalog (lookups precomputed)."""

    def __init__(self, headers: HeaderMap, catalog: Catalog, names: Names | None = None) -> None:
        self.headers = headers
        self.catalog = catalog
        self.names = names or Names()
        self.plain = [
            (k, col, headers.specs[k]) for k, col in headers.columns.items() if k not in (Key.STATUS, Key.PIPELINE)
        ]
        # What merging each column needs, looked up once rather than once a row.
        self.merging = [(k, s, s.kind.empty, s.writable) for k, s in headers.specs.items()]
        self.status = headers.columns.get(Key.STATUS)
        self.pipeline = headers.columns.get(Key.PIPELINE)
        self.pipelines = {p.name.strip().casefold(): p for p in catalog.pipelines.values()}
        self.statuses = {
            pid: {st.name.strip().casefold(): st for st in p.statuses} for pid, p in catalog.pipelines.items()
        }

    def crm_values(self, crm: CrmLead) -> Values:
        """amoCRM's values of the sheet's columns; a field it sent nothing for holds its empty value."""
        held = crm.values()
        return {k: empty if (v := held.get(k)) is None else v for k, _spec, empty, _writable in self.merging}

    def read(self, row: SheetRow, crm: CrmLead | None) -> tuple[Values, set[str]]:
        """The row's canonical values, and which of its cells say something. Raises _RowError."""
        values, said, _restate = self.read_lead(row, crm, None)
        return values, said

    def read_lead(self, row: SheetRow, crm: CrmLead | None, base: Values | None) -> tuple[Values, set[str], set[str]]:
        """As ``read``, and which cells show an old name of what they mean (to be written again).

        A Статус or Воронка cell may name its status or pipeline as the tool last wrote it: by a
        name amoCRM has changed since, or by the id of one amoCRM no longer lists (then only when
        that is where the deal is, or was at the last sync: such an id can't be sent).
        """
        cells = row.cells
        n = len(cells)
        values: Values = {}
        said: set[str] = set()
        restate: set[str] = set()
        f: str
        col: int | None
        for f, col, spec in self.plain:
            raw = cells[col] if col < n else None
            if type(raw) is str and raw.strip() in SHEET_ERRORS:
                raise _error_cell(row, spec, raw, self.headers.header_of(f))
            try:
                v = spec.kind.read(raw)
            except ValueProblem as e:
                if spec.writable:
                    raise _RowError(RowProblem(row.number, self.headers.header_of(f), text(raw), str(e))) from None
                v = text(raw)  # never sent: it only has to differ from amoCRM's value to be written over
            if v and isinstance(spec.kind, Tags) and (crm is not None or base):
                v = spec.kind.spelled_as(v, (crm.values().get(f) if crm else None, (base or {}).get(f)))
            values[f] = v
            if not (spec.no_opinion_when_empty and spec.kind.is_empty(v)):
                said.add(f)

        base = base or {}
        pipeline_id = crm.pipeline_id if crm else self.catalog.new_deal_pipeline_id
        for f, col in ((Key.PIPELINE, self.pipeline), (Key.STATUS, self.status)):
            if col is None:
                continue
            raw = cells[col] if col < n else None
            name = raw.strip() if type(raw) is str else text(raw)
            if not name:
                continue
            held = {base.get(f), crm.values()[f] if crm else None}
            if f == Key.PIPELINE:
                value, renamed = self._pipeline(row, raw, name, held)
                pipeline_id = value
            else:
                value, renamed = self._status(row, raw, name, pipeline_id, held)
            values[f] = value
            said.add(f)
            if renamed:
                restate.add(f)
        return values, said, restate

    def _pipeline(self, row: SheetRow, raw: Cell, name: str, held: set[int | None]) -> tuple[int, bool]:
        """The pipeline a Воронка cell names, and whether by a name it no longer has."""
        p = self.pipelines.get(name.casefold())
        if p is not None:
            return p.id, False
        pid = _id_shown(self.names.pipeline(name), name)
        if pid is not None and (pid in self.catalog.pipelines or pid in held):
            return pid, pid in self.catalog.pipelines
        if name in SHEET_ERRORS:
            raise _error_cell(row, BUILT_IN[Key.PIPELINE], raw, self.headers.header_of(Key.PIPELINE))
        names = ", ".join(p.name for p in self.catalog.pipelines.values())
        message = _("there is no such pipeline in amoCRM; use one of: {names}").format(names=names)
        raise _RowError(RowProblem(row.number, self.headers.header_of(Key.PIPELINE), name, message))

    def _status(self, row: SheetRow, raw: Cell, name: str, pipeline_id: int, held: set[int | None]) -> tuple[int, bool]:
        """The status (of ``pipeline_id``) a Статус cell names, and whether by a name it no longer has."""
        st = self.statuses.get(pipeline_id, {}).get(name.casefold())
        renamed = st is None
        if st is None:
            sid = _id_shown(self.names.status(pipeline_id, name), name)
            pipeline = self.catalog.pipeline(pipeline_id)
            st = pipeline.status(sid) if pipeline is not None and sid is not None else None
            if st is None and sid is not None and sid in held:
                return sid, False
        if st is not None and st.type != INCOMING_STATUS_TYPE:
            return st.id, renamed
        if name in SHEET_ERRORS:
            raise _error_cell(row, BUILT_IN[Key.STATUS], raw, self.headers.header_of(Key.STATUS))
        raise _RowError(
            RowProblem(row.number, self.headers.header_of(Key.STATUS), name, self._status_hint(pipeline_id, st))
        )

    def _status_hint(self, pipeline_id: int, found: Status | None) -> str:
        if found is not None:
            return _(
                "amoCRM does not let a deal be put into its incoming-leads status through the API; "
                "choose the next status"
            )
        pipeline = self.catalog.pipeline(pipeline_id)
        if pipeline is None:
            return _(
                "amoCRM no longer lists the deal's pipeline ({pipeline_id}), so its statuses are unknown; "
                "move the deal to another pipeline (in amoCRM, or in the {header} column)"
            ).format(pipeline_id=pipeline_id, header=header_of(Key.PIPELINE))
        names = ", ".join(x.name for x in pipeline.statuses if x.type != INCOMING_STATUS_TYPE)
        return _("pipeline {pipeline!r} has no such status; use one of: {names}").format(
            pipeline=pipeline.name, names=names
        )


def _id_shown(by_name: int | None, shown: str) -> int | None:
    """The id a cell means: by a name it once had, or as the digits shown for one amoCRM does not list."""
    if by_name is not None:
        return by_name
    return int(shown) if shown.isascii() and shown.isdigit() else None


def _error_cell(row: SheetRow, spec: FieldSpec, raw: Cell, header: str) -> _RowError:
    message = (
        _(
            "the cell shows an error instead of a value: a phone typed as +7 … is taken by Sheets for a formula; "
            "type it with an apostrophe first ('+7 999 …) or format the column as plain text"
        )
        if spec.key == Key.PHONE
        else _(
            "the cell shows an error instead of a value: the cell holds a formula that fails; "
            "put the value itself in the cell"
        )
    )
    return _RowError(RowProblem(row.number, header, text(raw), message))


def plan(
    *,
    headers: HeaderMap,
    rows: list[SheetRow],
    catalog: Catalog,
    known: Mapping[int, Known],
    missing: Collection[int] = (),
    deleted: Collection[int] = (),
    pending: Mapping[str, int | None] = {},
    salt: str = "",
    policy: ConflictPolicy = ConflictPolicy.CRM,
    direction: Direction = Direction.BOTH,
    listed: Collection[int] | None = None,
    triaged: Triage | None = None,
    with_rows: Collection[int] | None = None,
    names: Names | None = None,
) -> Plan:
    """Decide everything one run will do. Pure: the same inputs give the same plan.

    ``known`` must hold every lead the planner needs: those of ``triaged.to_plan()``, the
    candidates for new rows, and the leads of ``with_rows`` that no row names (a row whose
    lead_id was cleared is matched to them). ``with_rows`` are the leads the state says a row
    carries (default: taken from ``known``); ``triaged`` lets unchanged rows be skipped unread.
    ``pending`` maps the journal's creation tokens to the deals they made (see ``triage``);
    ``salt`` makes this run's new tokens unlike any before. ``listed`` (pull --all) are the
    leads amoCRM listed in the pipeline in this run: the leads without a row among them, and
    no others, become new rows. ``names`` are those pipelines and statuses were shown under
    before (see ``Names``).
    """
    t = triaged if triaged is not None else triage(rows, headers, pending)
    result = Plan(
        direction=direction,
        catalog=catalog,
        columns=frozenset(headers.columns),
        headers={k: headers.header_of(k) for k in headers.specs},
        rows_read=len(rows),
    )
    result.problems.extend(t.problems)
    reader = RowReader(headers, catalog, names)
    missing_set, deleted_set = set(missing), set(deleted)
    columns = list(headers.columns)
    if with_rows is None:
        with_rows = [lid for lid, k in known.items() if k.has_row and not k.row_removed and not k.deleted]
    by_id = dict(t.by_id)
    new_rows = _relink_cleared(result, t.new, by_id, headers, reader, known, with_rows)
    result.seen.update(by_id)
    unchanged = t.unchanged
    for lid, row in by_id.items():
        if lid in unchanged:
            continue
        lid_rows = t.duplicates.get(lid)
        if lid_rows:
            numbers = ", ".join(str(r.number) for r in lid_rows)
            for r in lid_rows:
                result.problems.append(
                    RowProblem(
                        r.number,
                        "lead_id",
                        str(lid),
                        _("the same deal is on rows {numbers}; a deal has one row — delete the extra rows").format(
                            numbers=numbers
                        ),
                        lid,
                    )
                )
            result.digests[lid] = None
            continue
        k = known.get(lid)
        if k is not None and k.crm is not None and not k.deleted and k.crm.pipeline_id in catalog.elsewhere:
            moved = Moved(lid, row.number, k.crm.pipeline_id, catalog.elsewhere[k.crm.pipeline_id])
            result.moved[lid] = moved
            result.notices.append(Notice(row.number, moved.text(catalog), lid))
            # Left as it is: found unchanged by later runs until it is edited or its deal changes again.
            result.digests[lid] = t.digests.get(lid)
            continue
        if lid in t.marked:
            result.links.append(Link(lid, row.number, t.marked[lid], None))
        in_sync = _plan_lead(result, row, lid, reader, columns, known.get(lid), missing_set, deleted_set, policy)
        result.digests[lid] = t.digests.get(lid) if in_sync else None
        if in_sync:
            result.in_sync.add(lid)
    _settle_shared_contacts(result)

    _plan_new_rows(result, new_rows, headers, reader, catalog, pending, salt)
    _plan_appends(result, known, catalog, listed)
    _notice_unlisted(result, known, by_id.keys() - unchanged - deleted_set)
    # A lead_id cell that can't be read most likely still holds its deal: that row is reported, not removed.
    unreadable = {i for p in t.problems if p.column == headers.header_of(LEAD_ID) for i in _ids_in(p.value or "")}
    for lid in with_rows:
        if lid not in result.seen and lid not in unreadable:
            result.removed.add(lid)
            result.notices.append(
                Notice(
                    None,
                    _(
                        "the row of deal {lead_id} was removed from the sheet; the deal is left as it is in amoCRM "
                        "and its row is not added back (run `amosheets pull --all` to bring it back)"
                    ).format(lead_id=lid),
                    lid,
                )
            )
    return result


def _relink_cleared(
    result: Plan,
    new: list[SheetRow],
    by_id: dict[int, SheetRow],
    headers: HeaderMap,
    reader: RowReader,
    known: Mapping[int, Known],
    with_rows: Collection[int],
) -> list[SheetRow]:
    """Rows without a lead_id that hold a deal whose row has gone: that is the deal's row, its ID cleared.

    A deal qualifies when the state says a row carried it, no row names it now, and the row
    says the same as the deal (as last synced, or as amoCRM has it) in every column it fills.
    Such a row gets the deal's ID back instead of becoming a second deal. The rest are returned.
    """
    name_col = headers.columns.get(Key.NAME)
    orphans = [lid for lid in with_rows if lid not in by_id]
    if not new or not orphans or name_col is None:
        return new
    by_name: dict[str, list[Known]] = {}
    for lid in sorted(orphans):
        k = known.get(lid)
        if k is None or k.crm is None or k.deleted:
            continue
        name = (k.base or {}).get(Key.NAME, k.crm.name)
        by_name.setdefault(str(name).strip().casefold(), []).append(k)
    remaining: list[SheetRow] = []
    for row in new:
        candidates = by_name.get(text(row.cell(name_col)).casefold()) or []
        k = next((k for k in candidates if _holds(reader, row, k)), None) if text(row.cell(name_col)) else None
        if k is None:
            remaining.append(row)
            continue
        candidates.remove(k)
        by_id[k.lead_id] = row
        result.links.append(Link(k.lead_id, row.number, None, fingerprint(row, headers)))
        result.notices.append(
            Notice(
                row.number,
                _(
                    "the lead_id of row {row} was empty, but the row holds deal {lead_id} (its row "
                    "had gone from the sheet); the deal's ID is put back rather than making a second deal"
                ).format(row=row.number, lead_id=k.lead_id),
                k.lead_id,
            )
        )
    return remaining


def _holds(reader: RowReader, row: SheetRow, k: Known) -> bool:
    """Does the row show deal ``k`` in every column, as the tool last wrote it or as amoCRM has it now?

    Every column counts, empty cells too: a row the tool wrote shows the deal's status and pipeline,
    while a new row typed by a person with the same name and amount usually leaves them empty.
    """
    assert k.crm is not None
    try:
        values, said = reader.read(row, k.crm)
    except _RowError:
        return False
    crm, base = reader.crm_values(k.crm), k.base or {}
    return said == set(reader.headers.columns) and all(values[f] in (crm[f], base.get(f, crm[f])) for f in said)


def _plan_lead(
    result: Plan,
    row: SheetRow,
    lid: int,
    reader: RowReader,
    columns: list[str],
    k: Known | None,
    missing: set[int],
    deleted: set[int],
    policy: ConflictPolicy,
) -> bool:
    """Plan one lead's row; True when both sides already agree with the last sync in every column."""
    if lid in deleted or (k is not None and k.deleted):
        if k is None or not k.deleted:
            result.deleted.add(lid)
            result.notices.append(
                Notice(
                    row.number,
                    _(
                        "deal {lead_id} was deleted in amoCRM; row {row} is no longer synced and the deal is not "
                        "made again (delete the row, or clear its lead_id to create a new deal from it)"
                    ).format(lead_id=lid, row=row.number),
                    lid,
                )
            )
        else:
            result.still_deleted.add(lid)
        return False
    if lid in missing or k is None or k.crm is None:
        result.problems.append(
            RowProblem(
                row.number,
                "lead_id",
                str(lid),
                _("there is no deal with this ID in amoCRM; fix the ID, or clear the cell to create a new deal"),
                lid,
            )
        )
        return False
    crm = k.crm
    try:
        sheet_values, said, restate = reader.read_lead(row, crm, k.base)
    except _RowError as e:
        e.problem.lead_id = lid
        result.problems.append(e.problem)
        return False
    crm_values = reader.crm_values(crm)
    base = k.base or {}
    # The common case, cheaply: every column says the same on both sides as at the last sync. A deal
    # where amoCRM lists no such pipeline or status is never taken as in sync: it is noticed every run.
    if len(said) == len(columns) and not restate and reader.catalog.lists(crm.pipeline_id, crm.status_id):
        for f in columns:
            if not sheet_values[f] == crm_values[f] == base.get(f):
                break
        else:
            return True
    base = dict(base)
    final: Values = {}
    to_crm: set[str] = set()
    to_sheet: set[str] = set()
    for f, spec, empty, writable in reader.merging:
        sheet_value = sheet_values.get(f)
        o = merge(base.get(f), sheet_value, crm_values[f], policy, f in said, empty, writable)
        final[f] = o.value
        if not writable and f in said and sheet_value != crm_values[f] and sheet_value != base.get(f):
            _read_only_edit(result, row.number, lid, spec)
        if o.to_crm:
            to_crm.add(f)
        if o.to_sheet:
            to_sheet.add(f)
        if o.conflict:
            pipelines = (
                base.get(Key.PIPELINE, crm.pipeline_id),
                sheet_values.get(Key.PIPELINE, crm.pipeline_id),
                crm.pipeline_id,
            )
            result.conflicts.append(
                Conflict(lid, row.number, f, base.get(f), sheet_values.get(f), crm_values[f], policy, pipelines)
            )
    to_sheet |= restate  # a cell that shows an old name gets the current one
    # A status only means something within its pipeline: moving either moves both.
    if Key.STATUS in final and Key.PIPELINE not in columns:
        final[Key.PIPELINE] = crm.pipeline_id
    _check_status_fits(final, to_crm, crm, reader.catalog)
    result.leads.append(
        LeadPlan(
            lead_id=lid,
            row=row.number,
            contact_id=crm.contact_id,
            base=base,
            sheet=sheet_values,
            crm=crm_values,
            final=final,
            to_crm=to_crm,
            to_sheet=to_sheet,
            phones=crm.phones,
            emails=crm.emails,
        )
    )
    return False


def _read_only_edit(result: Plan, row: int, lid: int, spec: FieldSpec) -> None:
    """Someone typed into a column amoCRM's value always overwrites: say so, once (it is overwritten now)."""
    header = spec.header
    if spec.key == Key.RESPONSIBLE:
        why = _(
            "amoCRM lets only an administrator's token list users, so this column shows user ids and cannot be "
            "changed from the sheet; change the responsible user in amoCRM"
        )
        result.problems.append(RowProblem(row, header, None, why, lid))
        return
    result.notices.append(
        Notice(
            row,
            _("column {header} is read-only (amoCRM fills it in); what was typed there is replaced").format(
                header=header
            ),
            lid,
        )
    )


def _settle_shared_contacts(result: Plan) -> None:
    """Rows whose deals share one contact: each contact field goes once, and not at all when they disagree."""
    by_contact: dict[int, list[LeadPlan]] = {}
    for lp in result.leads:
        if lp.contact_id is not None and lp.contact_changes:
            by_contact.setdefault(lp.contact_id, []).append(lp)
    for lps in by_contact.values():
        for f in sorted({f for lp in lps for f in lp.contact_changes}):
            setting = [lp for lp in lps if f in lp.to_crm]
            if len(setting) < 2:
                continue
            if len({lp.final[f] for lp in setting}) == 1:
                for lp in setting[1:]:
                    lp.to_crm.discard(f)
                continue
            rows = and_list(lp.row for lp in setting)
            values = ", ".join(_("row {row} has {value!r}").format(row=lp.row, value=lp.final[f]) for lp in setting)
            problem = _shared_contact_problem(result, f, rows, values)
            for lp in setting:
                result.problems.append(RowProblem(lp.row, result.header_of(f), lp.final[f], problem, lp.lead_id))
                # amoCRM keeps its value; the base follows it, so the row's edit is tried again next run.
                lp.to_crm.discard(f)
                lp.final[f] = lp.crm[f]


def _shared_contact_problem(plan: Plan, key: str, rows: str, values: str) -> str:
    """The problem of rows sharing a contact that set it differently: ``rows`` "5 and 7", ``values`` what each has."""
    if key == Key.PHONE:
        said = _(
            "rows {rows} share one contact in amoCRM and set different phones ({values}); "
            "make them the same — neither was sent, the rows' other columns were"
        )
    elif key == Key.EMAIL:
        said = _(
            "rows {rows} share one contact in amoCRM and set different e-mails ({values}); "
            "make them the same — neither was sent, the rows' other columns were"
        )
    else:
        # i18n: {header} is a column's header; {rows} "5 and 7"; {values} what each row has
        said = _(
            "rows {rows} share one contact in amoCRM and set different values of {header} ({values}); "
            "make them the same — neither was sent, the rows' other columns were"
        )
    # The header is filled with the rest, in one go: a second .format would need {{doubled}} braces.
    return said.format(rows=rows, values=values, header=plan.header_of(key))


def _ids_in(shown: str) -> set[int]:
    """The deal ids an unreadable lead_id cell most likely means: its runs of digits, and all its digits."""
    runs = re.findall(r"\d+", shown)
    return {int(r) for r in [*runs, "".join(runs)] if r}


def _notice_unlisted(result: Plan, known: Mapping[int, Known], planned: Collection[int]) -> None:
    """One notice naming every deal whose pipeline or status amoCRM no longer lists."""
    catalog = result.catalog
    where = {
        lid: (k.crm.pipeline_id, k.crm.status_id)
        for lid in planned
        if (k := known.get(lid)) and k.crm and not k.deleted
    }
    where.update((a.lead_id, (a.values[Key.PIPELINE], a.values[Key.STATUS])) for a in result.appends)
    unlisted: dict[str, list[int]] = {}
    for lid, (pid, sid) in sorted(where.items()):
        if catalog.lists(pid, sid):
            continue
        p = catalog.pipeline(pid)
        what = (
            _("pipeline {pipeline_id}").format(pipeline_id=pid)
            if p is None
            else _("status {status_id} of pipeline {pipeline!r}").format(status_id=sid, pipeline=p.name)
        )
        unlisted.setdefault(what, []).append(lid)
    if not unlisted:
        return
    # i18n: {what} is "pipeline 5" or "status 7 of pipeline 'Sales'"; {ids} a list of deal ids
    parts = [
        plural(len(lids), "{what} (deal {ids})", "{what} (deals {ids})", what=what, ids=listing(lids, 10))
        for what, lids in unlisted.items()
    ]
    result.notices.append(
        Notice(
            None,
            _(
                "amoCRM no longer lists {what}. These deals' other columns sync; their "
                "{status} and {pipeline} cells keep the name they showed, or show the id. "
                "To end this, move the deals to a listed pipeline and status (in amoCRM, or in the sheet)"
            ).format(what="; ".join(parts), status=header_of(Key.STATUS), pipeline=header_of(Key.PIPELINE)),
        )
    )


def _check_status_fits(final: Values, to_crm: set[str], crm: CrmLead, catalog: Catalog) -> None:
    """When the pipeline goes to amoCRM, send the status with it (and a status valid in that pipeline)."""
    if Key.PIPELINE in to_crm:
        pipeline = catalog.pipelines[final[Key.PIPELINE]]
        status = final.get(Key.STATUS, crm.status_id)
        if pipeline.status(status) is None:
            final[Key.STATUS] = pipeline.first_settable_status().id
        if final.get(Key.STATUS, crm.status_id) != crm.status_id:
            to_crm.add(Key.STATUS)


def _plan_new_rows(
    result: Plan,
    rows: list[SheetRow],
    headers: HeaderMap,
    reader: RowReader,
    catalog: Catalog,
    pending: Mapping[str, int | None],
    salt: str,
) -> None:
    for fp, row in new_row_fingerprints(rows, headers, pending).items():
        try:
            values, said, restate = reader.read_lead(row, None, None)
        except _RowError as e:
            result.problems.append(e.problem)
            continue
        pipeline = catalog.pipelines[values.get(Key.PIPELINE, catalog.new_deal_pipeline_id)]
        if Key.STATUS not in values:
            if pipeline.id == catalog.new_deal_pipeline_id:
                values[Key.STATUS] = catalog.default_status_id
            else:
                values[Key.STATUS] = pipeline.first_settable_status().id
        values.setdefault(Key.PIPELINE, pipeline.id)
        values.setdefault(Key.NAME, "")
        values.setdefault(Key.PRICE, 0)
        values.setdefault(Key.PHONE, "")
        values.setdefault(Key.EMAIL, "")
        fill: set[str] = {f for f in (Key.STATUS, Key.PIPELINE, Key.NAME) if f in headers.columns and f not in said}
        if not values[Key.NAME]:
            fill.discard(Key.NAME)
        fill |= restate  # a status or pipeline typed by a name amoCRM has changed since: show the current one
        token = hashlib.sha1(f"{salt}\x1f{row.number}\x1f{fp}".encode()).hexdigest()[:16]
        result.new_rows.append(NewRow(row=row.number, fingerprint=fp, token=token, values=values, fill=fill))


def _plan_appends(
    result: Plan,
    known: Mapping[int, Known],
    catalog: Catalog,
    listed: Collection[int] | None,
) -> None:
    for lid in sorted(known):
        k = known[lid]
        if lid in result.seen or k.crm is None or k.deleted:
            continue
        if k.crm.pipeline_id not in catalog.followed:  # a deal of a pipeline the tab does not follow
            continue
        if listed is None:
            if k.has_row:
                continue
        elif lid not in listed:
            # What the state remembers is no proof the deal still exists: only amoCRM's listing is.
            result.notices.append(
                Notice(
                    None,
                    _(
                        "deal {lead_id} is known from an earlier sync, but amoCRM no longer lists it in pipeline "
                        "{pipeline!r} (deleted or moved); no row is added for it"
                    ).format(lead_id=lid, pipeline=catalog.pipeline_name(k.crm.pipeline_id)),
                    lid,
                )
            )
            continue
        result.appends.append(Append(lid, k.crm.values()))


def render(f: str, values: Values, catalog: Catalog) -> Cell:
    """A canonical value as the cell that shows it (see ``Sheet.write_cells``: text is never evaluated)."""
    v: Any = values.get(f)
    if f == LEAD_ID:
        return v
    if f == Key.STATUS:
        return catalog.status_name(values.get(Key.PIPELINE, catalog.new_deal_pipeline_id), v)
    if f == Key.PIPELINE:
        return catalog.pipeline_name(v)
    spec = catalog.fields.get(f)
    if spec is None:
        return v
    return spec.kind.cell(spec.kind.empty if v is None else v)
