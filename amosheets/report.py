"""What a run tells people: the plan (for --dry-run), the summary, the problems.

The plan is a dry run's output and goes to stdout; the summary, warnings and problems are
messages and go to stderr. In a terminal: rich tables. Otherwise (cron, Task Scheduler, a log
file): plain lines (messages with timestamps) that read well in a mail. ``--json`` puts a
summary on stdout instead of the tables, and with --dry-run the plan in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amosheets.errors import most_severe
from amosheets.i18n import N_, _, heard, listing, plural
from amosheets.sync.fields import LEAD_ID, Key
from amosheets.sync.merge import ConflictPolicy
from amosheets.sync.model import Notice, Values
from amosheets.sync.plan import LeadPlan, Plan

# For annotations only: `status` prints pair headings from here without loading the engine (and with it gspread,
# google-auth and requests).
if TYPE_CHECKING:
    from amosheets.config import PairConfig
    from amosheets.engine import Outcome
    from amosheets.engine.pairs import PairResult
    from amosheets.output import Output

SUMMARISE_OVER = 10  # notices of one kind (the same text but for its numbers) past this are counted in one line
FIRST_FEW = 5  # deals or rows such a line names
_DIGITS = re.compile(r"\d+")


TO_AMOCRM, TO_SHEET = "to_amocrm", "to_sheet"
_NOTHING = ("—", "∅")  # what ``Catalog.show`` says for no value and for an empty one: null in JSON


def _json_value(shown: str) -> str | None:
    return None if shown in _NOTHING else shown


@dataclass(frozen=True)
class Change:
    """One cell a plan changes; its values as ``Catalog.show`` renders them (as the sheet shows them)."""

    row: int | None  # None: a row the run adds at the end of the tab
    lead_id: int | None  # None: a deal the run creates
    column: str
    old: str
    new: str
    direction: str  # TO_AMOCRM or TO_SHEET

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "lead_id": self.lead_id,
            "column": self.column,
            "old": _json_value(self.old),
            "new": _json_value(self.new),
            "direction": self.direction,
        }


@dataclass(frozen=True)
class ShownCreation:
    row: int
    values: dict[str, str]  # header → value, the new deal's non-empty values


@dataclass(frozen=True)
class ShownLink:
    row: int
    lead_id: int
    marker: str | None  # the pending marker the row holds, or None when its lead_id was cleared


@dataclass(frozen=True)
class ShownAppend:
    lead_id: int
    name: str
    values: dict[str, str]  # header → value, for the columns the tab has


@dataclass(frozen=True)
class ShownConflict:
    row: int
    lead_id: int
    column: str
    base: str
    sheet: str
    amocrm: str
    kept: str  # "amocrm" or "sheet"


@dataclass
class PlanView:
    """A plan as people and programs see it: every value rendered once, by ``Catalog.show``.

    The table (``plan_rows``), the conflict lines and ``--dry-run --json`` are all made from
    this, so they cannot disagree."""

    creations: list[ShownCreation]
    links: list[ShownLink]
    updates: list[Change]  # changes to deals that have a row
    appends: list[ShownAppend]
    conflicts: list[ShownConflict]

    def changes(self) -> list[Change]:
        """Every cell the plan changes, one each: creations and appends cell by cell, links, updates."""
        out = [Change(c.row, None, h, "∅", v, TO_AMOCRM) for c in self.creations for h, v in c.values.items()]
        out += [Change(k.row, k.lead_id, LEAD_ID, k.marker or "∅", str(k.lead_id), TO_SHEET) for k in self.links]
        out += self.updates
        out += [Change(None, a.lead_id, h, "∅", v, TO_SHEET) for a in self.appends for h, v in a.values.items()]
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": [ch.as_json() for ch in self.changes()],
            "creations": [
                {"row": c.row, "values": {h: _json_value(v) for h, v in c.values.items()}} for c in self.creations
            ],
            "appends": [
                {"lead_id": a.lead_id, "values": {h: _json_value(v) for h, v in a.values.items()}} for a in self.appends
            ],
            "links": [{"row": k.row, "lead_id": k.lead_id, "old": k.marker} for k in self.links],
            "conflicts": [
                {
                    "row": x.row,
                    "lead_id": x.lead_id,
                    "column": x.column,
                    "base": _json_value(x.base),
                    "sheet": _json_value(x.sheet),
                    "amocrm": _json_value(x.amocrm),
                    "kept": x.kept,
                }
                for x in self.conflicts
            ],
        }


def _filled(v: Any) -> bool:
    return v not in ("", 0, None, (), False)


def plan_view(plan: Plan) -> PlanView:
    """What ``plan`` changes, in the order a person reads it, every value shown as the sheet shows it."""
    c = plan.catalog
    creations = [
        ShownCreation(n.row, {plan.header_of(f): c.show(f, v, n.values) for f, v in n.values.items() if _filled(v)})
        for n in plan.creates()
    ]
    links = [ShownLink(k.row, k.lead_id, f"pending:{k.token}" if k.token else None) for k in plan.links]
    order = c.fields.position
    updates: list[Change] = []

    def changes(lp: LeadPlan, fields: set[str], now: Values, direction: str) -> None:
        for f in sorted(fields, key=order):
            old, new = c.show(f, now.get(f), now), c.show(f, lp.final[f], lp.final)
            updates.append(Change(lp.row, lp.lead_id, plan.header_of(f), old, new, direction))

    for lp in plan.lead_updates() + [lp for lp in plan.contact_updates() if not lp.lead_changes]:
        changes(lp, lp.to_crm, lp.crm, TO_AMOCRM)
    for lp in plan.cell_updates():
        changes(lp, lp.to_sheet, lp.sheet, TO_SHEET)
    appends = [
        ShownAppend(
            a.lead_id,
            c.show(Key.NAME, a.values.get(Key.NAME), a.values),
            {
                plan.header_of(f): c.show(f, a.values.get(f), a.values)
                for f in sorted(plan.columns & a.values.keys(), key=order)
            },
        )
        for a in plan.row_appends()
    ]
    return PlanView(creations, links, updates, appends, shown_conflicts(plan))


def shown_conflicts(plan: Plan) -> list[ShownConflict]:
    """The plan's conflicts, each value shown as the sheet shows it (a status within its pipeline)."""
    out = []
    for x in plan.conflicts:
        base, sheet, crm = (
            plan.catalog.show(x.field, v, {Key.PIPELINE: pipeline})
            for v, pipeline in zip((x.base, x.sheet, x.crm), x.pipelines, strict=True)
        )
        kept = "amocrm" if x.winner is ConflictPolicy.CRM else "sheet"
        out.append(ShownConflict(x.row, x.lead_id, plan.header_of(x.field), base, sheet, crm, kept))
    return out


