"""One run of several pairs (``amosheets.toml``): each account's pairs in turn, the accounts at once.

The pairs of one account share an ``AccountSession`` (one client, so one rate limiter, and one
listing of amoCRM's changes); different accounts share nothing but the deadline, so twenty
accounts take about as long as the slowest. A pair that fails is reported and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from amosheets.config import AccountConfig, PairConfig
from amosheets.deadline import Deadline
from amosheets.engine.account import AccountSession
from amosheets.engine.run import Engine, Options, Outcome, amo_client, request_line
from amosheets.errors import ExitStatus, most_severe

Say = Callable[[str], None]
Progress = Callable[[str, int, int | None], None]


@dataclass
class PairResult:
    """What one pair's part of the run came to: an outcome, or the error that stopped it."""

    pair: PairConfig
    outcome: Outcome | None = None
    error: Exception | None = None

    @property
    def exit_status(self) -> ExitStatus:
        if self.error is not None:
            return getattr(self.error, "exit_status", ExitStatus.ERROR)
        return self.outcome.exit_status if self.outcome is not None else ExitStatus.ERROR


def exit_status(results: Sequence[PairResult]) -> ExitStatus:
    """The most severe of the pairs' (the README gives the order)."""
    return most_severe(r.exit_status for r in results)


def run_pairs(
    pairs: Sequence[PairConfig],
    options: Options,
    deadline: Deadline,
    *,
    configured: Sequence[PairConfig] = (),
    progress: Progress | None = None,
    detail: Say | None = None,
    trace: Say | None = None,
) -> list[PairResult]:
    """Run ``pairs``, in their order; ``configured`` are all the file's pairs (a deal that moves to the
    pipeline of a pair not run now is still left to that pair). Results come in ``pairs``' order."""
    by_account: dict[AccountConfig, list[PairConfig]] = {}
    for p in pairs:
        by_account.setdefault(p.account, []).append(p)
    everyone = list(configured) or list(pairs)

    def one_account(account: AccountConfig, its: list[PairConfig]) -> list[PairResult]:
        amo = amo_client(account, deadline=deadline, on_request=request_line(_named("amoCRM", its), trace))
        session = AccountSession(amo, [p for p in everyone if p.account == account])
        try:
            return [_run_pair(p, session, options, deadline, progress, detail, trace) for p in its]
        finally:
            amo.close()

    if len(by_account) == 1:
        ((account, its),) = by_account.items()
        done = one_account(account, its)
    else:
        done = []
        with ThreadPoolExecutor(max_workers=len(by_account), thread_name_prefix="account") as pool:
            futures = [pool.submit(one_account, a, its) for a, its in by_account.items()]
            try:
                for f in futures:
                    done.extend(f.result())
            except KeyboardInterrupt:
                # Ctrl-C reaches this thread only: the others stop at their next request, as one run would.
                deadline.cancel()
                raise
    order = {p.name: i for i, p in enumerate(pairs)}
    return sorted(done, key=lambda r: order[r.pair.name])


def _run_pair(
    pair: PairConfig,
    session: AccountSession,
    options: Options,
    deadline: Deadline,
    progress: Progress | None,
    detail: Say | None,
    trace: Say | None,
) -> PairResult:
    def said(say: Say | None) -> Say | None:
        return None if say is None else lambda text: say(f"[{pair.name}] {text}")

    told: Any = (
        None if progress is None else (lambda label, done, total: progress(f"{pair.name}: {label}", done, total))
    )
    engine = Engine(
        pair,
        options,
        session=session,
        deadline=deadline,
        progress=told,
        detail=said(detail),
        trace=said(trace),
    )
    try:
        return PairResult(pair, outcome=engine.run())
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a pair fails alone: its tab is gone, its pipeline vanished, its token refused…
        return PairResult(pair, error=e)


def _named(service: str, pairs: Sequence[PairConfig]) -> str:
    return f"{service} ({pairs[0].account.name})"
