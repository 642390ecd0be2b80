"""The planner: (sheet rows, what amoCRM holds, last-synced state) → a Plan. No I/O.

Each row is read into canonical values (a row that can't be read is reported and left
alone, never stopping the others), then each of its fields is reconciled by
``amosheets.sync.merge``. Rows without a lead_id become new leads; leads of the pipeline
that no row carries become new rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from amosheets.sync.fields import (
    LEAD_ID,
    Cell,
    Field,
    HeaderMap,
    ValueProblem,
    canonical_text,
    parse_lead_id,
    parse_price,
    text,
)
from amosheets.sync.merge import ConflictPolicy, merge
from amosheets.sync.model import (
    INCOMING_STATUS_TYPE,
    Catalog,
    Creation,
    CrmLead,
    Known,
    Notice,
    RowProblem,
    SheetRow,
    Values,
)
from amosheets.sync.plan import Append, Conflict, Direction, LeadPlan, NewRow, Plan

# What Sheets shows in place of a value when a formula fails (or text was taken for one).
SHEET_ERRORS = frozenset({"#ERROR!", "#NAME?", "#REF!", "#VALUE!", "#N/A", "#DIV/0!", "#NUM!", "#NULL!", "#SPILL!"})

# Empty cells in these columns say nothing; the tool fills them in from amoCRM.
_NO_OPINION_WHEN_EMPTY = frozenset({Field.NAME, Field.STATUS, Field.PIPELINE})


class _RowError(Exception):
    def __init__(self, problem: RowProblem) -> None:
        self.problem = problem


def fingerprint(row: SheetRow, headers: HeaderMap) -> str:
    """What identifies a new row's content (for recognising it again on the next run)."""
    parts = [text(_cell(row, headers.columns.get(f))) for f in Field]
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _cell(row: SheetRow, col: int | None) -> Cell:
    if col is None or col >= len(row.cells):
        return None
    return row.cells[col]


def is_blank(row: SheetRow, headers: HeaderMap) -> bool:
    """A row whose known cells are all empty is skipped."""
    cols = [headers.lead_id, *headers.columns.values()]
    return not any(text(_cell(row, c)) for c in cols)


def lead_ids_in(rows: Iterable[SheetRow], headers: HeaderMap) -> set[int]:
    """Every readable lead_id of the sheet (the engine fetches the ones it knows nothing of)."""
    out: set[int] = set()
    for row in rows:
        try:
            lid = parse_lead_id(_cell(row, headers.lead_id))
        except ValueProblem:
            continue
        if lid is not None:
            out.add(lid)
    return out


def needs_fetch(rows: Iterable[SheetRow], headers: HeaderMap, known: Mapping[int, Known]) -> set[int]:
    """Leads the sheet names whose amoCRM values the state does not hold."""
    return {
        lid for lid in lead_ids_in(rows, headers) if (k := known.get(lid)) is None or (k.crm is None and not k.deleted)
    }


def read_row(row: SheetRow, headers: HeaderMap, catalog: Catalog, crm: CrmLead | None) -> tuple[Values, set[Field]]:
    """The row's canonical values, and which of its cells say something. Raises _RowError."""
    values: Values = {}
    said: set[Field] = set()

    def problem(f: Field, raw: Cell, message: str) -> _RowError:
        return _RowError(RowProblem(row.number, f.header, text(raw), message))

    for f, col in headers.columns.items():
        raw = _cell(row, col)
        if text(raw) in SHEET_ERRORS:
            hint = (
                "a phone typed as +7 … is taken by Sheets for a formula; type it with an apostrophe first "
                "('+7 999 …) or format the column as plain text"
                if f is Field.PHONE
                else "the cell holds a formula that fails; put the value itself in the cell"
            )
            raise problem(f, raw, f"the cell shows an error instead of a value: {hint}")
        if f is Field.PRICE:
            try:
                values[f] = parse_price(raw)
            except ValueProblem as e:
                raise problem(f, raw, str(e)) from None
        elif f in (Field.NAME, Field.PHONE, Field.EMAIL):
            values[f] = canonical_text(raw)
        if f not in (Field.STATUS, Field.PIPELINE) and (values[f] not in ("", None) or f not in _NO_OPINION_WHEN_EMPTY):
            said.add(f)

    pipeline_id = crm.pipeline_id if crm else catalog.default_pipeline_id
    if Field.PIPELINE in headers.columns:
        raw = _cell(row, headers.columns[Field.PIPELINE])
        name = text(raw)
        if name:
            p = catalog.pipeline_named(name)
            if p is None:
                names = ", ".join(p.name for p in catalog.pipelines.values())
                raise problem(Field.PIPELINE, raw, f"there is no such pipeline in amoCRM; use one of: {names}")
            pipeline_id = p.id
            values[Field.PIPELINE] = p.id
            said.add(Field.PIPELINE)
    if Field.STATUS in headers.columns:
        raw = _cell(row, headers.columns[Field.STATUS])
        name = text(raw)
        if name:
            pipeline = catalog.pipelines[pipeline_id]
            s = pipeline.status_named(name)
            if s is None:
                names = ", ".join(s.name for s in pipeline.statuses if s.type != INCOMING_STATUS_TYPE)
                raise problem(Field.STATUS, raw, f"pipeline {pipeline.name!r} has no such status; use one of: {names}")
            if s.type == INCOMING_STATUS_TYPE:
                raise problem(
                    Field.STATUS,
                    raw,
                    "amoCRM does not let a deal be put into its incoming-leads status through the API; "
                    "choose the next status",
                )
            values[Field.STATUS] = s.id
            said.add(Field.STATUS)
    return values, said


