"""The command line as users meet it: entry points, help, errors, the sandbox command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from google.auth.credentials import AnonymousCredentials

from amosheets import __version__
from amosheets.cli import app
from amosheets.errors import SEVERITY, ExitStatus, most_severe
from amosheets.gspread_transport import client_for
from amosheets.sandbox import SAMPLE_SHEET_HEADERS

from .conftest import interruptible


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    base.update(env or {})
    base["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "amosheets", *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=60
    )


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"amosheets {__version__}"


# Start-up (issue 13): what a command that needs neither service must not import. rich is not here: `status`
# prints with it (`--version` does not load it either, see below).
SERVICE_MODULES = (
    "gspread",
    "google.auth",
    "requests",
    "tenacity",
    "filelock",
    "amosheets.engine",
    "amosheets.sandbox",
)


def loaded_by(*args: str, cwd: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Which of SERVICE_MODULES and rich `amosheets *args` has imported when it exits (in a process of its own),
    and the run."""
    watched = (*SERVICE_MODULES, "rich")
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print('loaded:', *(m for m in {watched!r} if m in sys.modules)))\n"
        "from amosheets.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    r = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=60
    )
    line = next(line for line in r.stdout.splitlines() if line.startswith("loaded:"))
    return set(line.split()[1:]), r


def test_version_loads_neither_the_services_libraries_nor_rich():
    loaded, r = loaded_by("--version")
    assert r.returncode == 0 and r.stdout.startswith(f"amosheets {__version__}\n")
    assert loaded == set()


def test_status_loads_none_of_the_services_libraries(tmp_path):
    (tmp_path / "key.json").write_text("{}")
    (tmp_path / ".env").write_text(
        f"GOOGLE_APPLICATION_CREDENTIALS={tmp_path / 'key.json'}\nGOOGLE_SHEET_ID=1AbCdEfGhIjKlMnOpQrStUv\n"
        "AMOCRM_BASE_URL=http://127.0.0.1:9\nAMOCRM_INTEGRATION_TOKEN=token\n"
        f"AMOSHEETS_STATE_DIR={tmp_path / 'state'}\n"
    )
    loaded, r = loaded_by("status", cwd=tmp_path)
    assert r.returncode == 0 and "No runs recorded yet" in r.stderr  # it read the settings and the state directory
    assert loaded == {"rich"}


