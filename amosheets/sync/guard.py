"""Guard rails: a plan that looks like a shuffled sheet is held back until --force.

The classic accident is sorting one column of the sheet on its own: every lead_id then sits
next to someone else's name and amount, and a sync would faithfully copy that mess into
amoCRM. Two signs give it away: more than half of the deals change at once (no normal edit
does that), or — at any size — the values a column would send are the very values other
rows of that column held: rearranged among rows, not edited.
"""

from __future__ import annotations

from collections import Counter

from amosheets.i18n import N_, _, listing
from amosheets.sync.plan import Plan

SHARE = 0.5  # more than half of the deals the sheet carries…
MINIMUM = 20  # …when it carries more than this many
SHUFFLED = 3  # rows whose values of one column went round among them: two that swap may be an edit
SHOWN = 10  # rows named in the message


def mass_change(plan: Plan, share: float = SHARE, minimum: int = MINIMUM) -> str | None:
    """Why this plan must not run without --force, or None."""
    # Only changes that come from the sheet: that is where the accident happens. Bulk edits made in
    # amoCRM (the system of record) are someone's decision there, and must not stall cron.
    if not plan.direction.pushes:
        return None
    known = len(plan.seen)
    changed = {lp.lead_id for lp in plan.leads if lp.to_crm}
    if known > minimum and len(changed) > share * known:
        return _(
            "This run would change {changed} of the {known} deals the sheet carries in amoCRM — more than "
            "{share:.0%}. That is what happens when one column of the sheet was sorted on its own (lead_ids then "
            "sit next to other people's data). Nothing was changed."
        ).format(changed=len(changed), known=known, share=share)
    return shuffled_column(plan)


def shuffled_column(plan: Plan) -> str | None:
    """The first column whose changes from the sheet only rearrange values among its rows, said in words."""
    for f in sorted(plan.columns):
        moved = [lp for lp in plan.leads if f in lp.to_crm]
        if len(moved) < SHUFFLED:
            continue
        new = Counter(lp.final[f] for lp in moved)
        old = Counter(lp.base.get(f, lp.crm[f]) for lp in moved)
        if new == old:
            rows = listing(sorted(lp.row for lp in moved), SHOWN)  # "2, 3, 5 and 4 more"
            return _(
                "In column {header}, rows {rows} would each send amoCRM a value another of these rows "
                "held — "
                "the values went round among the rows instead of changing. That is what happens when one column "
                "of the sheet was sorted on its own (lead_ids then sit next to other people's data). "
                "Nothing was changed."
            ).format(header=plan.header_of(f), rows=rows)
    return None


# Translated where it is shown: _(HINT).
HINT = N_(
    "Look at the sheet: if a column was sorted alone, undo it (Edit → Undo, or File → Version history). "
    "`amosheets sync --dry-run` lists every change; if they are what you meant, run again with --force."
)
