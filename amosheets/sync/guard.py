"""Guard rails: a plan that would change too much of what is known is held back until --force.

The classic accident is sorting one column of the sheet on its own: every lead_id then sits
next to someone else's name and amount, and a sync would faithfully copy that mess into
amoCRM. No normal edit changes more than half of the deals at once.
"""

from __future__ import annotations

from amosheets.sync.plan import Plan

SHARE = 0.5  # more than half of the deals the sheet carries…
MINIMUM = 20  # …when it carries more than this many


def mass_change(plan: Plan, share: float = SHARE, minimum: int = MINIMUM) -> str | None:
    """Why this plan must not run without --force, or None."""
    known = len(plan.seen)
    if known <= minimum:
        return None
    # Only changes that come from the sheet: that is where the accident happens. Bulk edits made in
    # amoCRM (the system of record) are someone's decision there, and must not stall cron.
    if not plan.direction.pushes:
        return None
    changed = {lp.lead_id for lp in plan.leads if lp.to_crm}
    if len(changed) <= share * known:
        return None
    return (
        f"This run would change {len(changed)} of the {known} deals the sheet carries in amoCRM — more than "
        f"{share:.0%}. That is what happens when one column of the sheet was sorted on its own (lead_ids then "
        "sit next to other people's data). Nothing was changed."
    )


HINT = (
    "Look at the sheet: if a column was sorted alone, undo it (Edit → Undo, or File → Version history). "
    "`amosheets sync --dry-run` lists every change; if they are what you meant, run again with --force."
)
