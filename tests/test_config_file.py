"""amosheets.toml: the pairs it lists, their defaults, and every problem named by file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amosheets.amocrm.auth import LongLivedToken, OAuthIntegration
from amosheets.config import ENVIRONMENT, AccountConfig, SettingNames, TabConfig, load_settings
from amosheets.config_file import CONFIG_FILE, find_config, load_pairs
from amosheets.errors import ConfigError, ExitStatus
from amosheets.secret import Secret
from amosheets.sync.merge import ConflictPolicy

SHEET_ID = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz"
OTHER_SHEET = "9ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210_-abc"
TOKEN = "env-token-123456"
OTHER_TOKEN = "other-token-abcdef"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account"}))
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "GOOGLE_SHEET_ID": SHEET_ID,
        "AMOCRM_SUBDOMAIN": "mycompany",
        "AMOCRM_INTEGRATION_TOKEN": TOKEN,
        "OTHERCO_TOKEN": f"Bearer {OTHER_TOKEN}",
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CONFIG_FILE
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_pairs(path, load_settings(environ=env))
    assert e.value.exit_status == ExitStatus.CONFIG
    return e.value.problems


GOOD = f"""\
# two tabs, two accounts
[[pair]]
name = "main"
tab = "Сделки"
pipeline = "Основная"

[[pair]]
"name" = "partners"
tab = "Партнёры"
pipeline = 42
status = "Первичный контакт"
sheet = "https://docs.google.com/spreadsheets/d/{OTHER_SHEET}/edit#gid=0"
conflict = "sheet"
account = "agency"

