"""amoCRM through OAuth, through the CLI against the sandbox: sign in with a code, then runs that keep the
tokens alive on amoCRM's clock (25 hours, 89 and 91 days later), one renewal at a time, and plain words
when nothing but a person can help."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from amosheets.amocrm.auth import token_path
from amosheets.amocrm.token_file import TokenFile, TokenPair
from amosheets.errors import ExitStatus
from amosheets.sandbox import Sandbox

from .conftest import ROOT, World, sandbox_world

HOUR, DAY = 3600, 86400


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Set up for OAuth, not signed in yet."""
    yield from sandbox_world(tmp_path, oauth=True)


def tokens_of(w: World) -> TokenFile:
    return TokenFile(token_path(Path(w.env["AMOSHEETS_STATE_DIR"]), w.sb.amocrm_url))


def held(w: World) -> TokenPair:
    pair = tokens_of(w).load()
    assert pair is not None
    return pair


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def failed(r: subprocess.CompletedProcess[str], status: ExitStatus) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == status, (r.returncode, r.stderr)
    return " ".join((r.stdout + r.stderr).split())  # the words, whatever the terminal's width wrapped


def sign_in(w: World) -> str:
    return ok(w.cli("auth", "amocrm", "--code", w.sb.amocrm.oauth_code()))


def refreshes(w: World) -> int:
    return int(w.sb.amocrm.stats()["oauth_refreshes"])


def test_a_run_before_signing_in_says_how_then_signing_in_makes_runs_work(world: World):
    world.set_rows([["", "Анна", "", "", "100", "", ""]])
    told = failed(world.cli("sync"), ExitStatus.CONFIG)
    assert "has not been authorized yet" in told and "amosheets auth amocrm --code CODE" in told
    said = sign_in(world)
    assert "Signed in to amoCRM account" in said and "127.0.0.1" in said
    assert "lasts 24 h" in " ".join(said.split()) and "90 days" in said
    path = tokens_of(world).path
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ok(world.cli("sync"))
    assert [lead["name"] for lead in world.sb.amocrm.leads()] == ["Анна"]
    checked = " ".join(ok(world.cli("check")).split())
    client_id = world.env["AMOCRM_CLIENT_ID"]
    assert f"signed in with OAuth (integration {client_id})" in checked
    assert "the access token is good for 23 h" in checked and "the refresh token for 90 days" in checked
    assert refreshes(world) == 0


def test_the_whole_address_amocrm_redirected_to_may_be_pasted(world: World):
    code = world.sb.amocrm.oauth_code()
    ok(
        world.cli(
            "auth", "amocrm", "--code", f"https://example.com/amosheets?code={code}&state=x&referer=sandbox.amocrm.ru"
        )
    )
    ok(world.cli("sync"))


def test_codes_that_cannot_work_say_why_and_what_to_do(world: World):
    code = world.sb.amocrm.oauth_code()
    world.sb.amocrm.clock.advance(20 * 60 + 1)
    assert "has expired: codes last 20 minutes" in failed(
        world.cli("auth", "amocrm", "--code", code), ExitStatus.CONFIG
    )
    code = world.sb.amocrm.oauth_code()
    ok(world.cli("auth", "amocrm", "--code", code))
    assert "already used" in failed(world.cli("auth", "amocrm", "--code", code), ExitStatus.CONFIG)
    assert "does not know that authorization code" in failed(
        world.cli("auth", "amocrm", "--code", "def50200-not-a-code"), ExitStatus.CONFIG
    )
    wrong = {**world.env, "AMOCRM_CLIENT_SECRET": "not-the-integrations-secret-at-all"}
    told = failed(world.cli("auth", "amocrm", "--code", world.sb.amocrm.oauth_code(), env=wrong), ExitStatus.CONFIG)
    assert "refused the integration's keys" in told and "Keys and scopes" in told
    with_token = {**world.sb.env(), "AMOSHEETS_STATE_DIR": world.env["AMOSHEETS_STATE_DIR"]}
    told = failed(world.cli("auth", "amocrm", "--code", "whatever", env=with_token), ExitStatus.CONFIG)
    assert "AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URI are not set" in told


def test_25_hours_later_the_run_renews_the_tokens_and_goes_on(world: World):
    world.set_rows([["", "Анна", "", "", "100", "", ""]])
    sign_in(world)
    ok(world.cli("sync"))
    before = held(world)
    world.sb.amocrm.clock.advance(25 * HOUR)  # the access token ended an hour ago; this machine's clock did not move
    lead = world.sb.amocrm.leads()[0]["id"]
    world.sb.amocrm.edit_lead(lead, price=250)
    ok(world.cli("sync"))
    after = held(world)
    assert refreshes(world) == 1 and after.refresh != before.refresh and after.access != before.access
    assert world.by_lead()[lead][4] == "250"
    assert after.access_until == after.issued_at + DAY  # counted from amoCRM's clock, 25 h on
    assert after.issued_at >= before.issued_at + 25 * HOUR


