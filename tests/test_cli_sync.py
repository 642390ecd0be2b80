"""push / pull / sync / demo through the real command line, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from amosheets.errors import ExitStatus

from .conftest import World


def test_sync_through_the_cli_creates_and_reports(world: World):
    world.set_rows([["", "Иван", "'+7 1", "", "100", "", ""]])
    r = world.cli("sync")
    assert r.returncode == 0, r.stderr
    assert "sync: 1 deal created" in r.stderr and "Traceback" not in r.stderr
    assert len(world.by_lead()) == 1


def test_dry_run_prints_each_change_and_sends_nothing(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=555)
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Пётр"]], start="A3")
    world.reset_stats()
    r = world.cli("sync", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"  2 | {lid} | Сумма | 100 | 555 | sheet" in r.stderr
    assert "  3 | new |  |  | Имя=Пётр" in r.stderr and "create in amoCRM" in r.stderr
    assert "dry run, nothing sent" in r.stderr
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0


def test_json_summary_on_stdout(world: World):
    world.set_rows([["", "Иван", "", "", "abc", "", ""], ["", "Пётр", "", "", "", "", ""]])
    r = world.cli("sync", "--json")
    assert r.returncode == ExitStatus.PARTIAL
    data = json.loads(r.stdout)
    assert data["command"] == "sync" and data["created"] == 1 and data["problems"] == 1
    assert data["exit_status"] == 3 and "row 2, column Сумма" in data["problem_list"][0]


def test_counts_agree_with_their_number(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    r = world.cli("sync")
    assert r.returncode == 0, r.stderr
    assert "sync: 1 deal created, 3 cells written; 1 row read" in r.stderr
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=555)
    r = world.cli("-v", "sync")
    assert "sync: 1 cell written; 1 row read" in r.stderr, r.stderr
    assert "read the sheet: 1 row\n" in r.stderr and "amoCRM: 1 changed deal, 0 changed contacts" in r.stderr
    assert "plan: 0 creates, 0 deal updates, 0 contact updates, 1 cell to write, 0 rows to add" in r.stderr
    assert "sheet: wrote 1 cell, added 0 rows" in r.stderr
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Пётр"], ["", "Мария"]], start="A3")
    r = world.cli("sync")
    assert r.returncode == 0, r.stderr
    assert "sync: 2 deals created" in r.stderr and "; 3 rows read" in r.stderr


def test_bad_row_message_names_row_column_value_and_fix(world: World):
    world.set_rows([["", "Иван", "", "", "", "Нет такого", ""]])
    r = world.cli("push")
    assert r.returncode == ExitStatus.PARTIAL
    assert "row 2, column Статус ('Нет такого'): pipeline 'Воронка' has no such status; use one of:" in r.stderr


def test_conflict_option(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=300)
    world.sb.sheets.edit_cell(world.sid, world.tab, "E2", "200")
    r = world.cli("sync", "--conflict", "sheet")
    assert r.returncode == 0, r.stderr
    assert "conflict on row 2" in r.stderr and "kept the sheet's" in r.stderr
    assert world.sb.amocrm.lead(lid)["price"] == 200


def test_pull_all_and_since_do_not_go_together(world: World):
    r = world.cli("pull", "--all", "--since", "2026-01-01")
    assert r.returncode == 2 and "--all and --since" in r.stderr


def test_pull_since_must_be_a_time(world: World):
    r = world.cli("pull", "--since", "вчера")
    assert r.returncode == 2 and "--since 'вчера' is not a time" in r.stderr


def test_bad_header_row_is_a_configuration_error(world: World):
    world.set_rows([["x"]], headers=["Имя", "Сумма"])
    r = world.cli("sync")
    assert r.returncode == 2 and "no lead_id column" in r.stderr


def test_demo_runs_from_start_to_end():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    r = subprocess.run(
        [sys.executable, "-m", "amosheets", "demo"], capture_output=True, text=True, env=env, timeout=180
    )
    assert r.returncode == 0, r.stderr
    assert "3 deals created" in r.stderr and "nothing to change" in r.stderr
    assert "Traceback" not in r.stderr
