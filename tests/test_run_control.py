"""How a run ends and what it tells: its deadline, Ctrl-C, -v and --debug."""

from __future__ import annotations

import json

import pytest

from amosheets.errors import ExitStatus

from .conftest import World


def last_run(w: World) -> dict:
    r = w.cli("status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


# -- the deadline ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("service", "args", "env", "setting"),
    [
        ("sheets", ("--deadline", "3"), {}, "--deadline"),
        ("amocrm", (), {"AMOSHEETS_DEADLINE": "3"}, "AMOSHEETS_DEADLINE"),
    ],
)
def test_a_stalled_service_ends_the_run_at_its_deadline(world: World, service, args, env, setting):
    world.set_rows([["", "Иван", "", "", "100", "", ""]])
    stalled = getattr(world.sb, service)
    stalled.set_faults(rates={"stall": 1.0})  # every request waits for an answer that does not come
    try:
        r = world.cli(*args, "sync", env={**world.env, **env})
    finally:
        stalled.set_faults()
    assert r.returncode == ExitStatus.ERROR, r.stderr
    assert f"reached its deadline of 3 s ({setting}) and stopped" in r.stderr and "Traceback" not in r.stderr
    run = last_run(world)
    assert run["exit_status"] == ExitStatus.ERROR and "deadline" in run["problems"][0]
    again = world.cli("sync")  # the lock went with the stopped run
    assert again.returncode == 0, again.stderr
    assert len(world.by_lead()) == 1 and len(world.sb.amocrm.leads()) == 1


def test_the_deadline_setting_is_checked(world: World):
    r = world.cli("sync", env={**world.env, "AMOSHEETS_DEADLINE": "soon"})
    assert r.returncode == ExitStatus.CONFIG and "AMOSHEETS_DEADLINE is 'soon'" in r.stderr
    r = world.cli("--deadline", "-1", "sync")
    assert r.returncode == ExitStatus.CONFIG and "--deadline" in r.stderr
