"""Several pairs in one run (amosheets.toml), through the CLI against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amosheets.config import load_settings
from amosheets.config_file import load_pairs
from amosheets.state import state_path
from tests.conftest import World

HEADERS = ["lead_id", "Имя", "Сумма", "Статус", "Воронка", "Синхронизация"]
PARTNERS = "Партнёры"


def two_pairs(world: World, tmp_path: Path, extra: str = "") -> Path:
    """The main tab on the main pipeline, and a «Партнёры» tab on the sandbox's pipeline of that name."""
    world.sb.sheets.add_sheet(world.sid, PARTNERS)
    world.set_rows([], HEADERS)
    world.sb.sheets.set_values(world.sid, PARTNERS, [HEADERS])
    path = tmp_path / "amosheets.toml"
    path.write_text(
        f'[[pair]]\nname = "main"\ntab = "{world.tab}"\n\n'
        f'[[pair]]\nname = "partners"\ntab = "{PARTNERS}"\npipeline = "{PARTNERS}"\n' + extra,
        encoding="utf-8",
    )
    return path


def two_accounts(world: World, tmp_path: Path, agency_url: str) -> Path:
    """The world's tab on its account, and the tab «Другой» on another at ``agency_url`` (token AGENCY_TOKEN)."""
    path = tmp_path / "amosheets.toml"
    path.write_text(
        f'[[pair]]\nname = "own"\ntab = "{world.tab}"\n\n'
        '[[pair]]\nname = "agency"\ntab = "Другой"\naccount = "agency"\n\n'
        f'[account.agency]\nbase_url = "{agency_url}"\ntoken_env = "AGENCY_TOKEN"\n',
        encoding="utf-8",
    )
    return path


def tab(world: World, title: str) -> list[list]:
    return world.sb.sheets.values(world.sid, title)


def pipeline_id(world: World, name: str) -> int:
    return next(int(p["id"]) for p in world.sb.amocrm.pipelines() if p["name"] == name)


def test_each_pair_pushes_its_tab_to_its_pipeline_and_keeps_its_own_state(world, tmp_path):
    config = two_pairs(world, tmp_path)
    world.set_rows([["", "Иван", "100", "", "", ""]], HEADERS)
    world.sb.sheets.set_values(world.sid, PARTNERS, [HEADERS, ["", "ООО Партнёр", "200", "", "", ""]])

    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    assert "pair «main»" in r.stderr and "pair «partners»" in r.stderr
    deals = {d["name"]: d for d in world.sb.amocrm.leads()}
    assert deals["Иван"]["pipeline_id"] == pipeline_id(world, "Воронка")
    assert deals["ООО Партнёр"]["pipeline_id"] == pipeline_id(world, PARTNERS)
    assert tab(world, PARTNERS)[1][:5] == [
        str(deals["ООО Партнёр"]["id"]),
        "ООО Партнёр",
        "200",
        "Новая заявка",
        PARTNERS,
    ]

    # State per pair: two files, the environment's pair's file among them (the same tab, account and sheet).
    pairs = load_pairs(config, load_settings(environ=world.env))
    files = {p.name: state_path(p.state_dir, p.scope) for p in pairs}
    assert all(f.exists() for f in files.values()) and len(set(files.values())) == 2
    env_pair = world.settings().pair()
    assert files["main"] == state_path(env_pair.state_dir, env_pair.scope)


def test_three_pairs_of_one_account_cost_amocrm_what_one_costs_when_idle(world, tmp_path):
    config = two_pairs(world, tmp_path)
    world.sb.amocrm.add_pipeline("Опт", ["Заявка"])
    world.sb.sheets.add_sheet(world.sid, "Опт")
    world.sb.sheets.set_values(world.sid, "Опт", [HEADERS])
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[[pair]]\nname = "wholesale"\ntab = "Опт"\npipeline = "Опт"\n')
    for _ in range(2):  # the first run learns the account; the second settles
        assert world.cli("--config", str(config), "sync").returncode == 0

    world.sb.amocrm.reset_stats()
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    three = world.sb.amocrm.stats()["requests"]
    world.sb.amocrm.reset_stats()
    r = world.cli("--config", str(config), "sync", "--pair", "main")
    assert r.returncode == 0, r.stderr
    one = world.sb.amocrm.stats()["requests"]
    # The changed deals, the changed contacts and the deletions: listed once (the pipelines are the state's).
    assert three == one == 3, (three, one, world.sb.amocrm.stats()["by_route"])


