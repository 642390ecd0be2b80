"""What a run tells people: the plan (for --dry-run), the summary, the problems.

In a terminal: rich tables. Otherwise (cron, Task Scheduler, a log file): plain lines
with timestamps that read well in a mail. ``--json`` puts a summary on stdout.
"""

from __future__ import annotations

import json
import re
from typing import Any

from amosheets.engine import Outcome
from amosheets.i18n import plural
from amosheets.output import Output
from amosheets.sync.fields import BUILT_IN, Key
from amosheets.sync.model import Catalog, Notice, Values
from amosheets.sync.plan import LeadPlan, Plan

SUMMARISE_OVER = 10  # notices of one kind (the same text but for its numbers) past this are counted in one line
FIRST_FEW = 5  # deals or rows such a line names
_DIGITS = re.compile(r"\d+")


def show(value: Any, f: str, values: Values | None, catalog: Catalog) -> str:
    if value is None:
        return "—"
    if f == Key.STATUS:
        pipeline = (values or {}).get(Key.PIPELINE, catalog.default_pipeline_id)
        return catalog.status_name(pipeline, value)
    if f == Key.PIPELINE:
        return catalog.pipeline_name(value)
    spec = catalog.fields.get(f)
    if spec is not None and f not in BUILT_IN:
        return spec.kind.show(value)
    return str(value) if value != "" else "∅"


def _order(plan: Plan) -> dict[str, int]:
    """Columns in the order of the catalog (built-ins first)."""
    return {s.key: i for i, s in enumerate(plan.catalog.fields.specs)}


def plan_rows(plan: Plan) -> list[tuple[str, str, str, str, str, str]]:
    """(row, deal, column, from, to, where) for every change the plan makes."""
    c = plan.catalog
    out: list[tuple[str, str, str, str, str, str]] = []
    for n in plan.creates():
        desc = ", ".join(
            f"{plan.header_of(f)}={show(v, f, n.values, c)}"
            for f, v in n.values.items()
            if v not in ("", 0, None, (), False)
        )
        out.append((str(n.row), "new", "", "", desc, "create in amoCRM"))
    for link in plan.links:
        why = "sheet (deal made by an interrupted run)" if link.token else "sheet (the row's lead_id was cleared)"
        was = f"pending:{link.token}" if link.token else "∅"
        out.append((str(link.row), str(link.lead_id), "lead_id", was, str(link.lead_id), why))

    order = _order(plan)

    def changes(lp: LeadPlan, fields: set[str], now: Values, where: str) -> None:
        for f in sorted(fields, key=lambda k: order.get(k, len(order))):
            old, new = show(now.get(f), f, now, c), show(lp.final[f], f, lp.final, c)
            out.append((str(lp.row), str(lp.lead_id), plan.header_of(f), old, new, where))

    for lp in plan.lead_updates() + [lp for lp in plan.contact_updates() if not lp.lead_changes]:
        changes(lp, lp.to_crm, lp.crm, "amoCRM")
    for lp in plan.cell_updates():
        changes(lp, lp.to_sheet, lp.sheet, "sheet")
    for a in plan.row_appends():
        out.append(("+", str(a.lead_id), "", "", show(a.values[Key.NAME], Key.NAME, a.values, c), "new row"))
    return out


def print_plan(o: Output, outcome: Outcome) -> None:
    plan = outcome.plan
    if plan is None:
        return
    rows = plan_rows(plan)
    if not rows:
        o.info("Nothing to change.")
    else:
        o.table(
            "Planned changes (dry run: nothing was sent)",
            ("Row", "Deal", "Column", "Now", "Becomes", "Goes to"),
            rows,
        )
    print_conflicts(o, plan)


