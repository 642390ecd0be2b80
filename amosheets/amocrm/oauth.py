"""OAuth 2.0 sign-in to amoCRM: tokens that renew themselves, judged by amoCRM's clock.

An access token lives 24 hours; it is renewed when less than an hour of it is left, or when a 401
says it is no good (then the request is sent once more). The refresh token lives 3 months unused and
is single-use, so every renewal is kept durably before its tokens are used (``token_file``), one
process renews at a time (the file's lock), and a process that finds the file renewed by another
takes those tokens instead of renewing again.

"Left" is counted on amoCRM's clock: the Date of its answers, or before the first answer of a run,
this machine's clock corrected by the difference seen when the tokens were issued. A clock here that
jumped costs at worst an early renewal or one 401 and a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from amosheets.amocrm.auth import OAuthIntegration
from amosheets.amocrm.errors import AmoAuthError, AmoError, OAuthRefused, UncertainWrite
from amosheets.amocrm.token_file import TokenFile, TokenPair
from amosheets.errors import AmosheetsError, ConfigError, LockedError
from amosheets.i18n import N_, _, plural
from amosheets.secret import Secret
from amosheets.state import ensure_state_dir

if TYPE_CHECKING:
    from amosheets.amocrm.client import AmoClient
    from amosheets.config import AccountConfig
    from amosheets.gspread_transport import RequestHook

ACCESS_AHEAD = 3600  # renew the access token when less than this is left of it
REFRESH_AHEAD = 30 * 86400  # and the refresh token when less than 30 days are left (any run does)
REFRESH_LIFETIME = 90 * 86400  # what amoCRM gives a refresh token: 3 months (its answer does not say)
LOCK_WAIT = 60.0  # seconds to wait for another process's renewal

AUTHORIZE_AGAIN = N_(
    "Authorize again: in amoCRM open Settings → Integrations → your integration → Keys and scopes, copy "
    "the authorization code (it lasts 20 minutes) and run at once: amosheets auth amocrm --code CODE"
)
AUTHORIZE_FIRST = N_(
    "In amoCRM open Settings → Integrations → your integration → Keys and scopes, copy "
    "the authorization code (it lasts 20 minutes) and run at once: amosheets auth amocrm --code CODE"
)


def renewal_due(pair: TokenPair, now: float) -> str | None:
    """Why the pair should be renewed at ``now`` (amoCRM's clock), or None while it is good."""
    if now >= pair.access_until - ACCESS_AHEAD:
        return _("the access token ends within the hour")
    if now >= pair.refresh_until - REFRESH_AHEAD:
        return _("the refresh token has less than 30 days left")
    return None


def span(seconds: float) -> str:
    """A duration in words, to the unit that matters: 89 days, 23 h 5 min, 12 min."""
    seconds = max(0, int(seconds))
    if seconds >= 2 * 86400:  # to the nearest day: a refresh token just issued has 90 days, not 89 and a bit
        return plural(round(seconds / 86400), "{n} day", "{n} days")
    if seconds >= 3600:
        hours, minutes = seconds // 3600, seconds % 3600 // 60
        if seconds % 3600 >= 60:
            return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
        return _("{hours} h").format(hours=hours)
    return plural(seconds // 60, "{n} minute", "{n} minutes")


def code_from(pasted: str) -> str:
    """The authorization code from what was pasted: the code, or the whole address amoCRM redirected to."""
    pasted = pasted.strip()
    if "code=" in pasted:
        codes = parse_qs(urlsplit(pasted).query).get("code") or parse_qs(pasted).get("code")
        if codes:
            return codes[0].strip()
    return pasted


class OAuthTokens:
    """The Authorization of an account signed in with OAuth: see the module's docstring."""

    def __init__(self, integration: OAuthIntegration, base_url: str) -> None:
        self.integration = integration
        self.base_url = base_url
        self.file = TokenFile(integration.tokens)
        self.renewed = 0  # renewals this process made
        self._pair: TokenPair | None = None
        self._lock = threading.RLock()

    # -- what the client asks ---------------------------------------------------------
    def access_token(self, client: AmoClient) -> str:
        with self._lock:
            pair = self.pair()
            if renewal_due(pair, self.now(client)):
                pair = self._renew(client, pair)
            return pair.access.reveal()

    def answered(self, client: AmoClient) -> None:
        # The first answer of a run is the first sight of amoCRM's clock: a run that sends nothing more
        # (an idle one) renews here, ahead of the expiry, rather than meeting a 401 in a later run.
        with self._lock:
            pair = self.pair()
            if renewal_due(pair, self.now(client)):
                self._renew(client, pair)

    def rejected(self, client: AmoClient, sent: str) -> bool:
        with self._lock:
            pair = self.pair()
            if pair.access.reveal() == sent:
                self._renew(client, pair)
            return True  # another token now, renewed here or by another thread

    def refused(self, host: str) -> AmoAuthError:
        return AmoAuthError(
            _(
                "amoCRM ({host}) refused the OAuth access token it had just issued (401): the integration may "
                "have been switched off or its access taken back."
            ).format(host=host),
            hint=_(AUTHORIZE_AGAIN),
        )

    def secrets(self) -> list[str]:
        held = [self._pair.access.reveal(), self._pair.refresh.reveal()] if self._pair else []
        return [*self.integration.secrets(), *held]

    def describe(self, client: AmoClient) -> str:
        pair, now = self.pair(), self.now(client)
        return _(
            "signed in with OAuth (integration {client_id}): the access token is good for "
            "{access}, the refresh token for {refresh}; every run "
            "renews them (the refresh token when less than 30 days are left)"
        ).format(
            client_id=self.integration.client_id,
            access=span(pair.access_until - now),
            refresh=span(pair.refresh_until - now),
        )

    # -- the tokens -------------------------------------------------------------------
    def pair(self) -> TokenPair:
        """The pair in use: the file's, read once (renewals replace it)."""
        if self._pair is None:
            # Without the lock, so without taking a next pair a crash left unrenamed: its writer may be about to
            # rename it. If this pair has been replaced, amoCRM's 401 leads to the renewal, which reads again.
            self._pair = self._checked(self.file.load(recover=False))
        return self._pair

    def now(self, client: AmoClient) -> float:
        """amoCRM's time now, as well as it is known."""
        told = client.amocrm_now()
        return told if told is not None else time.time() + self.pair().clock_offset

    def sign_in(self, client: AmoClient, code: str) -> None:
        """Exchange an authorization code for tokens and keep them (what `auth amocrm --code` does)."""
        body = {"grant_type": "authorization_code", "code": code_from(code)}
        with self._locked():
            try:
                answer = client.oauth_grant({**self._keys(), **body})
            except OAuthRefused as e:
                raise self._code_refused(e) from None
            except UncertainWrite:
                raise AmoError(
                    _("amoCRM ({host}) did not answer the code exchange.").format(host=client.host),
                    hint=_("Codes are single-use: get a new one and run `amosheets auth amocrm --code CODE` again."),
                ) from None
            pair = self._pair_from(answer, client)
            self.file.save(pair)
            self.file.end_refresh()
        with self._lock:
            self._pair = pair

    def _renew(self, client: AmoClient, seen: TokenPair) -> TokenPair:
        with self._locked():
            kept = self._checked(self.file.load())
            if kept.refresh != seen.refresh:  # another process renewed them meanwhile: use those
                self._pair = kept
                return kept
            earlier = self.file.refresh_note(seen.refresh)  # a refresh with this token already sent, if any
            self.file.begin_refresh(seen.refresh, datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z"))
            body = {"grant_type": "refresh_token", "refresh_token": seen.refresh.reveal()}
            try:
                answer = client.oauth_grant({**self._keys(), **body})
            except OAuthRefused as e:
                raise self._refresh_refused(e, earlier) from None
            except UncertainWrite:
                raise AmoError(
                    _("amoCRM ({host}) did not answer the renewal of the OAuth tokens.").format(host=client.host),
                    hint=_(
                        "The next run tries again. If amoCRM had renewed them, the new tokens are lost with its "
                        "answer and that run will ask you to authorize again."
                    ),
                ) from None
            pair = self._pair_from(answer, client)
            self.file.save(pair)
            self.file.end_refresh()
            self._pair = pair
            self.renewed += 1
            return pair

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the account's token lock: one renewal at a time across pairs and overlapping runs."""
        from filelock import Timeout

        ensure_state_dir(self.file.path.parent)
        try:
            self.file.lock.acquire(timeout=LOCK_WAIT)
        except Timeout:
            raise LockedError(
                _(
                    "Another amosheets process has been renewing the amoCRM tokens for {seconds:.0f} s (lock {lock})."
                ).format(seconds=LOCK_WAIT, lock=self.file.lock.lock_file),
                hint=_("If no other amosheets is running, delete that lock file."),
            ) from None
        try:
            yield
        finally:
            self.file.lock.release()

    def _keys(self) -> dict[str, str]:
        i = self.integration
        return {"client_id": i.client_id, "client_secret": i.client_secret.reveal(), "redirect_uri": i.redirect_uri}

    def _pair_from(self, answer: Any, client: AmoClient) -> TokenPair:
        try:
            access, refresh = str(answer["access_token"]), str(answer["refresh_token"])
            lasts = int(answer["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise AmoError(
                _("amoCRM ({host}) answered the token request without the tokens.").format(host=client.host),
                hint=_(AUTHORIZE_AGAIN),
            ) from None
        here = time.time()
        told = client.amocrm_now()
        now = int(told if told is not None else here)
        return TokenPair(
            self.base_url,
            self.integration.client_id,
            Secret(access),
            Secret(refresh),
            now + lasts,
            now + REFRESH_LIFETIME,
            now,
            now - here,
        )

    def _checked(self, pair: TokenPair | None) -> TokenPair:
        if pair is None:
            raise ConfigError(
                _(
                    "amoCRM is set up for OAuth (AMOCRM_CLIENT_ID), but it has not been authorized yet: there are no "
                    "tokens in {path}."
                ).format(path=self.file.path),
                hint=_(AUTHORIZE_FIRST),
            )
        if pair.base_url != self.base_url or pair.client_id != self.integration.client_id:
            raise ConfigError(
                _(
                    "The amoCRM tokens in {path} were issued to integration {client_id} for "
                    "{base_url}, not to AMOCRM_CLIENT_ID {our_client_id} for {our_base_url}."
                ).format(
                    path=self.file.path,
                    client_id=pair.client_id,
                    base_url=pair.base_url,
                    our_client_id=self.integration.client_id,
                    our_base_url=self.base_url,
                ),
                hint=_(AUTHORIZE_AGAIN),
            )
        return pair

    def _refresh_refused(self, e: OAuthRefused, started: str | None) -> AmosheetsError:
        """Why a refresh was refused; ``started``: when an earlier refresh with the same token was sent."""
        if "revoked" in e.reason.lower():
            if started is not None:
                why = _(
                    "The renewal of the amoCRM tokens sent at {started} never got its answer kept (the run was "
                    "stopped or the connection broke while amoCRM answered), and amoCRM has used up the old "
                    "refresh token: no request can get the new ones back."
                ).format(started=started)
            else:
                why = _(
                    "amoCRM says the refresh token was already used (401 “Token has been revoked”): another copy of "
                    "these tokens renewed them (another machine or state directory with the same integration?), or "
                    "the integration was authorized again elsewhere."
                )
            return AmoAuthError(why, hint=_(AUTHORIZE_AGAIN))
        if "expired" in e.reason.lower():
            return AmoAuthError(
                _("amoCRM's refresh token has expired: no run renewed it for 3 months."), hint=_(AUTHORIZE_AGAIN)
            )
        return self._keys_refused(e) or AmoAuthError(
            _("amoCRM refused to renew the OAuth tokens ({status}: {reason}).").format(
                status=e.status, reason=e.reason
            ),
            hint=_(AUTHORIZE_AGAIN),
        )

    def _code_refused(self, e: OAuthRefused) -> AmosheetsError:
        hint = e.reason.lower()
        again = _(
            "Copy a new authorization code (Settings → Integrations → your integration → Keys and scopes) and run "
            "this again."
        )
        if "expired" in hint:
            return ConfigError(
                _("That authorization code has expired: codes last 20 minutes."),
                hint=_(
                    "Copy a new authorization code (Settings → Integrations → your integration → Keys and scopes) "
                    "and run this again at once."
                ),
            )
        if "revoked" in hint:
            return ConfigError(_("That authorization code was already used: each works once."), hint=again)
        if "decrypt" in hint:
            return ConfigError(
                _("amoCRM does not know that authorization code (is it cut short, or from another account?)."),
                hint=again,
            )
        return self._keys_refused(e) or ConfigError(
            _("amoCRM refused the code ({status}: {reason}).").format(status=e.status, reason=e.reason)
        )

    def _keys_refused(self, e: OAuthRefused) -> AmosheetsError | None:
        if "client authentication" not in e.reason.lower():
            return None
        return ConfigError(
            _(
                "amoCRM refused the integration's keys: AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and "
                "AMOCRM_REDIRECT_URI must be the integration's own."
            ),
            hint=_(
                "Copy them from amoCRM: Settings → Integrations → your integration → Keys and scopes (the redirect "
                "address exactly as entered there)."
            ),
        )


@dataclass(frozen=True)
class Authorized:
    """What `auth amocrm` got: the account it signed in to and the tokens' lifetimes (amoCRM's clock)."""

    account_name: str
    host: str
    tokens: TokenPair
    path: Path


def authorize(account: AccountConfig, code: str, on_request: RequestHook | None = None) -> Authorized:
    """Exchange an authorization code for ``account``'s tokens, keep them, and read the account with them."""
    from amosheets.amocrm.connect import amo_client

    amo = amo_client(account, attempts=3, on_request=on_request)
    try:
        assert isinstance(amo.auth, OAuthTokens)
        amo.auth.sign_in(amo, code)
        name = str((amo.account() or {}).get("name") or "?")
        return Authorized(name, amo.host, amo.auth.pair(), amo.auth.file.path)
    finally:
        amo.close()
