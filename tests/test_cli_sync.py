"""push / pull / sync / demo through the real command line, against the sandbox."""

from __future__ import annotations

import json
import os
import re
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


def test_dry_run_prints_each_change_on_stdout_and_sends_nothing(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    [lid] = world.by_lead()
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(lid, price=555)
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Пётр"]], start="A3")
    world.reset_stats()
    r = world.cli("sync", "--dry-run")
    assert r.returncode == 0, r.stderr
    # The plan is the command's output: `amosheets sync --dry-run > plan.txt` keeps it…
    assert "Planned changes (dry run: nothing was sent)" in r.stdout
    assert f"  2 | {lid} | Сумма | 100 | 555 | sheet" in r.stdout
    assert "  3 | new |  |  | Имя=Пётр" in r.stdout and "create in amoCRM" in r.stdout
    # …and the messages stay on stderr, out of the file.
    assert "sync (dry run, nothing sent) would do: 1 deal created" in r.stderr
    assert "dry run" not in r.stdout.replace("Planned changes (dry run: nothing was sent)", "")
    assert "Planned changes" not in r.stderr and "create in amoCRM" not in r.stderr
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0


def test_a_dry_run_with_nothing_to_do_says_so_on_stdout(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    r = world.cli("sync", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Nothing to change."
    assert "would do: nothing to change; 1 row read" in r.stderr and "Nothing to change." not in r.stderr


def _conflict_world(world: World) -> tuple[int, int]:
    """Two synced deals; then deal 1 changes in amoCRM, row 3 changes in the sheet (its name) and
    both sides change deal 2's price; row 4 is a new row. Returns the two deals' ids."""
    world.set_rows([["", "Иван", "", "", "100", "", ""], ["", "Мария", "", "", "200", "", ""]])
    world.run("sync")
    first, second = sorted(world.by_lead())
    world.sb.amocrm.clock.advance(5)
    world.sb.amocrm.edit_lead(first, price=555)
    world.sb.amocrm.edit_lead(second, price=300)
    world.sb.sheets.edit_cell(world.sid, world.tab, "B3", "Мария Петрова")
    world.sb.sheets.edit_cell(world.sid, world.tab, "E3", "250")
    world.sb.sheets.set_values(world.sid, world.tab, [["", "Пётр", "", "", "70"]], start="A4")
    world.reset_stats()
    return first, second


def test_a_dry_runs_conflicts_are_part_of_the_plan_on_stdout(world: World):
    _, second = _conflict_world(world)
    r = world.cli("sync", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "Conflicts (changed on both sides since the last sync" in r.stdout
    assert f"  3 | {second} | Сумма | 200 | 250 | 300 | amoCRM's" in r.stdout
    assert "conflict" not in r.stderr.replace("1 conflict", "")
    assert "would do: 1 deal created, 1 deal updated, 5 cells written, 1 conflict; 3 rows read" in r.stderr


def test_dry_run_json_is_the_plan(world: World):
    first, second = _conflict_world(world)
    r = world.cli("sync", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)  # one JSON document, nothing else on stdout
    # The summary's keys stay as they were, for what already parses them.
    for key in ("command", "exit_status", "dry_run", "created", "leads_updated", "cells_written", "conflicts"):
        assert key in data, key
    assert data["dry_run"] is True and data["created"] == 1 and data["conflicts"] == 1
    plan = data["plan"]
    changes = plan["changes"]
    assert {
        "row": 2,
        "lead_id": first,
        "column": "Сумма",
        "old": "100",
        "new": "555",
        "direction": "to_sheet",
    } in changes
    assert {
        "row": 3,
        "lead_id": second,
        "column": "Имя",
        "old": "Мария",
        "new": "Мария Петрова",
        "direction": "to_amocrm",
    } in changes
    assert {"row": 3, "lead_id": second, "column": "Сумма", "old": "250", "new": "300", "direction": "to_sheet"} in (
        changes
    )
    assert {"row": 4, "lead_id": None, "column": "Имя", "old": None, "new": "Пётр", "direction": "to_amocrm"} in (
        changes
    )
    [made] = plan["creations"]
    assert made["row"] == 4 and made["values"]["Имя"] == "Пётр" and made["values"]["Сумма"] == "70"
    assert made["values"]["Статус"]  # the status the new deal starts in, by name
    assert plan["conflicts"] == [
        {
            "row": 3,
            "lead_id": second,
            "column": "Сумма",
            "base": "200",
            "sheet": "250",
            "amocrm": "300",
            "kept": "amocrm",
        }
    ]
    assert plan["appends"] == [] and plan["links"] == []
    # The table and the JSON come from one source: the table has a line for each of these.
    table = world.cli("sync", "--dry-run").stdout
    for ch in changes:
        if ch["lead_id"] is not None:
            assert f"  {ch['row']} | {ch['lead_id']} | {ch['column']} | {ch['old']} | {ch['new']} |" in table
    amo, sheets = world.stats()
    assert amo["mutating"] == 0 and sheets["mutating"] == 0


def test_dry_run_json_lists_rows_to_add(world: World):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    world.run("sync")
    world.sb.amocrm.clock.advance(5)
    made = world.sb.amocrm.create_lead("Вера из CRM", price=300)["id"]
    r = world.cli("sync", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    [added] = plan["appends"]
    assert added["lead_id"] == made and added["values"]["Имя"] == "Вера из CRM" and added["values"]["Сумма"] == "300"
    assert {
        "row": None,
        "lead_id": made,
        "column": "Имя",
        "old": None,
        "new": "Вера из CRM",
        "direction": "to_sheet",
    } in (plan["changes"])
    assert "  + | " + str(made) + " |  |  | Вера из CRM | new row" in world.cli("sync", "--dry-run").stdout


def test_json_summary_on_stdout(world: World):
    world.set_rows([["", "Иван", "", "", "abc", "", ""], ["", "Пётр", "", "", "", "", ""]])
    r = world.cli("sync", "--json")
    assert r.returncode == ExitStatus.PARTIAL
    data = json.loads(r.stdout)
    assert data["command"] == "sync" and data["created"] == 1 and data["problems"] == 1
    assert data["exit_status"] == 3 and "row 2, column Сумма" in data["problem_list"][0]
    assert "plan" not in data  # the plan is what a dry run prints; a real run's JSON is its summary


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
    # the sheet's edit reaching amoCRM, read from amoCRM before and after the sync
    before = re.search(r"Before the sync, amoCRM has deal (\d+) at price 15000; the sheet says 17500\.", r.stderr)
    assert before, r.stderr
    assert f"After the sync, amoCRM has deal {before[1]} at price 17500 (it was 15000)" in r.stderr
    # the formula-named deal, and why its cell is text
    assert re.search(
        r'is named =HYPERLINK\("http://evil\.example"\) in amoCRM, and its cell B\d+ holds that as plain text', r.stderr
    )
    assert "so Sheets never evaluates it" in r.stderr and "IMPORTXML" in r.stderr
    # a bad row says why in its sync column, the others go through, and once fixed it says so
    assert "Row 4 did not go through, and says why in its Синхронизация cell: '✗ Сумма: «пять тысяч» — " in r.stderr
    assert re.search(
        r"Row 4's Синхронизация cell now says '✓ \d{4}-\d\d-\d\d \d\d:\d\d sent to amoCRM: Сумма'", r.stderr
    )
