"""A renewal of amoCRM's OAuth tokens, killed at every step: afterwards the old pair or the new one works,
never neither, unless the answer itself was lost; then the run says so, and what to do.

The steps: each file operation of keeping the renewal (the note that a refresh is under way, the new
pair written aside, fsynced, renamed, the directory fsynced, the note removed), and the token request
itself, killed just before amoCRM sees it and just after amoCRM carried it out (its answer lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from amosheets.errors import ExitStatus
from amosheets.sandbox import Sandbox
from amosheets.sandbox.server import Request

from .conftest import ROOT, World

HOUR = 3600
SHIM = Path(__file__).with_name("kill_in_token_file.py")
OAUTH_PATH = "/oauth2/access_token"


def tool_env(w: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    return {**env, **w.env, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


def fresh_world(tmp: Path) -> World:
    """Signed in and synced once, then a day and an hour on amoCRM's clock: the next run must renew."""
    sb = Sandbox(rate_limit=None).start()
    sb.new_spreadsheet([])
    (tmp / "state").mkdir(parents=True)
    w = World(sb, {**sb.oauth_env(), "AMOSHEETS_STATE_DIR": str(tmp / "state"), "AMOSHEETS_AMOCRM_RATE": "1000"})
    assert w.cli("auth", "amocrm", "--code", sb.amocrm.oauth_code()).returncode == 0
    w.set_rows([["", "Анна", "", "", "100", "", ""]])
    assert w.cli("sync").returncode == 0
    sb.amocrm.clock.advance(25 * HOUR)
    return w


def run_shimmed(w: World, target: int, count_file: Path) -> int:
    cmd = [sys.executable, str(SHIM), str(target), str(count_file), "--", "sync"]
    return subprocess.run(cmd, env=tool_env(w), cwd=ROOT, capture_output=True, timeout=120).returncode


def file_steps() -> int:
    """How many file operations one renewal takes: each is a crash point."""
    with tempfile.TemporaryDirectory() as tmp:
        w = fresh_world(Path(tmp))
        try:
            count = Path(tmp) / "count"
            assert run_shimmed(w, 0, count) == 0
            assert w.sb.amocrm.stats()["oauth_refreshes"] == 1
            return int(count.read_text())
        finally:
            w.sb.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "crash_point" in metafunc.fixturenames:
        steps = file_steps()
        points = [("request", "before"), ("request", "after")] + [("file", str(n)) for n in range(1, steps + 1)]
        metafunc.parametrize("crash_point", points, ids=[f"{kind}-{at}" for kind, at in points])


def kill_at_the_token_request(w: World, phase: str) -> int:
    """Run, and SIGKILL the tool as amoCRM gets its token request (``before``: it never arrives)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "amosheets", "sync"],
        env=tool_env(w),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def hook(at: str, req: Request) -> bool:
        if at != phase or req.path != OAUTH_PATH:
            return False
        os.kill(proc.pid, signal.SIGKILL)
        return at == "before"  # killed before it was carried out: amoCRM never sees it

    w.sb.amocrm.hook = hook
    try:
        return proc.wait(timeout=120)
    finally:
        w.sb.amocrm.hook = None


# Where a kill loses amoCRM's answer: after amoCRM carried the request out, before any byte of the new pair
# was written (the first file operation after the request: opening the file the new pair is written to).
NOTE_STEPS = 5  # the refresh note: open, fsync, replace, and the directory's open and fsync


def answer_lost(kind: str, at: str) -> bool:
    return (kind, at) in {("request", "after"), ("file", str(NOTE_STEPS + 1))}


def test_killed_at_every_step_of_a_renewal_the_old_or_the_new_pair_works(crash_point, tmp_path):
    kind, at = crash_point
    w = fresh_world(tmp_path)
    try:
        if kind == "request":
            code = kill_at_the_token_request(w, at)
        else:
            code = run_shimmed(w, int(at), tmp_path / "count")
        assert code == -signal.SIGKILL, (crash_point, code)
        w.sb.amocrm.edit_lead(w.sb.amocrm.leads()[0]["id"], price=250)  # work for the resumed run
        r = w.cli("sync")
        assert "Traceback" not in r.stderr
        if answer_lost(kind, at):
            assert r.returncode == ExitStatus.AUTH, r.stderr
            words = " ".join(r.stderr.split())
            assert "never got its answer kept" in words and "amosheets auth amocrm --code CODE" in words
            assert w.cli("auth", "amocrm", "--code", w.sb.amocrm.oauth_code()).returncode == 0
            assert w.cli("sync").returncode == 0
        else:
            assert r.returncode == 0, (crash_point, r.stderr)
        (row,) = w.by_lead().values()
        assert row[4] == "250"
        # And the pair it kept goes on working: another day on, it renews again.
        w.sb.amocrm.clock.advance(25 * HOUR)
        before = w.sb.amocrm.stats()["oauth_refreshes"]
        assert w.cli("sync").returncode == 0
        assert w.sb.amocrm.stats()["oauth_refreshes"] == before + 1
    finally:
        w.sb.close()


def test_a_renewal_takes_the_file_steps_the_crash_points_assume(tmp_path):
    """The note (5 operations), the new pair (5), the note removed (1): if this changes, so must answer_lost."""
    w = fresh_world(tmp_path)
    try:
        assert run_shimmed(w, 0, tmp_path / "count") == 0
        assert int((tmp_path / "count").read_text()) == 2 * NOTE_STEPS + 1
    finally:
        w.sb.close()