[account.agency]
subdomain = "https://otherco.kommo.com/"
token_env = "OTHERCO_TOKEN"
"""


def test_a_good_file_gives_every_pair_in_order(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, GOOD)
    settings = load_settings(environ=env)
    main, partners = load_pairs(path, settings)

    assert main.name == "main"
    assert main.account == settings.account()
    assert main.account.name == ENVIRONMENT
    assert main.tab == TabConfig(SHEET_ID, "Сделки", None, Path(env["GOOGLE_APPLICATION_CREDENTIALS"]))
    assert (main.pipeline, main.status, main.policy) == ("Основная", None, None)
    assert main.state_dir == settings.state_dir
    assert main.names == SettingNames(
        pipeline=f"pipeline ({path}, line 5, pair «main»)", status=f"status ({path}, line 2, pair «main»)"
    )

    assert partners.name == "partners"
    assert partners.account == AccountConfig(
        "agency", "https://otherco.kommo.com", LongLivedToken(Secret(OTHER_TOKEN)), 7
    )
    assert partners.account.auth.token.reveal() == OTHER_TOKEN  # "Bearer " is stripped
    assert OTHER_TOKEN not in repr(partners) and TOKEN not in repr(main)
    assert OTHER_TOKEN not in repr(settings)
    assert partners.tab == TabConfig(OTHER_SHEET, "Партнёры", None, Path(env["GOOGLE_APPLICATION_CREDENTIALS"]))
    assert (partners.pipeline, partners.status, partners.policy) == (42, "Первичный контакт", ConflictPolicy.SHEET)
    assert partners.names.pipeline == f"pipeline ({path}, line 10, pair «partners»)"
    assert partners.names.status == f"status ({path}, line 11, pair «partners»)"


def test_defaults_come_from_the_environment(tmp_path: Path, env: dict[str, str]) -> None:
    env |= {"AMOSHEETS_STATE_DIR": str(tmp_path / "st"), "GOOGLE_WORKSHEET": "ignored", "AMOCRM_PIPELINE_ID": "x"}
    path = write(tmp_path, '[[pair]]\nname = "only"\ntab = " Лист1 "\n')
    (pair,) = load_pairs(path, load_settings(environ=env))
    assert pair.tab.spreadsheet_id == SHEET_ID and pair.tab.worksheet == "Лист1"
    assert pair.account.base_url == "https://mycompany.amocrm.ru" and pair.account.auth == LongLivedToken(Secret(TOKEN))
    assert (pair.pipeline, pair.status, pair.policy) == (None, None, None)
    assert pair.state_dir == tmp_path / "st"


def test_every_pipeline_and_a_local_base_url(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\npipeline = "*"\naccount = "box"\n\n'
        '[account.box]\nbase_url = "http://127.0.0.1:8082"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    (pair,) = load_pairs(path, load_settings(environ=env))
    assert pair.pipeline == "*" and pair.account.base_url == "http://127.0.0.1:8082"


def test_token_env_may_name_a_variable_only_in_dotenv(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ONLY_IN_FILE=tok-from-file\n")
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\naccount = "x"\n[account.x]\nsubdomain = "x"\ntoken_env = "ONLY_IN_FILE"\n',
    )
    (pair,) = load_pairs(path, load_settings(environ=env))
    assert pair.account.auth.token.reveal() == "tok-from-file"


def test_not_valid_toml_keeps_the_line_and_column(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, '[[pair]]\nname = "a"\ntab = Сделки\n')
    (problem,) = problems(path, env)
    assert problem.startswith(f"{path}, line 3: not valid TOML: ")
    assert "column 7" in problem


def test_unknown_keys_suggest_the_closest(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        'colour = 1\n[[pair]]\nname = "a"\ntabb = "T"\ntab = "T"\naccount = "x"\n'
        '[account.x]\nsubdomain = "x"\ntoken = "secret-value"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    found = problems(path, env)
    assert f"{path}, line 1: unknown key 'colour'; the top level may have: pair, account." in found
    assert any(p.startswith(f"{path}, line 4, pair «a»: unknown key 'tabb'; did you mean tab?") for p in found)
    assert any(
        p.startswith(f"{path}, line 9, [account.x]: unknown key 'token'; did you mean token_env?") for p in found
    )
    assert not any("secret-value" in p for p in found)


def test_duplicate_names_and_missing_name_and_tab(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T1"\n\n[[pair]]\nname = "a"\ntab = "T2"\n\n[[pair]]\npipeline = 5\n',
    )
    found = problems(path, env)
    assert any(p.startswith(f"{path}, line 6, pair «a»: the name «a» is used by the pair on line 2 too") for p in found)
    assert any(p.startswith(f"{path}, line 9, [[pair]] no. 3: the pair has no name") for p in found)
    assert any(p.startswith(f"{path}, line 9, [[pair]] no. 3: the pair has no tab") for p in found)


def test_two_pairs_on_one_tab(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        f'[[pair]]\nname = "a"\ntab = "Сделки"\n\n[[pair]]\nname = "b"\nsheet = "{SHEET_ID}"\ntab = " сделки "\n',
    )
    (problem,) = problems(path, env)
    assert problem.startswith(f"{path}, line 8, pair «b»: tab «сделки» is also the tab of pair «a» (line 3)")


def test_token_env_not_set_and_no_token_value_in_messages(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\naccount = "x"\n\n'
        '[account.x]\nsubdomain = "x"\n# a comment = 1\ntoken_env = "MISSING_TOKEN"\n\n'
        f'[account.y]\nsubdomain = "y"\ntoken_env = "{OTHER_TOKEN}.x"\n\n'
        '[account.z]\nsubdomain = "z"\n',
    )
    found = problems(path, env)
    assert any(
        p.startswith(
            f"{path}, line 9, [account.x]: token_env is 'MISSING_TOKEN', which is not set: "
            "set MISSING_TOKEN in .env or the environment"
        )
        for p in found
    )
    assert any(p.startswith(f"{path}, line 13, [account.y]: token_env must be the NAME of a variable") for p in found)
    assert any(p.startswith(f"{path}, line 15, [account.z]: token_env is missing") for p in found)
    assert not any(OTHER_TOKEN in p or TOKEN in p for p in found)


def test_a_token_with_spaces_is_refused_without_showing_it(tmp_path: Path, env: dict[str, str]) -> None:
    env["OTHERCO_TOKEN"] = "abc def-secret"
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\naccount = "x"\n[account.x]\nsubdomain = "x"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    (problem,) = problems(path, env)
    assert problem == (
        f"{path}, line 7, [account.x]: OTHERCO_TOKEN contains spaces or line breaks; paste the token as one line."
    )


def test_unknown_account_lists_the_defined(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\naccount = "agnecy"\n'
        '[account.agency]\nsubdomain = "x"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    (problem,) = problems(path, env)
    assert problem.startswith(
        f"{path}, line 4, pair «a»: account is 'agnecy', but the file defines no [account.agnecy] (defined: agency)"
    )


def test_wrong_types_and_values(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = 1\ntab = "T"\npipeline = 1.5\nstatus = "*"\nsheet = "My sheet"\nconflict = "both"\n'
        'account = "x"\n'
        '[account.x]\nsubdomain = "a.b.c"\ndomain = "amocrm.org"\nbase_url = "ftp://x"\ntoken_env = "OTHERCO_TOKEN"\n'
        '[account.y]\nsubdomain = "a b"\ntoken_env = "OTHERCO_TOKEN"\n'
        '[account.z]\ndomain = "kommo.com"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    found = problems(path, env)
    label = f"{path}, line {{}}, [[pair]] no. 1: "
    assert any(p.startswith(label.format(2) + "name must be a non-empty string") for p in found)
    assert any(p.startswith(label.format(4) + "pipeline must be a pipeline's name in quotes or its ID") for p in found)
    assert any(p.startswith(label.format(5) + 'status cannot be "*"') for p in found)
    assert (
        label.format(6)
        + (
            "sheet is 'My sheet', which is neither a spreadsheet ID nor its URL. It is the long part between "
            "/d/ and /edit in the sheet's address (the sheet's title will not do)."
        )
        in found
    )
    assert any(p.startswith(label.format(7) + "conflict must be one of 'crm', 'sheet'") for p in found)
    assert (
        f"{path}, line 12, [account.x]: base_url is 'ftp://x'; it must be an origin like https://host or "
        "http://127.0.0.1:8081, no path." in found
    )
    assert any(p.startswith(f"{path}, line 15, [account.y]: subdomain is 'a b'; it should be only") for p in found)
    assert any(p.startswith(f"{path}, line 17, [account.z]: subdomain is not set.") for p in found)
    assert not any("account is 'x'" in p for p in found)  # the account exists, its problems are its own


def test_bad_domain_names_its_line(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = "T"\naccount = "x"\n[account.x]\nsubdomain = "a"\n'
        'domain = "amocrm.org"\ntoken_env = "OTHERCO_TOKEN"\n',
    )
    assert problems(path, env) == [
        f"{path}, line 7, [account.x]: domain is 'amocrm.org'; use one of amocrm.ru, amocrm.com, kommo.com."
    ]


def test_no_pair(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "# nothing yet\n")
    (problem,) = problems(path, env)
    assert problem.startswith(f"{path}: no [[pair]].")


def test_multiline_values_do_not_confuse_the_lines(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        '[[pair]]\nname = "a"\ntab = """\n[[pair]]\nx = 1"""\nbogus = [\n  "[",\n  1,\n]\nbogus2 = 1\n',
    )
    found = problems(path, env)
    assert any(p.startswith(f"{path}, line 6, pair «a»: unknown key 'bogus'") for p in found)
    assert any(p.startswith(f"{path}, line 10, pair «a»: unknown key 'bogus2'") for p in found)


def test_environment_problems_only_when_the_environment_is_used(tmp_path: Path, env: dict[str, str]) -> None:
    for name in ("GOOGLE_SHEET_ID", "AMOCRM_SUBDOMAIN", "AMOCRM_INTEGRATION_TOKEN"):
        del env[name]
    env["AMOCRM_PIPELINE_ID"] = "not-a-number"
    own = (
        f'[[pair]]\nname = "a"\ntab = "T"\nsheet = "{SHEET_ID}"\naccount = "x"\n'
        '[account.x]\nsubdomain = "x"\ntoken_env = "OTHERCO_TOKEN"\n'
    )
    (pair,) = load_pairs(write(tmp_path, own), load_settings(environ=env))
    assert pair.account.name == "x"

    found = problems(write(tmp_path, '[[pair]]\nname = "a"\ntab = "T"\n'), env)
    assert any(p.startswith("GOOGLE_SHEET_ID is not set.") for p in found)
    assert any(p.startswith("AMOCRM_SUBDOMAIN is not set.") for p in found)
    assert any(p.startswith("AMOCRM_INTEGRATION_TOKEN is not set.") for p in found)
    assert not any("AMOCRM_PIPELINE_ID" in p for p in found)

    del env["GOOGLE_APPLICATION_CREDENTIALS"]
    found = problems(write(tmp_path, own), env)
    assert [p.split(" ")[0] for p in found] == ["GOOGLE_APPLICATION_CREDENTIALS"]


def test_find_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config(None) is None
    (tmp_path / CONFIG_FILE).write_text("")
    assert find_config(None) == Path(CONFIG_FILE)
    other = tmp_path / "other.toml"
    other.write_text("")
    assert find_config(other) == other
    with pytest.raises(ConfigError, match=r"--config .*missing\.toml: no such file") as e:
        find_config(tmp_path / "missing.toml")
    assert e.value.exit_status == ExitStatus.CONFIG
    with pytest.raises(ConfigError, match="is a directory"):
        find_config(tmp_path)


# -- an account signed in through OAuth ----------------------------------------------------------

OAUTH_ACCOUNT = """\
[[pair]]
name = "partners"
tab = "Партнёры"
account = "agency"

