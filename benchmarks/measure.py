"""Running the tool as a child process and measuring it: wall time, its own CPU time, its own peak memory.

Each run is ``python -m amosheets <command> --json`` in a subprocess, so the emulators (threads of
this process) never count towards the tool's CPU time or memory. The child is reaped with
``os.wait4``, which hands back that one child's rusage (``RUSAGE_CHILDREN`` would give the maximum
peak memory over every child ever waited for, not this one's).

One more trap: on Linux a child's ``ru_maxrss`` starts from the RSS of the process it was forked
from (the kernel carries the pre-exec high-water mark over), and this process holds both emulators'
data — hundreds of MB at 100 000 leads. So the tool is started by a tiny launcher (``LAUNCHER``,
a bare ``python -I -S``, about 10 MB), which times it with ``perf_counter``, reaps it with
``os.wait4`` and writes the numbers to a file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 300.0  # seconds one run of the tool may take before it is killed (and the benchmark fails)

TOOL = (sys.executable, "-m", "amosheets")

# argv: report path, timeout seconds, then the command. Keeps its own imports few: its RSS is the floor.
LAUNCHER = """
import os, subprocess, sys, threading, time
report, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = time.perf_counter()
p = subprocess.Popen(cmd)
timer = threading.Timer(timeout, p.kill)
timer.daemon = True
timer.start()
_, status, ru = os.wait4(p.pid, 0)
wall = time.perf_counter() - t0
timer.cancel()
p.returncode = os.waitstatus_to_exitcode(status)
with open(report, "w") as f:
    f.write(repr((p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss)))
"""


@dataclass
class ToolRun:
    """One finished run of the tool."""

    args: list[str]
    exit_code: int
    wall: float  # seconds, perf_counter around the child's whole life
    cpu: float  # the child's user + system seconds
    peak_mb: float  # the child's maximum resident set size, MiB
    stdout: str
    stderr: str
    summary: dict[str, Any] = field(default_factory=dict)  # the --json summary ({} when there was none)

    def describe(self) -> str:
        tail = self.stderr.strip().splitlines()[-5:]
        return f"`amosheets {' '.join(self.args)}` exited {self.exit_code}; stderr ends: " + " | ".join(tail)


def tool_env(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """The environment of a run: ours without any amosheets setting, plus the sandbox's."""
    env = {k: v for k, v in base.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    # pip compiles an installed tool's bytecode once: a run that compiled every module each time (as with
    # this set) would count some 0.2 s that no user's run pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_tool(args: list[str], env: dict[str, str], cwd: Path, timeout: float = TIMEOUT) -> ToolRun:
    """Run ``python -m amosheets *args`` through the launcher and measure it; output goes through files."""
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as out,
        tempfile.TemporaryFile("w+", encoding="utf-8") as err,
        tempfile.TemporaryDirectory(prefix="amosheets-run-") as tmp,
    ):
        report = Path(tmp) / "rusage"
        launcher = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report), str(timeout), *TOOL, *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd),
        )
        timer = threading.Timer(timeout + 30, launcher.kill)
        timer.daemon = True
        timer.start()
        try:
            launcher.wait()
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        if launcher.returncode != 0 or not report.exists():
            raise RuntimeError(f"the launcher failed ({launcher.returncode}): {stderr[-2000:]}")
        code, wall, cpu, maxrss = ast.literal_eval(report.read_text())
    summary: dict[str, Any] = {}
    if stdout.strip():
        try:
            summary = json.loads(stdout)
        except ValueError:
            summary = {}
    return ToolRun(
        args=list(args),
        exit_code=code,
        wall=wall,
        cpu=cpu,
        peak_mb=maxrss / 1024.0,  # ru_maxrss is in KiB on Linux
        stdout=stdout,
        stderr=stderr,
        summary=summary,
    )
