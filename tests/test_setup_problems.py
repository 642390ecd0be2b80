"""Setup mistakes get their own message and exit status 2, never "a bug in amosheets"; secrets stay out."""

from __future__ import annotations

import subprocess

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
