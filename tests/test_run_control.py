"""How a run ends and what it tells: its deadline, Ctrl-C, -v and --debug."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from amosheets.errors import ExitStatus

from .conftest import ROOT, World, interruptible


def last_run(w: World) -> dict:
    r = w.cli("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


# -- the deadline ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service", "args", "env", "setting"),
    [
        ("sheets", ("--deadline", "3"), {}, "--deadline"),
        ("amocrm", (), {"AMOSHEETS_DEADLINE": "3"}, "AMOSHEETS_DEADLINE"),
    ],
)
def test_a_stalled_service_ends_the_run_at_its_deadline(world: World, service, args, env, setting):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    stalled = getattr(world.sb, service)
    stalled.set_faults(rates={"stall": 1.0})  # every request waits for an answer that does not come
    try:
        r = world.cli(*args, "sync", env={**world.env, **env})
    finally:
        stalled.set_faults()
    assert r.returncode == ExitStatus.ERROR, r.stderr
    assert f"reached its deadline of 3 s ({setting}) and stopped" in r.stderr and "Traceback" not in r.stderr
    run = last_run(world)
    assert run["exit_status"] == ExitStatus.ERROR and "deadline" in run["problems"][0]
    again = world.cli("sync")  # the lock went with the stopped run
    assert again.returncode == 0, again.stderr
    assert len(world.by_lead()) == 1 and len(world.sb.amocrm.leads()) == 1


def test_the_deadline_setting_is_checked(world: World):
    r = world.cli("sync", env={**world.env, "AMOSHEETS_DEADLINE": "soon"})
    assert r.returncode == ExitStatus.CONFIG and "AMOSHEETS_DEADLINE is 'soon'" in r.stderr
    r = world.cli("--deadline", "-1", "sync")
    assert r.returncode == ExitStatus.CONFIG and "--deadline" in r.stderr


# -- Ctrl-C ---------------------------------------------------------------------------------
class Interrupter:
    """Sends SIGINT to the tool when it sends its second write to the sheet (the deals' IDs; the first
    puts the pending markers in), and holds that request back a moment so the signal lands while the
    tool waits for the answer."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.fired = threading.Event()
        self.writes = 0

    def __call__(self, phase: str, req) -> None:
        if phase == "before" and req.method == "POST" and "values:batchUpdate" in req.path:
            self.writes += 1
        if self.writes == 2 and self.pid and not self.fired.is_set():
            self.fired.set()
            os.kill(self.pid, signal.SIGINT)
            time.sleep(0.5)


def test_ctrl_c_during_a_push_says_so_and_records_what_was_done(world: World):
    world.set_rows([["", f"Клиент {i}", "", "", str(100 + i), "", ""] for i in range(5)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    interrupter = Interrupter()
    world.sb.sheets.hook = interrupter
    proc = subprocess.Popen(
        [sys.executable, "-m", "amosheets", "push"],
        env={**env, **world.env, "NO_COLOR": "1"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    interrupter.pid = proc.pid
    _, stderr = proc.communicate(timeout=120)
    world.sb.sheets.hook = None
    assert interrupter.fired.is_set()
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert "`amosheets push` was interrupted" in stderr and "the next run goes on" in stderr
    assert "Traceback" not in stderr
    run = last_run(world)
    assert run["exit_status"] == ExitStatus.INTERRUPTED and run["result"] == "interrupted"
    assert run["problems"] == ["interrupted"] and run["summary"]["created"] == 5
    r = world.cli("push")  # resumes: the ids reach the sheet, no deal is made twice
    assert r.returncode == 0, r.stderr
    assert len(world.by_lead()) == 5 and len(world.sb.amocrm.leads()) == 5


# -- -v and --debug -------------------------------------------------------------------------
def test_verbose_tells_what_each_phase_found_and_did(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""], ["", "Пётр", "", "", "200", "", ""]])
    r = world.cli("-v", "sync")
    assert r.returncode == 0, r.stderr
    for line in (
        "read the sheet: 2 rows",
        "amoCRM: first run",
        "plan: 2 creates, 0 deal updates",
        "sheet: wrote 6 cells, added 0 rows",
    ):
        assert line in r.stderr, r.stderr
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(sorted(world.by_lead())[0], price=150)
    r = world.cli("-v", "sync")
    assert re.search(r"amoCRM: \d+ changed deals?, \d+ changed contacts?", r.stderr) and "1 cell to write" in r.stderr
    assert " → " not in r.stderr  # request lines are for --debug


REQUEST_LINE = re.compile(r" (amoCRM|Sheets) (GET|POST|PUT|PATCH|DELETE) (/\S*) → (\d{3}) \([\d,]+ ms\)$")


def test_debug_prints_one_line_per_request_of_both_services_without_secrets(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.reset_stats()
    r = world.cli("--debug", "sync")
    assert r.returncode == 0, r.stderr
    amo, sheets = world.stats()
    lines = [m for line in r.stderr.splitlines() if (m := REQUEST_LINE.search(line))]
    assert sum(m[1] == "amoCRM" for m in lines) == amo["requests"] > 0
    assert sum(m[1] == "Sheets" for m in lines) == sheets["requests"] > 0
    assert all("?" not in m[3] for m in lines)  # paths only: no query strings
    assert world.env["AMOCRM_INTEGRATION_TOKEN"] not in r.stdout + r.stderr