def test_a_deal_moved_to_another_pairs_pipeline_is_added_there_and_its_old_row_says_so(world, tmp_path):
    config = two_pairs(world, tmp_path)
    world.set_rows([["", "Иван", "100", "", "", ""]], HEADERS)
    assert world.cli("--config", str(config), "sync").returncode == 0
    lid = int(tab(world, world.tab)[1][0])

    world.sb.amocrm.edit_lead(
        lid,
        pipeline_id=pipeline_id(world, PARTNERS),
        status_id=world.status_id("Встреча назначена", pipeline_id(world, PARTNERS)),
    )
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    old = tab(world, world.tab)
    assert len(old) == 2 and old[1][:5] == [str(lid), "Иван", "100", "Первичный контакт", "Воронка"]  # left as it was
    assert f"deal {lid} was moved in amoCRM to pipeline «{PARTNERS}»" in old[1][5]
    assert f"tab «{PARTNERS}» (pair «partners»)" in old[1][5] and "no longer synced" in old[1][5]
    new = tab(world, PARTNERS)
    assert [r[:5] for r in new[1:]] == [[str(lid), "Иван", "100", "Встреча назначена", PARTNERS]]

    # The old row is no longer synced: an edit there goes nowhere, and the deal's changes go to its new row.
    world.sb.sheets.set_values(world.sid, world.tab, [[str(lid), "Иван (старая)", "999"]], start="A2")
    world.sb.amocrm.edit_lead(lid, price=500)
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    deal = world.sb.amocrm.lead(lid)
    assert (deal["name"], deal["price"]) == ("Иван", 500)
    assert tab(world, PARTNERS)[1][2] == "500"
    assert tab(world, world.tab)[1][1:3] == ["Иван (старая)", "999"]


def test_every_pipeline_pair_takes_the_pipeline_from_the_row(world, tmp_path):
    world.set_rows([["", "Иван", "1", "", "", ""], ["", "Партнёр", "2", "", PARTNERS, ""]], HEADERS)
    config = tmp_path / "amosheets.toml"
    config.write_text(f'[[pair]]\nname = "all"\ntab = "{world.tab}"\npipeline = "*"\n', encoding="utf-8")
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    deals = {d["name"]: d["pipeline_id"] for d in world.sb.amocrm.leads()}
    assert deals == {"Иван": pipeline_id(world, "Воронка"), "Партнёр": pipeline_id(world, PARTNERS)}
    # New deals of any pipeline are appended.
    world.sb.amocrm.create_lead("Из CRM", price=5, pipeline_id=pipeline_id(world, PARTNERS))
    world.sb.amocrm.create_lead("Из CRM 2", price=6)
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    names = {row[1]: row[4] for row in tab(world, world.tab)[1:]}
    assert names["Из CRM"] == PARTNERS and names["Из CRM 2"] == "Воронка"


def test_a_pair_that_fails_does_not_stop_the_others_and_the_exit_status_is_the_most_severe(world, tmp_path):
    config = two_pairs(world, tmp_path)
    world.sb.amocrm.add_pipeline("Опт", ["Заявка"])
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[[pair]]\nname = "gone"\ntab = "Нет такой"\npipeline = "Опт"\n')
    world.set_rows([["", "Иван", "100", "", "", ""]], HEADERS)
    r = world.cli("--config", str(config), "sync", "--json")
    assert r.returncode == 2, r.stderr  # the missing tab is the user's to fix: configuration
    assert "pair «gone»" in r.stderr and "Нет такой" in r.stderr and "Traceback" not in r.stderr
    assert [d["name"] for d in world.sb.amocrm.leads()] == ["Иван"]  # main went through
    doc = json.loads(r.stdout)
    assert [(p["pair"], p["exit_status"]) for p in doc["pairs"]] == [("main", 0), ("partners", 0), ("gone", 2)]
    assert doc["exit_status"] == 2


