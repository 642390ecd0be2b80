"""`amosheets sandbox` as a newcomer runs it: ports that are taken, and the README's first steps on it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from amosheets.errors import ExitStatus
from amosheets.sandbox import EMPTY_TAB

from .conftest import interruptible

DEFAULT_PORTS = (8081, 8082)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    env["NO_COLOR"] = "1"
    return env


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amosheets", *args],
        capture_output=True,
        text=True,
        env={**clean_env(), **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def said(r: subprocess.CompletedProcess[str]) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "bug in amosheets" not in out, out
    return out


@contextlib.contextmanager
def held(port: int = 0) -> Iterator[int]:
    """A port held by a plain listening socket; if something else already holds it, it is taken all the same."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            assert port, "could not take a free port"
        yield port or s.getsockname()[1]


class RunningSandbox:
    """`amosheets sandbox` in a subprocess, its .env lines read from stdout."""

    def __init__(self, *args: str, cwd: Path, until: str = "GOOGLE_SHEET_ID=") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amosheets", "sandbox", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            cwd=cwd,
            preexec_fn=interruptible,
        )
        self.lines: list[str] = []
        self.err = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line:
                break  # it ended
            self.lines.append(line.rstrip("\n"))
            if line.startswith(until):
                break
        self.env = dict(line.split("=", 1) for line in self.lines if "=" in line and not line.startswith("#"))
        assert "GOOGLE_SHEET_ID" in self.env, self.stop()

    def read_err_until(self, text: str) -> str:
        """What it has said on stderr up to the line holding ``text`` (kept for ``stop``)."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            self.err += line
            if not line or text in line:
                break
        return self.err

    def stop(self) -> str:
        """Ctrl-C; what it said on stderr (the rest of stdout goes on ``lines``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rest, err = self.proc.communicate(timeout=30)
        self.lines += rest.splitlines()
        return self.err + err


@pytest.mark.parametrize(("option", "other"), [("--amocrm-port", "--sheets-port"), ("--sheets-port", "--amocrm-port")])
def test_a_port_given_that_is_in_use_is_named_with_its_option_and_exits_2(tmp_path: Path, option: str, other: str):
    with held() as port:
        r = cli("sandbox", option, str(port), other, "0", cwd=tmp_path)
    assert r.returncode == ExitStatus.CONFIG
    assert f"error: port {port} is in use; use {option} with another port (0: any free port)." in said(r)
    assert "GOOGLE_SHEET_ID" not in r.stdout


def test_a_port_out_of_range_is_a_usage_error_not_a_bug(tmp_path: Path):
    r = cli("sandbox", "--amocrm-port", "70000", cwd=tmp_path)
    assert r.returncode == 2 and "--amocrm-port" in said(r)


def test_default_ports_in_use_are_replaced_by_free_ones_and_it_says_so(tmp_path: Path):
    with held(DEFAULT_PORTS[0]), held(DEFAULT_PORTS[1]):
        sandbox = RunningSandbox(cwd=tmp_path)
        try:
            amocrm, sheets = sandbox.env["AMOCRM_BASE_URL"], sandbox.env["GOOGLE_SHEETS_API_URL"]
            assert not amocrm.endswith(":8081") and not sheets.endswith(":8082")
            assert requests.get(f"{amocrm}/_sandbox/", timeout=10).json()["emulator"] == "amocrm"
            assert requests.get(f"{sheets}/_sandbox/", timeout=10).json()["emulator"] == "sheets"
        finally:
            err = sandbox.stop()
    assert sandbox.proc.returncode == ExitStatus.INTERRUPTED
    moved = "is in use (perhaps by another `amosheets sandbox`): the {} emulator listens on {} instead"
    assert "warning: port 8081 " + moved.format("amoCRM", amocrm) in err
    assert "warning: port 8082 " + moved.format("Sheets", sheets) in err
    assert "Stopped." in err and "bug in amosheets" not in err


def test_the_readme_steps_on_a_fresh_sandbox_init_the_empty_tab(tmp_path: Path):
    """README, "Sandbox" (README.ru.md, «Песочница»): the printed lines go into .env; the commented-out line
    names the empty tab, for init."""
    sandbox = RunningSandbox("--amocrm-port", "0", "--sheets-port", "0", cwd=tmp_path)
    try:
        empty = [line for line in sandbox.lines if line.startswith(f"# GOOGLE_WORKSHEET={EMPTY_TAB} ")]
        assert len(empty) == 1 and "amosheets init" in empty[0] and "uncomment" in empty[0]
        env_file = tmp_path / ".env"
        env_file.write_text("\n".join(sandbox.lines) + "\n", encoding="utf-8")
        state = {"AMOSHEETS_STATE_DIR": str(tmp_path / "state")}
        # as printed, the sample tab: it has its headers and a sync column already, so init adds nothing
        r = cli("init", cwd=tmp_path, env=state)
        assert r.returncode == 0 and "nothing to add" in said(r)
        # the line uncommented as it says
        text = env_file.read_text(encoding="utf-8").replace(
            f"# GOOGLE_WORKSHEET={EMPTY_TAB}", f"GOOGLE_WORKSHEET={EMPTY_TAB}"
        )
        env_file.write_text(text, encoding="utf-8")
        r = cli("init", cwd=tmp_path, env=state)
        assert r.returncode == 0, said(r)
        assert f"'{EMPTY_TAB}'" in r.stderr
        values = requests.get(
            f"{sandbox.env['GOOGLE_SHEETS_API_URL']}/_sandbox/spreadsheets/{sandbox.env['GOOGLE_SHEET_ID']}/values",
            params={"sheet": EMPTY_TAB},
            timeout=10,
        ).json()["values"]
        assert values[0][:3] == ["lead_id", "Имя", "Телефон"] and len(values) == 1
        r = cli("pull", "--all", cwd=tmp_path, env=state)
        assert r.returncode == 0 and "5 rows added" in said(r)
    finally:
        sandbox.stop()


def test_several_accounts_are_printed_as_env_lines_and_an_amosheets_toml_with_a_pair_each(tmp_path: Path):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; amosheets supports 3.10
    sandbox = RunningSandbox(
        "--amocrm-port", "0", "--sheets-port", "0", "--accounts", "3", cwd=tmp_path, until="A3_TOKEN="
    )
    try:
        assert sandbox.env["A2_TOKEN"] == "sandbox-token-2" and sandbox.env["A3_TOKEN"] == "sandbox-token-3"
        assert "[[pair]]" not in sandbox.lines  # stdout is the .env file's lines only: `> .env` stays one
        said_so_far = sandbox.read_err_until("Press Ctrl-C")
        toml = said_so_far[said_so_far.index("[[pair]]") :].rsplit("\n", 2)[0]
        config = tomllib.loads(toml)
        assert [p["name"] for p in config["pair"]] == ["a1", "a2", "a3"]
        assert [p.get("account") for p in config["pair"]] == [None, "a2", "a3"]
        urls = {sandbox.env["AMOCRM_BASE_URL"]}
        for key, account in config["account"].items():
            token = sandbox.env[account["token_env"]]
            url = account["base_url"]
            urls.add(url)
            auth = {"Authorization": f"Bearer {token}"}
            r = requests.get(f"{url}/api/v4/leads", headers=auth, timeout=10)
            assert r.status_code == 200 and len(r.json()["_embedded"]["leads"]) == 5, (key, r.text)
            other = {"Authorization": f"Bearer {sandbox.env['AMOCRM_INTEGRATION_TOKEN']}"}
            assert requests.get(f"{url}/api/v4/leads", headers=other, timeout=10).status_code == 401
        assert len(urls) == 3
        tabs = [p["tab"] for p in config["pair"]]
        for tab in tabs:  # every pair's tab is in the printed spreadsheet
            values = requests.get(
                f"{sandbox.env['GOOGLE_SHEETS_API_URL']}/_sandbox/spreadsheets/{sandbox.env['GOOGLE_SHEET_ID']}/values",
                params={"sheet": tab},
                timeout=10,
            ).json()["values"]
            assert values[0][0] == "lead_id", tab
    finally:
        err = sandbox.stop()
    assert sandbox.proc.returncode == ExitStatus.INTERRUPTED
    assert "amoCRM account a2: http://" in err and "amosheets.toml" in err and "bug in amosheets" not in err


def test_one_account_prints_no_amosheets_toml(tmp_path: Path):
    sandbox = RunningSandbox("--amocrm-port", "0", "--sheets-port", "0", cwd=tmp_path)
    err = sandbox.stop()
    assert not any(line.startswith(("A2_TOKEN", "[[pair]]")) for line in sandbox.lines), sandbox.lines
    assert "amosheets.toml" not in err and "amoCRM account" not in err


@pytest.mark.parametrize("n", ["0", "21"])
def test_the_number_of_accounts_is_1_to_20(tmp_path: Path, n: str):
    r = cli("sandbox", "--accounts", n, "--amocrm-port", "0", "--sheets-port", "0", cwd=tmp_path)
    assert r.returncode == 2 and "--accounts" in said(r)