_GOES_TO = {TO_AMOCRM: "amoCRM", TO_SHEET: N_("sheet")}  # translated where shown


def plan_rows(view: PlanView) -> list[tuple[str, str, str, str, str, str]]:
    """(row, deal, column, from, to, where): the plan's table, one line per deal created, link,
    changed cell of a deal that has a row, and row added."""
    out: list[tuple[str, str, str, str, str, str]] = []
    for n in view.creations:
        desc = ", ".join(f"{h}={v}" for h, v in n.values.items())
        out.append((str(n.row), _("new"), "", "", desc, _("create in amoCRM")))
    for k in view.links:
        why = (
            _("sheet (deal made by an interrupted run)")
            if k.marker
            else _("sheet (the row's {header} was cleared)").format(header=LEAD_ID)
        )
        out.append((str(k.row), str(k.lead_id), LEAD_ID, k.marker or "∅", str(k.lead_id), why))
    for ch in view.updates:
        out.append((str(ch.row), str(ch.lead_id), ch.column, ch.old, ch.new, _(_GOES_TO[ch.direction])))
    for a in view.appends:
        out.append(("+", str(a.lead_id), "", "", a.name, _("new row")))
    return out


def print_plan(o: Output, view: PlanView) -> None:
    """The plan is a dry run's output: stdout (``sync --dry-run > plan.txt`` keeps it)."""
    rows = plan_rows(view)
    if not rows:
        o.result(_("Nothing to change."))
    else:
        o.table(
            _("Planned changes (dry run: nothing was sent)"),
            (_("Row"), _("Deal"), _("Column"), _("Now"), _("Becomes"), _("Goes to")),
            rows,
            to_stdout=True,
        )
    if view.conflicts:
        o.table(
            _("Conflicts (changed on both sides since the last sync; --conflict decides which side is kept)"),
            (_("Row"), _("Deal"), _("Column"), _("Was"), _("Sheet"), "amoCRM", _("Kept")),
            [(str(x.row), str(x.lead_id), x.column, x.base, x.sheet, x.amocrm, _kept(x)) for x in view.conflicts],
            to_stdout=True,
        )


