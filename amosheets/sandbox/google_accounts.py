"""Who is calling the Sheets emulator: Google's OAuth 2.0 endpoints, for service accounts and for people.

:class:`amosheets.sandbox.sheets.SheetsEmulator` serves these next to the Sheets API, so that a key
file's or an ``authorized_user`` file's ``token_uri`` (and a client secrets file's ``auth_uri``) can
point at the emulator, and real google-auth / google-auth-oauthlib talk to it as they talk to Google.

* ``POST /token`` (form-encoded, as Google's ``https://oauth2.googleapis.com/token``):

  - ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, ``assertion``: a service account's
    signed JWT (the signature is not checked; ``iss`` names the account). A revoked account
    (``revoke_account``) → 400 ``invalid_grant``.
  - ``grant_type=refresh_token``, ``refresh_token``, ``scope``?: a person's refresh token, reusable until
    revoked (``revoke_person``) → 400 ``{"error": "invalid_grant", "error_description": "Token has been
    expired or revoked."}``; a ``scope`` beyond what the person granted → 400 ``invalid_scope``.
  - ``grant_type=authorization_code``, ``code``, ``redirect_uri``, ``code_verifier``: a code from the
    authorization endpoint, single-use, valid ``CODE_SECONDS``; ``redirect_uri`` must be the one the code
    was made for (else 400 ``redirect_uri_mismatch``); when the code was asked for with a PKCE
    ``code_challenge``, ``code_verifier`` must match it (S256: ``BASE64URL(SHA256(verifier))``, or plain),
    else 400 ``invalid_grant``. Answers an access token and a refresh token.

  The last two authenticate the OAuth client by HTTP Basic (what requests-oauthlib sends) or by
  ``client_id`` / ``client_secret`` in the form (what google-auth sends): an unknown client → 401
  ``invalid_client`` "The OAuth client was not found."; a wrong secret → 401 ``invalid_client``
  "Unauthorized". Access tokens of every kind expire after ``ACCESS_TOKEN_SECONDS`` on the emulator's
  clock: the API then answers 401 UNAUTHENTICATED, and google-auth refreshes and retries.
* ``GET /o/oauth2/auth`` (a client secrets file's ``auth_uri``): ``client_id`` (a registered client, else
  a 401 page), ``redirect_uri`` (loopback only: ``http://localhost:PORT/…``, ``http://127.0.0.1:PORT/…``
  or ``http://[::1]:PORT/…``, any port and path, as Google allows a Desktop app; else a 400
  ``redirect_uri_mismatch`` page), ``response_type=code``,
  ``scope`` (known Google scopes only, else a 400 ``invalid_scope`` page), ``state``?,
  ``code_challenge``? with ``code_challenge_method`` S256 or plain. The person signing in (``sign_in_as``;
  by default ``DEFAULT_PERSON``) approves at once: 302 to ``redirect_uri?state=…&code=…&scope=…``, with the
  scopes they left ticked; or, if they press Cancel, 302 to ``redirect_uri?error=access_denied&state=…``.

A person's access token can use the Sheets API when the person granted a scope that allows it
(spreadsheets or drive; the read-only ones for reads), else 403 "Request had insufficient authentication
scopes.". A service account's JWT scope is not checked.

*Unverified wording:* the ``error_description`` texts other than the two quoted above and "The OAuth
client was not found.", and the HTML error pages, are this emulator's; the error codes are Google's.
How long Google keeps an authorization code is not published: ``CODE_SECONDS`` is this emulator's choice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from .server import ApiError, Clock, Response

TOKEN_PATH = "/token"  # point a key file's or an authorized_user file's token_uri here: {sandbox}/token
AUTH_PATH = "/o/oauth2/auth"  # a client secrets file's auth_uri: {sandbox}/o/oauth2/auth
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_SECONDS = 3599
CODE_SECONDS = 600
DEFAULT_PERSON = "anna@example.com"

_AUTH = "https://www.googleapis.com/auth/"
SHEETS_SCOPE = _AUTH + "spreadsheets"
# The scopes that let a token call the Sheets API (Google's list for the spreadsheets.* methods; drive.file
# reaches only the files the app made or opened, which these spreadsheets are not).
WRITE_SCOPES = frozenset({SHEETS_SCOPE, _AUTH + "drive"})
READ_SCOPES = WRITE_SCOPES | {_AUTH + "spreadsheets.readonly", _AUTH + "drive.readonly"}
KNOWN_SCOPES = READ_SCOPES | {
    _AUTH + "drive.file",
    _AUTH + "cloud-platform",
    _AUTH + "userinfo.email",
    _AUTH + "userinfo.profile",
    "openid",
    "email",
    "profile",
}
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1 (a verifier, and an S256 or plain challenge)
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class _AccessToken:
    email: str
    expires_at: float  # on the emulator's clock
    scopes: frozenset[str] | None  # a person's grant; None: a service account's (not checked)


@dataclass(frozen=True)
class _Grant:
    """A person's refresh token: who, through which OAuth client, for what."""

    email: str
    client_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    email: str
    scopes: frozenset[str]
    challenge: str | None
    method: str
    expires_at: float