def test_pairs_of_two_accounts_each_use_their_own_token(world, tmp_path, monkeypatch):
    from amosheets.sandbox import AmoCRMEmulator
    from amosheets.sandbox.server import RunningServer

    other = AmoCRMEmulator(token="other-token")
    server = RunningServer(other)
    try:
        world.sb.sheets.add_sheet(world.sid, "Другой")
        world.sb.sheets.set_values(world.sid, "Другой", [HEADERS, ["", "Клиент агентства", "7", "", "", ""]])
        world.set_rows([["", "Свой", "1", "", "", ""]], HEADERS)
        config = two_accounts(world, tmp_path, server.url)
        env = {**world.env, "AGENCY_TOKEN": "other-token"}
        r = world.cli("--config", str(config), "sync", env=env)
        assert r.returncode == 0, r.stderr
        assert [d["name"] for d in world.sb.amocrm.leads()] == ["Свой"]
        assert [d["name"] for d in other.leads()] == ["Клиент агентства"]
        assert "other-token" not in r.stderr + r.stdout

        env["AGENCY_TOKEN"] = "wrong-token"
        world.set_rows([["", "Свой 2", "1", "", "", ""]], HEADERS)
        r = world.cli("--config", str(config), "sync", env=env)
        assert r.returncode == 4, r.stderr  # the agency's token refused; the own pair went through
        assert "pair «agency»" in r.stderr and "wrong-token" not in r.stderr
        assert sorted(d["name"] for d in world.sb.amocrm.leads()) == ["Свой", "Свой 2"]
    finally:
        server.close()


@pytest.mark.parametrize("args", [("sync", "--pair", "nope"), ("status", "--pair", "nope")])
def test_an_unknown_pair_name_is_a_usage_error(world, tmp_path, args):
    config = two_pairs(world, tmp_path)
    r = world.cli("--config", str(config), *args)
    assert r.returncode == 2 and "nope" in r.stderr and "main, partners" in r.stderr


def test_a_bad_config_file_is_exit_2_with_file_line_and_key(world, tmp_path):
    config = tmp_path / "amosheets.toml"
    config.write_text('[[pair]]\nname = "main"\ntab = "A"\ntabb = "B"\n', encoding="utf-8")
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 2
    assert "amosheets.toml, line 4" in r.stderr and "tabb" in r.stderr and "Traceback" not in r.stderr


