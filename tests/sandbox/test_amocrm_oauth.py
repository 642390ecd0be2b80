"""The amoCRM emulator's OAuth 2.0 token endpoint, over real HTTP with requests, as the client will use it.

``POST /oauth2/access_token`` exchanges an authorization code (20 minutes, single use) or a refresh token
(90 days, single use) for a pair; the access token (24 h) opens the API beside the long-lived token. Codes come
from the control API (a person clicked "Allow"); the clock is the emulator's, moved by the tests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from amosheets.sandbox import Sandbox
from amosheets.sandbox.amocrm import AmoCRMEmulator

from .conftest import TIMEOUT, Amo

DAY = 86400
TOKEN_PATH = "/oauth2/access_token"
UNSUPPORTED = "The authorization grant type is not supported by the authorization server."
CLIENT_FAILED = "Client authentication failed"


@pytest.fixture
def amo(make_amo: Callable[..., Amo]) -> Amo:
    return make_amo()


def token_request(amo: Amo, body: Any, form: bool = False, **kw: Any) -> requests.Response:
    """A token request as a client sends it: no Authorization header, JSON (or a form) body."""
    if form:
        return requests.post(amo.url + TOKEN_PATH, data=body, timeout=TIMEOUT, **kw)
    return requests.post(amo.url + TOKEN_PATH, json=body, timeout=TIMEOUT, **kw)


def code_body(amo: Amo, code: str, **over: Any) -> dict[str, Any]:
    return {**amo.emu.oauth_client(), "grant_type": "authorization_code", "code": code, **over}


def refresh_body(amo: Amo, refresh_token: str, **over: Any) -> dict[str, Any]:
    return {**amo.emu.oauth_client(), "grant_type": "refresh_token", "refresh_token": refresh_token, **over}


def exchange(amo: Amo, code: str | None = None) -> dict[str, Any]:
    r = token_request(amo, code_body(amo, code or amo.emu.oauth_code()))
    assert r.status_code == 200, r.text
    return r.json()


def refresh(amo: Amo, refresh_token: str) -> dict[str, Any]:
    r = token_request(amo, refresh_body(amo, refresh_token))
    assert r.status_code == 200, r.text
    return r.json()


def api_status(amo: Amo, access_token: str, path: str = "/api/v4/account") -> int:
    r = requests.get(amo.url + path, headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT)
    if r.status_code == 401:  # exactly what a wrong token gets
        assert r.json() == {
            "title": "Unauthorized",
            "type": "https://httpstatus.es/401",
            "status": 401,
            "detail": "Access token is invalid, expired or revoked",
        }
    return r.status_code


def assert_oauth_error(r: requests.Response, status: int, hint: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json() == {
        "hint": hint,
        "title": "Некорректный запрос",
        "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
        "status": status,
        "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
    }
    assert list(r.json()) == ["hint", "title", "type", "status", "detail"]


# ---------------------------------------------------------------------------- the code --
def test_a_code_is_exchanged_for_a_pair_that_opens_the_api(amo: Amo) -> None:
    amo.emu.clock.advance(10 * DAY)
    code = amo.emu.oauth_code()
    r = token_request(amo, code_body(amo, code))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    assert abs(parsedate_to_datetime(r.headers["Date"]).timestamp() - amo.emu.clock.time()) < 5  # its clock
    pair = r.json()
    assert list(pair) == ["token_type", "expires_in", "access_token", "refresh_token"]
    assert (pair["token_type"], pair["expires_in"]) == ("Bearer", 86400)
    assert len(pair["access_token"]) >= 40 and len(pair["refresh_token"]) >= 40
    assert pair["access_token"] != pair["refresh_token"]
    assert api_status(amo, pair["access_token"]) == 200
    assert api_status(amo, pair["access_token"], "/api/v4/leads/pipelines") == 200
    assert api_status(amo, pair["refresh_token"]) == 401  # a refresh token is no access token
    assert amo.emu.oauth_token_state(code) == "revoked"
    assert amo.emu.oauth_token_state(pair["refresh_token"]) == "live"


def test_a_code_lives_20_minutes(amo: Amo) -> None:
    young, old = amo.emu.oauth_code(), amo.emu.oauth_code()
    amo.emu.clock.advance(1199)
    assert token_request(amo, code_body(amo, young)).status_code == 200
    amo.emu.clock.advance(2)  # 1201 s after it was issued
    assert_oauth_error(token_request(amo, code_body(amo, old)), 400, "Authorization code has expired")
    # the control route says the same lifetime
    r = amo.ctl("POST", "/oauth/code", {})
    assert r.status_code == 200 and r.json()["expires_in"] == 1200
    amo.ctl("POST", "/clock/advance", {"seconds": 1201})
    assert_oauth_error(token_request(amo, code_body(amo, r.json()["code"])), 400, "Authorization code has expired")


def test_a_code_is_single_use_and_an_unknown_one_cannot_be_decrypted(amo: Amo) -> None:
    code = amo.emu.oauth_code()
    first = exchange(amo, code)
    assert_oauth_error(token_request(amo, code_body(amo, code)), 400, "Authorization code has been revoked")
    assert api_status(amo, first["access_token"]) == 200  # the failed re-use took nothing away
    for garbage in ("def50200nope", "", code[:-1]):
        assert_oauth_error(token_request(amo, code_body(amo, garbage)), 400, "Cannot decrypt the authorization code")
    assert_oauth_error(token_request(amo, code_body(amo, 12345)), 400, "Check the `code` parameter")


def test_exchanging_a_new_code_revokes_the_earlier_tokens(amo: Amo) -> None:
    spare = amo.emu.oauth_code()
    old = exchange(amo)
    new = exchange(amo)
    assert api_status(amo, old["access_token"]) == 401
    assert_oauth_error(token_request(amo, refresh_body(amo, old["refresh_token"])), 401, "Token has been revoked")
    assert api_status(amo, new["access_token"]) == 200
    # a code issued earlier and not yet exchanged still works, and replaces the grant in turn
    newest = exchange(amo, spare)
    assert api_status(amo, new["access_token"]) == 401 and api_status(amo, newest["access_token"]) == 200


# ---------------------------------------------------------------------------- access ----
def test_an_access_token_lives_24_hours(amo: Amo) -> None:
    pair = exchange(amo)
    amo.emu.clock.advance(DAY - 1)
    assert api_status(amo, pair["access_token"]) == 200
    amo.emu.clock.advance(2)  # 24 h + 1 s
    assert api_status(amo, pair["access_token"]) == 401
    assert amo.emu.oauth_token_state(pair["access_token"]) == "expired"
    assert amo.emu.stats()["oauth_access_refused"] == 1
    assert amo.get("/api/v4/account").status_code == 200  # the long-lived token is not affected
    assert api_status(amo, refresh(amo, pair["refresh_token"])["access_token"]) == 200


def test_the_long_lived_token_keeps_working_beside_oauth(amo: Amo) -> None:
    pair = exchange(amo)
    assert amo.get("/api/v4/account").status_code == 200
    assert api_status(amo, pair["access_token"]) == 200
    amo.emu.set_token("another-long-lived")
    assert amo.get("/api/v4/account").status_code == 401
    assert api_status(amo, "another-long-lived") == 200
    assert api_status(amo, pair["access_token"]) == 200  # changing the long-lived token leaves OAuth alone
    refresh(amo, pair["refresh_token"])
    assert api_status(amo, "another-long-lived") == 200


# ---------------------------------------------------------------------------- refresh ---
def test_a_refresh_gives_a_new_pair_and_spends_the_old_one(amo: Amo) -> None:
    first = exchange(amo)
    second = refresh(amo, first["refresh_token"])
    assert list(second) == ["token_type", "expires_in", "access_token", "refresh_token"]
    assert second["expires_in"] == 86400
    assert {second["access_token"], second["refresh_token"]}.isdisjoint(first.values())
    assert api_status(amo, second["access_token"]) == 200
    assert api_status(amo, first["access_token"]) == 401  # revoked with its refresh token
    assert_oauth_error(token_request(amo, refresh_body(amo, first["refresh_token"])), 401, "Token has been revoked")
    assert api_status(amo, second["access_token"]) == 200  # the failed re-use took nothing away
    third = refresh(amo, second["refresh_token"])
    assert api_status(amo, third["access_token"]) == 200 and api_status(amo, second["access_token"]) == 401
    stats = amo.emu.stats()
    assert (stats["oauth_code_exchanges"], stats["oauth_refreshes"], stats["oauth_failures"]) == (1, 2, 1)


def test_a_refresh_token_lives_90_days(amo: Amo) -> None:
    pair = exchange(amo)
    amo.emu.clock.advance(89 * DAY)
    fresh = refresh(amo, pair["refresh_token"])  # alive at 89 days, though its access token died long ago
    amo.emu.clock.advance(91 * DAY)
    assert amo.emu.oauth_token_state(fresh["refresh_token"]) == "expired"
    assert_oauth_error(token_request(amo, refresh_body(amo, fresh["refresh_token"])), 401, "Token has expired")
    # an expired token that was also spent says "expired": league checks expiry first
    assert_oauth_error(token_request(amo, refresh_body(amo, pair["refresh_token"])), 401, "Token has expired")


def test_a_refresh_token_never_issued_cannot_be_decrypted(amo: Amo) -> None:
    exchange(amo)
    for garbage in ("def50200" + "0" * 64, "", "sandbox-token"):
        assert_oauth_error(token_request(amo, refresh_body(amo, garbage)), 401, "Cannot decrypt the refresh token")
    assert_oauth_error(token_request(amo, refresh_body(amo, None)), 400, "Check the `refresh_token` parameter")
    assert_oauth_error(token_request(amo, refresh_body(amo, ["x"])), 400, "Check the `refresh_token` parameter")


def test_a_refresh_answer_lost_on_the_way_loses_the_grant(amo: Amo) -> None:
    """API-NOTES: the refresh is carried out, its answer lost; the token sent is spent all the same."""
    pair = exchange(amo)
    amo.emu.set_faults(script=[("drop-after", "^/oauth2/access_token$", "POST")])
    with pytest.raises(requests.ConnectionError):
        token_request(amo, refresh_body(amo, pair["refresh_token"]))
    assert_oauth_error(token_request(amo, refresh_body(amo, pair["refresh_token"])), 401, "Token has been revoked")
    assert api_status(amo, pair["access_token"]) == 401
    assert amo.emu.oauth_state()["live_refresh_tokens"] == 1  # the pair nobody received
    assert api_status(amo, exchange(amo)["access_token"]) == 200  # a person authorises again


# ---------------------------------------------------------------------------- client ----
@pytest.mark.parametrize(
    "over",
    [
        {"client_secret": "wrong"},
        {"client_secret": ""},
        {"client_secret": None},
        {"client_id": "00000000-0000-0000-0000-000000000000"},
        {"client_id": 7},
        {"redirect_uri": "https://example.com/amosheets/"},
        {"redirect_uri": "https://evil.example/amosheets"},
    ],
    ids=repr,
)
def test_a_wrong_client_or_redirect_uri_fails_authentication_and_spends_nothing(amo: Amo, over: dict) -> None:
    body = code_body(amo, amo.emu.oauth_code(), **over)
    if over.get("client_secret", "") is None:
        del body["client_secret"]
    assert_oauth_error(token_request(amo, body), 401, CLIENT_FAILED)
    r = token_request(amo, {**body, **amo.emu.oauth_client()})
    assert r.status_code == 200, r.text  # the code was not spent
    # a refresh with the same mistake fails the same way, and spends nothing either
    body = refresh_body(amo, r.json()["refresh_token"], **over)
    if over.get("client_secret", "") is None:
        del body["client_secret"]
    assert_oauth_error(token_request(amo, body), 401, CLIENT_FAILED)
    assert amo.emu.oauth_token_state(r.json()["refresh_token"]) == "live"
    assert api_status(amo, r.json()["access_token"]) == 200


def test_a_refresh_with_a_wrong_secret_fails_and_spends_nothing(amo: Amo) -> None:
    pair = exchange(amo)
    r = token_request(amo, refresh_body(amo, pair["refresh_token"], client_secret="x" * 64))
    assert_oauth_error(r, 401, CLIENT_FAILED)
    r = token_request(amo, refresh_body(amo, pair["refresh_token"], redirect_uri="https://example.com/other"))
    assert_oauth_error(r, 401, CLIENT_FAILED)
    assert api_status(amo, pair["access_token"]) == 200
    assert api_status(amo, refresh(amo, pair["refresh_token"])["access_token"]) == 200


# ---------------------------------------------------------------------------- the body --
@pytest.mark.parametrize(
    ("grant", "missing", "hint"),
    [
        ("authorization_code", "grant_type", UNSUPPORTED),
        ("authorization_code", "client_id", "Check the `client_id` parameter"),
        ("authorization_code", "client_secret", CLIENT_FAILED),
        ("authorization_code", "redirect_uri", "Check the `redirect_uri` parameter"),
        ("authorization_code", "code", "Check the `code` parameter"),
        ("refresh_token", "client_id", "Check the `client_id` parameter"),
        ("refresh_token", "redirect_uri", "Check the `redirect_uri` parameter"),
        ("refresh_token", "refresh_token", "Check the `refresh_token` parameter"),
    ],
)
def test_a_missing_parameter_is_named(amo: Amo, grant: str, missing: str, hint: str) -> None:
    pair = exchange(amo)
    body = code_body(amo, amo.emu.oauth_code()) if grant == "authorization_code" else refresh_body(amo, "")
    if grant == "refresh_token":
        body["refresh_token"] = pair["refresh_token"]
    del body[missing]
    assert_oauth_error(token_request(amo, body), 401 if hint == CLIENT_FAILED else 400, hint)
    assert api_status(amo, pair["access_token"]) == 200  # nothing was exchanged, nothing revoked


@pytest.mark.parametrize("grant", ["password", "client_credentials", "AUTHORIZATION_CODE", "", 1, None])
def test_an_unsupported_grant_type_is_refused(amo: Amo, grant: Any) -> None:
    assert_oauth_error(token_request(amo, code_body(amo, amo.emu.oauth_code(), grant_type=grant)), 400, UNSUPPORTED)


@pytest.mark.parametrize(
    ("data", "ctype"),
    [
        (b"not json", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"null", "application/json"),
        (b"<xml/>", "text/xml"),
        (b"", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_neither_json_nor_a_form_is_a_400(amo: Amo, data: bytes, ctype: str) -> None:
    r = requests.post(amo.url + TOKEN_PATH, data=data, headers={"Content-Type": ctype}, timeout=TIMEOUT)
    assert_oauth_error(r, 400, UNSUPPORTED)


def test_a_form_encoded_body_is_accepted(amo: Amo) -> None:
    r = token_request(amo, code_body(amo, amo.emu.oauth_code()), form=True)
    assert r.status_code == 200, r.text
    pair = r.json()
    r = token_request(amo, refresh_body(amo, pair["refresh_token"]), form=True)
    assert r.status_code == 200, r.text
    assert api_status(amo, r.json()["access_token"]) == 200
    # a form's values are text: the same checks apply to them
    r = token_request(amo, refresh_body(amo, pair["refresh_token"]), form=True)
    assert_oauth_error(r, 401, "Token has been revoked")
    r = token_request(amo, {**code_body(amo, "x"), "client_secret": "nope"}, form=True)
    assert_oauth_error(r, 401, CLIENT_FAILED)


# ---------------------------------------------------------------------------- the gate --
def test_the_token_endpoint_takes_post_only_and_ignores_any_bearer(amo: Amo) -> None:
    r = requests.get(amo.url + TOKEN_PATH, timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert r.json()["type"] == "https://httpstatus.es/405"
    r = token_request(amo, code_body(amo, amo.emu.oauth_code()), headers={"Authorization": "Bearer stale"})
    assert r.status_code == 200, r.text


def test_the_rate_limit_and_the_block_apply_to_the_token_endpoint(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(rate_limit=2, block_after=2, block_seconds=600)
    code = amo.emu.oauth_code()
    assert [amo.get("/api/v4/account").status_code for _ in range(2)] == [200, 200]
    r = token_request(amo, code_body(amo, code))
    assert r.status_code == 429, r.text
    assert r.json() == {
        "title": "Too Many Requests",
        "type": "https://httpstatus.es/429",
        "status": 429,
        "detail": "Too many requests",
    }
    assert amo.get("/api/v4/account").status_code == 429  # and the token request counted in the same window
    r = token_request(amo, code_body(amo, code))
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("text/html")  # the "IP" is blocked
    amo.emu.unblock()
    amo.emu.clock.advance(1.5)
    assert token_request(amo, code_body(amo, code)).status_code == 200  # the refused tries spent nothing
    stats = amo.emu.stats()
    assert stats["rate_limited"] == 2 and stats["blocked_requests"] == 1
    assert stats["oauth_failures"] == 0  # the gate's answers are not the endpoint's failures


def test_an_unpaid_account_still_exchanges_tokens_and_its_api_answers_402(amo: Amo) -> None:
    amo.emu.set_unpaid(True)
    pair = exchange(amo)
    assert api_status(amo, pair["access_token"]) == 402
    assert api_status(amo, "nope") == 401  # the token is checked before the payment


# ---------------------------------------------------------------------------- counters --
def test_a_token_exchange_counts_as_neither_a_read_nor_a_write(amo: Amo) -> None:
    pair = exchange(amo)
    refresh(amo, pair["refresh_token"])
    token_request(amo, refresh_body(amo, pair["refresh_token"]))  # a failure
    requests.get(amo.url + TOKEN_PATH, timeout=TIMEOUT)  # a failure too (405)
    amo.get("/api/v4/account")
    amo.post("/api/v4/leads", [{"name": "x"}])
    amo.ctl("POST", "/oauth/code")  # control requests are never counted
    stats = amo.ctl("GET", "/stats").json()
    assert stats["by_route"] == {
        "POST /oauth2/access_token": 3,
        "GET /oauth2/access_token": 1,
        "GET /api/v4/account": 1,
        "POST /api/v4/leads": 1,
    }
    assert (stats["requests"], stats["reads"], stats["mutating"], stats["oauth_requests"]) == (6, 1, 1, 4)
    assert (stats["oauth_code_exchanges"], stats["oauth_refreshes"], stats["oauth_failures"]) == (1, 1, 2)
    assert stats["oauth_access_refused"] == 0
    assert amo.ctl("POST", "/stats/reset").status_code == 200
    stats = amo.emu.stats()
    assert [stats[k] for k in ("oauth_requests", "oauth_code_exchanges", "oauth_refreshes", "oauth_failures")] == [
        0,
        0,
        0,
        0,
    ]


# ---------------------------------------------------------------------------- control ---
def test_the_oauth_control_routes(amo: Amo) -> None:
    client = amo.emu.oauth_client()
    state = amo.ctl("GET", "/oauth").json()
    assert {k: state[k] for k in ("client_id", "client_secret", "redirect_uri")} == client
    assert (state["codes_issued"], state["live_access_tokens"], state["live_refresh_tokens"]) == (0, 0, 0)
    assert (state["code_lifetime"], state["access_token_lifetime"], state["refresh_token_lifetime"]) == (
        1200,
        86400,
        7_776_000,
    )
    r = amo.ctl("POST", "/oauth/code", {})
    assert r.status_code == 200 and set(r.json()) == {"code", "expires_in"}
    pair = exchange(amo, r.json()["code"])
    amo.ctl("POST", "/oauth/code")
    state = amo.ctl("GET", "/oauth").json()
    assert (state["codes_issued"], state["live_codes"]) == (2, 1)
    assert (state["live_access_tokens"], state["live_refresh_tokens"]) == (1, 1)
    refresh(amo, pair["refresh_token"])
    assert amo.emu.oauth_state()["live_refresh_tokens"] == 1
    r = amo.ctl("POST", "/oauth/code", {"scope": "crm"})
    assert r.status_code == 400 and "scope" in r.json()["detail"]


def test_revoking_the_integration_kills_every_code_and_token(amo: Amo) -> None:
    pair, code = exchange(amo), amo.emu.oauth_code()
    assert amo.ctl("POST", "/oauth/revoke").json() == {"ok": True}
    assert api_status(amo, pair["access_token"]) == 401
    assert_oauth_error(token_request(amo, refresh_body(amo, pair["refresh_token"])), 401, "Token has been revoked")
    assert_oauth_error(token_request(amo, code_body(amo, code)), 400, "Authorization code has been revoked")
    state = amo.emu.oauth_state()
    assert (state["live_codes"], state["live_access_tokens"], state["live_refresh_tokens"]) == (0, 0, 0)
    assert amo.get("/api/v4/account").status_code == 200  # the long-lived token is another integration's
    assert api_status(amo, exchange(amo)["access_token"]) == 200  # allowed again


def test_reset_drops_codes_and_tokens_and_keeps_the_integration(amo: Amo) -> None:
    client = amo.emu.oauth_client()
    pair, code = exchange(amo), amo.emu.oauth_code()
    assert amo.ctl("POST", "/reset").status_code == 200
    assert api_status(amo, pair["access_token"]) == 401
    r = token_request(amo, refresh_body(amo, pair["refresh_token"]))
    assert_oauth_error(r, 401, "Cannot decrypt the refresh token")
    assert_oauth_error(token_request(amo, code_body(amo, code)), 400, "Cannot decrypt the authorization code")
    assert amo.emu.oauth_client() == client
    assert amo.emu.oauth_state()["codes_issued"] == 0
    assert amo.get("/api/v4/account").status_code == 200
    assert api_status(amo, exchange(amo)["access_token"]) == 200


def test_the_index_lists_the_oauth_routes_and_never_the_secret(amo: Amo) -> None:
    r = amo.ctl("GET", "/")
    assert r.status_code == 200
    listed = {(e["method"], e["path"]): e["description"] for e in r.json()["control"]}
    for route in (("GET", "/_sandbox/oauth"), ("POST", "/_sandbox/oauth/code"), ("POST", "/_sandbox/oauth/revoke")):
        assert listed[route].strip(), route
    assert amo.emu.oauth_client()["client_secret"] not in r.text


# ---------------------------------------------------------------------------- integration
def test_the_default_integration_is_fixed_per_subdomain() -> None:
    a, b, c = AmoCRMEmulator(), AmoCRMEmulator(), AmoCRMEmulator(subdomain="other")
    assert a.oauth_client() == b.oauth_client()
    assert a.oauth_client()["client_id"] != c.oauth_client()["client_id"]
    assert a.oauth_client()["client_secret"] != c.oauth_client()["client_secret"]
    client = a.oauth_client()
    assert str(uuid.UUID(client["client_id"])) == client["client_id"]
    assert re.fullmatch(r"[A-Za-z0-9]{64}", client["client_secret"])
    assert client["redirect_uri"] == "https://example.com/amosheets"
    a.reset()
    assert a.oauth_client() == client


def test_the_integration_can_be_given(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(client_id="my-client", client_secret="s" * 40, redirect_uri="https://localhost/cb")
    assert amo.emu.oauth_client() == {
        "client_id": "my-client",
        "client_secret": "s" * 40,
        "redirect_uri": "https://localhost/cb",
    }
    r = token_request(amo, code_body(amo, amo.emu.oauth_code()))
    assert r.status_code == 200, r.text
    r = token_request(amo, code_body(amo, amo.emu.oauth_code(), redirect_uri="https://example.com/amosheets"))
    assert_oauth_error(r, 401, CLIENT_FAILED)
    for bad in ({"client_id": ""}, {"client_secret": "  "}, {"redirect_uri": ""}):
        with pytest.raises(ValueError):
            AmoCRMEmulator(**bad)


def test_the_sandbox_names_each_accounts_integration() -> None:
    with Sandbox(accounts=2, rate_limit=None) as sb:
        env = sb.oauth_env()
        assert "AMOCRM_INTEGRATION_TOKEN" not in env
        client = sb.amocrm.oauth_client()
        assert env["AMOCRM_BASE_URL"] == sb.amocrm_url
        assert (env["AMOCRM_CLIENT_ID"], env["AMOCRM_CLIENT_SECRET"], env["AMOCRM_REDIRECT_URI"]) == (
            client["client_id"],
            client["client_secret"],
            client["redirect_uri"],
        )
        assert len(env["AMOCRM_CLIENT_SECRET"]) >= 20
        assert {k: v for k, v in sb.env().items() if k != "AMOCRM_INTEGRATION_TOKEN"}.items() <= env.items()
        other = sb.accounts[1].oauth_client()
        assert other["client_id"] != client["client_id"] and other["client_secret"] != client["client_secret"]
        # a code of one account is unknown to the other, and its keys are refused there
        body = {**client, "grant_type": "authorization_code", "code": sb.amocrm.oauth_code()}
        r = requests.post(sb.account_url(1) + TOKEN_PATH, json=body, timeout=TIMEOUT)
        assert r.status_code == 401 and r.json()["hint"] == CLIENT_FAILED
        r = requests.post(sb.account_url(1) + TOKEN_PATH, json={**body, **other}, timeout=TIMEOUT)
        assert r.status_code == 400 and r.json()["hint"] == "Cannot decrypt the authorization code"
        r = requests.post(env["AMOCRM_BASE_URL"] + TOKEN_PATH, json=body, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert requests.get(sb.amocrm_url + "/api/v4/account", headers=auth, timeout=TIMEOUT).status_code == 200
        assert requests.get(sb.account_url(1) + "/api/v4/account", headers=auth, timeout=TIMEOUT).status_code == 401
        # a restarted sandbox keeps the integration (its tokens are gone)
        assert sb.restart_amocrm().oauth_client() == client
        assert requests.get(sb.amocrm_url + "/api/v4/account", headers=auth, timeout=TIMEOUT).status_code == 401
