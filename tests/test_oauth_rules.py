"""OAuth's rules and the token file, without a server: when to renew, what a pasted code is, what a crash leaves."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from amosheets.amocrm.auth import LongLivedToken, OAuthIntegration, token_path
from amosheets.amocrm.oauth import ACCESS_AHEAD, REFRESH_AHEAD, code_from, renewal_due, span
from amosheets.amocrm.token_file import TokenFile, TokenPair
from amosheets.config import load_settings
from amosheets.errors import ConfigError
from amosheets.secret import Secret

DAY = 86400
T0 = 1_800_000_000


def pair(access_until: int = T0 + DAY, refresh_until: int = T0 + 90 * DAY, refresh: str = "refresh-1") -> TokenPair:
    return TokenPair(
        "https://x.amocrm.ru", "client", Secret("access-1"), Secret(refresh), access_until, refresh_until, T0, 2.5
    )


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (T0, None),
        (T0 + DAY - ACCESS_AHEAD - 1, None),
        (T0 + DAY - ACCESS_AHEAD, "the access token ends within the hour"),
        (T0 + 25 * 3600, "the access token ends within the hour"),
    ],
)
def test_the_access_token_is_renewed_within_its_last_hour(now, due):
    assert renewal_due(pair(), now) == due


def test_a_refresh_token_with_less_than_30_days_left_is_renewed_while_the_access_token_is_good():
    p = pair(access_until=T0 + 20 * DAY, refresh_until=T0 + 40 * DAY)
    assert renewal_due(p, T0 + 40 * DAY - REFRESH_AHEAD - 1) is None
    assert renewal_due(p, T0 + 40 * DAY - REFRESH_AHEAD) == "the refresh token has less than 30 days left"


@pytest.mark.parametrize(
    ("pasted", "code"),
    [
        ("def502003a", "def502003a"),
        ("  def502003a\n", "def502003a"),
        ("https://example.com/amosheets?code=def502003a&state=x&referer=co.amocrm.ru", "def502003a"),
        ("code=def502003a&referer=co.amocrm.ru", "def502003a"),
    ],
)
def test_the_code_is_taken_from_what_was_pasted(pasted, code):
    assert code_from(pasted) == code


def test_spans_read_in_the_unit_that_matters():
    assert [span(s) for s in (90 * DAY - 5, 2 * DAY, 23 * 3600 + 5 * 60, 3600, 60, 59, -5)] == [
        "90 days",
        "2 days",
        "23 h 5 min",
        "1 h",
        "1 minute",
        "0 minutes",
        "0 minutes",
    ]


def test_the_token_file_is_owner_only_and_reads_back(tmp_path):
    f = TokenFile(tmp_path / "t.json")
    assert f.load() is None
    f.save(pair())
    assert f.load() == pair()
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(f.path).st_mode) == 0o600
    assert "access-1" in f.path.read_text()  # it is the one place the tokens are kept


def test_a_complete_next_pair_a_crash_left_unrenamed_is_taken_and_a_cut_one_dropped(tmp_path):
    f = TokenFile(tmp_path / "t.json")
    f.save(pair())
    new = tmp_path / "t.json.new"
    new.write_text(json.dumps(pair(refresh="refresh-2").to_json()))
    # Only a holder of the lock takes it: its writer may be about to rename it itself.
    assert f.load(recover=False) == pair() and new.exists()
    assert f.load() == pair(refresh="refresh-2") and not new.exists()
    assert TokenFile(tmp_path / "t.json").load() == pair(refresh="refresh-2")  # renamed into place
    new.write_text(json.dumps(pair(refresh="refresh-3").to_json())[:40])
    assert f.load() == pair(refresh="refresh-2") and not new.exists()


def test_the_refresh_note_names_only_the_refresh_token_it_was_sent_with(tmp_path):
    f = TokenFile(tmp_path / "t.json")
    f.begin_refresh(Secret("refresh-1"), "2026-12-07 10:00:00 +0000")
    assert f.refresh_note(Secret("refresh-1")) == "2026-12-07 10:00:00 +0000"
    assert f.refresh_note(Secret("refresh-2")) is None
    assert "refresh-1" not in (tmp_path / "t.json.refreshing").read_text()
    f.end_refresh()
    assert f.refresh_note(Secret("refresh-1")) is None


def test_a_token_file_that_is_not_ours_is_a_setup_problem_that_says_what_to_do(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="auth amocrm --code"):
        TokenFile(path).load()


def test_each_account_has_its_own_token_file(tmp_path):
    assert token_path(tmp_path, "https://co.amocrm.ru") == tmp_path / "amocrm-tokens-co.amocrm.ru.json"
    assert token_path(tmp_path, "http://127.0.0.1:8081") == tmp_path / "amocrm-tokens-127.0.0.1_8081.json"


# -- settings --------------------------------------------------------------------------------

BASE = {
    "AMOCRM_SUBDOMAIN": "co",
    "GOOGLE_SHEET_ID": "1AbCdEfGhIjKlMnOpQrStUvWxYz",
    "GOOGLE_SHEETS_API_URL": "http://127.0.0.1:1",
}
KEYS = {
    "AMOCRM_CLIENT_ID": "0b7f-client",
    "AMOCRM_CLIENT_SECRET": "s3cr3t-s3cr3t-s3cr3t-s3cr3t",
    "AMOCRM_REDIRECT_URI": "https://example.com/amosheets",
}


def test_the_integration_keys_sign_in_with_oauth_when_there_is_no_token(tmp_path: Path):
    s = load_settings(environ={**BASE, **KEYS, "AMOSHEETS_STATE_DIR": str(tmp_path)})
    assert not s.problems["amocrm"]
    auth = s.account().auth
    assert auth == OAuthIntegration(
        "0b7f-client",
        Secret(KEYS["AMOCRM_CLIENT_SECRET"]),
        KEYS["AMOCRM_REDIRECT_URI"],
        tmp_path / "amocrm-tokens-co.amocrm.ru.json",
    )
    assert KEYS["AMOCRM_CLIENT_SECRET"] in s.secrets() and KEYS["AMOCRM_CLIENT_SECRET"] not in repr(s)


def test_a_long_lived_token_wins_over_the_integration_keys(tmp_path: Path):
    s = load_settings(
        environ={**BASE, **KEYS, "AMOCRM_INTEGRATION_TOKEN": "tok-123456", "AMOSHEETS_STATE_DIR": str(tmp_path)}
    )
    assert s.account().auth == LongLivedToken(Secret("tok-123456"))
    assert s.amocrm_oauth is not None  # `auth amocrm` can still sign in (and warns the token wins)
    assert {"tok-123456", KEYS["AMOCRM_CLIENT_SECRET"]} <= set(s.secrets())


def test_half_the_integration_keys_name_the_missing_ones():
    s = load_settings(environ={**BASE, "AMOCRM_CLIENT_ID": "0b7f-client"})
    (problem,) = s.problems["amocrm"]
    assert "AMOCRM_CLIENT_ID is set for OAuth" in problem
    assert "AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URI are not" in problem


def test_a_redirect_address_that_is_not_one_is_named():
    s = load_settings(environ={**BASE, **KEYS, "AMOCRM_REDIRECT_URI": "example.com"})
    assert any("AMOCRM_REDIRECT_URI is 'example.com'" in p for p in s.problems["amocrm"])


def test_with_neither_way_set_the_message_names_both():
    (problem,) = load_settings(environ=BASE).problems["amocrm"]
    assert "AMOCRM_INTEGRATION_TOKEN is not set" in problem and "amosheets auth amocrm --code" in problem
