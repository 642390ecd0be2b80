"""The Sheets emulator's Google OAuth endpoints for a person: refresh, sign-in (with PKCE), revocation, expiry.

Every request goes over loopback HTTP: plain ``requests`` where the test needs to see Google's raw answers,
real google-auth where it is what amosheets runs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2.credentials import Credentials

from amosheets.gspread_transport import client_for
from amosheets.sandbox.google_accounts import ACCESS_TOKEN_SECONDS, CODE_SECONDS, DEFAULT_PERSON, SHEETS_SCOPE
from amosheets.sandbox.server import RunningServer
from amosheets.sandbox.sheets import SheetsEmulator

TIMEOUT = 10
BOB = "bob@example.com"
REDIRECT = "http://localhost:8765/"


@dataclass
class Env:
    emu: SheetsEmulator
    url: str
    sid: str
    client: dict[str, str]

    def token(self, **form: str) -> requests.Response:
        return requests.post(self.url + "/token", data=form, timeout=TIMEOUT)

    def refresh(self, refresh_token: str, **override: str) -> requests.Response:
        form = {"grant_type": "refresh_token", **self.client, "refresh_token": refresh_token}
        return self.token(**{**form, **override})

    def values(self, access_token: str, method: str = "GET") -> requests.Response:
        path = f"/v4/spreadsheets/{self.sid}/values/A1"
        if method == "GET":
            return requests.get(self.url + path, headers=_bearer(access_token), timeout=TIMEOUT)
        return requests.put(
            self.url + path,
            params={"valueInputOption": "RAW"},
            json={"values": [["x"]]},
            headers=_bearer(access_token),
            timeout=TIMEOUT,
        )

    def authorize(self, **params: str) -> requests.Response:
        query = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": SHEETS_SCOPE,
            "state": "st4te",
            **params,
        }
        return requests.get(self.url + "/o/oauth2/auth", params=query, allow_redirects=False, timeout=TIMEOUT)

    def code(self, verifier: str | None = None, **params: str) -> str:
        """A code from the sign-in page (with the S256 challenge of ``verifier``, if given)."""
        if verifier is not None:
            params = {**params, "code_challenge": _s256(verifier), "code_challenge_method": "S256"}
        r = self.authorize(**params)
        assert r.status_code == 302, r.text
        return _back(r)["code"]

    def exchange(self, code: str, verifier: str | None = None, redirect_uri: str = REDIRECT) -> requests.Response:
        """What requests-oauthlib sends: the client by HTTP Basic, the rest in the form."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if verifier is not None:
            form["code_verifier"] = verifier
        auth = (self.client["client_id"], self.client["client_secret"])
        return requests.post(self.url + "/token", data=form, auth=auth, timeout=TIMEOUT)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _back(r: requests.Response) -> dict[str, str]:
    """The query of the sign-in page's redirect back to the app."""
    location = r.headers["Location"]
    assert location.startswith(REDIRECT.rstrip("/")), location
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SheetsEmulator, RunningServer]]:
    emu = SheetsEmulator(read_quota=None, write_quota=None)
    with RunningServer(emu) as server:
        yield emu, server


@pytest.fixture
def env(served: tuple[SheetsEmulator, RunningServer]) -> Env:
    emu, server = served
    emu.sign_in_as()  # anna, approving everything asked
    sid = emu.create_spreadsheet("Person's book", ["Sheet1"])
    return Env(emu, server.url, sid, emu.accounts.client())  # the first client, which the files name by default


# -- refresh tokens -----------------------------------------------------------------------------
def test_a_persons_refresh_token_gives_access_tokens_again_and_again(env: Env):
    refresh_token = env.emu.authorized_user_json(env.url)["refresh_token"]
    first, second = env.refresh(refresh_token), env.refresh(refresh_token)
    for r in (first, second):
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
        assert body["expires_in"] == ACCESS_TOKEN_SECONDS == 3599 and body["token_type"] == "Bearer"
        assert body["scope"] == SHEETS_SCOPE
        assert env.values(body["access_token"]).status_code == 200
    assert first.json()["access_token"] != second.json()["access_token"]


