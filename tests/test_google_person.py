"""Google as a person (issue 14): an authorized_user file instead of a service account's key, and
`amosheets auth google`, which makes one. End to end: the CLI in a process of its own, the sandbox's
Google (token endpoint and sign-in page) over loopback HTTP, nothing replaced in-process."""

from __future__ import annotations

import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values

from amosheets.errors import ExitStatus
from amosheets.google_signin import env_line, write_private
from amosheets.sandbox.google_accounts import DEFAULT_PERSON
from amosheets.sheet import Sheet

from .conftest import World

ROW = ["", "Иван", "", "", "100", "", ""]
SIGN_IN_AGAIN = "Sign in again: amosheets auth google --client-secrets FILE"
LASTS = "it lasts until revoked (7 days if the Google Cloud app's publishing status is Testing)"


def said(r: subprocess.CompletedProcess[str]) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "bug in amosheets" not in out, out
    return out


def as_person(world: World, tmp_path: Path, email: str | None = None) -> Path:
    """World's runs authorized as a person already signed in (an authorized_user file, by the facade)."""
    path = world.sb.write_authorized_user(tmp_path / "person.json", email)
    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    return path


def token_requests(world: World) -> int:
    return world.sb.sheets.stats()["by_route"].get("POST /token", 0)


# -- runs as a person ------------------------------------------------------------------------------
def test_a_sync_as_a_person_writes_the_sheet(world: World, tmp_path):
    path = as_person(world, tmp_path)
    assert json.loads(path.read_text())["type"] == "authorized_user"
    world.set_rows([ROW])
    world.reset_stats()
    r = world.cli("sync")
    assert r.returncode == 0, said(r)
    [lead] = world.sb.amocrm.leads()
    assert list(world.by_lead()) == [lead["id"]]  # the lead_id went into the sheet
    assert token_requests(world) == 1  # one refresh, at the start of the run
    assert world.sb.sheets.access_tokens(DEFAULT_PERSON)


def test_the_run_after_an_hour_refreshes_and_still_works(world: World, tmp_path):
    as_person(world, tmp_path)
    world.set_rows([ROW])
    assert world.cli("sync").returncode == 0
    [first_token] = world.sb.sheets.access_tokens(DEFAULT_PERSON)
    world.sb.sheets.clock.advance(3600)  # the access token has expired
    world.sb.amocrm.clock.advance(5)
    lead_id = world.sb.amocrm.leads()[0]["id"]
    world.sb.amocrm.edit_lead(lead_id, price=250)
    world.reset_stats()
    r = world.cli("sync")
    assert r.returncode == 0, said(r)
    assert world.by_lead()[lead_id][4] == "250"
    assert token_requests(world) == 1
    assert set(world.sb.sheets.access_tokens(DEFAULT_PERSON)) > {first_token}


def test_a_token_that_expires_within_a_run_is_renewed_and_the_request_repeated(world: World, tmp_path):
    as_person(world, tmp_path)
    world.set_rows([ROW])
    sheet = Sheet(world.settings().tab())
    assert sheet.read_values()[1][1] == "Иван"
    world.sb.sheets.clock.advance(3600)
    world.reset_stats()
    assert sheet.read_values()[1][1] == "Иван"  # google-auth was told 401, refreshed, and asked again
    assert world.sb.sheets.stats()["by_route"] == {"GET /v4/spreadsheets/{id}/values/{range}": 2, "POST /token": 1}


def test_a_revoked_sign_in_is_an_auth_failure_that_says_sign_in_again(world: World, tmp_path):
    as_person(world, tmp_path)
    world.set_rows([ROW])
    world.sb.sheets.revoke_person(DEFAULT_PERSON)
    r = world.cli("sync")
    assert r.returncode == ExitStatus.AUTH, said(r)
    assert "expired or was revoked" in said(r) and SIGN_IN_AGAIN in r.stderr
    assert world.sb.amocrm.leads() == []
    r = world.cli("check")
    assert r.returncode == ExitStatus.AUTH and "✗ spreadsheet" in r.stdout and SIGN_IN_AGAIN in said(r)


def test_a_sheet_the_person_may_not_open_names_the_account_that_signed_in(world: World, tmp_path):
    as_person(world, tmp_path)
    world.sb.sheets.share_with(world.sid, ["someone-else@example.com"])
    r = world.cli("sync")
    assert r.returncode == ExitStatus.AUTH, said(r)
    assert "the Google account that signed in (GOOGLE_APPLICATION_CREDENTIALS) has no access" in r.stderr
    assert "client_email" not in r.stderr  # nothing of service accounts
    world.sb.sheets.share_with(world.sid, [DEFAULT_PERSON])
    assert world.cli("sync").returncode == 0