[account.agency]
subdomain = "otherco"
client_id = "0b7f-agency"
client_secret_env = "AGENCY_SECRET"
redirect_uri = "https://example.com/amosheets"
"""


def test_an_account_may_sign_in_through_oauth_with_its_secret_in_a_variable(
    tmp_path: Path, env: dict[str, str]
) -> None:
    secret = "agency-secret-0123456789abcdef"
    env.update(AGENCY_SECRET=secret, AMOSHEETS_STATE_DIR=str(tmp_path / "state"))
    (pair,) = load_pairs(write(tmp_path, OAUTH_ACCOUNT), load_settings(environ=env))
    assert pair.account.auth == OAuthIntegration(
        "0b7f-agency",
        Secret(secret),
        "https://example.com/amosheets",
        tmp_path / "state" / "amocrm-tokens-otherco.amocrm.ru.json",
    )
    assert pair.account.secrets() == [secret] and secret not in repr(pair)


def test_an_oauth_account_names_what_it_lacks_on_its_lines(tmp_path: Path, env: dict[str, str]) -> None:
    text = OAUTH_ACCOUNT.replace('redirect_uri = "https://example.com/amosheets"\n', 'redirect_uri = "example.com"\n')
    found = problems(write(tmp_path, text), env)  # AGENCY_SECRET is not set, and the address is not one
    assert any("line 9" in m and "client_secret_env is 'AGENCY_SECRET', which is not set" in m for m in found), found
    assert any("line 10" in m and "redirect_uri is 'example.com'" in m for m in found), found
    text = OAUTH_ACCOUNT.replace('client_id = "0b7f-agency"\n', "")
    env["AGENCY_SECRET"] = "agency-secret-0123456789abcdef"
    (message,) = problems(write(tmp_path, text), env)
    assert "client_id is missing" in message and "[account.agency]" in message


def test_a_secret_pasted_where_its_variable_name_goes_is_not_echoed(tmp_path: Path, env: dict[str, str]) -> None:
    pasted = "agency-secret-0123456789abcdef"
    text = OAUTH_ACCOUNT.replace('"AGENCY_SECRET"', f'"{pasted}-with-dashes"')
    (message,) = problems(write(tmp_path, text), env)
    assert "client_secret_env must be the NAME of a variable" in message and pasted not in message