def test_a_revoked_or_unknown_refresh_token_is_invalid_grant(env: Env):
    refresh_token = env.emu.authorized_user_json(env.url, email=BOB)["refresh_token"]
    access_token = env.refresh(refresh_token).json()["access_token"]
    assert env.emu.revoke_person(BOB) == 1
    expected = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    for token in (refresh_token, "1//made-up"):
        r = env.refresh(token)
        assert r.status_code == 400 and r.json() == expected
    # The access tokens made from it end too: the API no longer knows them.
    r = env.values(access_token)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_wrong_client_is_invalid_client(env: Env):
    refresh_token = env.emu.authorized_user_json(env.url)["refresh_token"]
    r = env.refresh(refresh_token, client_secret="GOCSPX-not-the-secret")
    assert r.status_code == 401 and r.json() == {"error": "invalid_client", "error_description": "Unauthorized"}
    r = env.refresh(refresh_token, client_id="999-unknown.apps.googleusercontent.com")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # A secret reset in the console: the old one stops working, the refresh token stays good with the new one.
    new = env.emu.register_oauth_client(env.client["client_id"], "GOCSPX-reset-secret-0123456789")
    assert env.refresh(refresh_token).status_code == 401
    assert env.refresh(refresh_token, client_secret=new["client_secret"]).status_code == 200


def test_a_refresh_token_works_only_with_its_own_client_and_scopes(env: Env):
    refresh_token = env.emu.authorized_user_json(env.url)["refresh_token"]
    other = env.emu.register_oauth_client()
    r = env.refresh(refresh_token, **other)
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = env.refresh(refresh_token, scope=f"{SHEETS_SCOPE} https://www.googleapis.com/auth/drive")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert env.refresh(refresh_token, scope=SHEETS_SCOPE).status_code == 200
    r = env.token(grant_type="password", username="anna", password="x")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_real_google_auth_refreshes_an_authorized_user_file_against_the_sandbox(env: Env):
    info = env.emu.authorized_user_json(env.url)
    creds = Credentials.from_authorized_user_info(info, scopes=[SHEETS_SCOPE])
    assert creds.token_uri == "https://oauth2.googleapis.com/token"  # google-auth ignores the file's token_uri…
    creds = creds.with_token_uri(info["token_uri"])  # …so amosheets.sheet sets it (as it does here)
    creds.refresh(GoogleRequest())
    assert creds.token in env.emu.access_tokens(DEFAULT_PERSON)
    assert client_for(env.url, creds).open_by_key(env.sid).sheet1.get_all_values() == [[]]


# -- the sign-in page and the code ----------------------------------------------------------------
def test_the_sign_in_page_sends_the_browser_back_with_a_code_state_and_scope(env: Env):
    r = env.authorize(access_type="offline", prompt="consent")
    assert r.status_code == 302
    back = _back(r)
    assert back["state"] == "st4te" and back["scope"] == SHEETS_SCOPE and back["code"]
    for redirect in ("http://127.0.0.1:9/cb", "http://[::1]:9/", "http://localhost/"):  # any loopback address
        assert env.authorize(redirect_uri=redirect).status_code == 302, redirect


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"client_id": "999-unknown.apps.googleusercontent.com"}, 401, "invalid_client"),
        ({"redirect_uri": "https://evil.example/callback"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": "http://192.168.1.5:8080/"}, 400, "redirect_uri_mismatch"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"scope": ""}, 400, "invalid_request"),
        ({"scope": f"{SHEETS_SCOPE} https://www.googleapis.com/auth/made-up"}, 400, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, 400, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, 400, "invalid_request"),
    ],
)
def test_the_sign_in_page_refuses_what_google_refuses(env: Env, params: dict[str, str], status: int, error: str):
    r = env.authorize(**params)
    assert r.status_code == status and "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html") and f"Error {status}: {error}" in r.text


def test_a_person_who_presses_cancel_is_sent_back_with_access_denied(env: Env):
    env.emu.sign_in_as(denies=True)
    back = _back(env.authorize())
    assert back == {"state": "st4te", "error": "access_denied"}


