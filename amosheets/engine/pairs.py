"""One run of several pairs (``amosheets.toml``): each account's pairs in turn, the accounts at once.

The pairs of one account share an ``AccountSession`` (one client, so one rate limiter, and one
listing of amoCRM's changes); different accounts share nothing but the deadline, each in a
process of its own, so twenty accounts take about as long as the slowest. A pair that fails is
reported and the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from amosheets.amocrm.connect import amo_client
from amosheets.config import AccountConfig, PairConfig
from amosheets.deadline import Deadline
from amosheets.engine.account import AccountSession
from amosheets.engine.run import Engine, Options, Outcome, request_line
from amosheets.errors import AmosheetsError, ExitStatus, most_severe
from amosheets.i18n import _

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
    if len(by_account) > 1:
        progress = None  # bars drawn by several accounts at once would garble the terminal

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
    elif "fork" in multiprocessing.get_all_start_methods():
        done = _in_processes(by_account, one_account)
    else:
        done = _in_threads(by_account, one_account, deadline)
    order = {p.name: i for i, p in enumerate(pairs)}
    return sorted(done, key=lambda r: order[r.pair.name])


OneAccount = Callable[[AccountConfig, list[PairConfig]], list[PairResult]]


def _in_processes(by_account: dict[AccountConfig, list[PairConfig]], one_account: OneAccount) -> list[PairResult]:
    """Each account in a process of its own: the accounts' work (reading, planning, each request's JSON)
    then shares no interpreter lock, and ten accounts of 1,000 rows take about as long as the slowest.

    A forked child has the parent's settings and output as they are (nothing is pickled on the way in);
    its results come back through a pipe. Ctrl-C reaches every process of the terminal's group: each
    child stops as a single run would (its state records it), and this one says so."""
    fork = multiprocessing.get_context("fork")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or a child would write what is buffered here once more
    children = []
    for account, its in by_account.items():
        reader, writer = fork.Pipe(duplex=False)
        child = fork.Process(target=_child, args=(one_account, account, its, writer), name=f"account {account.name}")
        child.start()
        writer.close()
        children.append((child, reader, its))
    done: list[PairResult] = []
    try:
        for child, reader, its in children:
            try:
                done.extend(reader.recv())
            except EOFError:  # it died without a word (killed): its pairs did not finish
                done.extend(PairResult(p, error=_stopped(child.exitcode)) for p in its)
            child.join()
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reached the children too; a SIGINT sent to this process alone did not.
        for child, _reader, _result in children:
            child.join(timeout=2)
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGINT)
            child.join(timeout=30)
        raise
    return done


def _child(one_account: OneAccount, account: AccountConfig, its: list[PairConfig], writer: Connection) -> None:
    code = 0
    try:
        writer.send(one_account(account, its))
    except KeyboardInterrupt:
        code = int(ExitStatus.INTERRUPTED)
    except BaseException as e:  # the parent says it, under the pairs' names
        writer.send([PairResult(p, error=_portable(e)) for p in its])
    finally:
        writer.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # nothing of the parent's exit handlers (its lock files, its logs) runs twice


def _portable(e: BaseException) -> Exception:
    """An error as it can cross a pipe: a class with its own arguments may not unpickle."""
    if isinstance(e, AmosheetsError):
        error = AmosheetsError(e.message, e.hint)
        error.exit_status = e.exit_status
        return error
    return RuntimeError(f"{type(e).__name__}: {e}")


def _stopped(exitcode: int | None) -> AmosheetsError:
    return AmosheetsError(
        _("the process syncing this pair stopped without a result (exit code {code}).").format(code=exitcode)
    )


def _in_threads(
    by_account: dict[AccountConfig, list[PairConfig]], one_account: OneAccount, deadline: Deadline
) -> list[PairResult]:
    """Where a process cannot be forked (Windows): the accounts in threads of this process."""
    done: list[PairResult] = []
    with ThreadPoolExecutor(max_workers=len(by_account), thread_name_prefix="account") as pool:
        futures = [pool.submit(one_account, a, its) for a, its in by_account.items()]
        try:
            for f in futures:
                done.extend(f.result())
        except KeyboardInterrupt:
            # Ctrl-C reaches this thread only: the others stop at their next request, as one run would.
            deadline.cancel()
            raise
    return done


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
