"""A sandbox of several amoCRM accounts (amosheets.toml's ``[account.*]``): each its own server, token, deals,
account id, counters and rate limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from amosheets.sandbox import MAX_ACCOUNTS, SAMPLE_SHEET_HEADERS, Sandbox

TIMEOUT = 10
N = 10


def get(url: str, token: str, path: str = "/api/v4/account") -> requests.Response:
    return requests.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def ten() -> Iterator[Sandbox]:
    """Ten accounts without a rate limit (the tests here send more than 7 requests a second to one account)."""
    with Sandbox(accounts=N, rate_limit=None) as sb:
        yield sb


def test_ten_accounts_are_served_each_at_its_own_address_with_its_own_account_id(ten: Sandbox):
    assert len(ten.accounts) == N and ten.accounts[0] is ten.amocrm
    urls = [ten.account_url(i) for i in range(N)]
    assert urls[0] == ten.amocrm_url and len(set(urls)) == N and ten.sheets_url not in urls
    ids = []
    for i in range(N):
        r = get(urls[i], ten.account_token(i))
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
        assert ten.accounts[i].account_id == ids[-1]
    assert len(set(ids)) == N
    assert ten.account_token(0) == ten.token == "sandbox-token"
    assert [ten.account_token(i) for i in range(1, 3)] == ["sandbox-token-2", "sandbox-token-3"]
    with pytest.raises(IndexError):
        ten.account_url(N)


def test_each_account_answers_only_its_own_token(ten: Sandbox):
    for i in range(N):
        for j in range(N):
            r = get(ten.account_url(i), ten.account_token(j), "/api/v4/leads/pipelines")
            if i == j:
                assert r.status_code == 200, r.text
            else:
                assert r.status_code == 401, (i, j, r.text)
                assert r.json()["detail"] == "Access token is invalid, expired or revoked"


def test_each_account_has_its_own_deals(ten: Sandbox):
    made = {}
    for i in (1, 4, 9):
        r = requests.post(
            ten.account_url(i) + "/api/v4/leads",
            json=[{"name": f"Сделка аккаунта {i}"}],
            headers={"Authorization": f"Bearer {ten.account_token(i)}"},
            timeout=TIMEOUT,
        )
        assert r.status_code == 200, r.text
        made[i] = r.json()["_embedded"]["leads"][0]["id"]
    for i in range(N):
        r = get(ten.account_url(i), ten.account_token(i), "/api/v4/leads")
        names = [] if r.status_code == 204 else [d["name"] for d in r.json()["_embedded"]["leads"]]
        assert names == ([f"Сделка аккаунта {i}"] if i in made else []), i
    # lead ids start at the same number in every account, as they do in a fresh one: only the token tells them apart
    assert len(set(made.values())) == 1


def test_each_account_counts_its_own_requests(ten: Sandbox):
    for emu in ten.accounts:
        emu.reset_stats()
    for _ in range(3):
        get(ten.account_url(2), ten.account_token(2))
    counts = [requests.get(ten.account_url(i) + "/_sandbox/stats", timeout=TIMEOUT).json() for i in range(N)]
    assert [c["requests"] for c in counts] == [3 if i == 2 else 0 for i in range(N)]


def test_hammering_one_account_does_not_429_another():
    with Sandbox(accounts=3) as sb:  # the real limit: 7 requests in a sliding second, per account
        answers = [get(sb.account_url(0), sb.account_token(0)).status_code for _ in range(10)]
        assert 429 in answers and answers[:7] == [200] * 7
        others = [get(sb.account_url(i), sb.account_token(i)).status_code for i in (1, 2) for _ in range(5)]
        assert others == [200] * 10
        stats = [sb.accounts[i].stats() for i in range(3)]
        assert stats[0]["rate_limited"] >= 1 and stats[0]["max_requests_in_1s"] == 7
        assert [s["rate_limited"] for s in stats[1:]] == [0, 0]
        assert [s["max_requests_in_1s"] for s in stats[1:]] == [5, 5]
        assert all(s["rate_limit"] == 7 for s in stats)


def test_every_account_has_the_sandboxes_options():
    with Sandbox(accounts=3, amocrm_latency=0.01, rate_limit=5, amocrm_timezone="Asia/Yekaterinburg") as sb:
        for emu in sb.accounts:
            assert (emu.latency, emu.rate_limit, emu.timezone) == (0.01, 5, "Asia/Yekaterinburg")


def test_the_config_sample_names_every_account_and_their_tokens_are_in_account_env():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; amosheets supports 3.10
    with Sandbox(accounts=3) as sb:
        sb.seed_sample(leads=2)
        config = tomllib.loads(sb.config_sample())
        env = sb.account_env()
        assert env == {"A2_TOKEN": "sandbox-token-2", "A3_TOKEN": "sandbox-token-3"}
        assert config["account"] == {
            "a2": {"base_url": sb.account_url(1), "token_env": "A2_TOKEN"},
            "a3": {"base_url": sb.account_url(2), "token_env": "A3_TOKEN"},
        }
        assert tomllib.loads(sb.account_sections()) == {"account": config["account"]}
        assert config["pair"] == [
            {"name": "a1", "tab": "Сделки", "pipeline": "*"},
            {"name": "a2", "tab": "Сделки a2", "pipeline": "*", "account": "a2"},
            {"name": "a3", "tab": "Сделки a3", "pipeline": "*", "account": "a3"},
        ]
        assert sb.spreadsheet_id
        for i, emu in enumerate(sb.accounts):  # each pair's tab is there, with the headers; each account has deals
            assert sb.sheets.values(sb.spreadsheet_id, sb.account_tab(i))[0] == SAMPLE_SHEET_HEADERS
            assert len(emu.pipelines()) == 2
            assert get(sb.account_url(i), sb.account_token(i), "/api/v4/leads").json()["_embedded"]["leads"]


def test_restart_amocrm_restarts_the_first_account_only():
    with Sandbox(accounts=2, rate_limit=None) as sb:
        first, second = sb.amocrm, sb.accounts[1]
        url = sb.account_url(0)
        restarted = sb.restart_amocrm()
        assert restarted is not first and sb.accounts == [restarted, second]
        assert sb.account_url(0) == url and get(url, sb.token).json()["id"] == restarted.account_id
        assert get(sb.account_url(1), sb.account_token(1)).json()["id"] == second.account_id


def test_all_servers_close_with_the_sandbox():
    with Sandbox(accounts=3) as sb:
        urls = [sb.account_url(i) for i in range(3)]
    for url in urls:
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/_sandbox/", timeout=TIMEOUT)


@pytest.mark.parametrize("n", [0, MAX_ACCOUNTS + 1])
def test_the_number_of_accounts_is_checked(n: int):
    with pytest.raises(ValueError, match="accounts"):
        Sandbox(accounts=n)


def test_one_account_is_the_sandbox_as_before():
    sb = Sandbox()
    assert sb.accounts == [sb.amocrm] and sb.account_env() == {} and sb.account_sections() == ""
