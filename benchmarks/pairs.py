"""The rows of amosheets.toml's several pairs (issue 12): ``python -m benchmarks --pairs``.

pairs-idle-3: one account, one spreadsheet with three tabs, each the pair of one pipeline, 1,000 synced rows each.
An idle ``sync`` of all three pairs must cost as many amoCRM requests as the same idle run with a config of one
pair: the engine lists an account's changes once and shares them among its pairs.

accounts-10-push-1k: ten accounts, each with a tab of its own of 1,000 new rows. Each account pushed alone
(``--pair NAME``), then all ten in one run (in a fresh sandbox of ten empty accounts, so it has the same work):
the accounts are independent, so the run of ten should take little longer than the slowest alone (ratio ≤ 1.2),
and each account keeps to its own 7 requests a second.

Runs go through the CLI as the other scenarios do, with ``amosheets --config PATH <cmd> [--pair NAME]… --json``.
Both emulators run in this process, in the modes of benchmarks/world.py (setup fast, measured with amoCRM's real
rate limit and latency, applied to every account).
"""

from __future__ import annotations

import gc
import os
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amosheets.sandbox import SAMPLE_HEADERS, Sandbox
from benchmarks.measure import ToolRun, run_tool, tool_env
from benchmarks.scenarios import (
    CHANGE_LISTINGS,
    CREATE_BATCH,
    IDLE_COUNTS,
    Result,
    batches,
)
from benchmarks.world import (
    AMO_LATENCY,
    AMO_RATE_LIMIT,
    CLOCK_STEP,
    SETUP_CLIENT_RATE,
    SHEETS_QUOTA,
    Scratch,
    SetupError,
)

RATIO_TARGET = 1.2  # the run of ten accounts / the slowest account alone
CONFIG = "amosheets.toml"


@dataclass(frozen=True)
class Pair:
    name: str
    tab: str
    account: int  # index in the sandbox's accounts; 0 is the environment's
    pipeline: str = "*"


