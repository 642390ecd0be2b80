"""The Google Sheet, through gspread's HTTP client: read the tab once, write in one batch.

gspread's convenience methods cost a request each (``worksheet()`` re-reads the metadata,
``update_cell`` is one request per cell and USER_ENTERED), so this adapter uses its
low-level calls: one metadata GET, one values GET of the whole tab, one
``values:batchUpdate`` for every cell a run writes, new rows included (at explicit positions
below the last used row, so a retry can never add a row twice).

The write is USER_ENTERED, so that a date goes in as a real date (``DateText``), and every other
text goes in behind an apostrophe: Sheets then keeps it as text, never evaluating it (a name
such as ``=IMPORTXML(…)`` or ``+7 999 …`` stays text) and never turning it into a number or date.
Except in a column formatted as plain text (``init --format`` does that to Телефон): there Sheets
stores exactly what is typed, an apostrophe included, so text goes in as it is. Which columns those
are comes with the metadata read (the format of row 2), at no extra request.

``layout`` and ``apply`` are what ``init --format`` uses: the metadata ``open`` read (it brings the
tab's protected ranges too), then one ``spreadsheets:batchUpdate`` (built by ``amosheets.sheet_format``).

Google is reached as whoever GOOGLE_APPLICATION_CREDENTIALS names: a service account (its JSON key), or a
person (an ``authorized_user`` file: what ``amosheets auth google`` or ``gcloud auth application-default
login`` writes, a refresh token of theirs); without it, anonymously (a local emulator only). Every message
says which, and what to do; none holds a secret of the file (key, client secret, refresh or access token).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import google.auth.exceptions
import gspread
import requests
from google.auth.credentials import AnonymousCredentials, Credentials
from gspread.urls import SPREADSHEET_VALUES_BATCH_UPDATE_URL
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from amosheets.config import TabConfig
from amosheets.deadline import NO_DEADLINE, Deadline
from amosheets.errors import AuthError, ConfigError, ServiceError
from amosheets.gspread_transport import RequestHook, client_for
from amosheets.i18n import N_, _
from amosheets.secret import redact
from amosheets.sheet_format import Layout, Protection
from amosheets.sync.fields import BUILT_IN_FIELDS, Cell, FieldSet, column_letter
from amosheets.sync.kinds import DateText
from amosheets.sync.tab import SheetData, sheet_data

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
MAX_PAYLOAD = 1_500_000  # bytes per values:batchUpdate; Google advises keeping under ~2 MB
# open() asks for the tab's protected ranges (init --format updates the one amosheets made) and rows
# 1–2 with the metadata: row 2's number formats say which columns are plain text. With a field mask
# the API sends grid data only for what the mask names.
_OPEN_FIELDS = (
    "properties.title,sheets(properties,protectedRanges(protectedRangeId,description),"
    "data.rowData.values.userEnteredFormat.numberFormat.type)"
)
_RETRY_CODES = {429, 500, 502, 503, 504}

T = TypeVar("T")

SERVICE_ACCOUNT = "service_account"  # the "type" of a service account's JSON key
PERSON = "authorized_user"  # the "type" of a person's sign-in (gcloud's application-default credentials)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
SIGN_IN = "amosheets auth google --client-secrets FILE"
# Shown through sign_in_again() ({command}: SIGN_IN).
SIGN_IN_AGAIN = N_(
    "Sign in again: {command} (FILE: your OAuth client's JSON, from Google Cloud console → APIs & Services → "
    "Credentials), then point GOOGLE_APPLICATION_CREDENTIALS at the file it writes."
)
_TESTING = N_(
    "If the Google Cloud app's publishing status is Testing, a sign-in lasts 7 days: on the OAuth consent "
    "screen, set it to In production to make sign-ins last."
)
_OAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "access_denied"}
)


def sign_in_again() -> str:
    """What to do when a person's sign-in no longer works, in the language in use."""
    return _(SIGN_IN_AGAIN).format(command=SIGN_IN)