def _kept(x: ShownConflict) -> str:
    return _("amoCRM's") if x.kept == "amocrm" else _("the sheet's")


def print_conflicts(o: Output, conflicts: list[ShownConflict]) -> None:
    """A real run's conflicts: warnings, on stderr with the other messages."""
    for x in conflicts:
        if x.kept == "amocrm":
            said = _(
                "conflict on row {row} (deal {lead_id}), {column}: the sheet has {sheet}, amoCRM has {amocrm} "
                "(both changed since {base}); kept amoCRM's (--conflict)"
            )
        else:
            said = _(
                "conflict on row {row} (deal {lead_id}), {column}: the sheet has {sheet}, amoCRM has {amocrm} "
                "(both changed since {base}); kept the sheet's (--conflict)"
            )
        o.warn(
            said.format(
                row=x.row,
                lead_id=x.lead_id,
                column=x.column,
                sheet=repr(x.sheet),
                amocrm=repr(x.amocrm),
                base=repr(x.base),
            )
        )


def print_notices(o: Output, notices: list[Notice]) -> None:
    """One line each; but more than SUMMARISE_OVER of one kind are counted in one line (each one with -v)."""
    kinds: dict[str, list[Notice]] = {}
    for n in notices:
        kinds.setdefault(_DIGITS.sub("#", n.message), []).append(n)
    for same in kinds.values():
        if len(same) > SUMMARISE_OVER and o.verbosity < 1:
            names, notice = _names(same, FIRST_FEW), _notice_line(same[0])
            o.warn(
                # i18n: {names}: "deals 1, 2, 3, 4, 5 and 7 more"; {notice} is the first of them
                plural(
                    len(same),
                    "{n} notice like this one, for {names} (-v or --json lists each one): {notice}",
                    "{n} notices like this one, for {names} (-v or --json lists each one): {notice}",
                    names=names,
                    notice=notice,
                )
            )
        else:
            for n in same:
                o.warn(_notice_line(n))


def _notice_line(n: Notice) -> str:
    return n.message if n.row is None else _("row {row}: {message}").format(row=n.row, message=n.message)


def _names(notices: list[Notice], most: int) -> str:
    """Like `deals 1, 2` or `rows 3, 4 and 7 more`: the first ``most``, and how many more (when the first are
    mixed, each is named)."""
    shown = notices[:most]
    if all(n.lead_id is not None for n in shown):
        return _("deals {ids}").format(ids=listing([n.lead_id for n in notices], most))
    if all(n.row is not None for n in shown):
        return _("rows {rows}").format(rows=listing([n.row for n in notices], most))
    return listing(
        [
            _("deal {lead_id}").format(lead_id=n.lead_id) if n.lead_id is not None else _("row {row}").format(row=n.row)
            for n in notices
        ],
        most,
    )


_DONE: tuple[tuple[str, Callable[[int], str]], ...] = (  # summary key, and what its count says
    ("created", lambda n: plural(n, "{n} deal created", "{n} deals created")),
    ("leads_updated", lambda n: plural(n, "{n} deal updated", "{n} deals updated")),
    ("contacts_updated", lambda n: plural(n, "{n} contact updated", "{n} contacts updated")),
    ("cells_written", lambda n: plural(n, "{n} cell written", "{n} cells written")),
    ("rows_appended", lambda n: plural(n, "{n} row added", "{n} rows added")),
    ("conflicts", lambda n: plural(n, "{n} conflict", "{n} conflicts")),
    ("problems", lambda n: plural(n, "{n} row failed", "{n} rows failed")),
)