def test_an_access_token_in_its_last_hour_is_renewed_ahead_by_amocrms_clock_without_a_401(world: World):
    sign_in(world)
    world.sb.amocrm.clock.advance(23 * HOUR + 30 * 60)  # this machine's clock says the token is new
    world.sb.amocrm.reset_stats()
    # One request: its answer's Date says half an hour is left, and the run renews then, with nothing more to send.
    ok(world.cli("pipelines"))
    stats = world.sb.amocrm.stats()
    assert refreshes(world) == 1 and stats["oauth_access_refused"] == 0
    assert stats["by_route"] == {"GET /api/v4/leads/pipelines": 1, "POST /oauth2/access_token": 1}
    world.sb.amocrm.clock.advance(HOUR)  # the old token has ended by now; the new one is good
    world.sb.amocrm.reset_stats()
    ok(world.cli("sync"))
    assert refreshes(world) == 0 and world.sb.amocrm.stats()["oauth_access_refused"] == 0


def test_89_days_unused_the_tokens_still_renew_and_the_refresh_token_has_90_days_again(world: World):
    sign_in(world)
    world.sb.amocrm.clock.advance(89 * DAY)
    ok(world.cli("sync"))
    assert refreshes(world) == 1
    assert "the refresh token for 90 days" in " ".join(ok(world.cli("check")).split())


def test_91_days_unused_the_run_says_to_authorize_again_and_that_works(world: World):
    world.set_rows([["", "Анна", "", "", "100", "", ""]])
    sign_in(world)
    world.sb.amocrm.clock.advance(91 * DAY)
    told = failed(world.cli("sync"), ExitStatus.AUTH)
    assert "refresh token has expired: no run renewed it for 3 months" in told
    assert "amosheets auth amocrm --code CODE" in told and "20 minutes" in told
    assert not world.sb.amocrm.leads()
    sign_in(world)
    ok(world.cli("sync"))
    assert [lead["name"] for lead in world.sb.amocrm.leads()] == ["Анна"]


def test_a_refresh_token_with_under_30_days_left_is_renewed_by_any_run(world: World):
    sign_in(world)
    pair = held(world)
    # amoCRM does not say how long a refresh token lives; the file's reckoning says 29 days are left.
    tokens_of(world).save(TokenPair(**{**pair.__dict__, "refresh_until": pair.issued_at + 29 * DAY}))
    ok(world.cli("sync"))
    assert refreshes(world) == 1 and held(world).refresh_until == held(world).issued_at + 90 * DAY


def test_overlapping_runs_renew_once_and_all_go_on(world: World):
    sign_in(world)
    ok(world.cli("sync"))
    world.sb.amocrm.clock.advance(25 * HOUR)  # every run meets a 401 and must renew
    # Three processes, each with a limiter of its own, would together exceed 7 requests a second, and check
    # gives up after two 429s: the limit is not what this test is about.
    world.sb.amocrm.configure(rate_limit=None)
    world.sb.amocrm.reset_stats()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
    env.update(world.env)
    lock = tokens_of(world).lock
    lock.acquire()  # held here until all three wait for it: they overlap for sure
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "amosheets", command],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in ("sync", "check", "pipelines")
        ]
        # Each run's first request is refused (sync's listing of deals, check's account, the pipelines), and each
        # run then waits for the lock to renew.
        firsts = ("GET /api/v4/leads", "GET /api/v4/account", "GET /api/v4/leads/pipelines")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = world.sb.amocrm.stats()
            if all(stats["by_route"].get(r) for r in firsts) and stats["oauth_access_refused"] >= 3:
                break
            time.sleep(0.05)
        assert all(stats["by_route"].get(r) for r in firsts), stats["by_route"]
        assert refreshes(world) == 0
    finally:
        lock.release()
    for p in runs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "Traceback" not in err, out + err
    assert refreshes(world) == 1


def test_a_renewal_whose_answer_was_lost_says_so_and_what_to_do(world: World):
    sign_in(world)
    world.sb.amocrm.clock.advance(25 * HOUR)
    world.sb.amocrm.set_faults(script=[("drop-after", "/oauth2/access_token", "POST")])
    told = failed(world.cli("sync"), ExitStatus.ERROR)
    assert "did not answer the renewal" in told and "next run tries again" in told
    told = failed(world.cli("sync"), ExitStatus.AUTH)
    assert "never got its answer kept" in told and "amosheets auth amocrm --code CODE" in told
    sign_in(world)
    ok(world.cli("sync"))