def test_an_oauth_client_whose_secret_was_reset_says_so(world: World, tmp_path):
    path = as_person(world, tmp_path)
    client_id = json.loads(path.read_text())["client_id"]
    world.sb.sheets.register_oauth_client(client_id, "GOCSPX-a-new-secret-after-reset")
    r = world.cli("sync")
    assert r.returncode == ExitStatus.AUTH, said(r)
    assert "does not know the OAuth client" in r.stderr and SIGN_IN_AGAIN in r.stderr


def test_check_says_which_way_google_is_authorized(world: World, tmp_path):
    r = world.cli("check")
    assert r.returncode == 0, said(r)
    assert f"✓ Google key file: none: anonymous access to {world.sb.sheets_url} (a local emulator)" in r.stdout
    path = as_person(world, tmp_path)
    client_id = json.loads(path.read_text())["client_id"]
    r = world.cli("check")
    assert r.returncode == 0, said(r)
    assert (
        f"✓ Google key file: a person's sign-in (authorized_user, client {client_id}, file {path}); {LASTS}" in r.stdout
    )
    assert "✓ spreadsheet" in r.stdout


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (
            lambda w: w.sb.google_client_secrets(),
            ["an OAuth client's secrets file", "amosheets auth google --client-secrets {path}"],
        ),
        (
            lambda w: {"type": "authorized_user", "client_id": "1.apps.googleusercontent.com", "refresh_token": "1//x"},
            ["without client_secret", SIGN_IN_AGAIN],
        ),
        (
            lambda w: {**w.sb.google_authorized_user(), "token_uri": "http://oauth.example.com/token"},
            ["token_uri is not https"],
        ),
        (lambda w: {"type": "external_account", "audience": "x"}, ["type 'external_account'", "amosheets auth google"]),
    ],
    ids=["client-secrets", "no-secret", "plain-http-token-uri", "external-account"],
)
def test_a_file_that_is_no_usable_sign_in_is_a_configuration_error(world: World, tmp_path, content, needles):
    path = tmp_path / "google.json"
    data = content(world)
    path.write_text(json.dumps(data))
    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    for args in (("sync",), ("check",)):
        r = world.cli(*args)
        assert r.returncode == ExitStatus.CONFIG, said(r)
        for needle in needles:
            assert needle.format(path=path) in said(r), (needle, said(r))
        secret = data.get("client_secret") or (data.get("installed") or {}).get("client_secret")
        if secret:
            assert secret not in said(r)