def plan(
    *,
    headers: HeaderMap,
    rows: list[SheetRow],
    catalog: Catalog,
    known: Mapping[int, Known],
    missing: set[int] = frozenset(),  # type: ignore[assignment]
    deleted: set[int] = frozenset(),  # type: ignore[assignment]
    creations: Iterable[Creation] = (),
    policy: ConflictPolicy = ConflictPolicy.CRM,
    direction: Direction = Direction.BOTH,
    backfill: bool = False,
) -> Plan:
    """Decide everything one run will do. Pure: the same inputs give the same plan."""
    result = Plan(direction=direction, catalog=catalog, columns=frozenset(headers.columns), rows_read=len(rows))
    by_id: dict[int, list[SheetRow]] = {}
    new: list[SheetRow] = []
    for row in rows:
        if is_blank(row, headers):
            continue
        raw = _cell(row, headers.lead_id)
        try:
            lid = parse_lead_id(raw)
        except ValueProblem as e:
            result.problems.append(RowProblem(row.number, headers.header_of(LEAD_ID), text(raw), str(e)))
            continue
        if lid is None:
            new.append(row)
        else:
            by_id.setdefault(lid, []).append(row)

    for lid, lid_rows in by_id.items():
        result.seen.add(lid)
        if len(lid_rows) > 1:
            numbers = ", ".join(str(r.number) for r in lid_rows)
            for r in lid_rows:
                result.problems.append(
                    RowProblem(
                        r.number,
                        "lead_id",
                        str(lid),
                        f"the same deal is on rows {numbers}; a deal has one row — delete the extra rows",
                        lid,
                    )
                )
            continue
        _plan_lead(result, lid_rows[0], lid, headers, catalog, known.get(lid), missing, deleted, policy)

    _plan_new_rows(result, new, headers, catalog, list(creations))
    _plan_appends(result, known, catalog, backfill)
    for lid, k in known.items():
        if k.has_row and not k.row_removed and lid not in result.seen and not k.deleted:
            result.removed.add(lid)
            result.notices.append(
                Notice(
                    None,
                    f"the row of deal {lid} was removed from the sheet; the deal is left as it is in amoCRM "
                    "and its row is not added back (run `amosheets pull --all` to bring it back)",
                    lid,
                )
            )
    return result