def load_credentials(tab: TabConfig) -> Credentials:
    """A service account's credentials or a person's sign-in, from GOOGLE_APPLICATION_CREDENTIALS; anonymous
    ones for a local emulator."""
    path = tab.credentials
    if path is None:
        return AnonymousCredentials()
    info = read_key_file(path)
    if info.get("type") == PERSON:
        return _person(info, path)
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as e:
        raise ConfigError(
            _("GOOGLE_APPLICATION_CREDENTIALS ({path}) is not a usable service-account key: {error}.").format(
                path=path, error=_no_secret(e)
            ),
            hint=_("Download a new JSON key: Google Cloud console → IAM → Service accounts → Keys → Add key → JSON."),
        ) from None


def _person(info: dict[str, Any], path: Path) -> Credentials:
    from google.oauth2.credentials import Credentials as PersonCredentials

    try:
        creds = PersonCredentials.from_authorized_user_info(info, scopes=SCOPES)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            _("GOOGLE_APPLICATION_CREDENTIALS ({path}) is not a usable sign-in (authorized_user): {error}.").format(
                path=path, error=_no_secret(e)
            ),
            hint=sign_in_again(),
        ) from None
    # google-auth takes Google's token endpoint for this type whatever the file says; a file that names another
    # (the sandbox's, or a private endpoint, checked by read_key_file) gets it through google-auth's own override.
    token_uri = info.get("token_uri")
    if token_uri and token_uri != creds.token_uri:
        creds = creds.with_token_uri(token_uri)
    return creds


def read_key_file(path: Path) -> dict[str, Any]:
    """The file's JSON: a service account's key (with a client_email) or a person's sign-in (``authorized_user``,
    with client_id, client_secret and refresh_token). Never echoes its content."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            _("GOOGLE_APPLICATION_CREDENTIALS ({path}) cannot be read: {reason}.").format(path=path, reason=e.strerror)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            _("GOOGLE_APPLICATION_CREDENTIALS ({path}) is not a text (JSON) file.").format(path=path)
        ) from None
    try:
        info = json.loads(raw)
    except ValueError:
        raise ConfigError(
            _("GOOGLE_APPLICATION_CREDENTIALS ({path}) is not valid JSON.").format(path=path),
            hint=_(
                "It must be the JSON key file downloaded for the service account, or the file "
                "`amosheets auth google` wrote, unchanged."
            ),
        ) from None
    if not isinstance(info, dict):
        raise ConfigError(
            _(
                "GOOGLE_APPLICATION_CREDENTIALS ({path}) is not a JSON object: it is neither a service-account key "
                "nor a person's sign-in."
            ).format(path=path),
            hint=_("Download a JSON key of a service account, or sign in as a person: {command}.").format(
                command=SIGN_IN
            ),
        )
    if "installed" in info or "web" in info:
        raise ConfigError(
            _(
                "GOOGLE_APPLICATION_CREDENTIALS ({path}) is an OAuth client's secrets file: it names the app that "
                "asks for access, not the person who allowed it."
            ).format(path=path),
            hint=_(
                "Sign in with it once: amosheets auth google --client-secrets {path}; then point "
                "GOOGLE_APPLICATION_CREDENTIALS at the file that command writes."
            ).format(path=path),
        )
    kind = info.get("type")
    if kind == PERSON:
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not _text(info.get(k))]
        if missing:
            raise ConfigError(
                _(
                    "GOOGLE_APPLICATION_CREDENTIALS ({path}) is a person's sign-in (authorized_user) without {fields}."
                ).format(path=path, fields=", ".join(missing)),
                hint=sign_in_again(),
            )
        problem = token_uri_problem(info.get("token_uri"), path)
        if problem:
            raise ConfigError(
                problem,
                # i18n: two sentences; the second is "Sign in again: …".
                hint=_("Remove token_uri from the file (Google's, {uri}, is then used).").format(uri=GOOGLE_TOKEN_URI)
                + " "
                + sign_in_again(),
            )
        return info
    if kind in (None, SERVICE_ACCOUNT) and _text(info.get("client_email")):
        return info
    if kind not in (None, SERVICE_ACCOUNT):
        if isinstance(kind, str) and len(kind) <= 40:
            message = _(
                "GOOGLE_APPLICATION_CREDENTIALS ({path}) holds credentials of type {kind}, which amosheets does not "
                "take."
            ).format(path=path, kind=repr(kind))
        else:
            message = _(
                "GOOGLE_APPLICATION_CREDENTIALS ({path}) holds credentials of type another kind, which amosheets "
                "does not take."
            ).format(path=path)
        raise ConfigError(
            message,
            hint=_("Use a service account's JSON key, or sign in as a person: {command}.").format(command=SIGN_IN),
        )
    raise ConfigError(
        _("GOOGLE_APPLICATION_CREDENTIALS ({path}) has no client_email: it is not a service-account key.").format(
            path=path
        ),
        hint=_(
            "Download a JSON key of a service account (not an OAuth client secret), or sign in as a person: {command}."
        ).format(command=SIGN_IN),
    )


def describe_key(info: dict[str, Any], path: Path) -> str:
    """Which way a checked key file (``read_key_file``) authorizes, in words, and how long that lasts."""
    if info.get("type") == PERSON:
        # How long a person's sign-in lasts: Google gives no fixed end, except to apps still being tested.
        return _(
            "a person's sign-in (authorized_user, client {client}, file {path}); it lasts until revoked "
            "(7 days if the Google Cloud app's publishing status is Testing)"
        ).format(client=info["client_id"], path=path)
    return _("service account {email} (key file {path})").format(email=info["client_email"], path=path)


def token_uri_problem(uri: object, path: object) -> str | None:
    """What is wrong with the token endpoint's address of the sign-in in ``path``, or None: it must be https, or
    http on this machine (a local emulator). A refresh token and a client secret are sent there."""
    # Each problem is its whole sentence: a language words "whose token_uri is not …" its own way.
    if uri is None:
        return None
    if not isinstance(uri, str) or not uri:
        return _(
            "GOOGLE_APPLICATION_CREDENTIALS ({path}) is a person's sign-in whose token_uri is not an address."
        ).format(path=path)
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and is_loopback(uri):
        return None
    return _(
        "GOOGLE_APPLICATION_CREDENTIALS ({path}) is a person's sign-in whose token_uri is not https: the refresh "
        "token and client secret would cross the network unencrypted."
    ).format(path=path)


def is_loopback(url: str) -> bool:
    """True for http(s) on this machine (127.0.0.1, localhost, ::1)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host in ("localhost", "::1") or (host or "").startswith("127.")


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _no_secret(e: Exception) -> str:
    return type(e).__name__