# -- amosheets auth google -------------------------------------------------------------------------
class SignIn:
    """`amosheets auth google …` running in a process of its own, its stdout read line by line."""

    def __init__(self, world: World, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amosheets", "auth", "google", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._stderr: list[str] = []
        # One reader per pipe, each its only reader: neither pipe fills up, and no line is read twice or lost.
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._stderr.append(self.proc.stderr.read())

    def url(self) -> str:
        """The address the command says to open (its first line on stdout)."""
        while True:
            line = self._lines.get(timeout=30)
            self.stdout.append(line)
            if not line:
                raise AssertionError(f"no address printed; stderr: {self.finish().stderr}")
            if line.startswith("http"):
                return line.strip()

    def finish(self) -> subprocess.CompletedProcess[str]:
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # waiting for a sign-in that never came: do not leave it running
            raise
        for t in self._readers:
            t.join(timeout=10)
        while not self._lines.empty():
            self.stdout.append(self._lines.get())
        return subprocess.CompletedProcess(
            self.proc.args, self.proc.returncode, "".join(self.stdout), "".join(self._stderr)
        )


def sign_in(world: World, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path, str]:
    """Run `auth google` and act as the person's browser: open the printed address, follow the redirect."""
    secrets_file = world.sb.write_client_secrets(tmp_path / "client_secret.json")
    out = tmp_path / "signed-in" / "google.json"
    run = SignIn(
        world, tmp_path, "--client-secrets", str(secrets_file), "--no-browser", "--port", "0", "--out", str(out), *extra
    )
    url = run.url()
    page = requests.get(url, timeout=30)  # Google's page → 302 → the command's loopback server
    r = run.finish()
    assert page.status_code == 200 and page.url.startswith("http://localhost:"), (page.status_code, page.url)
    return r, out, url


def test_auth_google_signs_in_writes_a_private_file_and_a_sync_then_works(world: World, tmp_path):
    r, out, url = sign_in(world, tmp_path)
    assert r.returncode == 0, said(r)
    assert url.startswith(world.sb.sheets_url + "/o/oauth2/auth?") and "code_challenge_method=S256" in url
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700  # the directory it made
    content = json.loads(out.read_text())
    assert content["type"] == "authorized_user" and content["refresh_token"] and "token" not in content
    assert content["token_uri"] == world.sb.sheets_url + "/token"
    assert f"GOOGLE_APPLICATION_CREDENTIALS={out}" in r.stdout.splitlines()
    assert [f for f in out.parent.iterdir()] == [out]  # no temporary file left behind
    assert content["client_secret"] not in said(r) and content["refresh_token"] not in said(r)

    world.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(out)
    world.set_rows([ROW])
    r = world.cli("sync")
    assert r.returncode == 0, said(r)
    assert len(world.by_lead()) == 1
    assert "a person's sign-in (authorized_user" in world.cli("check").stdout


def test_auth_google_replaces_an_earlier_sign_in_but_no_other_file(world: World, tmp_path):
    r, out, _ = sign_in(world, tmp_path)
    assert r.returncode == 0, said(r)
    first = json.loads(out.read_text())["refresh_token"]
    r, out, _ = sign_in(world, tmp_path)  # signing in again: the earlier file is replaced
    assert r.returncode == 0, said(r)
    assert json.loads(out.read_text())["refresh_token"] != first

    other = tmp_path / "notes.json"
    other.write_text('{"mine": true}')
    secrets_file = world.sb.write_client_secrets(tmp_path / "client_secret.json")
    run = SignIn(world, tmp_path, "--client-secrets", str(secrets_file), "--no-browser", "--out", str(other))
    r = run.finish()
    assert r.returncode == ExitStatus.CONFIG and "is not an earlier sign-in" in said(r) and "--force" in r.stderr
    assert other.read_text() == '{"mine": true}' and "http" not in r.stdout  # refused before any sign-in


def test_auth_google_says_when_the_person_cancels_and_writes_nothing(world: World, tmp_path):
    world.sb.sheets.sign_in_as(denies=True)
    r, out, _ = sign_in(world, tmp_path)
    assert r.returncode == ExitStatus.AUTH and "cancelled in the browser" in said(r)
    assert not out.exists()


def test_auth_google_says_when_the_sheets_box_was_left_unticked(world: World, tmp_path):
    world.sb.sheets.sign_in_as(grants=[])
    r, out, _ = sign_in(world, tmp_path)
    assert r.returncode == ExitStatus.AUTH and "leave that box ticked" in said(r)
    assert not out.exists()


def _client_secrets(world: World) -> dict:
    return world.sb.google_client_secrets()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (None, "no such file"),
        (lambda w: "not json {", "is not valid JSON"),
        (
            lambda w: {"type": "service_account", "client_email": "bot@x.iam.gserviceaccount.com"},
            "service account's key",
        ),
        (lambda w: w.sb.google_authorized_user(), "already a sign-in"),
        (lambda w: {"installed": {"client_id": "1.apps.googleusercontent.com"}}, "lacks client_secret, auth_uri"),
        (lambda w: {"other": 1}, 'has no "installed"'),
        (
            lambda w: {"installed": {**_client_secrets(w)["installed"], "token_uri": "http://oauth.example/token"}},
            "token_uri is not an https address",
        ),
    ],
    ids=["missing", "not-json", "service-account", "authorized-user", "incomplete", "no-section", "plain-http"],
)
def test_auth_google_refuses_a_file_that_is_no_oauth_client(world: World, tmp_path, make, needle):
    path = tmp_path / "client_secret.json"
    content = None
    if make is not None:
        content = make(world)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    run = SignIn(world, tmp_path, "--client-secrets", str(path), "--no-browser")
    r = run.finish()
    assert r.returncode == ExitStatus.CONFIG, said(r)
    assert needle in said(r) and f"--client-secrets {path}" in r.stderr
    assert not (tmp_path / "credentials").exists()
    if isinstance(content, dict):
        for secret in (content.get("client_secret"), content.get("refresh_token")):
            assert not secret or secret not in said(r)


# -- the file ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["plain.json", "with space.json", "it's.json", "back\\slash.json", "hash#.json", 'quote".json']
)
def test_the_env_line_reads_back_as_the_path(tmp_path, name):
    path = tmp_path / name
    env_file = tmp_path / "test.env"
    env_file.write_text(env_line(path) + "\n", encoding="utf-8")
    assert dotenv_values(env_file)["GOOGLE_APPLICATION_CREDENTIALS"] == str(path)


def test_the_sign_in_file_is_written_whole_and_private_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "google.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, '{"new": 1}')
    assert path.read_text() == '{"new": 1}' and stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        write_private(path, '{"newer": 2}')
    assert path.read_text() == '{"new": 1}' and list(tmp_path.iterdir()) == [path]


def test_auth_google_on_a_port_in_use_is_a_usage_error(world: World, tmp_path):
    secrets_file = world.sb.write_client_secrets(tmp_path / "client_secret.json")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = SignIn(world, tmp_path, "--client-secrets", str(secrets_file), "--no-browser", "--port", str(port))
        r = run.finish()
    assert r.returncode == ExitStatus.CONFIG, said(r)
    assert f"--port {port}" in r.stderr and "another --port" in r.stderr
    assert not (tmp_path / "credentials" / "google-authorized-user.json").exists()
