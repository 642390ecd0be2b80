"""A client-side limit that never exceeds amoCRM's 7 requests per second, yet uses all of it.

amoCRM blocks an IP that keeps exceeding the limit, so the client counts sends in a sliding
window instead of waiting for each answer: requests overlap when each one takes long, which is
how the budget gets used.

amoCRM counts a request when it arrives, which is later than when the limiter let it go: the
thread may be scheduled late, a new connection shakes hands first, the server may queue it
behind others. Seven requests let go a second apart can therefore be counted closer together,
and the eighth draws a 429. So each request holds its slot for a second *plus a margin*. A
fixed margin has to cover the worst delay ever met: 40 ms let a 429 through now and then on a
busy machine (the CI and the benchmarks saw it), and 100 ms costs some 9 % of the rate.

The margin is therefore taken from evidence where there is some. A request cannot have waited
longer before amoCRM counted it than its answer came later than the fastest answer seen (the
fastest is the network and server's fixed cost; everything above it is delay, before or after
the count). So once a request's answer is in, its slot is held a second plus that excess plus
``least_margin``, never more than ``margin``; until its answer is in (or when it got none), the
full ``margin``, as before.

The evidence is trusted only once more answers are in than there were ever requests in flight at
once. The first request on a new connection pays for the handshake; while every answer seen may
have been such a first, the "fastest" could include a handshake and hide the next one's. A
connection is only opened when every open one is busy, so there are never more connections than
requests in flight at once, and one answer more than that came over a connection used before.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from amosheets.deadline import NO_DEADLINE, Deadline


class Slot:
    """One request's place in the window: when the limiter let it go, and its answer's round trip."""

    __slots__ = ("rtt", "sent")

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.rtt: float | None = None  # seconds from ``sent`` to the answer's headers


class RateLimiter:
    def __init__(
        self,
        rate: int = 7,
        per: float = 1.0,
        # The most a request is assumed to have waited before amoCRM counted it, when its answer does not
        # say less (see the module's docstring): 100 ms, which as a fixed margin kept well clear of 429s.
        margin: float = 0.1,
        # Kept on top of what an answer says: the fastest answer's own share of after-the-count time may
        # be larger than this one's. On the emulator the requests amoCRM counted were never closer than
        # the limiter's own spacing less 2.4 ms (benchmarks under load); live, the way back jitters too.
        # Each ms here costs 28 ms over the 200 requests of 10,000 creates: 10 ms made them 1.05× the
        # bound, 50 ms 1.09×. But with ten accounts' processes and the emulators on two cores, 10 ms drew
        # 429s in 2 of 4 runs (6 and 15 of 230 requests), 50 ms in 1 of 3 (1): an account's safety first.
        least_margin: float = 0.05,
        deadline: Deadline = NO_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """``sleep``: how to wait (tests pass a fake clock's); by default a wait that an answer cuts short,
        since an answer can shorten the slot being waited for."""
        if rate < 1:
            raise ValueError("rate must be at least 1")
        self.rate = rate
        self.per = per
        self.margin = margin
        self.least_margin = min(least_margin, margin)
        self._deadline = deadline
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[Slot] = deque()  # in the order they were let go
        self._queue: list[_Waiter] = []  # the requests waiting for a slot, first come first
        self._flying: set[Slot] = set()  # sent, neither answered nor given up on
        self._most_flying = 0
        self._answers = 0
        self._fastest: float | None = None
        self._paused_until = 0.0
        self._changed = threading.Condition()

    def acquire(self, needed: Callable[[], bool] | None = None) -> Slot:
        """Block until one more request may be sent, and count it as sent now; hand back its slot.

        Requests go first come first, but those sure to be needed before those sent on speculation:
        ``needed`` says which this one is now (by default: sure). A listing asks for pages ahead of knowing
        they exist (``AmoClient.list_all``); a slot given to one past the end is lost to every other request.
        """
        me = _Waiter(needed or _sure)
        with self._changed:
            self._queue.append(me)
            try:
                while True:
                    self._deadline.check()
                    now = self._clock()
                    slots = self._slots
                    while slots and slots[0].sent + self.per + self.margin <= now:
                        slots.popleft()  # past even the full margin
                    if len(slots) >= self.rate:  # only then are the holds the evidence shortened worth working out
                        slots = self._slots = deque(s for s in slots if self._until(s) > now)
                    wait = self._paused_until - now
                    if wait <= 0 and len(slots) < self.rate:
                        if self._next() is me:
                            slot = Slot(now)
                            slots.append(slot)
                            self._flying.add(slot)
                            self._most_flying = max(self._most_flying, len(self._flying))
                            return slot
                        wait = 0.05  # the one before goes first, and wakes the next as it leaves
                    elif wait <= 0:
                        wait = min(self._until(s) for s in slots) - now
                    self._wait(max(wait, 0.001))
            finally:
                self._queue.remove(me)
                self._changed.notify_all()

    def _next(self) -> _Waiter:
        """The waiting request that goes next: the first sure to be needed, else the first."""
        return next((w for w in self._queue if w.needed()), self._queue[0])

    def _wait(self, seconds: float) -> None:
        """Wait (holding ``_changed`` on return) until ``seconds`` pass or, without a ``sleep``, an answer or
        a request leaving the queue wakes the waiters; never past the deadline."""
        left = self._deadline.left()
        if left is not None:
            seconds = min(seconds, max(left, 0.001))
        if self._sleep is None:
            self._changed.wait(seconds)
            return
        self._changed.release()
        try:
            self._sleep(seconds)
        finally:
            self._changed.acquire()

    def done(self, slot: Slot, answered_at: float | None) -> None:
        """``slot``'s request is over: its answer's headers came ``answered_at`` (the limiter's clock), or
        None when no answer came (the slot then keeps the full margin)."""
        with self._changed:
            self._flying.discard(slot)
            if answered_at is not None:
                slot.rtt = max(answered_at - slot.sent, 0.0)
                self._answers += 1
                if self._fastest is None or slot.rtt < self._fastest:
                    self._fastest = slot.rtt
            self._changed.notify_all()

    def unused(self, slot: Slot) -> None:
        """``slot``'s request was not sent after all: give its place back."""
        with self._changed:
            self._flying.discard(slot)
            if slot in self._slots:
                self._slots.remove(slot)
            self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every sender back (after a 429 the server wants a rest, not more requests)."""
        with self._changed:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _until(self, slot: Slot) -> float:
        """When ``slot`` stops counting. Worked out anew each time, against the fastest answer as it is now:
        a faster one coming in lengthens the holds worked out from a slower one."""
        margin = self.margin
        if slot.rtt is not None and self._fastest is not None and self._answers > self._most_flying:
            margin = min(margin, self.least_margin + slot.rtt - self._fastest)
        return slot.sent + self.per + margin


class _Waiter:
    """A request waiting for a slot (compared by identity), and whether it is sure to be needed by now."""

    __slots__ = ("needed",)

    def __init__(self, needed: Callable[[], bool]) -> None:
        self.needed = needed


def _sure() -> bool:
    return True