class PairsWorld(Scratch):
    """A sandbox of ``accounts`` amoCRM accounts and one spreadsheet, a state directory, amosheets.toml files."""

    def __init__(self, accounts: int = 1, headers: Sequence[str] = SAMPLE_HEADERS) -> None:
        sb = Sandbox(rate_limit=None, read_quota=None, write_quota=None, accounts=accounts)
        super().__init__(sb, headers, "amosheets-bench-pairs-")
        self.headers = list(headers)

    @property
    def sid(self) -> str:
        assert self.sb.spreadsheet_id
        return self.sb.spreadsheet_id

    # -- the sheet ------------------------------------------------------------------
    def add_tab(self, tab: str) -> None:
        """A tab with the header row (the spreadsheet's first tab, ``sb.worksheet``, is there already)."""
        if tab not in self.sb.sheets.sheet_titles(self.sid):
            self.sb.sheets.add_sheet(self.sid, tab)
        self.sb.sheets.set_values(self.sid, tab, [self.headers])

    def rows(self, tab: str) -> list[list[Any]]:
        return self.sb.sheets.values(self.sid, tab)[1:]

    def lead_ids(self, tab: str) -> list[int]:
        return [int(r[0]) for r in self.rows(tab) if r and str(r[0]).isdigit()]

    # -- amosheets.toml ---------------------------------------------------------------
    def config(self, pairs: Sequence[Pair], file: str = CONFIG) -> Path:
        """An amosheets.toml with ``pairs`` (each naming the spreadsheet) and the sections of their accounts."""
        text = []
        for p in pairs:
            text.append(self.sb.pair_section(p.account, name=p.name, tab=p.tab, pipeline=p.pipeline))
            text[-1] += f'sheet = "{self.sid}"\n'
        accounts = sorted({p.account for p in pairs if p.account})
        if accounts:
            text.append(self.sb.account_sections(accounts))
        path = self.dir / file
        path.write_text("\n".join(text), encoding="utf-8")
        return path

    # -- modes ----------------------------------------------------------------------
    def setup_mode(self) -> None:
        for amo in self.sb.accounts:
            amo.configure(rate_limit=None)
            amo.latency = 0.0
        self.sb.sheets.set_quotas(None, None)
        self.measured = False

    def measured_mode(self) -> None:
        for amo in self.sb.accounts:
            amo.configure(rate_limit=AMO_RATE_LIMIT)
            amo.latency = AMO_LATENCY
        self.sb.sheets.set_quotas(SHEETS_QUOTA, SHEETS_QUOTA)
        self.measured = True

    def advance(self, seconds: float = CLOCK_STEP) -> None:
        for amo in self.sb.accounts:
            amo.clock.advance(seconds)

    def env(self) -> dict[str, str]:
        extra = {**self.sb.env(), **self.sb.account_env(), "AMOSHEETS_STATE_DIR": str(self.state_dir)}
        if not self.measured:
            extra["AMOSHEETS_AMOCRM_RATE"] = SETUP_CLIENT_RATE
        return tool_env(dict(os.environ), extra)

    # -- running the tool -----------------------------------------------------------
    def run(self, config: Path, command: str, *args: str, pairs: Sequence[str] = ()) -> ToolRun:
        """``amosheets --config CONFIG <command> [ARGS]… [--pair NAME]… --json``."""
        argv = ["--config", str(config), command, *args]
        for name in pairs:
            argv += ["--pair", name]
        return run_tool([*argv, "--json"], self.env(), cwd=self.dir)

    def setup_run(self, config: Path, command: str, *args: str) -> ToolRun:
        assert not self.measured
        r = self.run(config, command, *args)
        if r.exit_code != 0 or not r.summary:
            raise SetupError(r.describe())
        return r

    def measure(self, config: Path, command: str, *pairs: str) -> tuple[ToolRun, list[dict[str, Any]], dict]:
        """The measured run: every emulator's counters reset just before; returns it with each account's counters
        (in the order of ``sb.accounts``) and the Sheets emulator's."""
        if not self.measured:
            self.measured_mode()
        for amo in self.sb.accounts:
            amo.reset_stats()
        self.sb.sheets.reset_stats()
        gc.collect()  # as World.measure: no full collection over the emulators' objects mid-run
        gc.freeze()
        gc.disable()
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            r = self.run(config, command, pairs=pairs)
        finally:
            gc.enable()
            gc.unfreeze()
        after = resource.getrusage(resource.RUSAGE_SELF)
        # The emulators live in this process: what they cost is not the tool's (they share one interpreter lock,
        # where ten real accounts are ten servers).
        self.sandbox_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return r, [amo.stats() for amo in self.sb.accounts], self.sb.sheets.stats()

    def settle(self, config: Path, rows: dict[str, int]) -> None:
        """Setup mode: ``pull --all`` (each tab in ``rows`` must get that many rows), then a ``sync`` that
        changes nothing; the clock moves on by CLOCK_STEP before each and after. Leaves the world measured."""
        self.setup_mode()
        self.advance()
        self.setup_run(config, "pull", "--all")
        got = {tab: len(self.lead_ids(tab)) for tab in rows}
        if got != rows:
            raise SetupError(f"pull --all filled the tabs with {got} rows, expected {rows}")
        self.advance()
        r = self.setup_run(config, "sync")
        busy = {k: total(r.summary, k) for k in ("created", "leads_updated", "cells_written", "rows_appended")}
        if any(busy.values()):
            raise SetupError(f"the sync after pull --all still changed something: {busy}")
        self.advance()
        self.measured_mode()


def total(summary: dict[str, Any], key: str) -> int:
    """``key`` of a --json summary, summed over its pairs if it reports them one by one (``pairs``: a list of
    summaries or a mapping of name → summary); else the top-level figure."""
    if key in summary:
        return int(summary.get(key) or 0)
    pairs = summary.get("pairs")
    each = pairs.values() if isinstance(pairs, dict) else pairs if isinstance(pairs, list) else []
    return sum(int(p.get(key) or 0) for p in each if isinstance(p, dict))