class OAuthRefusal(Exception):
    """A token request refused: the status and the body Google answers with."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.response = Response.json(status, {"error": error, "error_description": description})


class GoogleAccounts:
    """OAuth clients, people's sign-ins and every access token issued; thread-safe through ``lock``."""

    def __init__(self, clock: Clock, lock: threading.RLock) -> None:
        self.clock = clock
        self.lock = lock
        self._tokens: dict[str, _AccessToken] = {}
        self._revoked_accounts: set[str] = set()  # service accounts whose key was deleted
        self._clients: dict[str, str] = {}  # OAuth client id → secret
        self._grants: dict[str, _Grant] = {}  # refresh token → grant
        self._codes: dict[str, _Code] = {}
        self._issued = 0
        self.person = DEFAULT_PERSON  # who signs in at the authorization endpoint
        self.person_grants: frozenset[str] | None = None  # the scopes they leave ticked; None: all asked
        self.person_denies = False  # they press Cancel

    # -- set-up ---------------------------------------------------------------------------
    def register_client(self, client_id: str | None = None, client_secret: str | None = None) -> dict[str, str]:
        """An OAuth client ("Desktop app"). Without ``client_id``, the next of a deterministic series; without
        ``client_secret``, one derived from the id (an existing client keeps its own). A secret given for an
        existing client replaces its secret, as "Reset secret" does in the console."""
        with self.lock:
            if client_id is None:
                client_id = f"{100000000000 + len(self._clients) + 1}-sandbox.apps.googleusercontent.com"
            if client_secret is None:
                digest = hashlib.sha256(client_id.encode()).hexdigest()[:24]
                client_secret = self._clients.get(client_id, f"GOCSPX-sandbox-{digest}")
            self._clients[client_id] = client_secret
            return {"client_id": client_id, "client_secret": client_secret}

    def client(self, client_id: str | None = None) -> dict[str, str]:
        """A registered client: ``client_id``'s, or the first one (registered now if there is none)."""
        with self.lock:
            if client_id is None:
                if not self._clients:
                    return self.register_client()
                client_id = next(iter(self._clients))
            if client_id not in self._clients:
                raise KeyError(f"no OAuth client {client_id}")
            return {"client_id": client_id, "client_secret": self._clients[client_id]}

    def sign_in_as(
        self, email: str = DEFAULT_PERSON, grants: list[str] | None = None, denies: bool = False
    ) -> dict[str, Any]:
        """Who signs in at the authorization endpoint, which of the asked scopes they leave ticked (None: all),
        and whether they press Cancel instead."""
        with self.lock:
            self.person = email
            self.person_grants = None if grants is None else frozenset(grants)
            self.person_denies = bool(denies)
            return {"email": email, "grants": grants, "denies": self.person_denies}

    def grant(self, email: str | None = None, client_id: str | None = None, scopes: list[str] | None = None) -> str:
        """A refresh token of a person who has already signed in (``email``, default: ``person``)."""
        with self.lock:
            client = self.client(client_id)
            token = self._new("1//sandbox-refresh")
            self._grants[token] = _Grant(email or self.person, client["client_id"], frozenset(scopes or [SHEETS_SCOPE]))
            return token

    def revoke_person(self, email: str) -> int:
        """The person removes the app's access (or Google ends the sign-in): every refresh token of theirs and
        every access token made from one stop working. How many refresh tokens that ended."""
        with self.lock:
            ended = [t for t, g in self._grants.items() if g.email == email]
            for t in ended:
                del self._grants[t]
            for t in [t for t, a in self._tokens.items() if a.scopes is not None and a.email == email]:
                del self._tokens[t]
            return len(ended)

    def revoke_account(self, email: str) -> None:
        """A service account's key is deleted: the token endpoint refuses it."""
        with self.lock:
            self._revoked_accounts.add(email)

    def access_tokens(self, email: str | None = None) -> list[str]:
        """The access tokens issued and still known (to ``email``, or to anyone)."""
        with self.lock:
            return [t for t, a in self._tokens.items() if email is None or a.email == email]

    def refresh_tokens(self, email: str | None = None) -> list[str]:
        with self.lock:
            return [t for t, g in self._grants.items() if email is None or g.email == email]

    # -- who is calling the API ---------------------------------------------------------------
    def caller(self, authorization: str, write: bool) -> str | None:
        """The e-mail behind a request's bearer token; None without one (anonymous). An unknown, revoked or
        expired token is a 401, a person's token without a Sheets scope a 403 (ApiError, in the API's shape)."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        with self.lock:
            found = self._tokens.get(token)
        if found is None or found.expires_at <= self.clock.time():
            raise _api_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if found.scopes is not None and not found.scopes & (WRITE_SCOPES if write else READ_SCOPES):
            raise _api_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        return found.email

    # -- POST /token ----------------------------------------------------------------------
    def token(self, headers: dict[str, str], body: bytes) -> Response:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            grant_type = form.get("grant_type")
            if grant_type == JWT_BEARER:
                return self._jwt_grant(form)
            if grant_type == "refresh_token":
                return self._refresh_grant(self._client_of(headers, form), form)
            if grant_type == "authorization_code":
                return self._code_grant(self._client_of(headers, form), form)
            raise OAuthRefusal(400, "unsupported_grant_type", "Invalid grant_type: " + (grant_type or ""))
        except OAuthRefusal as e:
            return e.response

    def _jwt_grant(self, form: dict[str, str]) -> Response:
        if "assertion" not in form:
            raise OAuthRefusal(400, "invalid_request", "Missing required parameter: assertion")
        try:
            payload = form["assertion"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            email = str(claims["iss"])
        except (IndexError, KeyError, TypeError, ValueError):
            raise OAuthRefusal(400, "invalid_grant", "Invalid JWT.") from None
        with self.lock:
            if email in self._revoked_accounts:
                raise OAuthRefusal(400, "invalid_grant", "Invalid JWT Signature.")
            token = self._access_token(email, None)
        return Response.json(200, {"access_token": token, "expires_in": ACCESS_TOKEN_SECONDS, "token_type": "Bearer"})

    def _client_of(self, headers: dict[str, str], form: dict[str, str]) -> str:
        """The authenticated OAuth client's id (HTTP Basic, else client_id and client_secret in the form)."""
        basic = headers.get("authorization", "")
        if basic[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(basic[6:].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise OAuthRefusal(401, "invalid_client", "Unauthorized") from None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id:
            raise OAuthRefusal(400, "invalid_request", "Could not determine client ID from request.")
        with self.lock:
            known = self._clients.get(client_id)
        if known is None:
            raise OAuthRefusal(401, "invalid_client", "The OAuth client was not found.")
        if not hmac.compare_digest(known.encode(), secret.encode()):
            raise OAuthRefusal(401, "invalid_client", "Unauthorized")
        return client_id

    def _refresh_grant(self, client_id: str, form: dict[str, str]) -> Response:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise OAuthRefusal(400, "invalid_request", "Missing required parameter: refresh_token")
        with self.lock:
            grant = self._grants.get(refresh_token)
            if grant is None:
                raise OAuthRefusal(400, "invalid_grant", "Token has been expired or revoked.")
            if grant.client_id != client_id:
                raise OAuthRefusal(400, "unauthorized_client", "Unauthorized")
            asked = frozenset(form["scope"].split()) if form.get("scope") else grant.scopes
            if not asked <= grant.scopes:
                raise OAuthRefusal(400, "invalid_scope", "Bad Request")
            token = self._access_token(grant.email, asked)
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "scope": " ".join(sorted(asked)),
                "token_type": "Bearer",
            },
        )

    def _code_grant(self, client_id: str, form: dict[str, str]) -> Response:
        code = form.get("code")
        if not code:
            raise OAuthRefusal(400, "invalid_request", "Missing required parameter: code")
        with self.lock:
            made = self._codes.pop(code, None)  # single-use, whatever this attempt's outcome
            if made is None or made.client_id != client_id:
                raise OAuthRefusal(400, "invalid_grant", "Malformed auth code.")
            if made.expires_at <= self.clock.time():
                raise OAuthRefusal(400, "invalid_grant", "Bad Request")
            if form.get("redirect_uri") != made.redirect_uri:
                raise OAuthRefusal(400, "redirect_uri_mismatch", "Bad Request")
            if made.challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise OAuthRefusal(400, "invalid_grant", "Missing code verifier.")
                if not _VERIFIER.match(verifier) or not hmac.compare_digest(
                    _challenge(verifier, made.method), made.challenge
                ):
                    raise OAuthRefusal(400, "invalid_grant", "Invalid code verifier.")
            refresh_token = self._new("1//sandbox-refresh")
            self._grants[refresh_token] = _Grant(made.email, client_id, made.scopes)
            token = self._access_token(made.email, made.scopes)
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "refresh_token": refresh_token,
                "scope": " ".join(sorted(made.scopes)),
                "token_type": "Bearer",
            },
        )

    def _access_token(self, email: str, scopes: frozenset[str] | None) -> str:
        token = self._new("ya29.sandbox")
        self._tokens[token] = _AccessToken(email, self.clock.time() + ACCESS_TOKEN_SECONDS, scopes)
        return token

    def _new(self, prefix: str) -> str:
        self._issued += 1
        return f"{prefix}-{self._issued}-{secrets.token_urlsafe(18)}"

    # -- GET /o/oauth2/auth ---------------------------------------------------------------
    def authorize(self, query: dict[str, list[str]]) -> Response:
        q = {k: v[-1] for k, v in query.items()}
        client_id = q.get("client_id")
        if not client_id:
            return _page(400, "invalid_request", "Missing required parameter: client_id")
        with self.lock:
            known = client_id in self._clients
        if not known:
            return _page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            return _page(400, "invalid_request", "Missing required parameter: redirect_uri")
        if not _loopback(redirect_uri):
            return _page(
                400,
                "redirect_uri_mismatch",
                "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
                f"Request details: redirect_uri={redirect_uri}",
            )
        if q.get("response_type") != "code":
            return _page(400, "unsupported_response_type", f"Invalid response_type: {q.get('response_type', '')}")
        asked = frozenset(q.get("scope", "").split())
        if not asked:
            return _page(400, "invalid_request", "Missing required parameter: scope")
        unknown = sorted(asked - KNOWN_SCOPES)
        if unknown:
            valid = sorted(asked & KNOWN_SCOPES)
            return _page(
                400,
                "invalid_scope",
                f"Some requested scopes were invalid. {{valid=[{', '.join(valid)}], invalid=[{', '.join(unknown)}]}}",
            )
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method", "plain")
        if challenge is not None and (method not in ("S256", "plain") or not _VERIFIER.match(challenge)):
            return _page(400, "invalid_request", "Invalid code_challenge_method or code_challenge.")
        back: dict[str, str] = {}
        if "state" in q:
            back["state"] = q["state"]
        with self.lock:
            if self.person_denies:
                back["error"] = "access_denied"
            else:
                granted = asked if self.person_grants is None else asked & (self.person_grants | _IDENTITY)
                code = self._new("4/0sandbox-code")
                self._codes[code] = _Code(
                    client_id,
                    redirect_uri,
                    self.person,
                    granted,
                    challenge,
                    method,
                    self.clock.time() + CODE_SECONDS,
                )
                back["code"] = code
                back["scope"] = " ".join(sorted(granted))
        sep = "&" if urlsplit(redirect_uri).query else "?"
        return Response(302, b"", {"Location": redirect_uri + sep + urlencode(back)})


_IDENTITY = frozenset({"openid", "email", "profile", _AUTH + "userinfo.email", _AUTH + "userinfo.profile"})


def _api_error(code: int, status: str, message: str) -> ApiError:
    return ApiError(Response.json(code, {"error": {"code": code, "message": message, "status": status}}))


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode("ascii").rstrip("=")


def _loopback(uri: str) -> bool:
    """An installed app's redirect: plain http to a loopback address, any port, any path, no fragment."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS and not parts.fragment


def _page(status: int, error: str, detail: str) -> Response:
    """An error page, as Google's sign-in shows one in the browser."""
    return Response.html(
        status,
        "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error " + f"{status}: {error}</title>\n"
        f"<h1>Access blocked: authorization error</h1>\n<p>{html.escape(detail)}</p>\n"
        f"<p><b>Error {status}: {html.escape(error)}</b></p>\n",
    )