def _oauth_error(e: google.auth.exceptions.RefreshError) -> str:
    """The OAuth error code of a refused refresh (``invalid_grant``, …), or "refused": never its text, which
    is the token endpoint's and could say anything."""
    data = e.args[1] if len(e.args) > 1 else None
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code in _OAUTH_ERRORS else "refused"


@dataclass(frozen=True)
class Tab:
    spreadsheet_title: str
    title: str
    sheet_id: int
    rows: int
    cols: int
    text_columns: frozenset[int] = frozenset()  # 0-based columns whose row 2 is formatted as plain text
    protections: tuple[Protection, ...] = ()  # the tab's protected ranges


class Sheet:
    def __init__(
        self,
        tab: TabConfig,
        *,
        secrets: Sequence[str] = (),
        attempts: int = 6,
        backoff: float = 2.0,
        max_backoff: float = 65.0,
        credentials: Credentials | None = None,
        deadline: Deadline = NO_DEADLINE,
        on_request: RequestHook | None = None,
    ) -> None:
        """``secrets``: the other side's too (the amoCRM token), kept out of the errors this raises."""
        self.spreadsheet_id = tab.spreadsheet_id
        self.worksheet = tab.worksheet
        creds = credentials if credentials is not None else load_credentials(tab)
        self.client_email = getattr(creds, "service_account_email", None)
        # A person's sign-in (authorized_user) carries a refresh token; a service account's credentials do not.
        self.person = not self.client_email and bool(getattr(creds, "refresh_token", None))
        self._key_path = tab.credentials
        self._creds = creds
        self._secrets = list(secrets)
        self.deadline = deadline
        self._gc = client_for(tab.sheets_api_url, creds, deadline, on_request)
        self._http = self._gc.http_client
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self.tab: Tab | None = None

    # -- the calls, each with retries and errors in plain words ----------------------
    def _call(self, what: str, fn: Callable[[], T], retry: bool = True) -> T:
        """``fn``, retried when that may help; ``what`` (marked with ``N_``: translated when shown) completes
        "Google Sheets refused to …" in its errors."""

        def transient(e: BaseException) -> bool:
            if isinstance(e, gspread.exceptions.APIError):
                return _status(e) in _RETRY_CODES
            # ValueError: a 200 whose body is not JSON (a proxy's page, or an answer cut off).
            return isinstance(e, requests.exceptions.ConnectionError | requests.exceptions.Timeout | ValueError)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            base = self.backoff * 2 ** (state.attempt_number - 1)
            if isinstance(exc, gspread.exceptions.APIError) and _status(exc) == 429:
                base = max(base, self.backoff * 5)  # quotas refill each minute
            return min(base, self.max_backoff)

        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.attempts if retry else 1),
                wait=wait,
                sleep=self.deadline.sleep,
                retry=retry_if_exception(transient),
                reraise=True,
            ):
                with attempt:
                    return fn()
        except gspread.exceptions.APIError as e:
            raise self._api_error(what, e) from None
        except google.auth.exceptions.RefreshError as e:
            raise self._refresh_refused(e) from None
        except google.auth.exceptions.TransportError as e:
            if self.person:
                message = _("Could not reach Google to renew the sign-in of GOOGLE_APPLICATION_CREDENTIALS ({error}).")
            else:
                message = _("Could not reach Google to get a token for the service account ({error}).")
            raise ServiceError(
                message.format(error=type(e).__name__),
                hint=_("Check the network connection (and any proxy) of this machine."),
            ) from None
        except ValueError:
            raise ServiceError(
                # i18n: {what} is what was being done, e.g. "read the sheet" (an infinitive).
                _("Google Sheets kept answering with something that is not JSON when asked to {what}.").format(
                    what=_(what)
                ),
                hint=_(
                    "A proxy or firewall may be in the way (check GOOGLE_SHEETS_API_URL if set); "
                    "the next run picks up where this one stopped."
                ),
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise ServiceError(
                # i18n: {what} is what was being done, e.g. "read the sheet" (an infinitive).
                _("Google Sheets could not be reached to {what} ({error}).").format(
                    what=_(what), error=type(e).__name__
                ),
                hint=_("Check the network; the next run picks up where this one stopped."),
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _refresh_refused(self, e: google.auth.exceptions.RefreshError) -> AuthError:
        """Google's token endpoint said no: what that means for this kind of credentials, and what to do."""
        if not self.person:
            return AuthError(
                _("Google refused to give the service account a token."),
                hint=_("The key may have been deleted or disabled: download a new JSON key for the service account."),
            )
        reason = _oauth_error(e)
        path = self._key_path
        if reason in ("invalid_client", "unauthorized_client"):
            return AuthError(
                _(
                    "Google does not know the OAuth client of the sign-in in GOOGLE_APPLICATION_CREDENTIALS ({path}), "
                    "or its secret has changed ({reason})."
                ).format(path=path, reason=reason),
                # i18n: two sentences; the second is "Sign in again: …".
                hint=_("Download the OAuth client's JSON again (Google Cloud console → APIs & Services → Credentials).")
                + " "
                + sign_in_again(),
            )
        if reason == "invalid_scope":
            return AuthError(
                _(
                    "The sign-in in GOOGLE_APPLICATION_CREDENTIALS ({path}) does not allow Google Sheets "
                    "(invalid_scope): it was made for other access."
                ).format(path=path),
                hint=sign_in_again(),
            )
        return AuthError(
            _(
                "Google refused to renew the sign-in in GOOGLE_APPLICATION_CREDENTIALS ({path}) ({reason}): it has "
                "expired or was revoked."
            ).format(path=path, reason=reason),
            # i18n: two sentences: "Sign in again: …", then what a Testing app's 7 days mean.
            hint=sign_in_again() + " " + _(_TESTING),
        )

    def _api_error(self, what: str, e: gspread.exceptions.APIError) -> Exception:
        code = _status(e)
        message = (
            _("an answer that is not JSON") if e.code == -1 else self._clean(str(e.error.get("message", "")))[:300]
        )
        if code == 403 and "insufficient authentication scopes" in message:
            return AuthError(
                _(
                    "Google refused access to the spreadsheet {id}: the credentials in "
                    "GOOGLE_APPLICATION_CREDENTIALS do not allow Google Sheets (403, insufficient scopes)."
                ).format(id=self.spreadsheet_id),
                hint=sign_in_again() if self.person else _("Use the service account's JSON key as it was downloaded."),
            )
        if code == 403 and self.person:
            return AuthError(
                _(
                    "Google refused access to the spreadsheet {id} (403 PERMISSION_DENIED): the Google "
                    "account that signed in (GOOGLE_APPLICATION_CREDENTIALS) has no access to it."
                ).format(id=self.spreadsheet_id),
                hint=_(
                    "Open the sheet as that account, or have the sheet's owner share it with that account as Editor "
                    "(or sign in as another account: {command})."
                ).format(command=SIGN_IN),
            )
        if code == 403:
            who = f" ({self.client_email})" if self.client_email else ""
            return AuthError(
                _("Google refused access to the spreadsheet {id} (403 PERMISSION_DENIED).").format(
                    id=self.spreadsheet_id
                ),
                # i18n: {who} is empty or " (the address)".
                hint=_("Open the sheet → Share, add the service account's client_email{who} as Editor.").format(
                    who=who
                ),
            )
        if code == 401 and self.person:
            return AuthError(
                _("Google refused the access token of the sign-in in GOOGLE_APPLICATION_CREDENTIALS (401)."),
                hint=sign_in_again(),
            )
        if code == 401:
            return AuthError(
                _("Google refused the service account's credentials (401)."),
                hint=_("The key may have been deleted; download a new JSON key for the service account."),
            )
        if code == 404:
            return ConfigError(
                _("Google Sheets has no spreadsheet with ID {id} (404).").format(id=self.spreadsheet_id),
                hint=_("Check GOOGLE_SHEET_ID: copy it from the sheet's address, between /d/ and /edit."),
            )
        if code == 400 and "protected" in message:
            if self.person:
                hint = _(
                    "Remove the protection from the columns amosheets writes (lead_id and the synced columns), "
                    "or let the Google account that signed in edit them. Nothing was lost: the next run writes them."
                )
            else:
                hint = _(
                    "Remove the protection from the columns amosheets writes (lead_id and the synced columns), "
                    "or let the service account edit them. Nothing was lost: the next run writes them."
                )
            return ServiceError(
                # i18n: {what} is what was being done, e.g. "write to the sheet" (an infinitive).
                _("Google Sheets refused to {what}: part of it is a protected range.").format(what=_(what)),
                hint=hint,
            )
        if code in _RETRY_CODES:
            return ServiceError(
                # i18n: {what} is what was being done, e.g. "read the sheet" (an infinitive); {message} is Google's.
                _("Google Sheets kept failing to {what} ({code}: {message}).").format(
                    what=_(what), code=code, message=message
                ),
                hint=_("Quotas refill each minute; the next run picks up where this one stopped."),
            )
        # i18n: {what} is what was being done, e.g. "read the sheet" (an infinitive); {message} is Google's.
        return ServiceError(
            _("Google Sheets refused to {what} ({code}: {message}).").format(what=_(what), code=code, message=message)
        )

    def _clean(self, text: str) -> str:
        """Text from Google's answer, made safe to show and keep: an error may echo a credential."""
        return redact(text, [*self._secrets, *self.google_secrets()])

    def google_secrets(self) -> list[str]:
        """The secrets of the credentials in use: the access token, and a person's refresh token and OAuth client
        secret (a service account's private key never leaves google-auth)."""
        found = (getattr(self._creds, name, None) for name in ("token", "refresh_token", "client_secret"))
        return [s for s in found if isinstance(s, str) and s]

    # -- reading --------------------------------------------------------------------
    def open(self) -> Tab:
        """Find the tab: by GOOGLE_WORKSHEET, or the first one (1 request; 2 when it is not found)."""
        meta = self._call(N_("read the spreadsheet"), self._tab_metadata)
        sheets = meta.get("sheets", [])
        listed = [s["properties"] for s in sheets]
        if self.worksheet is None:
            props = min(listed, key=lambda p: p.get("index", 0)) if listed else None
        else:
            props = _tab_titled(listed, self.worksheet)
        if props is None:
            raise ConfigError(_("The spreadsheet has no tabs."))
        grid = props.get("gridProperties", {})
        self.tab = Tab(
            str(meta.get("properties", {}).get("title", "")),
            str(props["title"]),
            int(props.get("sheetId", 0)),
            int(grid.get("rowCount", 0)),
            int(grid.get("columnCount", 0)),
            *_formats(next(s for s in sheets if s["properties"] is props)),
        )
        return self.tab

    def _tab_metadata(self) -> Any:
        """The metadata with the tab's first two rows; the plain listing of every tab when the tab is not
        there (or its title only differs in case), so that the message can name them all."""
        head = "1:2" if self.worksheet is None else f"{_quote_title(self.worksheet)}!1:2"
        try:
            meta = self._http.fetch_sheet_metadata(self.spreadsheet_id, params={"ranges": head, "fields": _OPEN_FIELDS})
        except gspread.exceptions.APIError as e:
            if _status(e) != 400:  # 400: no such tab (or a grid of one row, with no row 2 to ask for)
                raise
        else:
            titles = [s.get("properties", {}).get("title") for s in meta.get("sheets", [])]
            if self.worksheet is None or self.worksheet in titles:
                return meta
        return self._http.fetch_sheet_metadata(self.spreadsheet_id)

    @property
    def _quoted(self) -> str:
        """The tab's title as a range names it: GOOGLE_WORKSHEET's, else the first tab's (``open`` found it)."""
        if self.worksheet is not None:
            return _quote_title(self.worksheet)
        assert self.tab is not None
        return _quote_title(self.tab.title)

    def _opened(self) -> Tab:
        return self.tab or self.open()

    def read_values(self) -> list[list[Cell]]:
        """The whole tab, unformatted (numbers as numbers: no locale in the way).

        1 request when GOOGLE_WORKSHEET names the tab: the metadata is read only when something is to be
        written (``open``). 2 for the first tab, whose title is looked up first.
        """
        if self.tab is None and self.worksheet is not None:
            data = self._call(N_("read the sheet"), self._values_of_named_tab)
            # Google finds a tab whatever the case of its title: a title that only nearly matches is never
            # taken for the tab (``open`` says which titles there are).
            if data is not None and _range_title(str(data.get("range", ""))) == self.worksheet:
                return data.get("values", [])
        if self.tab is None:
            self.open()
        data = self._call(N_("read the sheet"), self._values)
        return data.get("values", [])

    def _values(self) -> Any:
        return self._http.values_get(
            self.spreadsheet_id, self._quoted, params={"valueRenderOption": "UNFORMATTED_VALUE"}
        )

    def _values_of_named_tab(self) -> Any:
        """The values, or None when the spreadsheet has no such tab (400: the range does not parse)."""
        try:
            return self._values()
        except gspread.exceptions.APIError as e:
            if _status(e) == 400:
                return None
            raise

    def read(self, fields: FieldSet = BUILT_IN_FIELDS) -> SheetData:
        """The tab, its header row bound to ``fields`` (raises HeaderError)."""
        return sheet_data(self.read_values(), fields)

    # -- writing --------------------------------------------------------------------
    def write_cells(self, cells: Iterable[tuple[int, int, Cell]]) -> int:
        """Set (row, column, value) cells, in as few values:batchUpdate requests as fit.

        Rows next to each other go in one range (a block), from the first to the last column any of
        them writes, with JSON null where a row writes nothing (Sheets leaves such a cell as it is).
        A null costs 5 bytes, a range of its own some 50: so the payload, and the count of requests,
        stay about the same however the written columns are spread.
        """
        text_columns = self._opened().text_columns
        by_row: dict[int, dict[int, Cell]] = {}
        for row, col, value in cells:
            by_row.setdefault(row, {})[col] = as_typed(value, col in text_columns)
        requests_made = 0
        # Each request's ranges are made as it is sent: 100,000 new rows never sit in memory as one body.
        for chunk in _by_size(self._ranges(by_row), MAX_PAYLOAD):
            body: dict[str, Any] = {"valueInputOption": "USER_ENTERED", "data": chunk}
            self._call(N_("write to the sheet"), partial(self._post_values, body))
            requests_made += 1
        return requests_made

    def _ranges(self, by_row: dict[int, dict[int, Cell]]) -> Iterator[dict[str, Any]]:
        """The ranges that write these rows' cells, row blocks in order (see ``write_cells``)."""
        block: dict[int, dict[int, Cell]] = {}
        lo = hi = last = size = 0
        for row in sorted(by_row):
            values = by_row[row]
            n = len(_json_bytes(list(values.values()))) + 5 * (max(values) - min(values))
            new_lo, new_hi = min(lo, min(values)), max(hi, max(values))
            # A block is closed well before a request's limit, so that blocks can share requests, and
            # when taking the row in would pad its lines with more nulls than a range of its own costs.
            wider = (new_hi - new_lo) - (hi - lo)
            if block and row == last + 1 and size + n < MAX_PAYLOAD // 4 and wider * len(block) <= 10:
                block[row], lo, hi, size = values, new_lo, new_hi, size + n
            else:
                if block:
                    yield self._range(block, lo, hi)
                block, lo, hi, size = {row: values}, min(values), max(values), n
            last = row
        if block:
            yield self._range(block, lo, hi)

    def _post_values(self, body: dict[str, Any]) -> Any:
        """values:batchUpdate with the body as compact UTF-8 JSON: gspread's own call escapes every
        Cyrillic letter to six bytes, which would triple the payload of a Russian sheet."""
        url = SPREADSHEET_VALUES_BATCH_UPDATE_URL % self.spreadsheet_id
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return self._http.request("post", url, data=_json_bytes(body), headers=headers).json()

    def _range(self, block: dict[int, dict[int, Cell]], lo: int, hi: int) -> dict[str, Any]:
        """One range: rows ``block`` (consecutive) × columns lo..hi; None (JSON null) leaves a cell as it is."""
        rows = sorted(block)
        a1 = f"{self._quoted}!{column_letter(lo)}{rows[0]}:{column_letter(hi)}{rows[-1]}"
        return {"range": a1, "values": [[block[r].get(c) for c in range(lo, hi + 1)] for r in rows]}

    def ensure_rows(self, last_row: int) -> None:
        """Grow the grid so that rows up to ``last_row`` exist (1 request, only when it is too small)."""
        self._opened()
        assert self.tab is not None
        if last_row <= self.tab.rows:
            return
        grow: dict[str, Any]
        if self.tab.rows > 1:
            # Rows inserted after the last one, inheriting from it, get its drop-downs, checkboxes and
            # number formats (plain text on Телефон above all: text goes in there without an apostrophe).
            rows = {
                "sheetId": self.tab.sheet_id,
                "dimension": "ROWS",
                "startIndex": self.tab.rows,
                "endIndex": last_row,
            }
            grow = {"insertDimension": {"range": rows, "inheritFromBefore": True}}
        else:  # below the header row alone: new rows must not come in bold
            grow = {
                "appendDimension": {
                    "sheetId": self.tab.sheet_id,
                    "dimension": "ROWS",
                    "length": last_row - self.tab.rows,
                }
            }
        body = {"requests": [grow]}
        self._call(N_("add rows to the sheet"), lambda: self._http.batch_update(self.spreadsheet_id, body), retry=False)
        self.tab = replace(self.tab, rows=last_row)

    def write_header(self, headers: list[str], column: int = 0) -> None:
        """Write these headers into row 1 from ``column`` (0-based) on, growing the grid if it is too narrow."""
        self.ensure_columns(column + len(headers))
        start = f"{self._quoted}!{column_letter(column)}1"
        body = {"valueInputOption": "RAW", "data": [{"range": start, "values": [headers]}]}
        self._call(N_("write the header row"), lambda: self._http.values_batch_update(self.spreadsheet_id, body))

    def ensure_columns(self, last_column: int) -> None:
        """Grow the grid so that ``last_column`` columns exist (1 request, only when it is too narrow)."""
        tab = self._opened()
        if last_column <= tab.cols:
            return
        grow = {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": last_column - tab.cols}}
        body = {"requests": [grow]}
        self._call(
            N_("add columns to the sheet"), lambda: self._http.batch_update(self.spreadsheet_id, body), retry=False
        )
        self.tab = replace(tab, cols=last_column)

    # -- formatting (init --format) ------------------------------------------------------
    def layout(self) -> Layout:
        """The tab's sheet id, grid size and protected ranges, as ``open`` read them (no request of its own)."""
        tab = self._opened()
        return Layout(tab.sheet_id, tab.rows, tab.cols, tab.protections)

    def apply(self, requests_: list[dict[str, Any]], what: str = N_("format the sheet")) -> None:
        """Send these spreadsheets.batchUpdate requests as one (applied all together, or not at all).

        ``what`` (marked with ``N_``) completes "Google Sheets refused to …" in a message."""
        body = {"requests": requests_}
        # A request that adds something is not sent twice: an answer lost after it was applied would add it again.
        once = any("addProtectedRange" in r for r in requests_)
        self._call(what, lambda: self._http.batch_update(self.spreadsheet_id, body), retry=not once)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def as_typed(value: Cell, text_cell: bool = False) -> Cell:
    """A cell's value as USER_ENTERED input that Sheets stores as exactly that value (see the module's doc);
    ``text_cell``: the cell is formatted as plain text."""
    if value is None:
        return ""
    if type(value) is str:
        if not value or text_cell:
            return value
        return "'" + value
    if isinstance(value, DateText):
        return str(value)
    return value


def _range_title(a1: str) -> str:
    """The tab's title in a range as Google gives it back (``'It''s'!A1:G9`` → ``It's``)."""
    head = a1.rsplit("!", 1)[0]
    if head.startswith("'") and head.endswith("'"):
        return head[1:-1].replace("''", "'")
    return head


def _quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _formats(sheet: dict[str, Any]) -> tuple[frozenset[int], tuple[Protection, ...]]:
    """A tab's plain-text columns (those whose row 2 is formatted so; none without grid data of rows 1–2)
    and its protected ranges."""
    blocks = sheet.get("data") or []
    rows = (blocks[0].get("rowData") or []) if blocks else []
    cells = (rows[1].get("values") or []) if len(rows) > 1 else []
    text = frozenset(
        j
        for j, cell in enumerate(cells)
        if ((cell.get("userEnteredFormat") or {}).get("numberFormat") or {}).get("type") == "TEXT"
    )
    protections = tuple(
        Protection(int(p.get("protectedRangeId", 0)), str(p.get("description", "")))
        for p in sheet.get("protectedRanges") or []
    )
    return text, protections


def _tab_titled(sheets: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """The tab with exactly this title. Titles may differ only in spaces (`Сделки` and `Сделки `), so a
    near miss is never taken for the tab: that synced the wrong tab and wrote lead ids into it."""
    exact = next((p for p in sheets if p.get("title") == title), None)
    if exact is not None:
        return exact
    titles = ", ".join(repr(p.get("title")) for p in sheets)
    want = title.strip().casefold()
    near = [repr(p.get("title")) for p in sheets if str(p.get("title", "")).strip().casefold() == want]
    if near:
        raise ConfigError(
            _(
                "GOOGLE_WORKSHEET is {title}, but no tab has exactly that title; {near} differs in "
                "case or spaces (the tabs are: {titles})."
            ).format(title=repr(title), near=", ".join(near), titles=titles),
            hint=_(
                "Set GOOGLE_WORKSHEET to the tab's exact title (capital letters count). A setting cannot end or "
                "start with a space: if the tab's title does, rename the tab."
            ),
        )
    raise ConfigError(
        _("GOOGLE_WORKSHEET is {title}, but the spreadsheet has no such tab (it has: {titles}).").format(
            title=repr(title), titles=titles
        ),
        hint=_("Set GOOGLE_WORKSHEET to one of those titles, or leave it empty for the first tab."),
    )


def _status(e: gspread.exceptions.APIError) -> int:
    """The error's code; gspread says -1 when the body was not JSON (a proxy's page), so take the HTTP status."""
    return e.code if e.code != -1 else e.response.status_code


def _by_size(items: Iterable[dict[str, Any]], limit: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for item in items:
        n = len(_json_bytes(item))
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk
