"""A sandbox for one scenario: both emulators in this process, a state directory, and runs of the tool.

Two modes. *Setup* makes building a synced state fast: the amoCRM emulator without its rate limit
or latency, the tool's client allowed 1000 requests a second (``AMOSHEETS_AMOCRM_RATE``, accepted
only for a loopback sandbox), Sheets quotas off. *Measured* is the real thing: amoCRM answers 429
beyond 7 requests in a sliding second and takes 0.25 s per request; Sheets allows 60 reads and 60
writes a minute; the tool runs with its default settings.
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from amosheets.sandbox import SAMPLE_HEADERS, Sandbox
from amosheets.sandbox.server import MUTATING_METHODS, Request
from benchmarks.measure import ToolRun, run_tool, tool_env

AMO_RATE_LIMIT = 7  # amoCRM's real limit: requests per sliding second
AMO_LATENCY = 0.25  # seconds per amoCRM request
SHEETS_QUOTA = 60  # Sheets requests per minute per user, reads and writes each
SETUP_CLIENT_RATE = "1000"  # AMOSHEETS_AMOCRM_RATE during setup only
CLOCK_STEP = 600  # seconds the amoCRM clock moves between setup phases (well past the tool's 60 s overlap)

COL = {h: i for i, h in enumerate(SAMPLE_HEADERS)}  # lead_id, Имя, Телефон, Email, Сумма, Статус, Воронка

# The requests that read the fields' catalog (custom fields, users, time zone): one round of four at once,
# on a state's first run, then cached in the state for a day.
CATALOG_ROUTES = (
    "GET /api/v4/leads/custom_fields",
    "GET /api/v4/contacts/custom_fields",
    "GET /api/v4/users",
    "GET /api/v4/account",
)


def catalog_requests(stats: dict[str, Any]) -> int:
    """How many of the requests in an amoCRM emulator's ``stats()`` read the fields' catalog."""
    by_route = stats.get("by_route", {})
    return sum(n for route, n in by_route.items() if route.startswith(CATALOG_ROUTES))


class SetupError(RuntimeError):
    """Building the scenario's starting state failed: nothing can be measured."""


ScratchT = TypeVar("ScratchT", bound="Scratch")