def test_check_and_status_show_each_pair(world, tmp_path):
    config = two_pairs(world, tmp_path)
    assert world.cli("--config", str(config), "sync").returncode == 0
    r = world.cli("--config", str(config), "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pair «main»" in r.stdout and "pair «partners»" in r.stdout
    assert f"new deals go to '{PARTNERS}'" in r.stdout
    r = world.cli("--config", str(config), "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Last runs") == 2 and "pair «partners»" in r.stdout


def test_two_pairs_following_one_pipeline_fail_with_both_named(world, tmp_path):
    config = two_pairs(world, tmp_path)
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[[pair]]\nname = "all"\ntab = "Все"\npipeline = "*"\n')
    world.sb.sheets.add_sheet(world.sid, "Все")
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 2
    assert "pairs «main» and «all» both follow the pipeline Воронка" in r.stderr
    assert "pairs «partners» and «all» both follow the pipeline Партнёры" in r.stderr


def test_a_pair_run_alone_has_a_cursor_of_its_own_and_the_next_run_of_all_misses_no_change(world, tmp_path):
    config = two_pairs(world, tmp_path)
    assert world.cli("--config", str(config), "sync").returncode == 0
    partners = pipeline_id(world, PARTNERS)
    world.sb.amocrm.clock.advance(600)
    early = world.sb.amocrm.create_lead("Ранний партнёр", price=1, pipeline_id=partners)["id"]
    world.sb.amocrm.clock.advance(600)
    assert world.cli("--config", str(config), "sync", "--pair", "main").returncode == 0  # main's cursor moves on
    world.sb.amocrm.clock.advance(600)

    world.sb.amocrm.reset_stats()
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 0, r.stderr
    # partners' window begins earlier than main's: only the part main did not need is listed again.
    routes = world.sb.amocrm.stats()["by_route"]
    assert routes.get("GET /api/v4/leads/pipelines") is None  # the state's copy is a day fresh
    listings = ("GET /api/v4/leads", "GET /api/v4/contacts", "GET /api/v4/events")
    assert sum(n for k, n in routes.items() if k in listings) == 6, routes
    assert [row[0] for row in tab(world, PARTNERS)[1:]] == [str(early)]
    assert all(row[0] != str(early) for row in tab(world, world.tab)[1:])


def test_a_pair_whose_pipeline_is_not_in_the_account_fails_alone_naming_the_file_line(world, tmp_path):
    config = two_pairs(world, tmp_path)
    with config.open("a", encoding="utf-8") as f:
        f.write('\n[[pair]]\nname = "vanished"\ntab = "Пропавшая"\npipeline = "Нет такой воронки"\n')
    world.sb.sheets.add_sheet(world.sid, "Пропавшая")
    world.set_rows([["", "Иван", "100", "", "", ""]], HEADERS)
    r = world.cli("--config", str(config), "sync")
    assert r.returncode == 2
    assert "pair «vanished»: pipeline (" in r.stderr and "line 13, pair «vanished») is 'Нет такой воронки'" in r.stderr
    assert [d["name"] for d in world.sb.amocrm.leads()] == ["Иван"]


def test_each_pair_has_its_own_lock(world, tmp_path):
    from amosheets.engine import lock_for

    config = two_pairs(world, tmp_path)
    main = next(p for p in load_pairs(config, load_settings(environ=world.env)) if p.name == "main")
    lock = lock_for(main)
    lock.acquire()
    try:
        r = world.cli("--config", str(config), "--deadline", "60", "sync", "--pair", "partners")
        assert r.returncode == 0, r.stderr  # another pair's run does not wait for main's
        r = world.cli("--config", str(config), "sync")
        assert r.returncode == 5, r.stderr  # main is held: partners went through, main says so
        assert "pair «main»: Another amosheets run" in r.stderr
        assert "── pair «partners»: tab «Партнёры» ──" in r.stderr
    finally:
        lock.release()


def test_ctrl_c_stops_every_account_and_the_next_run_makes_each_deal_once(world, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from amosheets.sandbox import AmoCRMEmulator
    from amosheets.sandbox.server import RunningServer
    from tests.conftest import ROOT

    other = AmoCRMEmulator(token="other-token", latency=0.15)
    world.sb.amocrm.latency = 0.15
    server = RunningServer(other)
    try:
        world.sb.sheets.add_sheet(world.sid, "Другой")
        mine = [["", f"Свой {i}", str(i), "", "", ""] for i in range(300)]
        theirs = [["", f"Чужой {i}", str(i), "", "", ""] for i in range(300)]
        world.set_rows(mine, HEADERS)
        world.sb.sheets.set_values(world.sid, "Другой", [HEADERS, *theirs])
        config = two_accounts(world, tmp_path, server.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
        env.update({**world.env, "AGENCY_TOKEN": "other-token", "NO_COLOR": "1"})
        # A terminal's Ctrl-C reaches the whole foreground group: the run and the processes it forked.
        proc = subprocess.Popen(
            [sys.executable, "-m", "amosheets", "--config", str(config), "push"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 60
        while not (world.sb.amocrm.leads() and other.leads()) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert len(world.sb.amocrm.leads()) < 300 or len(other.leads()) < 300  # it did stop midway

        r = world.cli("--config", str(config), "push", env={**world.env, "AGENCY_TOKEN": "other-token"})
        assert r.returncode == 0, r.stderr
        for deals, rows in ((world.sb.amocrm.leads(), tab(world, world.tab)), (other.leads(), tab(world, "Другой"))):
            names = [d["name"] for d in deals]
            assert len(names) == 300 == len(set(names))  # each row's deal made once
            assert sorted(int(r[0]) for r in rows[1:]) == sorted(d["id"] for d in deals)
    finally:
        server.close()


def test_init_pair_writes_and_formats_that_pairs_tab_with_its_pipelines_statuses(world, tmp_path):
    from tests.test_init_format import listed, rule

    config = two_pairs(world, tmp_path)
    world.sb.sheets.set_values(world.sid, PARTNERS, [[""] * len(HEADERS)])  # the partners' tab, empty
    r = world.cli("--config", str(config), "init", "--pair", "partners")
    assert r.returncode == 0, r.stderr
    world.sb.worksheet = PARTNERS  # the helpers read the world's tab
    headers = tab(world, PARTNERS)[0]
    assert headers[0] == "lead_id" and headers[-1] == "Синхронизация"
    partners = world.sb.amocrm.pipelines()[1]
    assert partners["name"] == PARTNERS
    expected = [s["name"] for s in partners["_embedded"]["statuses"] if s["type"] != 1]
    # With a Воронка column a row may move its deal to another pipeline: every pipeline's statuses are offered.
    assert set(expected) <= set(listed(rule(world, "Статус", headers=headers)))
    assert tab(world, world.sb.sheets.sheet_titles(world.sid)[0])[0] == HEADERS  # the main tab untouched