def _plan_lead(
    result: Plan,
    row: SheetRow,
    lid: int,
    headers: HeaderMap,
    catalog: Catalog,
    k: Known | None,
    missing: set[int],
    deleted: set[int],
    policy: ConflictPolicy,
) -> None:
    if lid in deleted or (k is not None and k.deleted):
        if k is None or not k.deleted:
            result.deleted.add(lid)
            result.notices.append(
                Notice(
                    row.number,
                    f"deal {lid} was deleted in amoCRM; row {row.number} is no longer synced and the deal is not "
                    "made again (delete the row, or clear its lead_id to create a new deal from it)",
                    lid,
                )
            )
        return
    if lid in missing or k is None or k.crm is None:
        result.problems.append(
            RowProblem(
                row.number,
                "lead_id",
                str(lid),
                "there is no deal with this ID in amoCRM; fix the ID, or clear the cell to create a new deal",
                lid,
            )
        )
        return
    crm = k.crm
    try:
        sheet_values, said = read_row(row, headers, catalog, crm)
    except _RowError as e:
        e.problem.lead_id = lid
        result.problems.append(e.problem)
        return
    crm_values = crm.values()
    base = dict(k.base or {})
    final: Values = {}
    to_crm: set[Field] = set()
    to_sheet: set[Field] = set()
    for f in headers.columns:
        o = merge(f, base.get(f), sheet_values.get(f), crm_values[f], policy, sheet_has_value=f in said)
        final[f] = o.value
        if o.to_crm:
            to_crm.add(f)
        if o.to_sheet:
            to_sheet.add(f)
        if o.conflict:
            result.conflicts.append(
                Conflict(lid, row.number, f, base.get(f), sheet_values.get(f), crm_values[f], policy)
            )
    # A status only means something within its pipeline: moving either moves both.
    if Field.STATUS in final and Field.PIPELINE not in headers.columns:
        final[Field.PIPELINE] = crm.pipeline_id
    _check_status_fits(final, to_crm, crm, catalog)
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


def _check_status_fits(final: Values, to_crm: set[Field], crm: CrmLead, catalog: Catalog) -> None:
    """When the pipeline goes to amoCRM, send the status with it (and a status valid in that pipeline)."""
    if Field.PIPELINE in to_crm:
        pipeline = catalog.pipelines[final[Field.PIPELINE]]
        status = final.get(Field.STATUS, crm.status_id)
        if pipeline.status(status) is None:
            final[Field.STATUS] = pipeline.first_settable_status().id
        if final.get(Field.STATUS, crm.status_id) != crm.status_id:
            to_crm.add(Field.STATUS)


def _plan_new_rows(
    result: Plan, rows: list[SheetRow], headers: HeaderMap, catalog: Catalog, creations: list[Creation]
) -> None:
    pending = {c.fingerprint: c for c in creations}
    for row in rows:
        try:
            values, said = read_row(row, headers, catalog, None)
        except _RowError as e:
            result.problems.append(e.problem)
            continue
        pipeline = catalog.pipelines[values.get(Field.PIPELINE, catalog.default_pipeline_id)]
        if Field.STATUS not in values:
            if pipeline.id == catalog.default_pipeline_id:
                values[Field.STATUS] = catalog.default_status_id
            else:
                values[Field.STATUS] = pipeline.first_settable_status().id
        values.setdefault(Field.PIPELINE, pipeline.id)
        values.setdefault(Field.NAME, "")
        values.setdefault(Field.PRICE, 0)
        values.setdefault(Field.PHONE, "")
        values.setdefault(Field.EMAIL, "")
        fp = fingerprint(row, headers)
        fill = {f for f in (Field.STATUS, Field.PIPELINE, Field.NAME) if f in headers.columns and f not in said}
        if not values[Field.NAME]:
            fill.discard(Field.NAME)
        creation = pending.pop(fp, None)
        result.new_rows.append(
            NewRow(
                row=row.number,
                fingerprint=fp,
                values=values,
                fill=fill,
                request_id=f"row{row.number}:{fp[:12]}",
                adopt=creation.lead_id if creation else None,
            )
        )


def _plan_appends(result: Plan, known: Mapping[int, Known], catalog: Catalog, backfill: bool) -> None:
    for lid in sorted(known):
        k = known[lid]
        if lid in result.seen or k.crm is None or k.deleted:
            continue
        if k.crm.pipeline_id != catalog.default_pipeline_id:
            continue
        if k.has_row and not backfill:
            continue
        result.appends.append(Append(lid, k.crm.values()))


def render(f: Field | str, values: Values, catalog: Catalog) -> Any:
    """A canonical value as the cell that shows it (written RAW, so text is never evaluated)."""
    if f == LEAD_ID:
        return values[LEAD_ID]  # type: ignore[index]
    v = values[f]  # type: ignore[index]
    if f is Field.STATUS:
        return catalog.status_name(values.get(Field.PIPELINE, catalog.default_pipeline_id), v)
    if f is Field.PIPELINE:
        return catalog.pipeline_name(v)
    return v
