"""Crash safety, the mbsync way: run a scenario once to count its steps, then for every step kill
the run (SIGKILL) right there, resume, and check the result is the same as an uninterrupted run's.

A step is one request to either service. Each is tried twice: killed just *before* the service
processes it (the request never arrived) and just *after* (it was carried out, but the answer
never reached the tool: the worst case for a create).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from amosheets.errors import ExitStatus
from amosheets.sandbox import Sandbox
from amosheets.sandbox.server import Request

from .conftest import ROOT, World


def scenario(w: World) -> None:
    """A sheet and an account that were in sync, then changed on both sides, plus new rows and a new deal."""
    w.set_rows(
        [
            ["", "Анна", "+7 1", "anna@x.ru", "100", "", ""],
            ["", "Борис", "", "", "200", "Переговоры", ""],
        ]
    )
    assert w.run("sync").exit_status == ExitStatus.OK
    _, b = sorted(w.by_lead())
    w.sb.amocrm.clock.advance(120)
    w.sb.sheets.edit_cell(w.sid, w.tab, "E2", "150")  # Анна's price, in the sheet
    w.sb.sheets.edit_cell(w.sid, w.tab, "C2", "'+7 11")  # Анна's phone, in the sheet
    w.sb.amocrm.edit_lead(b, price=250)  # Борис's price, in amoCRM
    w.sb.amocrm.create_lead("Вера из CRM", price=300, phone="+7 3")  # a new deal, to be appended
    w.sb.sheets.set_values(
        w.sid,
        w.tab,
        [
            ["", "Глеб", "+7 4", "", "400", "", ""],
            ["", "Дина", "", "dina@x.ru", "500", "Принимают решение", ""],
            ["", "Ева", "", "", "", "", ""],
        ],
        start="A4",
    )


def snapshot(w: World) -> tuple:
    """Everything that must come out the same, without ids (they differ between runs)."""
    sheet = []
    for _, r in sorted(w.by_lead().items()):
        sheet.append(tuple(r[1:7]))
    crm = []
    for lead in w.sb.amocrm.leads():
        contact = w.sb.amocrm.main_contact_of(lead["id"])
        phones = emails = ()
        if contact:
            for f in contact.get("custom_fields_values") or []:
                vals = tuple(v["value"] for v in f["values"])
                if f["field_code"] == "PHONE":
                    phones = vals
                elif f["field_code"] == "EMAIL":
                    emails = vals
        crm.append((lead["name"], lead["price"], lead["status_id"], phones, emails))
    blank_ids = [r for r in w.rows()[1:] if r and r[0] in ("", None)]
    return sorted(sheet), sorted(crm), len(w.rows()), blank_ids


def converge(w: World) -> None:
    for _ in range(3):
        if w.run("sync").exit_status == ExitStatus.OK:
            break
    w.reset_stats()
    out = w.run("sync")
    amo, sheets = w.stats()
    assert out.exit_status == ExitStatus.OK and amo["mutating"] == 0 and sheets["mutating"] == 0, out.problems


class Killer:
    """Counts requests across both emulators and SIGKILLs the tool at the chosen one."""

    def __init__(self, target: int | None, phase: str) -> None:
        self.target, self.phase = target, phase
        self.count = 0
        self.pid: int | None = None
        self.fired = False
        self.lock = threading.Lock()

    def __call__(self, phase: str, req: Request) -> bool:
        with self.lock:
            if phase == "before":
                self.count += 1
            if self.fired or phase != self.phase or self.count != self.target or self.pid is None:
                return False
            self.fired = True
            os.kill(self.pid, signal.SIGKILL)
            return phase == "before"  # killed before sending it: the service never sees it


def run_killable(w: World, killer: Killer, command: str = "sync") -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    env.update(w.env)
    w.sb.amocrm.hook = w.sb.sheets.hook = killer
    proc = subprocess.Popen(
        [sys.executable, "-m", "amosheets", command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killer.pid = proc.pid
    code = proc.wait(timeout=120)
    w.sb.amocrm.hook = w.sb.sheets.hook = None
    return code


def fresh_world(tmp: Path) -> World:
    sb = Sandbox().start()
    sb.new_spreadsheet([])
    (tmp / "state").mkdir(parents=True)
    return World(sb, {**sb.env(), "AMOSHEETS_STATE_DIR": str(tmp / "state")})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[int, tuple]:
    """The uninterrupted run: how many steps it takes and what it ends in."""
    w = fresh_world(tmp_path_factory.mktemp("reference"))
    try:
        scenario(w)
        counter = Killer(None, "before")
        assert run_killable(w, counter) == 0
        converge(w)
        return counter.count, snapshot(w)
    finally:
        w.sb.close()


def test_the_scenario_exercises_every_kind_of_write(reference):
    steps, (sheet, crm, nrows, blanks) = reference
    assert steps >= 10
    assert len(crm) == 6 and nrows == 7 and not blanks
    assert ("Анна", "+7 11", "anna@x.ru", "150", "Первичный контакт", "Воронка") in sheet
    assert ("Борис", "", "", "250", "Переговоры", "Воронка") in sheet


@pytest.mark.parametrize("phase", ["before", "after"])
def test_killed_at_every_step_the_next_run_converges_with_nothing_lost_or_doubled(reference, tmp_path, phase):
    steps, expected = reference
    tried = 0
    for step in range(1, steps + 1):
        w = fresh_world(tmp_path / f"{phase}-{step}")
        try:
            scenario(w)
            killer = Killer(step, phase)
            code = run_killable(w, killer)
            assert killer.fired and code == -signal.SIGKILL, (step, code)
            converge(w)
            assert snapshot(w) == expected, f"killed {phase} step {step} of {steps}"
            tried += 1
        finally:
            w.sb.close()
    assert tried == steps
