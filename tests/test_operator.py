"""What operators meet: check, pipelines, init, status, output for people and for cron."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from amosheets.errors import ExitStatus

from .conftest import ROOT, World

BOT = "bot@amosheets-test.iam.gserviceaccount.com"


def key_file(world: World, tmp_path: Path, email: str = BOT) -> tuple[Path, str]:
    """A real service-account key whose token_uri is the sandbox's OAuth endpoint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "amosheets-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": f"{world.sb.sheets_url}/token",
    }
    p = tmp_path / "key.json"
    p.write_text(json.dumps(info))
    return p, pem


def lines(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout + r.stderr


# -- check -------------------------------------------------------------------------------
def test_check_all_good(world: World):
    r = world.cli("check")
    assert r.returncode == 0, lines(r)
    # The lines of the checks are the command's output (stdout); the verdict is a message (stderr).
    for name in ("Google settings", "spreadsheet", "header row", "amoCRM token", "pipeline and status"):
        assert f"✓ {name}" in r.stdout
    assert "✗" not in lines(r) and "✓" not in r.stderr
    assert "All good" in r.stderr and "All good" not in r.stdout
    r = world.cli("-q", "check")  # quiet: only what failed, and nothing did
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_check_with_a_real_key_file_then_an_unshared_sheet(world: World, tmp_path):
    path, pem = key_file(world, tmp_path)
    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    world.sb.sheets.share_with(world.sid, [BOT])
    r = world.cli("check")
    assert r.returncode == 0, lines(r)
    assert f"✓ Google key file: service account {BOT}" in r.stdout
    world.sb.sheets.share_with(world.sid, ["someone-else@example.com"])
    r = world.cli("check")
    assert r.returncode == ExitStatus.AUTH
    assert "✗ spreadsheet" in r.stdout and f"add the service account's client_email ({BOT}) as Editor" in r.stdout
    assert "1 check failed: spreadsheet." in r.stderr and "✗ spreadsheet" not in r.stderr
    body = pem.split("\n")[1]
    assert body not in lines(r)


def test_check_a_deleted_key(world: World, tmp_path):
    path, _ = key_file(world, tmp_path)
    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    world.sb.sheets.revoke_account(BOT)
    r = world.cli("check")
    assert r.returncode == ExitStatus.AUTH and "download a new JSON key" in r.stdout


@pytest.mark.parametrize(
    ("fault", "status", "needles"),
    [
        ("token", ExitStatus.AUTH, ["✗ amoCRM token", "refused the token (401)", "long-lived token"]),
        ("unpaid", ExitStatus.AUTH, ["✗ amoCRM token", "402", "not paid"]),
        ("blocked", ExitStatus.ERROR, ["✗ amoCRM token", "blocked", "wait"]),
        ("pipeline", ExitStatus.CONFIG, ["✗ pipeline and status", "AMOCRM_PIPELINE_ID is 999", "amosheets pipelines"]),
        ("status", ExitStatus.CONFIG, ["✗ pipeline and status", "AMOCRM_STATUS_ID is 999"]),
        ("sheet_id", ExitStatus.CONFIG, ["✗ spreadsheet", "no spreadsheet with ID", "GOOGLE_SHEET_ID"]),
        ("unshared", ExitStatus.AUTH, ["✗ spreadsheet", "Share"]),
        ("tab", ExitStatus.CONFIG, ["✗ spreadsheet", "GOOGLE_WORKSHEET is 'Нет такой'", "'Сделки'"]),
        ("empty", ExitStatus.CONFIG, ["✗ header row", "Row 1 is empty", "amosheets init"]),
        ("dup", ExitStatus.CONFIG, ["✗ header row", "Duplicated headers: Имя appears in columns B, C"]),
        ("no_lead_id", ExitStatus.CONFIG, ["✗ header row", "no lead_id column"]),
        ("not_json", ExitStatus.CONFIG, ["✗ Google key file", "is not valid JSON"]),
        ("missing", ExitStatus.CONFIG, ["✗ amoCRM settings", "AMOCRM_INTEGRATION_TOKEN is not set", "✓ spreadsheet"]),
    ],
)
def test_check_says_what_is_wrong_and_how_to_fix_it(world: World, tmp_path, fault, status, needles):
    if fault == "token":
        world.sb.amocrm.set_token("rotated")
    elif fault == "unpaid":
        world.sb.amocrm.set_unpaid(True)
    elif fault == "blocked":
        world.sb.amocrm.block(600)
    elif fault == "pipeline":
        world.env["AMOCRM_PIPELINE_ID"] = "999"
    elif fault == "status":
        world.env["AMOCRM_STATUS_ID"] = "999"
    elif fault == "sheet_id":
        world.env["GOOGLE_SHEET_ID"] = "1" * 44
    elif fault == "unshared":
        world.sb.sheets.set_shared(world.sid, False)
    elif fault == "tab":
        world.env["GOOGLE_WORKSHEET"] = "Нет такой"
    elif fault == "empty":
        world.set_rows([], headers=[""])
    elif fault == "dup":
        world.set_rows([], headers=["lead_id", "Имя", "name"])
    elif fault == "no_lead_id":
        world.set_rows([], headers=["Имя", "Сумма"])
    elif fault == "not_json":
        bad = tmp_path / "key.json"
        bad.write_text("PRIVATE KEY secretstuff")
        world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(bad)
    elif fault == "missing":
        del world.env["AMOCRM_INTEGRATION_TOKEN"]
    r = world.cli("check")
    assert r.returncode == status, lines(r)
    for n in needles:
        assert n in r.stdout, (n, r.stdout)
    assert "error: " in r.stderr and "failed: " + needles[0].removeprefix("✗ ") in r.stderr, r.stderr
    assert "Traceback" not in lines(r) and "secretstuff" not in lines(r)


def test_check_names_unknown_and_missing_columns_without_failing(world: World):
    world.set_rows([], headers=["lead_id", "Имя", "Заметки"])
    r = world.cli("check")
    assert r.returncode == 0, lines(r)
    assert "not synced (no such column): Телефон, Email, Сумма, Статус, Воронка" in r.stdout
    assert "left alone: Заметки" in r.stdout


# -- pipelines, init ---------------------------------------------------------------------
def test_pipelines_table_and_json(world: World):
    r = world.cli("pipelines")
    assert r.returncode == 0
    main = world.sb.amocrm.main_pipeline()
    assert f"Воронка (main) | {main['id']} | Переговоры" in r.stdout
    assert "incoming leads: the API cannot put deals here" in r.stdout
    data = json.loads(world.cli("pipelines", "--json").stdout)
    assert {p["name"] for p in data} == {"Воронка", "Партнёры"}
    assert any(s["id"] == 142 for s in data[0]["statuses"])


def test_pipelines_needs_only_the_amocrm_settings(world: World):
    env = {k: v for k, v in world.env.items() if not k.startswith("GOOGLE_")}
    assert world.cli("pipelines", env=env).returncode == 0


def test_init_writes_headers_into_an_empty_tab_and_adds_nothing_twice(world: World):
    world.set_rows([], headers=[""])
    r = world.cli("init")
    assert r.returncode == 0, lines(r)
    headers = ["lead_id", "Имя", "Телефон", "Email", "Сумма", "Статус", "Воронка", "Синхронизация"]
    assert world.rows() == [headers]
    r = world.cli("init")
    assert r.returncode == 0 and "nothing to add" in r.stderr
    assert world.rows() == [headers]
    assert world.cli("check").returncode == 0


def test_init_english(world: World):
    world.set_rows([], headers=[""])
    assert world.cli("init", "--english").returncode == 0
    assert world.rows()[0] == ["lead_id", "Name", "Phone", "E-mail", "Price", "Status", "Pipeline", "Sync"]


def test_init_adds_the_sync_column_to_a_tab_in_use_right_of_its_headers_where_no_one_wrote(world: World):
    """Column H has no header but someone's notes below: the sync column goes into I, and nothing else changes."""
    world.set_rows([["", "Иван", "", "", "100", "", "", "заметка"], ["", "Анна"]])
    before = world.rows()
    r = world.cli("init")
    assert r.returncode == 0 and "Added the column 'Синхронизация' (I)" in r.stderr, lines(r)
    after = world.rows()
    assert after[0] == [*before[0], "", "Синхронизация"] and after[1:] == before[1:]
    assert world.cli("sync").returncode == 0
    assert [r[8].startswith("✓") for r in world.rows()[1:]] == [True, True]
    assert world.rows()[1][7] == "заметка"


def test_init_on_an_english_sheet_adds_sync_and_refuses_a_tab_without_a_header_row(world: World):
    world.set_rows([["", "Ann"]], ["id", "Name"])
    assert world.cli("init").returncode == 0
    assert world.rows()[0] == ["id", "Name", "Sync"]
    world.set_rows([["Иван", "100"]], ["Иван", "100"])
    r = world.cli("init")
    assert r.returncode == ExitStatus.CONFIG and "is not a header row" in r.stderr and "lead_id" in r.stderr


# -- status ------------------------------------------------------------------------------
def test_status_after_successful_partial_and_failed_runs(world: World):
    r = world.cli("status")
    assert r.returncode == 0 and "No runs recorded yet" in r.stderr
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    assert world.cli("sync").returncode == 0
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Плохая", "", "", "abc"]], start="A3")
    assert world.cli("sync").returncode == ExitStatus.PARTIAL
    world.sb.amocrm.set_token("rotated")
    assert world.cli("sync").returncode == ExitStatus.AUTH
    r = world.cli("status")
    assert r.returncode == 0, lines(r)
    out = r.stdout + r.stderr
    assert out.count("| sync |") == 3
    assert "| ok |" in out and "| some rows failed |" in out and "| access refused |" in out
    assert "Last run:" in out and "access refused" in out and "refused the token" in out
    runs = json.loads(world.cli("status", "--json").stdout)
    assert [x["exit_status"] for x in runs] == [4, 3, 0]
    assert runs[1]["summary"]["problems"] == 1 and "row 3, column Сумма" in runs[1]["problems"][0]
    assert runs[2]["summary"]["created"] == 1


def test_status_shows_a_run_that_never_finished(world: World):
    world.set_rows([])
    world.run("sync")
    store = world.store()
    store.begin_run("sync", dry_run=False)  # as a killed run leaves it
    store.close()
    r = world.cli("status")
    assert "did not finish (killed, or still running)" in r.stdout + r.stderr


# -- output for people and for cron ------------------------------------------------------
def test_without_a_terminal_no_escape_codes_and_every_line_is_timestamped(world: World):
    world.set_rows([["", "Иван", "", "", "abc", "", ""], ["", "Пётр", "", "", "", "", ""]])
    env = dict(world.env)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_", "NO_COLOR"))}
    full.update(env)
    full["TERM"] = "xterm-256color"
    r = subprocess.run(
        [sys.executable, "-m", "amosheets", "sync"], capture_output=True, text=True, env=full, cwd=ROOT, timeout=60
    )
    assert r.returncode == ExitStatus.PARTIAL
    assert "\x1b[" not in r.stdout + r.stderr
    for line in r.stderr.splitlines():
        if line.strip():
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d ", line), line


def test_quiet_prints_only_errors(world: World):
    world.set_rows([["", "Иван", "", "", "abc", "", ""], ["", "Пётр", "", "", "", "", ""]])
    r = world.cli("-q", "sync")
    assert r.returncode == ExitStatus.PARTIAL
    assert all("error:" in line for line in r.stderr.splitlines() if line.strip())


def test_log_file_appends_privately_and_keeps_the_token_out(world: World, tmp_path):
    log = tmp_path / "logs" / "amosheets.log"
    world.set_rows([["", "Иван", "", "", "", "", ""]])
    assert world.cli("--log-file", str(log), "sync").returncode == 0
    world.sb.amocrm.set_token("rotated")
    assert world.cli("--log-file", str(log), "sync").returncode == ExitStatus.AUTH
    text = log.read_text()
    assert "sync: 1 deal created" in text and "refused the token" in text
    assert world.env["AMOCRM_INTEGRATION_TOKEN"] not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def _in_a_terminal(world: World, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run amosheets with a real pseudo-terminal as its stdin, stdout and stderr; (status, screen)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_", "NO_COLOR"))}
    env.update(world.env, TERM="xterm-256color", COLUMNS="120", LINES="40", **(extra_env or {}))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "amosheets", *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_a_real_terminal_shows_a_progress_bar(world: World):
    world.sb.amocrm.seed_bulk(1500)
    world.sb.amocrm.latency = 0.25
    world.set_rows([])
    code, screen = _in_a_terminal(world, "pull", "--all")
    assert code == 0, screen
    assert "reading the pipeline's deals" in screen and "eta" in screen
    assert "━" in screen  # the bar itself
    assert "1500 rows added" in screen


def test_a_terminal_gets_colour_unless_no_color_is_set(world: World):
    world.set_rows([["", "Иван", "", "", "abc", "", ""]])
    code, screen = _in_a_terminal(world, "sync", "--dry-run")
    assert code == ExitStatus.PARTIAL and "\x1b[1;31m" in screen  # the red "error:"
    code, screen = _in_a_terminal(world, "sync", "--dry-run", extra_env={"NO_COLOR": "1"})
    assert code == ExitStatus.PARTIAL and "error:" in screen and "\x1b[1;31m" not in screen and "\x1b[31m" not in screen


# -- Kommo -------------------------------------------------------------------------------
def test_a_kommo_style_account_with_english_names_end_to_end(world: World):
    """Kommo is amoCRM's API under another host: only the origin (AMOCRM_DOMAIN=kommo.com) and the names differ."""
    sales = world.sb.amocrm.add_pipeline("Sales", ["New lead", "Negotiation", "Contract"])
    world.env["AMOCRM_PIPELINE_ID"] = str(sales["id"])
    headers = ["ID", "Name", "Phone", "E-mail", "Budget", "Status", "Pipeline"]
    world.set_rows([["", "Acme Inc", "'+1 555 0100", "buy@acme.example", "$1,500", "negotiation", ""]], headers)
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    row = world.rows()[1]
    lead = world.sb.amocrm.lead(int(row[0]))
    assert lead["price"] == 1500 and lead["pipeline_id"] == sales["id"]
    assert lead["status_id"] == world.status_id("Negotiation", sales["id"])
    assert row[5:] == ["negotiation", "Sales"]
    world.sb.amocrm.clock.advance(5)
    new = world.sb.amocrm.create_lead("Globex", price=7, pipeline_id=sales["id"])
    world.run("pull")
    assert world.by_lead()[new["id"]][1:] == ["Globex", "", "", "7", "New lead", "Sales"]