def summary_line(command: str, outcome: Outcome) -> str:
    s = outcome.summary()
    parts = [said(s[key]) for key, said in _DONE if s[key]]
    what = ", ".join(parts) if parts else _("nothing to change")
    read = plural(s["rows_read"], "{n} row read", "{n} rows read")
    if outcome.dry_run and outcome.blocked:
        text = _(
            "{command} (dry run, nothing sent) would do: {what}; the guard holds it back (--force goes on); {read}"
        )
    elif outcome.dry_run:
        text = _("{command} (dry run, nothing sent) would do: {what}; {read}")
    elif outcome.blocked:
        text = _("{command}: held back by the guard, nothing was sent (--force goes on); {read}")
    else:
        text = _("{command}: {what}; {read}")
    return text.format(command=command, what=what, read=read)


def pair_heading(p: PairConfig) -> str:
    """The line above each pair's part of a command's output."""
    return _("── pair «{name}»: tab «{tab}» ──").format(name=p.name, tab=p.tab.worksheet)


def print_results(
    o: Output, command: str, results: Sequence[PairResult], as_json: bool, describe: Callable[[Exception], str]
) -> None:
    """Each pair's outcome under its name, or the error that stopped it (``describe`` words it); with
    ``as_json``, one JSON document of them all on stdout."""
    payloads = []
    for r in results:
        p = r.pair
        heading = pair_heading(p)
        if r.outcome is not None and r.outcome.dry_run and not as_json:
            o.result(heading)  # its plan goes to stdout: `sync --dry-run > plan.txt` says which pair each is
        else:
            o.info(heading)
        if r.outcome is not None:
            print_outcome(o, command, r.outcome, as_json, print_json=False)
            payload = outcome_json(command, r.outcome)
        else:
            assert r.error is not None
            said = describe(r.error)
            o.error(_("pair «{name}»: {error}").format(name=p.name, error=said))
            payload = {"command": command, "exit_status": int(r.exit_status), "error": said}
        payloads.append({"pair": p.name, "tab": p.tab.worksheet, **payload})
    if as_json:
        status = int(most_severe(r.exit_status for r in results))
        heard("json", payloads)
        o.out.print_json(json.dumps({"command": command, "exit_status": status, "pairs": payloads}, ensure_ascii=False))


def print_outcome(o: Output, command: str, outcome: Outcome, as_json: bool, print_json: bool = True) -> None:
    """A dry run's plan on stdout (as JSON with ``as_json``), then the messages on stderr."""
    plan = outcome.plan
    view = plan_view(plan) if plan is not None and outcome.dry_run else None
    if view is not None and not as_json:
        print_plan(o, view)
    elif plan is not None and not outcome.dry_run:
        print_conflicts(o, shown_conflicts(plan))
    print_notices(o, outcome.notices)
    for p in outcome.problems:
        o.error(str(p))
    if outcome.blocked:
        from amosheets.sync.guard import HINT

        o.error(f"{outcome.blocked}\n  → {_(HINT)}")
    if outcome.first_run:
        o.info(
            _(
                "First run: changes made in amoCRM from now on will be pulled. To bring in the deals that already "
                "exist, run `amosheets pull --all` once."
            )
        )
    o.info(summary_line(command, outcome))
    if as_json and print_json:
        payload = outcome_json(command, outcome)
        heard("json", payload)
        o.out.print_json(json.dumps(payload, ensure_ascii=False))


def outcome_json(command: str, outcome: Outcome) -> dict[str, Any]:
    """What ``--json`` prints of a run: the counts, each problem and notice, and a dry run's plan."""
    payload = {
        "command": command,
        "exit_status": int(outcome.exit_status),
        **outcome.summary(),
        "problem_list": [str(p) for p in outcome.problems],
        "notice_list": [n.message for n in outcome.notices],
    }
    if outcome.dry_run:
        plan = outcome.plan
        payload["plan"] = plan_view(plan).as_json() if plan is not None else None
    return payload