class Scratch:
    """A started sandbox with an empty spreadsheet (``headers`` only), and a scratch directory holding the
    state; closing stops the one and removes the other."""

    def __init__(self, sb: Sandbox, headers: Sequence[str], prefix: str) -> None:
        self.sb = sb.start()
        self.sb.new_spreadsheet([], list(headers))
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.state_dir = self.dir / "state"
        self.state_dir.mkdir()
        self.measured = False

    def close(self) -> None:
        self.sb.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self: ScratchT) -> ScratchT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class World(Scratch):
    def __init__(self, headers: Sequence[str] = SAMPLE_HEADERS) -> None:
        super().__init__(Sandbox(rate_limit=None, read_quota=None, write_quota=None), headers, "amosheets-bench-")
        self.width = len(headers)
        self.first_run: dict[str, Any] = {}  # amoCRM's counters of the setup's first run (pull --all)

    # -- shortcuts --------------------------------------------------------------------
    @property
    def amo(self) -> Any:
        return self.sb.amocrm

    @property
    def sheets(self) -> Any:
        return self.sb.sheets

    @property
    def sid(self) -> str:
        assert self.sb.spreadsheet_id
        return self.sb.spreadsheet_id

    @property
    def tab(self) -> str:
        return self.sb.worksheet

    def rows(self) -> list[list[Any]]:
        """The data rows (below the header), as the sheet shows them."""
        return self.sheets.values(self.sid, self.tab)[1:]

    # -- modes ----------------------------------------------------------------------
    def setup_mode(self) -> None:
        self.amo.configure(rate_limit=None)
        self.amo.latency = 0.0
        self.sheets.set_quotas(None, None)
        self.measured = False

    def measured_mode(self) -> None:
        self.amo.configure(rate_limit=AMO_RATE_LIMIT)
        self.amo.latency = AMO_LATENCY
        self.sheets.set_quotas(SHEETS_QUOTA, SHEETS_QUOTA)
        self.measured = True

    def env(self) -> dict[str, str]:
        extra = {**self.sb.env(), "AMOSHEETS_STATE_DIR": str(self.state_dir)}
        if not self.measured:
            extra["AMOSHEETS_AMOCRM_RATE"] = SETUP_CLIENT_RATE
        return tool_env(dict(os.environ), extra)

    def advance(self, seconds: float = CLOCK_STEP) -> None:
        self.amo.clock.advance(seconds)

    # -- running the tool -----------------------------------------------------------
    def run(self, *args: str) -> ToolRun:
        return run_tool([*args, "--json"], self.env(), cwd=self.dir)

    def setup_run(self, *args: str) -> ToolRun:
        """An untimed run while building the state; it must succeed."""
        assert not self.measured
        r = self.run(*args)
        if r.exit_code != 0 or not r.summary:
            raise SetupError(r.describe())
        return r

    def force_args(self, command: str) -> list[str]:
        """``--force`` if this command has it: a scenario that changes most rows on purpose passes the guard rail."""
        return ["--force"] if _has_force(command) else []

    def measure(self, *args: str) -> tuple[ToolRun, dict[str, Any], dict[str, Any]]:
        """The measured run: counters reset just before; returns it with both emulators' counters (the Sheets
        emulator's with ``writes``: each write request's ``METHOD route`` and body size in bytes, in order)."""
        if not self.measured:
            self.measured_mode()
        self.amo.reset_stats()
        self.sheets.reset_stats()
        writes: list[tuple[str, int]] = []

        def record(phase: str, req: Request) -> None:
            if phase == "before" and req.method in MUTATING_METHODS:
                writes.append((f"{req.method} {self.sheets.route_name(req.path)}", len(req.body)))

        self.sheets.hook = record
        # The emulators share this process: a full garbage collection over 100 000 leads' objects would
        # stall their threads mid-run (noise in the tool's wall time). Collect now, freeze, and keep it off.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            r = self.run(*args)
        finally:
            gc.enable()
            gc.unfreeze()
            self.sheets.hook = None
        return r, self.amo.stats(), {**self.sheets.stats(), "writes": writes}

    # -- building a synced state ----------------------------------------------------
    def build_synced(self, n: int, extras: Callable[[int], dict[str, Any]] | None = None) -> list[int]:
        """``n`` leads in amoCRM (each with a contact), all of them in the sheet and in the state.

        seed_bulk (then, with ``extras``, ``edit_lead(id, **extras(i))`` on the i-th lead: custom
        field values, tags, the responsible user), then ``pull --all`` and one ``sync``, in setup
        mode; the clock moves on by CLOCK_STEP before each so that nothing made during setup is
        inside the next run's window (the tool's cursor reaches 60 s back). Leaves the world in
        measured mode, the clock moved on once more. Returns the lead ids. amoCRM's counters of the
        ``pull --all`` (the state's first run, which reads the fields' catalog) are in ``first_run``.
        """
        self.setup_mode()
        ids = self.amo.seed_bulk(n) if n else []
        if extras is not None:
            for i, lid in enumerate(ids):
                self.amo.edit_lead(lid, **extras(i))
        self.advance()
        self.amo.reset_stats()
        r = self.setup_run("pull", "--all")
        self.first_run = self.amo.stats()
        if r.summary.get("rows_appended") != n:
            raise SetupError(f"pull --all appended {r.summary.get('rows_appended')} rows, expected {n}")
        self.advance()
        r = self.setup_run("sync")
        busy = {k: r.summary.get(k) for k in ("created", "leads_updated", "cells_written", "rows_appended")}
        if any(busy.values()):
            raise SetupError(f"the sync after pull --all still changed something: {busy}")
        self.advance()
        self.measured_mode()
        return ids


@functools.cache
def _has_force(command: str) -> bool:
    """Whether ``amosheets <command>`` takes --force (the guard rail against mass changes is new)."""
    r = run_tool([command, "--help"], tool_env(dict(os.environ), {}), cwd=Path(tempfile.gettempdir()))
    return "--force" in r.stdout