def print_conflicts(o: Output, plan: Plan) -> None:
    c = plan.catalog
    for x in plan.conflicts:
        winner = "amoCRM's" if x.winner.value == "crm" else "the sheet's"
        base, sheet, crm = (
            show(v, x.field, {Key.PIPELINE: pipeline}, c)
            for v, pipeline in zip((x.base, x.sheet, x.crm), x.pipelines, strict=True)
        )
        o.warn(
            f"conflict on row {x.row} (deal {x.lead_id}), {plan.header_of(x.field)}: the sheet has "
            f"{sheet!r}, amoCRM has {crm!r} (both changed since {base!r}); kept {winner} (--conflict)"
        )


def print_notices(o: Output, notices: list[Notice]) -> None:
    """One line each; but more than SUMMARISE_OVER of one kind are counted in one line (each one with -v)."""
    kinds: dict[str, list[Notice]] = {}
    for n in notices:
        kinds.setdefault(_DIGITS.sub("#", n.message), []).append(n)
    for same in kinds.values():
        if len(same) > SUMMARISE_OVER and o.verbosity < 1:
            more = f" and {len(same) - FIRST_FEW} more" if len(same) > FIRST_FEW else ""
            o.warn(
                plural(len(same), "{n} notice like this one", "{n} notices like this one")
                + f", for {_names(same[:FIRST_FEW])}{more} (-v or --json lists each one): {_notice_line(same[0])}"
            )
        else:
            for n in same:
                o.warn(_notice_line(n))


def _notice_line(n: Notice) -> str:
    return n.message if n.row is None else f"row {n.row}: {n.message}"


def _names(notices: list[Notice]) -> str:
    """Like `deals 1, 2` or `rows 3, 4`; when mixed, each is named."""
    if all(n.lead_id is not None for n in notices):
        return "deals " + ", ".join(str(n.lead_id) for n in notices)
    if all(n.row is not None for n in notices):
        return "rows " + ", ".join(str(n.row) for n in notices)
    return ", ".join(f"deal {n.lead_id}" if n.lead_id is not None else f"row {n.row}" for n in notices)


_DONE = (  # summary key, and what its count says
    ("created", "{n} deal created", "{n} deals created"),
    ("leads_updated", "{n} deal updated", "{n} deals updated"),
    ("contacts_updated", "{n} contact updated", "{n} contacts updated"),
    ("cells_written", "{n} cell written", "{n} cells written"),
    ("rows_appended", "{n} row added", "{n} rows added"),
    ("conflicts", "{n} conflict", "{n} conflicts"),
    ("problems", "{n} row failed", "{n} rows failed"),
)


def summary_line(command: str, outcome: Outcome) -> str:
    s = outcome.summary()
    parts = [plural(s[key], one, many) for key, one, many in _DONE if s[key]]
    what = ", ".join(parts) if parts else "nothing to change"
    read = plural(s["rows_read"], "{n} row read", "{n} rows read")
    if outcome.dry_run:
        held = "; the guard holds it back (--force goes on)" if outcome.blocked else ""
        return f"{command} (dry run, nothing sent) would do: {what}{held}; {read}"
    if outcome.blocked:
        return f"{command}: held back by the guard, nothing was sent (--force goes on); {read}"
    return f"{command}: {what}; {read}"


def print_outcome(o: Output, command: str, outcome: Outcome, as_json: bool) -> None:
    if outcome.dry_run:
        print_plan(o, outcome)
    elif outcome.plan is not None:
        print_conflicts(o, outcome.plan)
    print_notices(o, outcome.notices)
    for p in outcome.problems:
        o.error(str(p))
    if outcome.blocked:
        from amosheets.sync.guard import HINT

        o.error(f"{outcome.blocked}\n  → {HINT}")
    if outcome.first_run:
        o.info(
            "First run: changes made in amoCRM from now on will be pulled. To bring in the deals that already "
            "exist, run `amosheets pull --all` once."
        )
    o.info(summary_line(command, outcome))
    if as_json:
        payload = {
            "command": command,
            "exit_status": int(outcome.exit_status),
            **outcome.summary(),
            "problem_list": [str(p) for p in outcome.problems],
            "notice_list": [n.message for n in outcome.notices],
        }
        o.out.print_json(json.dumps(payload, ensure_ascii=False))
