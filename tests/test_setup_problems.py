"""Setup mistakes get their own message and exit status 2, never "a bug in amosheets"; secrets stay out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from amosheets.errors import ExitStatus

from .conftest import World


def said(r: subprocess.CompletedProcess[str]) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "bug in amosheets" not in out, out
    return out


# -- which tab ------------------------------------------------------------------------------
def test_the_tab_with_the_exact_title_is_synced_not_a_near_namesake(world: World):
    # Sheets refuses two titles that differ only in case, but not ones that differ in spaces.
    sid = world.sb.sheets.create_spreadsheet(sheets=["Сделки ", "Сделки"])
    world.sb.spreadsheet_id = world.env["GOOGLE_SHEET_ID"] = sid
    world.sb.sheets.set_values(sid, "Сделки ", [["lead_id", "Имя"], ["", "Не та вкладка"]])
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    r = world.cli("sync")
    assert r.returncode == 0, said(r)
    assert [lead["name"] for lead in world.sb.amocrm.leads()] == ["Иван"]
    assert world.sb.sheets.values(sid, "Сделки ")[1] == ["", "Не та вкладка"]
    assert len(world.by_lead()) == 1


def test_a_title_that_matches_only_loosely_is_a_configuration_error(world: World):
    env = {**world.env, "GOOGLE_WORKSHEET": "  сделки"}
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    r = world.cli("sync", env=env)
    assert r.returncode == ExitStatus.CONFIG
    assert "GOOGLE_WORKSHEET is 'сделки'" in said(r) and "'Сделки'" in r.stderr
    assert world.sb.amocrm.leads() == []
    r = world.cli("check", env=env)
    assert r.returncode == ExitStatus.CONFIG and "✗ spreadsheet: GOOGLE_WORKSHEET is 'сделки'" in said(r)


# -- the machine's setup ---------------------------------------------------------------------
def test_a_taken_sandbox_port_is_named_with_its_option(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
        r = subprocess.run(
            [sys.executable, "-m", "amosheets", "sandbox", "--amocrm-port", str(port), "--sheets-port", "0"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    assert r.returncode == ExitStatus.CONFIG
    assert f"port {port} is in use; use --amocrm-port with another port (0: any free port)" in said(r)


def test_a_log_file_that_is_a_directory_or_cannot_be_made(world: World, tmp_path):
    r = world.cli("--log-file", str(tmp_path), "status")
    assert r.returncode == ExitStatus.CONFIG and f"--log-file {tmp_path} is a directory" in said(r)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    r = world.cli("--log-file", str(blocker / "run.log"), "status")
    assert r.returncode == ExitStatus.CONFIG and "--log-file" in said(r) and "cannot be written" in r.stderr


def test_a_state_directory_that_cannot_be_made_is_named(world: World, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    for state_dir in (blocker, blocker / "state"):
        r = world.cli("sync", env={**world.env, "AMOSHEETS_STATE_DIR": str(state_dir)})
        assert r.returncode == ExitStatus.CONFIG and "AMOSHEETS_STATE_DIR" in said(r) and str(blocker) in r.stderr
    assert world.sb.amocrm.leads() == []


def test_an_amocrm_host_that_does_not_exist_is_a_configuration_error(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    r = world.cli("sync", env={**world.env, "AMOCRM_BASE_URL": "https://amosheets-typo.invalid"})
    assert r.returncode == ExitStatus.CONFIG
    assert "amosheets-typo.invalid" in said(r) and "AMOCRM_SUBDOMAIN" in r.stderr


# -- secrets echoed by a service ------------------------------------------------------------------
def test_a_token_that_amocrm_echoes_in_an_error_reaches_no_output_and_no_state(world: World):
    token = world.env["AMOCRM_INTEGRATION_TOKEN"]
    world.set_rows([["", "Иван", "", "", "100", "", ""], ["", "Пётр", "", "", "200", "", ""]])
    # A 400 whose element detail and whole-request detail both echo the Authorization header.
    world.sb.amocrm.set_faults(script=[("echo400", r"/leads/complex", "POST")])
    pushed = world.cli("push", "--json")
    assert pushed.returncode == ExitStatus.PARTIAL, said(pushed)
    assert "Bearer ***" in json.loads(pushed.stdout)["problem_list"][0]
    # A 403 whose detail echoes it stops the run: the message goes to stderr and the runs log.
    world.sb.amocrm.set_faults(script=[("echo403", None, None)])
    refused = world.cli("sync", "--json")
    assert refused.returncode == ExitStatus.AUTH and "Bearer ***" in said(refused)
    status = world.cli("status", "--json")
    assert "Bearer ***" in status.stdout
    state_dir = Path(world.env["AMOSHEETS_STATE_DIR"])
    blobs = [pushed.stdout, pushed.stderr, refused.stdout, refused.stderr, status.stdout, status.stderr]
    blobs += [f.read_text(errors="replace") for f in state_dir.iterdir() if f.is_file()]
    assert any(f.suffix == ".sqlite3" for f in state_dir.iterdir())
    for blob in blobs:
        assert token not in blob
