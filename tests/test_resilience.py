"""A bad day: faults on both services, a held lock, an IP block, bad input — nothing lost or doubled."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amosheets.amocrm.connect import amo_client
from amosheets.amocrm.errors import AmoBlockedError
from amosheets.config import load_settings
from amosheets.engine import Engine, Options, lock_for
from amosheets.errors import AmosheetsError, ExitStatus, LockedError
from amosheets.sandbox.google_accounts import DEFAULT_PERSON
from amosheets.sheet import Sheet
from amosheets.sync.plan import Direction

from .conftest import World
from .test_crash import converge, scenario, snapshot


def fast_engine(w: World, direction: str = "sync", **options) -> Engine:
    s = load_settings(environ=w.env)
    return Engine.from_settings(
        s,
        Options(Direction(direction), **options),
        amo=amo_client(s.account(), backoff=0.01, max_backoff=0.05),
        sheet=Sheet(s.tab(), backoff=0.01, max_backoff=0.05),
    )


FAULT_MIX = {"429": 0.06, "500": 0.05, "502": 0.05, "503": 0.04, "504": 0.04, "drop": 0.04, "truncated": 0.02}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from .test_crash import fresh_world

    w = fresh_world(tmp_path_factory.mktemp("ref"))
    try:
        scenario(w)
        converge(w)
        return snapshot(w)
    finally:
        w.sb.close()


def runs_under_faults(w: World, seed: int, runs: int = 6) -> tuple[list[int], int, int]:
    """Run sync ``runs`` times under FAULT_MIX on both services, then clear the faults.

    Returns each run's exit status, and how many faults were injected over how many requests.
    """
    w.sb.amocrm.set_faults(rates=FAULT_MIX, seed=seed)
    w.sb.sheets.set_faults(rates=FAULT_MIX, seed=seed + 100)
    outcomes = []
    for _ in range(runs):
        try:
            outcomes.append(int(fast_engine(w).run().exit_status))
        except AmosheetsError as e:  # a run may stop; it must say why in plain words
            assert str(e) and "Traceback" not in str(e)
            outcomes.append(int(e.exit_status))
        w.sb.amocrm.clock.advance(30)
    amo, sheets = w.sb.amocrm.stats(), w.sb.sheets.stats()
    w.sb.amocrm.set_faults()
    w.sb.sheets.set_faults()
    faults = sum(amo["faults_injected"].values()) + sum(sheets["faults_injected"].values())
    return outcomes, faults, amo["requests"] + sheets["requests"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_thirty_percent_faults_on_both_services_lose_and_double_nothing(world: World, reference, seed):
    assert sum(FAULT_MIX.values()) == pytest.approx(0.30)
    scenario(world)
    outcomes, injected, _ = runs_under_faults(world, seed)
    assert injected > 0
    converge(world)
    assert snapshot(world) == reference, outcomes


def test_an_ip_block_stops_the_run_at_once(world: World):
    world.set_rows([["", "Иван", "", "", "", "", ""]])
    world.sb.amocrm.block(600)
    world.reset_stats()
    with pytest.raises(AmoBlockedError, match="blocked"):
        fast_engine(world).run()
    assert world.sb.amocrm.stats()["requests"] == 1  # no retry: retrying extends the block
    r = world.cli("sync")
    assert r.returncode == ExitStatus.ERROR and "blocked" in r.stderr and "Traceback" not in r.stderr


def test_a_second_run_waits_then_gives_up_touching_nothing(world: World):
    world.set_rows([["", "Иван", "", "", "", "", ""]])
    lock = lock_for(load_settings(environ=world.env).pair())
    world.reset_stats()
    with lock.acquire(timeout=1), pytest.raises(LockedError) as e:
        fast_engine(world, lock_wait=0.3).run()
    assert e.value.exit_status == ExitStatus.LOCKED and "Another amosheets run" in str(e.value)
    amo, sheets = world.stats()
    assert amo["requests"] == 0 and sheets["requests"] == 0
    assert fast_engine(world).run().created == 1  # released: the next run works


def test_a_killed_runs_lock_does_not_block_the_next(world: World, tmp_path):
    world.set_rows([["", "Иван", "", "", "", "", ""]])
    path = lock_for(load_settings(environ=world.env).pair()).lock_file
    script = (
        f"import filelock, time; lock = filelock.FileLock({str(path)!r}); lock.acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockedError):
        fast_engine(world, lock_wait=0.2).run()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert fast_engine(world, lock_wait=0.2).run().created == 1


# -- the bad input catalogue ---------------------------------------------------------------
def cli_ok(r: subprocess.CompletedProcess[str]) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    return out


@pytest.mark.parametrize(
    ("setup", "status", "needle"),
    [
        (lambda w: w.set_rows([], headers=[""]), ExitStatus.CONFIG, "Row 1 is empty"),
        (lambda w: w.set_rows([], headers=["lead_id", "Имя", "ИМЯ"]), ExitStatus.CONFIG, "Duplicated headers"),
        (lambda w: w.sb.amocrm.set_unpaid(True), ExitStatus.AUTH, "not paid"),
        (lambda w: w.sb.amocrm.set_token("rotated"), ExitStatus.AUTH, "long-lived token"),
        (lambda w: w.sb.amocrm.set_faults(rates={"html": 1.0}), ExitStatus.ERROR, "not JSON"),
        (lambda w: w.sb.amocrm.set_faults(rates={"truncated": 1.0}), ExitStatus.ERROR, "not JSON"),
        (lambda w: w.sb.sheets.set_faults(rates={"html": 1.0}), ExitStatus.ERROR, "not JSON"),
        (lambda w: w.sb.sheets.set_faults(rates={"502": 1.0}), ExitStatus.ERROR, "kept failing"),
        (lambda w: w.env.update(AMOCRM_PIPELINE_ID="abc"), ExitStatus.CONFIG, "AMOCRM_PIPELINE_ID is 'abc'"),
    ],
)
def test_bad_answers_and_settings_get_a_message_and_their_exit_status(world: World, setup, status, needle):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    before = snapshot(world)
    setup(world)
    if status == ExitStatus.CONFIG:
        r = world.cli("sync")  # through the real command line: message on stderr, no traceback
        assert r.returncode == status and needle in cli_ok(r), r.stderr
    else:
        # Through the library with quick retries (the CLI's real backoff would take a minute). It is a
        # second client in this process: let the previous run's second pass so the two don't add up.
        time.sleep(1.1)
        with pytest.raises(AmosheetsError) as e:
            fast_engine(world).run()
        assert e.value.exit_status == status and needle in str(e.value), str(e.value)
    world.sb.amocrm.set_faults()
    world.sb.sheets.set_faults()
    world.sb.amocrm.set_unpaid(False)
    world.sb.amocrm.set_token(world.env["AMOCRM_INTEGRATION_TOKEN"])
    world.env.pop("AMOCRM_PIPELINE_ID", None)
    if "headers" in needle or "Row 1" in needle:
        assert snapshot(world)[1] == before[1]  # the test replaced the sheet itself; amoCRM is untouched
    else:
        assert snapshot(world) == before  # what failed changed nothing
        assert world.run("sync").exit_status == ExitStatus.OK


def test_a_header_in_another_case_is_fine(world: World):
    world.set_rows([["", "Иван", "100"]], headers=["LEAD_ID", "имя", "СУММА"])
    assert world.run("sync").created == 1


def test_a_50000_character_name_fails_alone(world: World):
    world.set_rows([["", "Я" * 50_000, "", "", "", "", ""], ["", "Обычная", "", "", "", "", ""]])
    out = world.run("sync")
    assert out.exit_status == ExitStatus.PARTIAL and out.created == 1
    [p] = out.problems
    assert p.row == 2 and "did not create" in p.message and "name" in p.message
    assert [lead["name"] for lead in world.sb.amocrm.leads()] == ["Обычная"]
    assert world.run("sync").exit_status == ExitStatus.PARTIAL  # reported again, never half-made
    assert len(world.sb.amocrm.leads()) == 1


def test_emoji_empty_rows_in_the_middle_and_user_formulas(world: World):
    world.set_rows([["", "Кофе ☕️ и 🍰", "", "", "", "", ""], [], [], ["", "После пустых", "", "", "", "", ""]])
    world.sb.sheets.edit_cell(world.sid, world.tab, "B6", "=1+2")  # a formula typed by a user
    world.sb.sheets.edit_cell(world.sid, world.tab, "B7", "=A1")  # one that fails here (#NAME?)
    out = world.run("sync")
    assert out.created == 3 and [p.row for p in out.problems] == [7]
    names = sorted(lead["name"] for lead in world.sb.amocrm.leads())
    assert names == ["3", "Кофе ☕️ и 🍰", "После пустых"]
    assert world.rows()[2] == [] and world.rows()[3] == []  # the empty rows stay empty


def test_a_protected_column_stops_the_sheet_write_and_loses_nothing(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.sb.sheets.protect(world.sid, world.tab, "A:A")
    r = world.cli("sync")
    assert r.returncode == ExitStatus.ERROR and "protected" in cli_ok(r)
    world.sb.sheets.unprotect(world.sid)
    converge(world)
    assert len(world.sb.amocrm.leads()) == 1 and len(world.by_lead()) == 1  # adopted, not made twice


def test_unexpected_fields_a_lead_without_contact_and_a_contact_with_several_phones(world: World):
    world.set_rows([])
    lone = world.sb.amocrm.create_lead("Без контакта", with_contact=False)
    many = world.sb.amocrm.create_lead("Много телефонов", phone="+7 1")
    world.sb.amocrm.add_phone(world.sb.amocrm.main_contact_of(many["id"])["id"], "+7 2")
    out = world.run("pull", backfill=True)
    assert out.exit_status == ExitStatus.OK
    rows = world.by_lead()
    assert rows[lone["id"]][2] == "" and rows[many["id"]][2] == "+7 1"


# -- secrets -------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["service account", "person"])
def test_the_token_and_the_key_never_show(world: World, tmp_path, who):
    """Neither the amoCRM token nor Google's secrets — a service account's private key; a person's OAuth
    client secret, refresh token and access tokens — reach any output, the log file or the state."""
    from .test_operator import key_file

    person: dict[str, str] = {}
    if who == "service account":
        path, pem = key_file(world, tmp_path)
        bad_text = pem  # a key file that is not JSON but holds the key itself
        google_secrets = [line for line in pem.splitlines() if line and "PRIVATE KEY" not in line][:3]
    else:
        path = world.sb.write_authorized_user(tmp_path / "person.json")
        person = json.loads(path.read_text())
        # A sign-in without its client_id: refused, and the secrets it holds are not repeated.
        bad_text = json.dumps({k: v for k, v in person.items() if k != "client_id"})
        google_secrets = [person["client_secret"], person["refresh_token"]]
    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    token = world.env["AMOCRM_INTEGRATION_TOKEN"]
    log = tmp_path / "run.log"
    world.set_rows([["", "Иван", "", "", "abc", "", ""], ["", "Пётр", "", "", "", "", ""]])
    outputs = []
    for args in (("check",), ("sync", "--json"), ("--debug", "sync"), ("status", "--json"), ("pipelines",)):
        r = world.cli("--log-file", str(log), *args)
        cli_ok(r)
        outputs.append(r.stdout + "\n" + r.stderr)
    summary = json.loads(world.cli("status", "--json").stdout)
    world.sb.amocrm.set_token("rotated")
    outputs.append(world.cli("--debug", "--log-file", str(log), "sync").stderr)
    world.sb.amocrm.block(60)
    outputs.append(world.cli("--debug", "sync").stderr)
    world.sb.amocrm.unblock()
    world.sb.amocrm.set_token(token)
    # Google echoes the request's Authorization header (the access token) in an error of the write.
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(world.sb.amocrm.leads()[0]["id"], price=777)
    for debug in ((), ("--debug",)):  # --debug adds the traceback
        world.sb.sheets.set_faults(script=[("echo400", r"values:batchUpdate", "POST")])
        echoed = world.cli(*debug, "--log-file", str(log), "sync")
        assert echoed.returncode == ExitStatus.ERROR and "(400: Rejected: Bearer ***)" in echoed.stderr
        outputs.append(echoed.stdout + echoed.stderr)
    access_tokens = world.sb.sheets.access_tokens()  # every one the runs got (revoking forgets a person's)
    assert len(access_tokens) >= 5
    google_secrets += access_tokens
    if who == "person":
        world.sb.sheets.revoke_person(DEFAULT_PERSON)
        for debug in ((), ("--debug",)):
            revoked = world.cli(*debug, "--log-file", str(log), "sync")
            assert revoked.returncode == ExitStatus.AUTH and "Sign in again" in revoked.stderr
            outputs.append(revoked.stdout + revoked.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text(bad_text)
    outputs.append(world.cli("check", env={**world.env, "GOOGLE_APPLICATION_CREDENTIALS": str(bad)}).stderr)
    state_dir = Path(world.env["AMOSHEETS_STATE_DIR"])
    blobs = [o.encode() for o in outputs] + [log.read_bytes()]
    blobs += [f.read_bytes() for f in state_dir.iterdir() if f.is_file()]
    assert any(f.suffix == ".sqlite3" for f in state_dir.iterdir())
    for blob in blobs:
        assert token.encode() not in blob
        for secret in google_secrets:
            assert secret.encode() not in blob
    assert summary[-1]["summary"]["created"] == 1  # the runs really happened


# -- guard rails ---------------------------------------------------------------------------
def synced_sheet(w: World, n: int) -> list[int]:
    w.set_rows([["", f"Клиент {i:02d}", "", "", str(1000 + i), "", ""] for i in range(n)])
    assert w.run("sync").created == n
    return sorted(w.by_lead())


@pytest.mark.parametrize("column", ["E", "A"])  # the prices alone, or the lead_ids alone
def test_a_column_sorted_on_its_own_stops_the_run_until_force(world: World, column):
    ids = synced_sheet(world, 30)
    # Sorting one column descending on its own: that column's values reverse, the others stay.
    column_values = [[str(1000 + i)] for i in range(30)] if column == "E" else [[lid] for lid in ids]
    world.sb.sheets.set_values(world.sid, world.tab, column_values[::-1], start=f"{column}2")
    world.reset_stats()
    r = world.cli("sync")
    assert r.returncode == ExitStatus.NEEDS_FORCE, r.stderr
    assert "sorted on its own" in r.stderr and "--force" in r.stderr and "Nothing was changed" in r.stderr
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0
    assert world.cli("sync", "--dry-run").returncode == ExitStatus.NEEDS_FORCE
    assert world.cli("sync", "--force").returncode == 0
    assert world.sb.amocrm.stats()["mutating"] > 0


def test_bulk_edits_made_in_amocrm_are_not_held_back(world: World):
    ids = synced_sheet(world, 30)
    world.sb.amocrm.clock.advance(120)
    for lid in ids[:25]:
        world.sb.amocrm.edit_lead(lid, price=1)
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.cells_written == 25


def test_a_small_sheet_is_not_guarded(world: World):
    ids = synced_sheet(world, 20)
    world.sb.sheets.set_values(world.sid, world.tab, [["7"] for _ in ids], start="E2")
    out = world.run("sync")
    assert out.exit_status == ExitStatus.OK and out.leads_updated == 20
