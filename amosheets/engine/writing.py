"""Carrying a plan out: creating deals, updating leads and contacts, writing the sheet, and recording each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amosheets.amocrm.client import AmoClient
from amosheets.amocrm.mapping import complex_item, contact_custom_fields, lead_patch
from amosheets.i18n import _, heard
from amosheets.state import StateStore
from amosheets.sync.creations import Made
from amosheets.sync.fields import CONTACT_KEYS, FieldSet, Key, is_contact_key, text
from amosheets.sync.model import Creation, CrmLead, Known, Notice, RowProblem
from amosheets.sync.placement import Placement, markers, place, place_lines, touches_sheet
from amosheets.sync.plan import LeadPlan, NewRow, Plan
from amosheets.sync.planner import rows_by_lead
from amosheets.sync.sync_column import Lines, Ran, lines
from amosheets.sync.tab import SheetData

if TYPE_CHECKING:
    from amosheets.engine.run import Outcome
    from amosheets.sheet import Sheet

Reread = Callable[[], SheetData]  # the sheet read again, as it is now


def create(
    amo: AmoClient,
    sheet: Sheet,
    reread: Reread,
    store: StateStore,
    plan: Plan,
    out: Outcome,
    pending: dict[str, int | None],
) -> Made:
    """Create the new rows' deals.

    The order makes an interrupted run harmless: the journal first, then each row's marker,
    then the request. Whatever happens after that, the next run finds the row by its marker
    and the deal by what the journal says was sent; nothing is made twice.
    """
    made = Made()
    todo = plan.creates()
    if not todo:
        return made
    now = amo.server_time or int(time.time())
    with store.transaction():
        store.begin_creations(Creation(n.token, None, now, n.values) for n in todo)
    marked = _write_markers(sheet, reread, todo, pending)
    with store.transaction():
        got = {n.token for n in marked}
        store.forget_creations(n.token for n in todo if n.token not in got)
    if not marked:
        return made
    created = made.created
    lock = threading.Lock()

    def record(answers: dict[int, Any]) -> None:
        # Runs on the client's threads as each request's answer arrives.
        new_leads = [_made_lead(marked[i], answer, now, plan.catalog.fields) for i, answer in answers.items()]
        with lock, store.transaction():
            store.created((marked[i].token, lead.id) for i, lead in zip(answers, new_leads, strict=True))
            store.save_crm(new_leads)
            store.save_base((lead.id, lead.values()) for lead in new_leads)
            store.set_flag("has_row", [lead.id for lead in new_leads])
            created.update((marked[i].token, lead.id) for i, lead in zip(answers, new_leads, strict=True))
            out.created = len(created)

    fields = plan.catalog.fields
    result = amo.create_leads_complex([complex_item(n.values, n.token, fields) for n in marked], on_ok=record)
    made.refused = [marked[i].token for i in result.failed]
    with store.transaction():
        store.forget_creations(made.refused)
    for i, message in result.failed.items():
        out.problems.append(
            RowProblem(
                marked[i].row, None, None, _("amoCRM did not create the deal: {message}").format(message=message)
            )
        )
    out.uncertain += len(result.uncertain)
    for i in result.uncertain:
        out.notices.append(
            Notice(
                marked[i].row,
                _(
                    "amoCRM's answer to creating this deal was lost; the next run checks whether "
                    "it was made before trying again"
                ),
            )
        )
    return made


def _write_markers(sheet: Sheet, reread: Reread, todo: list[NewRow], pending: dict[str, int | None]) -> list[NewRow]:
    """Write each new row's pending marker into its lead_id cell; the rows that got one.

    The rows are found again first (people sort and insert while a run works); a row that
    changed since it was read is left for the next run.
    """
    writes, marked = markers(todo, reread(), pending)
    if writes:
        sheet.write_cells(writes)
    return marked


@dataclass
class Sent:
    """What amoCRM took: per lead, the fields it now holds; and the deals found deleted on the way."""

    done: dict[int, set[str]] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)


def update_crm(amo: AmoClient, store: StateStore, plan: Plan, out: Outcome, known: dict[int, Known]) -> Sent:
    """PATCH leads and contacts; what amoCRM took."""
    done: dict[int, set[str]] = {}
    gone_ids: set[int] = set()  # deals found deleted: nothing more is sent or remembered for them
    leads = plan.lead_updates()
    if leads:
        fields = plan.catalog.fields
        result = amo.update_leads([lead_patch(lp.lead_id, lp.final, lp.lead_changes, fields) for lp in leads])
        gone: list[LeadPlan] = []
        for i in result.ok:
            done.setdefault(leads[i].lead_id, set()).update(leads[i].lead_changes)
        for i, message in result.failed.items():
            if message.startswith("id:"):
                gone.append(leads[i])
            else:
                out.problems.append(
                    RowProblem(
                        leads[i].row,
                        None,
                        None,
                        _("amoCRM refused the change: {message}").format(message=message),
                        leads[i].lead_id,
                    )
                )
        if gone:
            _note_gone(amo, store, gone, out)
            gone_ids.update(lp.lead_id for lp in gone)
        out.leads_updated = len(result.ok)

    contacts = [lp for lp in plan.contact_updates() if lp.lead_id not in gone_ids]
    # A contact outlives its deal: before changing it, make sure the deal still exists (a PATCH of
    # the deal in this run proves it), or a deal deleted in amoCRM would never be noticed.
    unproven = [lp for lp in contacts if lp.lead_id not in done]
    if unproven:
        alive = {int(lead["id"]) for lead in amo.leads_by_ids([lp.lead_id for lp in unproven])}
        if gone := [lp for lp in unproven if lp.lead_id not in alive]:
            _note_gone(amo, store, gone, out)
            gone_ids.update(lp.lead_id for lp in gone)
        contacts = [lp for lp in contacts if lp.lead_id not in gone_ids]
    with_contact = [lp for lp in contacts if lp.contact_id is not None]
    without = [lp for lp in contacts if lp.contact_id is None]
    if with_contact:
        result = amo.update_contacts([_contact_patch(lp, plan.catalog.fields) for lp in with_contact])
        for i in result.ok:
            done.setdefault(with_contact[i].lead_id, set()).update(with_contact[i].contact_changes)
        for i, message in result.failed.items():
            lp = with_contact[i]
            out.problems.append(
                RowProblem(
                    lp.row, None, None, _("amoCRM refused the contact: {message}").format(message=message), lp.lead_id
                )
            )
        out.contacts_updated += len(result.ok)
    if without:
        made = amo.create_contacts([_contact_create(lp, plan.catalog.fields) for lp in without])
        for i, message in made.failed.items():
            out.problems.append(
                _refused(without[i], _("amoCRM refused the contact: {message}").format(message=message))
            )
        made_for = [without[i] for i in made.ok]
        pairs = [(lp.lead_id, int(made.ok[i]["id"])) for i, lp in zip(made.ok, made_for, strict=True)]
        linked = amo.link_contacts(pairs)
        for j, message in linked.failed.items():
            out.problems.append(
                _refused(made_for[j], _("amoCRM did not link the new contact: {message}").format(message=message))
            )
        for j in linked.ok:
            made_for[j].contact_id = pairs[j][1]
            done.setdefault(made_for[j].lead_id, set()).update(made_for[j].contact_changes)
        out.contacts_updated += len(linked.ok)

    # amoCRM now holds these values: remember them as its current ones.
    updated = [
        lp.crm_after(k.crm, keys)
        for lp in plan.leads
        if (keys := done.get(lp.lead_id))
        and (k := known.get(lp.lead_id)) is not None
        and k.crm is not None
        and lp.lead_id not in gone_ids
    ]
    with store.transaction():
        store.save_crm(updated)
    return Sent(done, gone_ids)


def _note_gone(amo: AmoClient, store: StateStore, gone: list[LeadPlan], out: Outcome) -> None:
    """A PATCH named leads that no longer exist: deleted in amoCRM since the last look."""
    deleted = {int(lead["id"]) for lead in amo.leads_by_ids([lp.lead_id for lp in gone], deleted=True)}
    with store.transaction():
        store.set_flag("deleted", deleted)
    for lp in gone:
        if lp.lead_id in deleted:
            out.notices.append(
                Notice(
                    lp.row,
                    _(
                        "deal {lead_id} was deleted in amoCRM; row {row} is no longer "
                        "synced and the deal is not made again"
                    ).format(lead_id=lp.lead_id, row=lp.row),
                    lp.lead_id,
                )
            )
        else:
            out.problems.append(
                RowProblem(lp.row, "lead_id", str(lp.lead_id), _("amoCRM no longer has this deal"), lp.lead_id)
            )


def write_sheet(
    sheet: Sheet,
    reread: Reread,
    store: StateStore,
    plan: Plan,
    out: Outcome,
    data: SheetData,
    made: Made,
    sent: Sent,
    pending: dict[str, int | None],
    when: str,
) -> None:
    """Write the plan's cells, the new rows and the sync column's lines, all in one request.

    ``when`` is the run's time as the sync column shows it.
    """
    placed = Placement()
    now: SheetData | None = None
    if touches_sheet(plan, made):
        now = reread()
        placed = place(plan, data, now, made, pending)
    cells = placed.cells + placed.appended
    if data.headers.sync is not None:
        ran = Ran(made.created, sent.done, placed.sheet_done, placed.linked, sent.gone, out.problems)
        said = lines(plan, ran, data.rows, data.headers, when)
        for line in (*said.by_row.values(), *said.by_lead.values()):
            heard("sync column", line)
        if said and (now is not None or _news(said, data, pending)):
            now = now or reread()
            cells += place_lines(said, plan, data, now, made, placed, pending)
    if placed.rows_appended:
        sheet.ensure_rows(placed.last_row)
    if cells:
        sheet.write_cells(cells)
        out.cells_written = len(placed.cells)
        out.rows_appended = placed.rows_appended
    with store.transaction():
        store.finish_creations(placed.finished)
        if plan.direction.pulls:
            store.set_flag("has_row", [a.lead_id for a in plan.row_appends()])
            store.save_base((a.lead_id, a.values) for a in plan.row_appends())
        store.save_base(
            (lp.lead_id, base)
            for lp in plan.leads
            if (base := lp.base_after(sent.done.get(lp.lead_id, set()), lp.lead_id in placed.sheet_done)) != lp.base
        )


def _news(said: Lines, data: SheetData, pending: dict[str, int | None]) -> bool:
    """Whether any line differs from what its row showed when read (else the sheet is not read again)."""
    col = data.headers.sync
    rows = {r.number: r for r in data.rows}
    if any(n not in rows or text(rows[n].cell(col)) != line for n, line in said.by_row.items()):
        return True
    at = rows_by_lead(data.rows, data.headers, pending)
    return any(lid not in at or text(at[lid].cell(col)) != line for lid, line in said.by_lead.items())


def _made_lead(n: NewRow, answer: dict[str, Any], now: int, fields: FieldSet) -> CrmLead:
    """The deal amoCRM made for a new row: what was sent, with the ids it answered."""
    v = {k: x for k, x in n.values.items() if (spec := fields.get(k)) is not None and spec.writable}
    cid = answer.get("contact_id")
    return CrmLead(
        int(answer["id"]),
        {k: x for k, x in v.items() if not is_contact_key(k)},
        now,
        int(cid) if cid else None,
        (v[Key.PHONE],) if v.get(Key.PHONE) else (),
        (v[Key.EMAIL],) if v.get(Key.EMAIL) else (),
        {k: x for k, x in v.items() if is_contact_key(k) and k not in CONTACT_KEYS},
    )


def _refused(lp: LeadPlan, message: str) -> RowProblem:
    return RowProblem(lp.row, None, None, message, lp.lead_id)


def _contact_patch(lp: LeadPlan, fields: FieldSet) -> dict[str, Any]:
    lists = {k: lp.new_list(k) for k in CONTACT_KEYS if k in lp.contact_changes}
    return {
        "id": lp.contact_id,
        "custom_fields_values": contact_custom_fields(lists, lp.final, lp.contact_changes, fields),
    }


def _contact_create(lp: LeadPlan, fields: FieldSet) -> dict[str, Any]:
    lists = {k: [lp.final[k]] for k in CONTACT_KEYS if lp.final.get(k)}
    given = {k for k in lp.contact_changes if k not in CONTACT_KEYS}
    name = lp.final.get(Key.NAME) or lp.crm.get(Key.NAME) or ""
    return {"name": name, "custom_fields_values": contact_custom_fields(lists, lp.final, given, fields)}
