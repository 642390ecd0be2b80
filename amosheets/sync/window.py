"""Which stretch of amoCRM's clock to ask "what changed" for, also when that clock was set back.

amoCRM stamps each change with its own clock; the cursor is that clock's time at the last run.
Edits made after the clock was set back are stamped earlier than the cursor; edits made before,
later than amoCRM's clock now. Either way they lie no further from the cursor or from now than the
time this machine has seen pass since the cursor was taken, so the window reaches that far on both
sides. A clock that was set back may have been put forward again since (corrected twice): the
window then also reaches as far below now as the clock went back.
"""

from __future__ import annotations

from dataclasses import dataclass

OVERLAP = 60  # seconds each window reaches back: amoCRM's bounds may be exclusive, writes land late
AHEAD = 3600  # seconds past its end: both bounds are always sent, a lone bound has been seen to return nothing


@dataclass(frozen=True)
class Window:
    since: int
    until: int
    set_back: bool  # amoCRM's clock is behind the cursor: it was set back since the last run


def changes_window(cursor: int | None, now: int, elapsed: int | None) -> Window:
    """``cursor`` and ``now`` on amoCRM's clock; ``elapsed``, seconds this machine saw pass since the cursor
    was taken (None: not known)."""
    if cursor is None:
        cursor = now
    start, end = min(cursor, now), max(cursor, now)
    if elapsed is not None:
        start = min(start, now - elapsed)
        end = max(end, cursor + elapsed)
    set_back = cursor > now
    if set_back:
        start = min(start, now - (cursor - now))
    return Window(start - OVERLAP, end + AHEAD, set_back)
