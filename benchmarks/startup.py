"""Start-up time (issue 13): ``python -m benchmarks --startup``.

What the tool costs before it does any work, each figure the median of RUNS fresh processes:

- ``amosheets --version``, as ``python -m amosheets`` and as the installed entry-point script: Python,
  typer and the CLI module, nothing else (the target is 0.15 s);
- ``amosheets sync --help``: what every command loads before its body runs (typer coerces the global options,
  the output is set up);
- ``python -c pass``: Python's own start-up, the floor under all of them;
- ``python -X importtime -c "import amosheets.cli"``: the CLI module's import, and the packages that take most
  of it (self time, summed over each top-level package's modules); then ``amosheets.engine``, what a sync
  imports on top of it (gspread, google-auth, requests, the engine).

Bytecode caching is on for these runs (``tool_env`` drops PYTHONDONTWRITEBYTECODE) and one unmeasured run goes first,
so the figures are those of an installed tool, not of compiling it. No emulator is started.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from amosheets import __version__
from benchmarks.measure import TOOL, tool_env

RUNS = 20
TARGET = 0.15  # seconds for `amosheets --version`
TOP = 6  # packages named after the import time

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def main(runs: int = RUNS) -> int:
    """Print the start-up figures; 1 when `--version` does not answer as it should (the figures measure nothing)."""
    env = tool_env(dict(os.environ), {})  # (bytecode caching on)
    script = shutil.which("amosheets", path=str(Path(sys.executable).parent))
    commands = [
        ("python -m amosheets --version", [*TOOL, "--version"]),
        *([("amosheets --version (entry-point script)", [script, "--version"])] if script else []),
        ("python -m amosheets sync --help", [*TOOL, "sync", "--help"]),
        ("python -c pass (Python alone)", [sys.executable, "-c", "pass"]),
    ]
    failures: list[str] = []
    print(f"Start-up, median of {runs} runs each (wall: perf_counter around the process; bytecode cached):")
    with tempfile.TemporaryDirectory(prefix="amosheets-startup-") as cwd:  # no .env or amosheets.toml here
        width = max(len(label) for label, _ in commands)
        for label, cmd in commands:
            walls, said = _walls(cmd, env, cwd, runs)
            if cmd[-1] == "--version" and said != f"amosheets {__version__}":
                failures.append(f"`{label}` printed {said!r}, not 'amosheets {__version__}'")
            target = f"   (target ≤ {TARGET:.2f} s)" if cmd[-1] == "--version" else ""
            print(f"  {label:<{width}}  {statistics.median(walls):.3f} s  min {min(walls):.3f} s{target}")
        if not script:
            print("  (no amosheets script beside this Python: the entry point is not measured)")
        imports = [(module, *_import_time(env, cwd, runs, module)) for module in ("amosheets.cli", "amosheets.engine")]
    print()
    for module, total, top in imports:
        packages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top)
        what = "the CLI" if module == "amosheets.cli" else "what a sync adds to it"
        print(
            f"Import of {module} ({what}; python -X importtime, median): {total * 1000:.0f} ms; most of it: {packages}"
        )
    for f in failures:
        print(f"!!! {f}")
    return 1 if failures else 0


def _walls(cmd: list[str], env: dict[str, str], cwd: str, runs: int) -> tuple[list[float], str]:
    """Seconds of each of ``runs`` runs of ``cmd`` (after one that writes the bytecode), and what the last printed."""
    said = ""
    walls: list[float] = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if i:
            walls.append(time.perf_counter() - t0)
        said = done.stdout.strip()
    return walls, said


def _import_time(env: dict[str, str], cwd: str, runs: int, module: str) -> tuple[float, list[tuple[str, float]]]:
    """The median import time of ``module`` in seconds (after amosheets.cli), and the TOP packages by median self
    time (ms) of its import."""
    cmd = [sys.executable, "-X", "importtime", "-c", f"import amosheets.cli, {module}"]
    totals: list[float] = []
    by_package: list[Counter[str]] = []
    for i in range(runs + 1):
        err = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True).stderr
        if not i:
            continue  # wrote the bytecode
        selfs: Counter[str] = Counter()
        seen_cli = False  # after amosheets.cli's own line, the lines are the module's imports
        for m in map(_IMPORT_LINE.match, err.splitlines()):
            if m is None:
                continue
            if seen_cli or module == "amosheets.cli":
                selfs[m[4].split(".")[0]] += int(m[1])
            if m[4] == module:
                totals.append(int(m[2]) / 1e6)
            seen_cli = seen_cli or m[4] == "amosheets.cli"
        by_package.append(selfs)
    names = set().union(*by_package)
    medians = {n: statistics.median(c[n] for c in by_package) / 1000 for n in names}
    top = sorted(medians.items(), key=lambda kv: -kv[1])[:TOP]
    return statistics.median(totals), top