@pytest.mark.skipif(shutil.which("amosheets") is None, reason="console script not installed")
def test_console_script_is_installed():
    r = subprocess.run(["amosheets", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


def test_help_lists_every_command_with_one_line():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("push", "pull", "sync", "check", "pipelines", "init", "status", "demo", "sandbox", "auth"):
        assert re.search(rf"^\s*│?\s*{cmd}\s+\S", r.stdout, re.M), (cmd, r.stdout)


def _commands(group: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every command by how it is typed ("push", "auth", "auth amocrm"), groups' own commands included."""
    found = {}
    for name, command in group.commands.items():
        found[" ".join((*path, name))] = command
        if hasattr(command, "commands"):
            found.update(_commands(command, (*path, name)))
    return found


ALL = _commands(typer.main.get_command(app))
COMMANDS = sorted(ALL)


def test_every_command_and_group_is_walked():
    assert {"push", "sync", "check", "auth", "auth amocrm", "auth google"} <= set(COMMANDS)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_help_has_an_example(cmd):
    r = run(*cmd.split(), "--help")
    assert r.returncode == 0 and "Example" in r.stdout and "amosheets" in r.stdout


def _examples(command: str) -> list[str]:
    """The example command lines of a command's docstring, as written there."""
    doc = ALL[command].help or ""
    after = doc.split("Example", 1)[1]
    return [line.strip() for line in after.splitlines() if "amosheets" in line]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_example_is_on_its_own_line_in_help(cmd):
    examples = _examples(cmd)
    assert examples, cmd
    r = run(*cmd.split(), "--help", env={"COLUMNS": "60"})  # narrow, where re-wrapping would show first
    assert r.returncode == 0, r.stderr
    shown = [line.strip() for line in r.stdout.splitlines()]
    for example in examples:
        assert example in shown, (example, r.stdout)


@pytest.mark.parametrize("cmd", [None, *COMMANDS])
def test_h_is_help(cmd):
    args = cmd.split() if cmd else []
    short, long = run(*args, "-h"), run(*args, "--help")
    assert short.returncode == long.returncode == 0, short.stderr
    assert short.stdout == long.stdout and "-h, --help" in short.stdout


def test_top_level_help_lists_every_exit_code():
    r = run("--help")
    assert r.returncode == 0
    assert "Exit status:" in r.stdout
    for status in ExitStatus:
        assert re.search(rf"^\s+{int(status)}\s+{re.escape(status.meaning)}$", r.stdout, re.M), (status, r.stdout)


# Each README's exit status section, and the words before the order of severity in it.
READMES_EXIT_STATUS = [
    pytest.param("README.md", "## Exit status", "from the most severe:", id="en"),
    pytest.param("README.ru.md", "## Коды выхода", "от самого тяжёлого:", id="ru"),
]


def readme_section(name: str, heading: str) -> str:
    readme = (Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")
    assert f"\n{heading}\n" in readme, (name, heading)
    return readme.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(("name", "heading", "phrase"), READMES_EXIT_STATUS)
def test_readme_lists_every_exit_code(name: str, heading: str, phrase: str):
    table = readme_section(name, heading)
    listed = [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert listed == [int(s) for s in ExitStatus]


@pytest.mark.parametrize(("name", "heading", "phrase"), READMES_EXIT_STATUS)
def test_readme_gives_the_order_of_severity_the_runs_of_several_pairs_use(name: str, heading: str, phrase: str):
    table = readme_section(name, heading)
    order = re.search(rf"{re.escape(phrase)}\s*\*\*([\d, ]+)\*\*", table)
    assert order is not None
    assert [int(c) for c in order.group(1).split(",")] == [int(s) for s in SEVERITY]
    assert sorted(SEVERITY) == sorted(ExitStatus)  # every status has its place
    assert most_severe([ExitStatus.OK, ExitStatus.LOCKED, ExitStatus.PARTIAL]) == ExitStatus.PARTIAL
    assert most_severe([ExitStatus.ERROR, ExitStatus.AUTH]) == ExitStatus.AUTH
    assert most_severe([]) == ExitStatus.OK


def test_missing_settings_name_the_variables_without_traceback(tmp_path):
    r = run("sync", cwd=tmp_path)
    assert r.returncode == 2
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SHEET_ID", "AMOCRM_SUBDOMAIN", "AMOCRM_INTEGRATION_TOKEN"):
        assert name in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_env_file_option(tmp_path):
    r = run("--env-file", str(tmp_path / "nope.env"), "sync", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_malformed_setting_is_named(tmp_path):
    (tmp_path / ".env").write_text("AMOCRM_BASE_URL=localhost:1\n")
    r = run("sync", cwd=tmp_path)
    assert r.returncode == 2 and "AMOCRM_BASE_URL is 'localhost:1'" in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("sync", "--frobnicate")
    assert r.returncode == 2 and "frobnicate" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_command_serves_a_sheet_that_real_gspread_reads():
    ports = (_free_port(), _free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "amosheets", "sandbox", "--amocrm-port", str(ports[0]), "--sheets-port", str(ports[1])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=interruptible,
    )
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while not {"GOOGLE_SHEET_ID", "GOOGLE_WORKSHEET"} <= lines.keys() and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "=" in line:
                k, v = line.strip().split("=", 1)
                lines[k] = v
        assert lines["GOOGLE_SHEETS_API_URL"] == f"http://127.0.0.1:{ports[1]}"
        assert lines["AMOCRM_BASE_URL"] == f"http://127.0.0.1:{ports[0]}"
        gc = client_for(lines["GOOGLE_SHEETS_API_URL"], AnonymousCredentials())
        ws = gc.open_by_key(lines["GOOGLE_SHEET_ID"]).worksheet(lines["GOOGLE_WORKSHEET"])
        values = ws.get_all_values()
        assert values[0] == SAMPLE_SHEET_HEADERS and len(values) > 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 130
