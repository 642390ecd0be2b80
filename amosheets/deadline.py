"""One run's time limit, shared by both services' clients.

cron starts a run every few minutes and a run holds the lock while it works, so a service
that stalls must not keep a run alive past the next ones. Each client asks the deadline
before every request and every pause between retries, and no request waits for an answer
longer than the time left; once it has passed, the run stops between requests with
``DeadlineReached``. What it finished is already in the state, so the next run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from amosheets.errors import DeadlineReached
from amosheets.i18n import _

DEFAULT_DEADLINE = 240.0  # seconds: well under cron's five minutes, so runs do not pile up on the lock


class Deadline:
    def __init__(
        self,
        seconds: float | None,
        setting: str = "AMOSHEETS_DEADLINE",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``seconds`` None or 0: no deadline. ``setting`` names where the limit came from, for the message."""
        self.seconds = seconds or None
        self.setting = setting
        self._clock = clock
        self._end = clock() + self.seconds if self.seconds else None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop every client that asks this deadline, as Ctrl-C would: for runs in other threads than
        the one Ctrl-C reaches (the accounts of a run work at once)."""
        self._cancelled = True

    def left(self) -> float | None:
        """Seconds left (never below 0), or None when there is no deadline."""
        return None if self._end is None else max(self._end - self._clock(), 0.0)

    @property
    def passed(self) -> bool:
        return self.left() == 0.0

    def check(self) -> None:
        if self._cancelled:
            raise KeyboardInterrupt
        if self.passed:
            raise DeadlineReached(
                _(
                    "The run reached its deadline of {seconds:g} s ({setting}) and stopped; what it "
                    "finished is kept, the next run goes on from there."
                ).format(seconds=self.seconds, setting=self.setting),
                hint=_(
                    "If a run regularly needs longer, raise {setting} (0 = no deadline), but keep it "
                    "under the interval between runs; a service that does not answer is retried by the next run."
                ).format(setting=self.setting),
            )

    def timeout(self, connect: float, read: float) -> tuple[float, float]:
        """A request's (connect, read) timeouts, cut to the time left; raises if none is left."""
        self.check()
        left = self.left()
        if left is None:
            return connect, read
        return min(connect, left), min(read, left)

    def sleep(self, seconds: float) -> None:
        """Pause before a retry, but not past the deadline (then raise instead of retrying)."""
        self.check()
        left = self.left()
        time.sleep(seconds if left is None else min(seconds, left))
        self.check()


NO_DEADLINE = Deadline(None)