def test_a_code_with_pkce_gives_tokens_once_and_only_with_its_verifier(env: Env):
    verifier = secrets.token_urlsafe(64)[:100]
    r = env.exchange(env.code(verifier), verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer" and body["scope"] == SHEETS_SCOPE
    assert body["refresh_token"] and env.values(body["access_token"]).status_code == 200
    assert env.refresh(body["refresh_token"]).status_code == 200  # the refresh token it gave works

    code = env.code(verifier)
    assert env.exchange(code, verifier).status_code == 200
    r = env.exchange(code, verifier)  # the same code again
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    for sent, said in (
        (None, "Missing code verifier."),
        (verifier[:-1] + ("A" if verifier[-1] != "A" else "B"), "Invalid code verifier."),
        ("too-short", "Invalid code verifier."),
    ):
        r = env.exchange(env.code(verifier), sent)
        assert r.status_code == 400 and r.json() == {"error": "invalid_grant", "error_description": said}, sent


def test_a_code_is_bound_to_its_redirect_client_and_time(env: Env):
    r = env.exchange(env.code(), redirect_uri="http://localhost:9999/")
    assert r.status_code == 400 and r.json()["error"] == "redirect_uri_mismatch"
    code = env.code()
    other = env.emu.register_oauth_client()
    r = requests.post(
        env.url + "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(other["client_id"], other["client_secret"]),
        timeout=TIMEOUT,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.post(
        env.url + "/token",
        data={"grant_type": "authorization_code", "code": env.code(), "redirect_uri": REDIRECT},
        auth=(env.client["client_id"], "GOCSPX-wrong"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    code = env.code()
    env.emu.clock.advance(CODE_SECONDS + 1)
    r = env.exchange(code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_scopes_the_person_left_unticked_are_not_granted(env: Env):
    env.emu.sign_in_as(grants=[])
    back = _back(env.authorize(scope=f"openid {SHEETS_SCOPE}"))
    assert back["scope"] == "openid"
    token = env.exchange(back["code"]).json()["access_token"]
    r = env.values(token)
    assert r.status_code == 403 and r.json()["error"]["message"] == "Request had insufficient authentication scopes."


def test_a_read_only_grant_reads_and_cannot_write(env: Env):
    refresh_token = env.emu.accounts.grant(scopes=["https://www.googleapis.com/auth/spreadsheets.readonly"])
    token = env.refresh(refresh_token).json()["access_token"]
    assert env.values(token).status_code == 200
    assert env.values(token, "PUT").status_code == 403
    full = env.refresh(env.emu.authorized_user_json(env.url)["refresh_token"]).json()["access_token"]
    assert env.values(full, "PUT").status_code == 200


# -- who may use a spreadsheet, and for how long ------------------------------------------------
def test_sharing_applies_to_a_person_as_to_a_service_account(env: Env):
    anna = env.refresh(env.emu.authorized_user_json(env.url)["refresh_token"]).json()["access_token"]
    bob = env.refresh(env.emu.authorized_user_json(env.url, email=BOB)["refresh_token"]).json()["access_token"]
    env.emu.share_with(env.sid, [DEFAULT_PERSON])
    assert env.values(anna).status_code == 200
    r = env.values(bob)
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = requests.post(f"{env.url}/_sandbox/spreadsheets/{env.sid}/share_with", json={"emails": [BOB]}, timeout=10)
    assert r.status_code == 200
    assert env.values(anna).status_code == 403 and env.values(bob).status_code == 200


def test_access_tokens_of_every_kind_expire_after_an_hour_on_the_emulators_clock(env: Env):
    person = env.refresh(env.emu.authorized_user_json(env.url)["refresh_token"]).json()["access_token"]
    claims = base64.urlsafe_b64encode(b'{"iss": "bot@x.iam.gserviceaccount.com"}').decode().rstrip("=")
    bot = env.token(grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=f"h.{claims}.s")
    robot = bot.json()["access_token"]
    env.emu.clock.advance(ACCESS_TOKEN_SECONDS - 5)
    assert env.values(person).status_code == env.values(robot).status_code == 200
    env.emu.clock.advance(5)
    for token in (person, robot):
        r = env.values(token)
        assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_control_interface_makes_clients_files_and_revokes(env: Env):
    ctl = f"{env.url}/_sandbox/oauth"
    made = requests.post(f"{ctl}/clients", json={"client_id": "42-ctl.apps.googleusercontent.com"}, timeout=10)
    assert made.status_code == 200 and len(made.json()["client_secret"]) >= 20
    cs = requests.get(f"{ctl}/client_secrets", params={"client_id": made.json()["client_id"]}, timeout=10).json()
    assert cs["installed"]["token_uri"] == env.url + "/token"
    assert cs["installed"]["auth_uri"] == env.url + "/o/oauth2/auth"
    assert cs["installed"]["client_secret"] == made.json()["client_secret"]
    user = requests.post(f"{ctl}/authorized_user", json={"email": BOB}, timeout=10).json()
    assert user["type"] == "authorized_user" and user["token_uri"] == env.url + "/token"
    client = {"client_id": user["client_id"], "client_secret": user["client_secret"]}
    assert env.refresh(user["refresh_token"], **client).status_code == 200
    r = requests.post(f"{ctl}/revoke", json={"email": BOB}, timeout=10)
    assert r.status_code == 200 and r.json()["refresh_tokens_ended"] >= 1
    assert env.refresh(user["refresh_token"], **client).status_code == 400
    r = requests.post(f"{ctl}/sign_in_as", json={"email": BOB, "denies": True}, timeout=10)
    assert r.status_code == 200
    assert _back(env.authorize())["error"] == "access_denied"