def combined(stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several accounts' counters as one row shows them: sums, and the highest ``max_requests_in_1s``."""
    by_route: dict[str, int] = {}
    for s in stats:
        for route, n in s.get("by_route", {}).items():
            by_route[route] = by_route.get(route, 0) + n
    out: dict[str, Any] = {k: sum(int(s.get(k) or 0) for s in stats) for k in ("requests", "mutating", "rate_limited")}
    out["max_requests_in_1s"] = max((int(s.get("max_requests_in_1s") or 0) for s in stats), default=0)
    out["by_route"] = by_route
    return out


def new_rows(n: int, account: int) -> list[list[Any]]:
    """``n`` rows without a lead_id, as push-create-10k's (name, phone, e-mail, price), distinct per account."""
    return [
        [
            "",
            f"Клиент {account + 1}-{i + 1}",
            f"+7 916 {account:02d}{i:05d}",
            f"a{account + 1}.{i + 1}@example.com",
            1000 + i,
            "",
            "",
        ]
        for i in range(n)
    ]


# -- pairs-idle-3 -----------------------------------------------------------------------------------------
IDLE_TABS = ("Сделки", "Сделки 2", "Сделки 3")
IDLE_PIPELINES = ("Воронка", "Воронка 2", "Воронка 3")  # the account's main pipeline and two more


def idle_setup(n: int) -> tuple[PairsWorld, Path, Path, list[Pair]]:
    """One account with three pipelines of ``n`` deals each; three tabs, three pairs; two configs (all three
    pairs, the first alone); the state settled. The caller closes the world."""
    w = PairsWorld(accounts=1)
    try:
        amo = w.sb.amocrm
        for name in IDLE_PIPELINES[1:]:
            amo.add_pipeline(name, ["Первичный контакт", "Переговоры"])
        ids = {p["name"]: p["id"] for p in amo.pipelines()}
        pairs = []
        for i, (tab, pipeline) in enumerate(zip(IDLE_TABS, IDLE_PIPELINES, strict=True)):
            w.add_tab(tab)
            if n:
                amo.seed_bulk(n, pipeline_id=ids[pipeline])
            pairs.append(Pair(f"p{i + 1}", tab, 0, pipeline))
        all_three = w.config(pairs, "all-three.toml")
        one = w.config(pairs[:1], "one.toml")
    except BaseException:
        w.close()
        raise
    return w, all_three, one, pairs


def pairs_idle(name: str, n: int) -> list[Result]:
    res = Result(
        name, 3 * n, f"sync of three pairs (three tabs ↔ three pipelines of one account), {n:,} synced rows each"
    )
    one_res = Result(f"{name} (1 pair)", n, f"the same idle sync with a config of the first pair alone ({n:,} rows)")
    w, all_three, one, pairs = idle_setup(n)
    with w:
        w.settle(all_three, {p.tab: n for p in pairs})
        run, amo, sheets = w.measure(all_three, "sync")
        res.take(run, amo[0], sheets)
        w.advance()
        run1, amo1, sheets1 = w.measure(one, "sync")
        one_res.take(run1, amo1[0], sheets1)
        counts = {tab: len(w.lead_ids(tab)) for tab in IDLE_TABS}
    res.bound_requests = one_res.bound_requests = CHANGE_LISTINGS
    for r in (res, one_res):
        if r.run is not None:
            busy = {k: total(r.run.summary, k) for k in IDLE_COUNTS}
            r.check(not any(busy.values()), f"an idle run changed something: {busy}")
    n_req, m_req = _work(res.amo), _work(one_res.amo)
    res.notes.append(f"3 pairs: {n_req} amoCRM requests; 1 pair: {m_req}")
    res.check(n_req == m_req, f"three pairs cost {n_req} amoCRM requests, one pair {m_req}: expected the same")
    if n_req != m_req:
        res.notes.append(f"by route: {res.amo.get('by_route')} vs {one_res.amo.get('by_route')}")
    res.check(counts == dict.fromkeys(IDLE_TABS, n), f"the tabs hold {counts} rows, expected {n} each")
    return [res, one_res]


def _work(stats: dict[str, Any]) -> int:
    """Requests less those answered 429 (each was sent again)."""
    return int(stats.get("requests", 0)) - int(stats.get("rate_limited") or 0)


# -- accounts-10-push-1k ----------------------------------------------------------------------------------
ACCOUNTS = 10


def accounts_setup(accounts: int, n: int) -> tuple[PairsWorld, Path, list[Pair]]:
    """``accounts`` empty accounts, each with a tab of ``n`` new rows and a pair (its main pipeline); the state
    settled (a cursor for each pair, so no run is a first one). The caller closes the world."""
    w = PairsWorld(accounts=accounts)
    try:
        pairs = [Pair(w.sb.account_name(i), w.sb.account_tab(i), i, "Воронка") for i in range(accounts)]
        for p in pairs:
            w.add_tab(p.tab)
        config = w.config(pairs)
    except BaseException:
        w.close()
        raise
    return w, config, pairs


def _fill(w: PairsWorld, pairs: Sequence[Pair], n: int) -> None:
    for p in pairs:
        w.sb.sheets.set_values(w.sid, p.tab, new_rows(n, p.account), start="A2")


def accounts_push(name: str, accounts: int, n: int) -> list[Result]:
    res = Result(
        name,
        accounts * n,
        f"push of {accounts} pairs on {accounts} accounts in one run, {n:,} new rows each (a tab per account)",
    )
    alone = Result(f"{name} (alone)", n, f"the slowest of the {accounts} accounts pushed alone (--pair NAME)")
    per_account = CHANGE_LISTINGS + batches(n, CREATE_BATCH)
    res.bound_requests = alone.bound_requests = per_account  # the accounts' limits are their own: in parallel

    # Each account alone, one after another, in one sandbox: a push touches only its own account and tab.
    w, config, pairs = accounts_setup(accounts, n)
    walls: list[float] = []
    with w:
        w.settle(config, {p.tab: 0 for p in pairs})
        _fill(w, pairs, n)
        slowest: tuple[float, ToolRun, dict[str, Any], dict[str, Any]] | None = None
        for i, p in enumerate(pairs):
            run, amo, sheets = w.measure(config, "push", p.name)
            walls.append(run.wall)
            others = [s["requests"] for j, s in enumerate(amo) if j != i]
            alone.check(not any(others), f"{p.name} alone: other accounts got {sum(others)} requests")
            _check_push(alone, w, [p], n, run, f"{p.name} alone: ")
            if amo[i].get("max_requests_in_1s", 0) > AMO_RATE_LIMIT:
                alone.failures.append(f"{p.name} alone: {amo[i]['max_requests_in_1s']} requests in 1 s")
            if slowest is None or run.wall > slowest[0]:
                slowest = (run.wall, run, amo[i], sheets)
            w.advance()
        assert slowest is not None
        alone.take(slowest[1], slowest[2], slowest[3])
        alone.notes.append("each alone, s: " + ", ".join(f"{x:.2f}" for x in walls))

    # All of them in one run, in a fresh sandbox with the same work.
    w, config, pairs = accounts_setup(accounts, n)
    with w:
        w.settle(config, {p.tab: 0 for p in pairs})
        _fill(w, pairs, n)
        run, amo, sheets = w.measure(config, "push")
        res.take(run, combined(amo), sheets)
        res.notes.append(f"sandbox CPU {w.sandbox_cpu:.2f} s")
        _check_push(res, w, pairs, n, run, "")
        peaks = [int(s.get("max_requests_in_1s") or 0) for s in amo]
    res.check(max(peaks) <= AMO_RATE_LIMIT, f"an account got more than {AMO_RATE_LIMIT} requests in 1 s: {peaks}")
    slowest_wall = max(walls)
    ratio = run.wall / slowest_wall if slowest_wall else float("inf")
    res.notes.append(
        f"total {run.wall:.2f} s vs slowest alone {slowest_wall:.2f} s: {ratio:.2f}× (target ≤ {RATIO_TARGET})"
    )
    res.notes.append("max/1s by account: " + ", ".join(map(str, peaks)))
    res.check(ratio <= RATIO_TARGET, f"ten accounts took {ratio:.2f}× the slowest alone, target ≤ {RATIO_TARGET}")
    return [res, alone]


def _check_push(res: Result, w: PairsWorld, pairs: Sequence[Pair], n: int, run: ToolRun, prefix: str) -> None:
    created = total(run.summary, "created")
    res.check(created == n * len(pairs), f"{prefix}created {created}, expected {n * len(pairs)}")
    for p in pairs:
        made = len(w.sb.accounts[p.account].leads())
        ids = w.lead_ids(p.tab)
        res.check(made == n, f"{prefix}account {p.name} has {made} leads, expected {n}")
        res.check(len(set(ids)) == n == len(ids), f"{prefix}tab {p.tab!r} has {len(set(ids))} lead_ids, expected {n}")


# -- the rows ---------------------------------------------------------------------------------------------
@dataclass
class Rows:
    """A job that gives several rows of the table."""

    name: str
    run: Callable[[int], list[Result]]  # called with the scale divisor (1, or 10 for --quick)


ROWS = [
    Rows("pairs-idle-3", lambda d: pairs_idle("pairs-idle-3", 1_000 // d)),
    Rows("accounts-10-push-1k", lambda d: accounts_push("accounts-10-push-1k", ACCOUNTS, 1_000 // d)),
]
NAMES = [r.name for r in ROWS]
