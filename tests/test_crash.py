"""Crash safety, the mbsync way: run a scenario once to count its steps, then for every step kill
the run (SIGKILL) right there, resume, and check the result is the same as an uninterrupted run's.

A step is one request to either service. Each is tried twice: killed just *before* the service
processes it (the request never arrived) and just *after* (it was carried out, but the answer
never reached the tool: the worst case for a create).

People keep working in the sheet meanwhile: between the kill and the resume they edit cells,
sort the rows or insert rows above the data. The expected end is then the uninterrupted run
followed by the same edit (defined by content, so it applies alike after either run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from amosheets.errors import ExitStatus
from amosheets.sandbox import SAMPLE_HEADERS, Sandbox
from amosheets.sandbox.server import Request

from .conftest import ROOT, World


def scenario(w: World) -> None:
    """A sheet and an account that were in sync, then changed on both sides, plus new rows and a new deal."""
    w.set_rows(
        [
            ["", "Анна", "+7 1", "anna@x.ru", "100", "", ""],
            ["", "Борис", "", "", "200", "Переговоры", ""],
        ],
        # The sync column is written in the same requests as the rest: a kill must leave it no worse.
        [*SAMPLE_HEADERS, "Синхронизация"],
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
    """Everything that must come out the same, without ids (they differ between runs).

    The sync column is left out: a killed run's rows say less there (what it did before the kill is
    not reported), and its times differ.
    """
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
    # No rate limit: pacing is not under test here, and without it every crash point runs 3x faster.
    sb = Sandbox(rate_limit=None).start()
    sb.new_spreadsheet([])
    (tmp / "state").mkdir(parents=True)
    env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(tmp / "state"), "AMOSHEETS_AMOCRM_RATE": "1000"}
    return World(sb, env)


PHASES = ("before", "after")
NAME, EMAIL, PRICE = 1, 3, 4  # columns of SAMPLE_HEADERS


def row_named(w: World, name: str) -> int:
    """The sheet row whose Имя is ``name``: edits follow content, so they apply alike after any run."""
    hits = [i + 1 for i, r in enumerate(w.rows()) if i and len(r) > NAME and r[NAME] == name]
    assert len(hits) == 1, f"expected one row named {name!r}, found rows {hits}"
    return hits[0]


def set_cell(w: World, name: str, column: int, value: str) -> None:
    w.sb.sheets.edit_cell(w.sid, w.tab, f"{'ABCDEFG'[column]}{row_named(w, name)}", value)


def edit_cells(w: World) -> None:
    """Сумма of one row new in the scenario, Имя of another, and a cell of a row synced before it."""
    set_cell(w, "Глеб", PRICE, "444")
    set_cell(w, "Дина", NAME, "Дина Кузнецова")
    set_cell(w, "Борис", EMAIL, "boris@x.ru")


def sort_by_name(w: World) -> None:
    """Data → Sort range: whole rows, by Имя, Z→A."""
    w.sb.sheets.sort_rows(w.sid, w.tab, NAME, descending=True)


def insert_above(w: World) -> None:
    """A blank row and a new row above the data: every row moves down two."""
    w.sb.sheets.insert_rows(w.sid, w.tab, 2, 2)
    w.sb.sheets.set_values(w.sid, w.tab, [["", "Жанна", "", "", "700", "", ""]], start="A3")


# What people do between the killed run and the next one.
EDITS: dict[str, Callable[[World], None]] = {
    "none": lambda w: None,
    "cells": edit_cells,
    "sort": sort_by_name,
    "insert": insert_above,
}


def count_steps() -> int:
    """How many requests the scenario's run sends: each is a crash point."""
    with tempfile.TemporaryDirectory() as tmp:
        w = fresh_world(Path(tmp))
        try:
            scenario(w)
            counter = Killer(None, "before")
            run_killable(w, counter)
            return counter.count
        finally:
            w.sb.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A reference per edit; one test per crash point and edit, so that the ids say which ones fail."""
    if "reference" in metafunc.fixturenames:
        metafunc.parametrize("reference", list(EDITS), indirect=True, scope="module")
    if "crash_point" in metafunc.fixturenames:
        steps = count_steps()
        points = [(phase, step) for phase in PHASES for step in range(1, steps + 1)]
        metafunc.parametrize("crash_point", points, ids=[f"{phase}-step{step}of{steps}" for phase, step in points])


@dataclass(frozen=True)
class Reference:
    kind: str
    steps: int
    expected: tuple


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The uninterrupted run, then the edit, then runs until all is done: the run's steps and the end."""
    kind = request.param
    w = fresh_world(tmp_path_factory.mktemp(f"reference-{kind}"))
    try:
        scenario(w)
        counter = Killer(None, "before")
        assert run_killable(w, counter) == 0
        EDITS[kind](w)
        converge(w)
        return Reference(kind, counter.count, snapshot(w))
    finally:
        w.sb.close()


def assert_nothing_doubled(w: World) -> None:
    """Every name in the scenario is distinct: a name twice in amoCRM is a deal made twice."""
    names = Counter(lead["name"] for lead in w.sb.amocrm.leads())
    assert not [n for n, k in names.items() if k > 1], f"deals made twice: {names}"
    ids = Counter(str(r[0]) for r in w.rows()[1:] if r and r[0])
    assert not [i for i, k in ids.items() if k > 1], f"a lead_id on two rows: {ids}"


def test_the_scenario_exercises_every_kind_of_write_and_each_edit_shows(reference):
    sheet, crm, nrows, blanks = reference.expected
    names = {c[0] for c in crm}
    assert reference.steps >= 10 and not blanks
    assert ("Анна", "+7 11", "anna@x.ru", "150", "Первичный контакт", "Воронка") in sheet
    boris = "boris@x.ru" if reference.kind == "cells" else ""
    assert ("Борис", "", boris, "250", "Переговоры", "Воронка") in sheet
    if reference.kind == "insert":
        assert len(crm) == 7 and nrows == 9 and "Жанна" in names
    else:
        assert len(crm) == 6 and nrows == 7
    if reference.kind == "cells":
        assert ("Глеб", "+7 4", "", "444", "Первичный контакт", "Воронка") in sheet
        assert "Дина Кузнецова" in names and "Дина" not in names


def test_killed_at_every_step_then_edited_converges_as_if_uninterrupted(reference, crash_point, tmp_path):
    phase, step = crash_point
    w = fresh_world(tmp_path)
    try:
        scenario(w)
        killer = Killer(step, phase)
        code = run_killable(w, killer)
        assert killer.fired and code == -signal.SIGKILL, (step, code)
        EDITS[reference.kind](w)
        converge(w)
        assert_nothing_doubled(w)
        got = snapshot(w)
        assert got == reference.expected, f"killed {phase} step {step} of {reference.steps}, then {reference.kind}"
    finally:
        w.sb.close()
