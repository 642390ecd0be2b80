"""Configuration: every variable, alias and error message of the contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amosheets.amocrm.auth import LongLivedToken
from amosheets.config import (
    AMOCRM,
    ENVIRONMENT,
    GOOGLE,
    AccountConfig,
    TabConfig,
    load_settings,
    parse_sheet_id,
)
from amosheets.engine import lock_for
from amosheets.errors import ConfigError, ExitStatus
from amosheets.secret import Secret
from amosheets.state import Scope, state_path

SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    p = tmp_path / "key.json"
    p.write_text(json.dumps({"type": "service_account", "client_email": "bot@p.iam.gserviceaccount.com"}))
    return p


@pytest.fixture
def env(key_file: Path) -> dict[str, str]:
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "GOOGLE_SHEET_ID": SHEET_ID,
        "AMOCRM_SUBDOMAIN": "mycompany",
        "AMOCRM_INTEGRATION_TOKEN": "tok-123456",
    }


@pytest.fixture(autouse=True)
def _no_dotenv_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems(settings, service: str) -> str:
    return "\n".join(settings.problems[service])


def test_complete_settings_have_no_problems(env):
    s = load_settings(environ=env).require(GOOGLE, AMOCRM)
    assert s.sheet_id == SHEET_ID
    assert s.amocrm_base_url == "https://mycompany.amocrm.ru"
    assert s.amocrm_token.reveal() == "tok-123456"
    assert s.worksheet is None and s.pipeline_id is None and s.status_id is None


@pytest.mark.parametrize(
    ("missing", "service", "needle"),
    [
        ("GOOGLE_APPLICATION_CREDENTIALS", GOOGLE, "GOOGLE_APPLICATION_CREDENTIALS is not set"),
        ("GOOGLE_SHEET_ID", GOOGLE, "GOOGLE_SHEET_ID is not set"),
        ("AMOCRM_SUBDOMAIN", AMOCRM, "AMOCRM_SUBDOMAIN is not set"),
        ("AMOCRM_INTEGRATION_TOKEN", AMOCRM, "AMOCRM_INTEGRATION_TOKEN is not set"),
    ],
)
def test_each_missing_required_variable_is_named(env, missing, service, needle):
    del env[missing]
    s = load_settings(environ=env)
    assert needle in problems(s, service)
    with pytest.raises(ConfigError) as e:
        s.require(GOOGLE, AMOCRM)
    assert missing in str(e.value)
    assert e.value.exit_status == ExitStatus.CONFIG


def test_all_missing_are_reported_at_once():
    with pytest.raises(ConfigError) as e:
        load_settings(environ={}).require(GOOGLE, AMOCRM)
    text = str(e.value)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SHEET_ID", "AMOCRM_SUBDOMAIN", "AMOCRM_INTEGRATION_TOKEN"):
        assert name in text


def test_a_command_needing_one_service_ignores_the_others_problems(env):
    del env["GOOGLE_SHEET_ID"]
    s = load_settings(environ=env)
    s.require(AMOCRM)  # does not raise
    with pytest.raises(ConfigError):
        s.require(GOOGLE)


def test_sheet_name_is_an_alias_of_sheet_id(env):
    del env["GOOGLE_SHEET_ID"]
    env["GOOGLE_SHEET_NAME"] = SHEET_ID
    assert load_settings(environ=env).sheet_id == SHEET_ID


def test_sheet_id_and_alias_that_differ_are_refused(env):
    env["GOOGLE_SHEET_NAME"] = "1ZZZZZZZZZZZZZZZZZZZZZZZZ"
    assert "GOOGLE_SHEET_NAME are both set and differ" in problems(load_settings(environ=env), GOOGLE)


def test_sheet_id_and_alias_that_agree_are_fine(env):
    env["GOOGLE_SHEET_NAME"] = f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=0"
    s = load_settings(environ=env)
    assert s.sheet_id == SHEET_ID and not s.problems[GOOGLE]


@pytest.mark.parametrize(
    "value",
    [
        f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=0",
        f"https://docs.google.com/spreadsheets/d/{SHEET_ID}",
        f"docs.google.com/spreadsheets/d/{SHEET_ID}/edit?usp=sharing",
        SHEET_ID,
    ],
)
def test_sheet_given_as_url_or_id(env, value):
    env["GOOGLE_SHEET_ID"] = value
    assert load_settings(environ=env).sheet_id == SHEET_ID


def test_sheet_title_instead_of_id_is_explained(env):
    env["GOOGLE_SHEET_ID"] = "Мои сделки"
    text = problems(load_settings(environ=env), GOOGLE)
    assert "neither a spreadsheet ID nor its URL" in text and "/d/" in text


def test_parse_sheet_id_rejects_short_garbage():
    assert parse_sheet_id("abc") is None


def test_worksheet(env):
    env["GOOGLE_WORKSHEET"] = "Сделки"
    assert load_settings(environ=env).worksheet == "Сделки"


@pytest.mark.parametrize(
    ("domain", "origin"),
    [
        ("", "https://mycompany.amocrm.ru"),
        ("amocrm.com", "https://mycompany.amocrm.com"),
        ("kommo.com", "https://mycompany.kommo.com"),
        ("KOMMO.COM", "https://mycompany.kommo.com"),
    ],
)
def test_amocrm_domain(env, domain, origin):
    env["AMOCRM_DOMAIN"] = domain
    assert load_settings(environ=env).amocrm_base_url == origin


def test_unknown_domain_is_refused(env):
    env["AMOCRM_DOMAIN"] = "amocrm.org"
    assert "AMOCRM_DOMAIN is 'amocrm.org'; use one of amocrm.ru, amocrm.com, kommo.com" in problems(
        load_settings(environ=env), AMOCRM
    )


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://mycompany.amocrm.ru", "https://mycompany.amocrm.ru"),
        ("mycompany.kommo.com", "https://mycompany.kommo.com"),
        ("MyCompany", "https://mycompany.amocrm.ru"),
    ],
)
def test_subdomain_pasted_as_address(env, value, origin):
    env["AMOCRM_SUBDOMAIN"] = value
    assert load_settings(environ=env).amocrm_base_url == origin


@pytest.mark.parametrize("value", ["my company", "my_company!", "-bad"])
def test_bad_subdomain(env, value):
    env["AMOCRM_SUBDOMAIN"] = value
    assert "AMOCRM_SUBDOMAIN is" in problems(load_settings(environ=env), AMOCRM)


def test_base_url_overrides_subdomain_and_domain(env):
    env["AMOCRM_BASE_URL"] = "http://127.0.0.1:8081/"
    env["AMOCRM_DOMAIN"] = "kommo.com"
    assert load_settings(environ=env).amocrm_base_url == "http://127.0.0.1:8081"


def test_base_url_without_subdomain(env):
    del env["AMOCRM_SUBDOMAIN"]
    env["AMOCRM_BASE_URL"] = "https://x.kommo.com"
    s = load_settings(environ=env)
    assert s.amocrm_base_url == "https://x.kommo.com" and not s.problems[AMOCRM]


@pytest.mark.parametrize("value", ["ftp://host", "127.0.0.1:8081", "https://host/api/v4", "https://"])
def test_malformed_base_url(env, value):
    env["AMOCRM_BASE_URL"] = value
    s = load_settings(environ=env)
    assert "AMOCRM_BASE_URL is" in problems(s, AMOCRM) and "origin" in problems(s, AMOCRM)
    assert s.amocrm_base_url == ""


def test_sheets_api_url_makes_the_key_optional(env):
    del env["GOOGLE_APPLICATION_CREDENTIALS"]
    env["GOOGLE_SHEETS_API_URL"] = "http://127.0.0.1:8082"
    s = load_settings(environ=env)
    assert s.sheets_api_url == "http://127.0.0.1:8082" and s.google_credentials is None
    assert not s.problems[GOOGLE]


def test_malformed_sheets_api_url(env):
    env["GOOGLE_SHEETS_API_URL"] = "localhost:8082"
    assert "GOOGLE_SHEETS_API_URL is" in problems(load_settings(environ=env), GOOGLE)


def test_key_file_that_does_not_exist(env, tmp_path):
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "nope.json")
    assert "which does not exist" in problems(load_settings(environ=env), GOOGLE)


@pytest.mark.parametrize("name", ["AMOCRM_PIPELINE_ID", "AMOCRM_STATUS_ID"])
@pytest.mark.parametrize("value", ["abc", "-5", "0", "12.5"])
def test_malformed_ids(env, name, value):
    env[name] = value
    text = problems(load_settings(environ=env), AMOCRM)
    assert f"{name} is {value!r}" in text and "amosheets pipelines" in text


def test_ids(env):
    env["AMOCRM_PIPELINE_ID"] = "7000001"
    env["AMOCRM_STATUS_ID"] = " 61000002 "
    s = load_settings(environ=env)
    assert (s.pipeline_id, s.status_id) == (7000001, 61000002)


def test_token_with_bearer_prefix_and_spaces(env):
    env["AMOCRM_INTEGRATION_TOKEN"] = "Bearer abc.def"
    assert load_settings(environ=env).amocrm_token.reveal() == "abc.def"
    env["AMOCRM_INTEGRATION_TOKEN"] = "abc def"
    assert "contains spaces" in problems(load_settings(environ=env), AMOCRM)


def test_token_never_shows_itself(env):
    s = load_settings(environ=env)
    assert "tok-123456" not in repr(s) and "tok-123456" not in str(s.amocrm_token)
    assert s.secrets() == ["tok-123456"]


def test_state_dir(env, tmp_path):
    env["AMOSHEETS_STATE_DIR"] = str(tmp_path / "state")
    assert load_settings(environ=env).state_dir == tmp_path / "state"
    (tmp_path / "afile").write_text("")
    env["AMOSHEETS_STATE_DIR"] = str(tmp_path / "afile")
    with pytest.raises(ConfigError, match="AMOSHEETS_STATE_DIR"):
        load_settings(environ=env).require()


def test_default_state_dir_is_per_user(env):
    assert "amosheets" in str(load_settings(environ=env).state_dir)


def test_dotenv_in_working_directory_is_read(tmp_path, key_file):
    (tmp_path / ".env").write_text(
        f'GOOGLE_APPLICATION_CREDENTIALS="{key_file}"\nGOOGLE_SHEET_NAME={SHEET_ID}\n'
        "AMOCRM_SUBDOMAIN=fromfile\nAMOCRM_INTEGRATION_TOKEN=filetoken\n",
        encoding="utf-8",
    )
    s = load_settings(environ={})
    s.require(GOOGLE, AMOCRM)
    assert s.amocrm_base_url == "https://fromfile.amocrm.ru" and s.sheet_id == SHEET_ID


def test_real_environment_wins_over_the_file(tmp_path):
    (tmp_path / ".env").write_text("AMOCRM_SUBDOMAIN=fromfile\n")
    assert load_settings(environ={"AMOCRM_SUBDOMAIN": "fromenv"}).amocrm_base_url == "https://fromenv.amocrm.ru"


def test_env_file_option_replaces_dotenv(tmp_path):
    (tmp_path / ".env").write_text("AMOCRM_SUBDOMAIN=fromdotenv\n")
    other = tmp_path / "other.env"
    other.write_text("AMOCRM_SUBDOMAIN=fromother\n")
    assert load_settings(env_file=other, environ={}).amocrm_base_url == "https://fromother.amocrm.ru"


def test_env_file_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"--env-file .*no such file"):
        load_settings(env_file=tmp_path / "missing.env", environ={})


def test_env_file_not_utf8(tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_bytes(b"AMOCRM_SUBDOMAIN=\xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_settings(env_file=bad, environ={})


def test_the_rate_may_be_raised_only_for_a_local_sandbox(env):
    env["AMOSHEETS_AMOCRM_RATE"] = "50"
    s = load_settings(environ=env)
    assert "blocks an IP" in "\n".join(s.problems["other"]) and s.amocrm_rate == 7
    env["AMOCRM_BASE_URL"] = "http://127.0.0.1:8081"
    s = load_settings(environ=env)
    assert s.amocrm_rate == 50 and not s.problems["other"]
    env["AMOSHEETS_AMOCRM_RATE"] = "0"
    assert "from 1 to 1000" in "\n".join(load_settings(environ=env).problems["other"])


# -- the environment's one pair: an account, a tab and what joins them ------------------------


def test_the_environment_makes_one_pair_of_what_it_says(env, key_file, tmp_path):
    env.update({"GOOGLE_WORKSHEET": "Сделки", "AMOCRM_PIPELINE_ID": "7000001", "AMOCRM_STATUS_ID": "42"})
    env["AMOSHEETS_STATE_DIR"] = str(tmp_path / "state")
    s = load_settings(environ=env)
    pair = s.pair()
    assert pair.account == AccountConfig(
        ENVIRONMENT, "https://mycompany.amocrm.ru", LongLivedToken(Secret("tok-123456")), 7
    )
    assert pair.tab == TabConfig(SHEET_ID, "Сделки", None, key_file)
    assert (pair.pipeline, pair.status, pair.state_dir, pair.policy) == (7000001, 42, tmp_path / "state", None)
    assert pair.account == s.account() and pair.tab == s.tab()
    assert "tok-123456" not in repr(pair) and pair.account.secrets() == s.secrets() == ["tok-123456"]


def test_the_pairs_state_is_the_file_earlier_releases_used(env, tmp_path):
    """The state file's name is derived from the sheet, the tab and the amoCRM origin, as before the split."""
    env["AMOSHEETS_STATE_DIR"] = str(tmp_path)  # lock_for makes the directory
    s = load_settings(environ=env)
    assert s.pair().scope == Scope(SHEET_ID, "", "https://mycompany.amocrm.ru")  # "": the first tab
    env["GOOGLE_WORKSHEET"] = "Лист2"
    s = load_settings(environ=env)
    assert s.pair().scope == Scope(s.sheet_id, "Лист2", s.amocrm_base_url)
    assert lock_for(s.pair()).lock_file == str(state_path(s.state_dir, s.pair().scope).with_suffix(".lock"))


def test_a_pair_is_made_whatever_a_service_lacks(env):
    """`pipelines` needs only the amoCRM side, plain `init` only the Google side: each takes its own."""
    del env["GOOGLE_SHEET_ID"], env["AMOCRM_INTEGRATION_TOKEN"]
    s = load_settings(environ=env)
    assert s.tab().spreadsheet_id == "" and not s.account().secrets()
    assert s.pair().account.base_url == "https://mycompany.amocrm.ru"


def test_an_unknown_language_is_a_settings_problem(env):
    env["AMOSHEETS_LANG"] = "de"
    s = load_settings(environ=env)
    assert "AMOSHEETS_LANG is 'de'" in problems(s, "other")
    with pytest.raises(ConfigError) as e:
        s.require(AMOCRM)
    assert "AMOSHEETS_LANG" in str(e.value)
    for fine in ("ru", "en", "RU", ""):
        env["AMOSHEETS_LANG"] = fine
        assert problems(load_settings(environ=env), "other") == ""
