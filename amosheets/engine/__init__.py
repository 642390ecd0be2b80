"""One run of push, pull or sync: read both sides, plan, carry the plan out, remember.

The order of writes is what makes a crash harmless (the next run converges, nothing is
made twice):
1. amoCRM's current values and the pull cursor are saved before anything is written;
2. a creation is recorded *before* its request is sent, and its lead id right after;
3. writes to amoCRM, then the sheet (cells located again by lead_id just before);
4. the base of each field moves only once both sides hold its value.

``run`` holds the run itself (lock, phases, outcome); ``reading`` asks amoCRM what changed and
fetches current values; ``writing`` carries the plan out. The decisions are in ``amosheets.sync``.
"""

from amosheets.engine.run import (
    Engine,
    Options,
    Outcome,
    lock_for,
    parse_since,
    request_line,
)

__all__ = ["Engine", "Options", "Outcome", "lock_for", "parse_since", "request_line"]
