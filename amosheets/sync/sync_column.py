"""The sync column: one short line per row a run acted on, saying what became of it.

People look at the sheet, not at cron's mail, so each row says there whether it went through
(and when), what is wrong with it and how to fix it, or that its deal is gone. Pure: the
engine hands in what the run did; placement writes the lines in the run's one write.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from amosheets.i18n import _, listing
from amosheets.sync.fields import HeaderMap, Key, text
from amosheets.sync.model import RowProblem, SheetRow
from amosheets.sync.plan import Conflict, Plan
from amosheets.sync.planner import lead_in

DONE = "✓"
FAILED = "✗"
GONE = "⚠"
MOST_COLUMNS = 3  # a line names this many columns, then counts the rest


@dataclass
class Ran:
    """What the run did with its plan (a dry run or a run held back did nothing)."""

    created: Mapping[str, int] = field(default_factory=dict)  # creation token → the deal made
    crm_done: Mapping[int, Collection[str]] = field(default_factory=dict)  # lead → fields amoCRM took
    sheet_done: Collection[int] = ()  # leads whose planned cells were written
    linked: Collection[int] = ()  # leads whose ID went back into their row
    gone: Collection[int] = ()  # deals found deleted while sending to them
    problems: Iterable[RowProblem] = ()  # every row problem of the run, the plan's included


@dataclass
class Lines:
    """Each line by the row it belongs to: its number as read, or (appended or deleted) its deal."""

    by_row: dict[int, str] = field(default_factory=dict)
    by_lead: dict[int, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_row or self.by_lead)


def lines(plan: Plan, ran: Ran, rows: Iterable[SheetRow], headers: HeaderMap, when: str) -> Lines:
    """Every row's line; ``rows`` the sheet as read (``headers`` bound), ``when`` the run's time.

    A row with a problem says only that: it has not gone through. A row the run did nothing to
    keeps its line, except that a row that showed a problem and is now found in sync says so.
    """
    out = Lines()
    failed: dict[int, list[str]] = {}
    for p in ran.problems:
        failed.setdefault(p.row, []).append(problem_text(p))
    for number, said in failed.items():
        out.by_row[number] = f"{FAILED} " + "; ".join(dict.fromkeys(said))

    conflicts: dict[int, list[str]] = {}
    for x in plan.conflicts:
        conflicts.setdefault(x.row, []).append(conflict_text(plan, x))
    done = f"{DONE} {when}"
    for n in plan.creates():
        if n.token in ran.created and n.row not in out.by_row:
            out.by_row[n.row] = f"{done} " + _("deal created")  # its ID is in the row: a line kept short
    linked = set(ran.linked)
    for link in plan.links:
        if link.lead_id in linked and link.row not in out.by_row:
            out.by_row[link.row] = f"{done} " + _("lead_id {lead_id} put back").format(lead_id=link.lead_id)
    sheet_done = set(ran.sheet_done)
    order = plan.catalog.fields.position
    for lp in plan.leads:
        if lp.row in out.by_row:
            continue
        sent = sorted(set(ran.crm_done.get(lp.lead_id, ())) & lp.to_crm, key=order)
        got = sorted(lp.to_sheet & plan.columns, key=order) if lp.lead_id in sheet_done else []
        what = [_("sent to amoCRM: {columns}").format(columns=_columns(plan, sent))] if sent else []
        what += [_("from amoCRM: {columns}").format(columns=_columns(plan, got))] if got else []
        what += conflicts.get(lp.row, [])
        if what:
            out.by_row[lp.row] = f"{done} " + "; ".join(what)
    for a in plan.row_appends():
        out.by_lead[a.lead_id] = f"{done} " + _("added from amoCRM")
    for m in plan.moved.values():
        out.by_row.setdefault(m.row, f"{GONE} {m.text(plan.catalog)}")
    # Said again while the deal stays deleted: a line lost with an interrupted run's write comes back.
    for lid in plan.deleted | plan.still_deleted | set(ran.gone):
        out.by_lead[lid] = f"{GONE} " + _("deal {lead_id} was deleted in amoCRM; this row is no longer synced").format(
            lead_id=lid
        )

    # A row that showed a problem, or a deal deleted since restored, and is now found in sync (it was looked
    # at, and nothing is wrong).
    for row in rows:
        if row.number in out.by_row or not text(row.cell(headers.sync)).startswith((FAILED, GONE)):
            continue
        shows = lead_in(row.cell(headers.lead_id), {})
        if shows is not None and shows in plan.in_sync:
            out.by_row[row.number] = done
    return out


def problem_text(p: RowProblem) -> str:
    """Like ``Сумма: «abc» — is not a number``: the column, the value, what is wrong and how to fix it."""
    value = f"«{p.value}» — " if p.value not in (None, "") else ""
    return f"{p.column}: {value}{p.message}" if p.column else f"{value}{p.message}"


def conflict_text(plan: Plan, x: Conflict) -> str:
    """The value that lost, so that nobody's typing vanishes without a trace."""
    show = plan.catalog.show
    in_sheet, in_crm = x.pipelines[1:]
    sheet = show(x.field, x.sheet, {Key.PIPELINE: in_sheet})
    crm = show(x.field, x.crm, {Key.PIPELINE: in_crm})
    header = plan.header_of(x.field)
    if x.winner.value == "crm":
        return _("{header}: amoCRM has {crm}, the sheet had {sheet} — kept amoCRM's").format(
            header=header, crm=crm, sheet=sheet
        )
    return _("{header}: the sheet has {sheet}, amoCRM had {crm} — kept the sheet's").format(
        header=header, crm=crm, sheet=sheet
    )


def _columns(plan: Plan, keys: list[str]) -> str:
    """Like ``Имя, Сумма, Статус and 2 more``."""
    return listing([plan.header_of(k) for k in keys], MOST_COLUMNS)