def test_tokens_renewed_by_another_copy_are_named_as_used_elsewhere(world: World, tmp_path: Path):
    sign_in(world)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / tokens_of(world).path.name).write_bytes(tokens_of(world).path.read_bytes())
    world.sb.amocrm.clock.advance(25 * HOUR)
    ok(world.cli("sync"))
    told = failed(world.cli("sync", env={**world.env, "AMOSHEETS_STATE_DIR": str(other)}), ExitStatus.AUTH)
    assert "already used" in told and "another copy of these tokens" in told


def test_the_token_wins_over_oauth_and_auth_says_so(world: World):
    both = {**world.env, "AMOCRM_INTEGRATION_TOKEN": world.sb.token}
    said = " ".join(ok(world.cli("auth", "amocrm", "--code", world.sb.amocrm.oauth_code(), env=both)).split())
    assert "AMOCRM_INTEGRATION_TOKEN is set too, and wins" in said
    assert "long-lived token" in ok(world.cli("check", env=both))


def test_no_secret_of_the_sign_in_ever_shows(world: World, tmp_path: Path):
    log = tmp_path / "run.log"
    world.set_rows([["", "Анна", "", "", "100", "", ""]])
    outputs = [sign_in(world)]
    issued = [held(world)]
    for args in (("check",), ("--debug", "sync"), ("sync", "--json"), ("pipelines",), ("status",)):
        outputs.append(ok(world.cli("--log-file", str(log), *args)))
    world.sb.amocrm.clock.advance(25 * HOUR)
    outputs.append(ok(world.cli("--debug", "--log-file", str(log), "sync")))
    issued.append(held(world))
    world.sb.amocrm.revoke_oauth()
    outputs.append(world.cli("--debug", "--log-file", str(log), "sync").stderr)
    world.sb.amocrm.clock.advance(25 * HOUR)
    outputs.append(world.cli("--debug", "--log-file", str(log), "sync").stderr)
    secrets = [world.env["AMOCRM_CLIENT_SECRET"]]
    secrets += [t.reveal() for pair in issued for t in (pair.access, pair.refresh)]
    state_dir = Path(world.env["AMOSHEETS_STATE_DIR"])
    kept = tokens_of(world).path
    blobs = [o.encode() for o in outputs] + [log.read_bytes()]
    blobs += [f.read_bytes() for f in state_dir.iterdir() if f.is_file() and f != kept]
    assert len(secrets) == 5 and all(len(s) >= 20 for s in secrets)
    for blob in blobs:
        for s in secrets:
            assert s.encode() not in blob
    assert json.loads(world.cli("status", "--json").stdout)  # the runs really happened


def test_an_account_of_amosheets_toml_signs_in_through_oauth_and_renews_in_its_own_process(tmp_path: Path):
    with Sandbox(accounts=2) as sb:
        sb.seed_sample(leads=1)
        state = tmp_path / "state"
        state.mkdir()
        second = sb.accounts[1].oauth_client()
        env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(state), "AGENCY_SECRET": second["client_secret"]}
        w = World(sb, env)
        (state / "amosheets.toml").write_text(
            sb.pair_section(0)
            + "\n"
            + sb.pair_section(1).replace('account = "a2"', 'account = "agency"')
            + '\n[account.agency]\nbase_url = "'
            + sb.account_url(1)
            + f'"\nclient_id = "{second["client_id"]}"\nclient_secret_env = "AGENCY_SECRET"\n'
            + f'redirect_uri = "{second["redirect_uri"]}"\n',
            encoding="utf-8",
        )
        told = failed(w.cli("sync"), ExitStatus.CONFIG)  # the second account is not signed in yet
        assert "has not been authorized yet" in told
        said = ok(w.cli("auth", "amocrm", "--account", "agency", "--code", sb.accounts[1].oauth_code()))
        assert "Signed in to amoCRM account" in said
        assert (state / f"amocrm-tokens-127.0.0.1_{sb.account_url(1).rsplit(':', 1)[1]}.json").exists()
        ok(w.cli("sync"))
        sb.accounts[1].clock.advance(25 * HOUR)
        ok(w.cli("sync"))
        assert sb.accounts[1].stats()["oauth_refreshes"] == 1 and sb.amocrm.stats()["oauth_refreshes"] == 0
        assert "the refresh token for 90 days" in " ".join(ok(w.cli("check", "--pair", "a2")).split())
        told = failed(w.cli("auth", "amocrm", "--account", "a1", "--code", "x"), ExitStatus.CONFIG)
        assert "no pair of amosheets.toml uses such an account" in told
