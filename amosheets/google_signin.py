"""`amosheets auth google`: a person signs in to Google once; the sign-in is kept in an authorized_user file.

The installed-app flow of google-auth-oauthlib: a web server on this machine's loopback address waits for
Google to send the browser back with a code, which is exchanged (with PKCE) for a refresh token. The file
written is what ``gcloud auth application-default login`` writes — ``{"type": "authorized_user",
client_id, client_secret, refresh_token, token_uri, …}`` — and GOOGLE_APPLICATION_CREDENTIALS may name
it (``amosheets.sheet.load_credentials``). It holds secrets: it is created readable by its owner only,
under a temporary name, and renamed into place once complete, so no one ever sees a partial file or a
file anyone else may read.

Google's copy-a-code ("out of band") flow is gone: a machine without a browser signs in elsewhere (a
laptop) and the file is copied over; the README says how.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from amosheets.errors import AmosheetsError, AuthError, ConfigError, ServiceError, UsageError, os_reason
from amosheets.i18n import N_, _, plural
from amosheets.sheet import PERSON, SCOPES, SERVICE_ACCOUNT, is_loopback

if TYPE_CHECKING:
    from amosheets.output import Output

# Where the sign-in goes unless --out says otherwise: where the README keeps the Google key already, next to
# the .env that names it (``credentials/`` is in .gitignore).
DEFAULT_OUT = Path("credentials") / "google-authorized-user.json"
WAIT_SECONDS = 600  # for the browser to come back; then the command stops
TOKEN_TIMEOUT = 60.0  # seconds for the code's exchange (requests-oauthlib waits forever by default)
_HOW_TO_GET = N_(
    "Download it from Google Cloud console → APIs & Services → Credentials → Create credentials → "
    "OAuth client ID → Desktop app → Download JSON (the Google Sheets API must be enabled in that project)."
)
_SUCCESS_PAGE = N_("amosheets: signed in to Google. You may close this window and return to the terminal.")


def read_client_secrets(path: Path) -> dict[str, Any]:
    """An OAuth client's secrets file (the console's "Download JSON"), checked; its content is never echoed."""
    option = f"--client-secrets {path}"
    how = _(_HOW_TO_GET)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_("{option}: no such file.").format(option=option), hint=how) from None
    except IsADirectoryError:
        raise ConfigError(
            _("{option} is a directory, not the OAuth client's JSON file.").format(option=option), hint=how
        ) from None
    except OSError as e:
        raise ConfigError(_("{option} cannot be read: {reason}.").format(option=option, reason=os_reason(e))) from None
    except UnicodeDecodeError:
        raise ConfigError(_("{option} is not a text (JSON) file.").format(option=option), hint=how) from None
    try:
        info = json.loads(raw)
    except ValueError:
        raise ConfigError(_("{option} is not valid JSON.").format(option=option), hint=how) from None
    if not isinstance(info, dict):
        raise ConfigError(
            _("{option} is not an OAuth client's secrets file (not a JSON object).").format(option=option), hint=how
        )
    kind = info.get("type")
    if kind == SERVICE_ACCOUNT:
        raise ConfigError(
            _("{option} is a service account's key, not an OAuth client: no person signs in with it.").format(
                option=option
            ),
            # i18n: followed by "Download it from Google Cloud console → …".
            hint=_(
                "Use the key as it is (GOOGLE_APPLICATION_CREDENTIALS={path}, and share the sheet with its "
                "client_email). To sign in as a person instead, give the OAuth client's JSON."
            ).format(path=path)
            + " "
            + how,
        )
    if kind == PERSON:
        raise ConfigError(
            _("{option} is already a sign-in (an authorized_user file), not an OAuth client's secrets.").format(
                option=option
            ),
            # i18n: followed by "Download it from Google Cloud console → …".
            hint=_(
                "Nothing to sign in: set GOOGLE_APPLICATION_CREDENTIALS={path}. To sign in again, give the OAuth "
                "client's JSON."
            ).format(path=path)
            + " "
            + how,
        )
    section = info.get("installed", info.get("web"))
    if not isinstance(section, dict):
        raise ConfigError(
            _('{option} is not an OAuth client\'s secrets file: it has no "installed" (Desktop app) section.').format(
                option=option
            ),
            hint=how,
        )
    missing = [k for k in ("client_id", "client_secret", "auth_uri", "token_uri") if not _text(section.get(k))]
    if missing:
        raise ConfigError(
            _("{option} lacks {fields}: it is not a whole client secrets file.").format(
                option=option, fields=", ".join(missing)
            ),
            hint=how,
        )
    for name in ("auth_uri", "token_uri"):
        if not _https_or_here(section[name]):
            raise ConfigError(
                _(
                    "{option}: its {name} is not an https address (the sign-in and the client secret would cross the "
                    "network unencrypted)."
                ).format(option=option, name=name),
                hint=how,
            )
    return info


def check_out(path: Path, force: bool) -> None:
    """Before anyone signs in: --out can be written, and is not a file that must not be replaced (anything but
    an earlier sign-in, unless --force). Makes its directory (owner only) if there is none."""
    if path.is_dir():
        raise UsageError(
            _("--out {path} is a directory.").format(path=path),
            hint=_("Name a file in it, e.g. --out {example}.").format(example=path / DEFAULT_OUT.name),
        )
    if path.exists() and not force and not _is_sign_in(path):
        raise UsageError(
            _(
                "--out {path} exists and is not an earlier sign-in (an authorized_user file): it is left as it is."
            ).format(path=path),
            hint=_("Name another file with --out, or add --force to replace it."),
        )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(
            _("--out {path}: its directory cannot be made: {reason}.").format(path=path, reason=os_reason(e))
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(
            _("--out {path}: its directory {directory} cannot be written to by this user.").format(
                path=path, directory=path.parent
            )
        )


def sign_in(
    client_info: dict[str, Any],
    *,
    port: int = 0,
    open_browser: bool = True,
    show_url: Callable[[str], None] = print,
    wait: float = WAIT_SECONDS,
) -> dict[str, Any]:
    """Run the installed-app sign-in and give the authorized_user file's content (without the short-lived
    access token). ``show_url`` is told the address to open, before the browser is asked to open it."""
    from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
    from oauthlib.oauth2.rfc6749 import errors as oauth_errors
    from requests.exceptions import ConnectionError, Timeout

    class Flow(InstalledAppFlow):
        def authorization_url(self, **kwargs: Any) -> tuple[str, str]:
            url, state = super().authorization_url(**kwargs)
            show_url(url)
            return url, state

        def fetch_token(self, **kwargs: Any) -> dict[str, Any]:
            kwargs.setdefault("timeout", TOKEN_TIMEOUT)
            return super().fetch_token(**kwargs)

    section = client_info.get("installed", client_info.get("web"))
    assert isinstance(section, dict)
    with _plain_http_here(section["auth_uri"], section["token_uri"]):
        flow = Flow.from_client_config(client_info, scopes=SCOPES)
        try:
            creds = flow.run_local_server(
                host="localhost",
                port=port,
                open_browser=open_browser,
                authorization_prompt_message=None,  # show_url says it
                success_message=_(_SUCCESS_PAGE),
                timeout_seconds=wait,
                prompt="consent",  # so that Google gives a refresh token even to an app the person allowed before
            )
        except OSError as e:
            if isinstance(e, ConnectionError | Timeout):
                raise ServiceError(
                    _("Could not reach Google's token endpoint ({error}) to finish the sign-in.").format(
                        error=type(e).__name__
                    ),
                    hint=_("Check the network connection (and any proxy) of this machine, and run the command again."),
                ) from None
            raise UsageError(
                _("--port {port}: this machine's port cannot be used to receive the sign-in ({reason}).").format(
                    port=port, reason=os_reason(e)
                ),
                hint=_("Give another --port, or 0 for any free one."),
            ) from None
        except WSGITimeoutError:
            raise AmosheetsError(
                plural(
                    WAIT_SECONDS // 60,
                    "No sign-in came back within {n} minute; nothing was written.",
                    "No sign-in came back within {n} minutes; nothing was written.",
                ),
                hint=_("Run the command again and open the address it prints."),
            ) from None
        except Warning:  # oauthlib: the token grants other scopes than asked (a box was left unticked)
            raise AuthError(
                _(
                    "The sign-in did not allow amosheets to see and edit your Google Sheets spreadsheets; nothing was "
                    "written."
                ),
                hint=_("Run the command again and leave that box ticked on Google's consent page."),
            ) from None
        except oauth_errors.OAuth2Error as e:
            raise _refused(e) from None
    info: dict[str, Any] = json.loads(creds.to_json(strip=["token", "expiry"]))
    if not info.get("refresh_token"):
        raise AuthError(
            _("Google gave no refresh token, so the sign-in could not be kept; nothing was written."),
            hint=_("Remove the app's access at https://myaccount.google.com/permissions and run the command again."),
        )
    first = ("client_id", "client_secret", "refresh_token", "token_uri")  # in the order gcloud writes them
    kept = {k: v for k, v in info.items() if v not in ("", None, [])}
    return {"type": PERSON, **{k: kept[k] for k in first if k in kept}, **kept}


def _refused(e: Exception) -> AmosheetsError:
    """An OAuth error of the flow, in words (its description is the server's, and is not repeated)."""
    from oauthlib.oauth2.rfc6749 import errors as oauth_errors

    if isinstance(e, oauth_errors.AccessDeniedError):
        return AuthError(
            _("The sign-in was cancelled in the browser (access_denied); nothing was written."),
            hint=_("Run the command again and allow access on Google's consent page."),
        )
    if isinstance(e, oauth_errors.InsecureTransportError):
        return ConfigError(_("The client secrets file's addresses are not https."), hint=_(_HOW_TO_GET))
    if isinstance(e, oauth_errors.MismatchingStateError | oauth_errors.MissingCodeError):
        return AmosheetsError(
            _(
                "The browser came back without a sign-in for this run (its code or state was missing or another "
                "run's); nothing was written."
            ),
            hint=_("Run the command again and open the address it prints, in one browser tab."),
        )
    error = str(getattr(e, "error", "") or "")
    if not re.fullmatch(r"[a-z_]{1,40}", error):  # an OAuth error code, never whatever else the server said
        error = type(e).__name__
    if error in ("invalid_client", "unauthorized_client"):
        return AuthError(
            _("Google does not know this OAuth client, or its secret is wrong ({error}); nothing was written.").format(
                error=error
            ),
            # i18n: followed by "Download it from Google Cloud console → …".
            hint=_("Download the client's JSON again.") + " " + _(_HOW_TO_GET),
        )
    return AuthError(
        _("Google refused the sign-in ({error}); nothing was written.").format(error=error),
        hint=_("Run the command again."),
    )


def write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, atomically, readable and writable by its owner only from its first byte on.

    A temporary file in the same directory is created with mode 0600 (never another mode, not even for an
    instant), written and flushed to disk, then renamed over ``path``: a reader sees the old file or the new
    one, never a part of either. If anything fails, the temporary file goes and ``path`` is as it was."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    if os.name != "nt":  # the rename itself, on disk (Windows cannot open a directory for this)
        with suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def env_line(path: Path) -> str:
    """The .env line that points GOOGLE_APPLICATION_CREDENTIALS at ``path``, quoted when it has to be."""
    text = str(path)
    if not re.search(r"[\s#'\"$`]", text):  # python-dotenv keeps an unquoted value as it is, backslashes too
        return f"GOOGLE_APPLICATION_CREDENTIALS={text}"
    if "'" not in text:
        return f"GOOGLE_APPLICATION_CREDENTIALS='{text}'"  # python-dotenv takes single quotes literally
    return "GOOGLE_APPLICATION_CREDENTIALS=" + json.dumps(text)


def run(out: Output, client_secrets: Path, dest: Path | None, *, port: int, open_browser: bool, force: bool) -> None:
    """The whole command: check the input and the place to write, sign in, write, say what to put in .env."""
    info = read_client_secrets(client_secrets)
    section = info.get("installed", info.get("web"))
    assert isinstance(section, dict)
    out.secrets.append(section["client_secret"])
    if "installed" not in info:
        out.warn(
            _(
                "--client-secrets {path} is a Web application client: Google sends the browser back only to "
                "an address registered for it, so one of its redirect URIs must be http://localhost:PORT/ and --port "
                "must give that PORT. A Desktop app client needs none of that."
            ).format(path=client_secrets)
        )
    path = (dest or DEFAULT_OUT).expanduser().absolute()
    check_out(path, force)
    if open_browser and not _browser_here():
        out.info(_("No web browser was found on this machine: open the address below in a browser yourself."))
        open_browser = False

    def show_url(url: str) -> None:
        if open_browser:
            out.info(
                _(
                    "Open this address in a browser and sign in as the Google account that may edit the sheet "
                    "(a browser window should open by itself):"
                )
            )
        else:
            out.info(_("Open this address in a browser and sign in as the Google account that may edit the sheet:"))
        out.result(url)
        out.info(
            _(
                "Waiting for Google to send that browser back to this machine (to http://localhost). A browser on "
                "another machine cannot reach it: sign in on the machine you run this on (see README)."
            )
        )

    content = sign_in(info, port=port, open_browser=open_browser, show_url=show_url)
    out.secrets.extend(str(content[k]) for k in ("refresh_token", "client_secret") if content.get(k))
    try:
        write_private(path, json.dumps(content, indent=2) + "\n")
    except OSError as e:
        raise UsageError(
            _("--out {path} cannot be written: {reason}; the sign-in is lost.").format(path=path, reason=os_reason(e))
        ) from None
    out.success(_("Signed in. Wrote {path} (readable by you only). Put this line in .env:").format(path=path))
    out.result(env_line(path))
    out.info(
        _(
            "To use it on a server, copy the file there (e.g. scp) and put the line, with the file's path there, in "
            "the server's .env. `amosheets check` says whose sign-in GOOGLE_APPLICATION_CREDENTIALS holds."
        )
    )


@contextmanager
def _plain_http_here(*uris: str) -> Iterator[None]:
    """Let requests-oauthlib use plain http for these addresses while the flow runs, when they are on this
    machine (a local emulator): it refuses an http:// sign-in or token address (InsecureTransportError) unless
    OAUTHLIB_INSECURE_TRANSPORT is set. Never set for an address that crosses a network (read_client_secrets
    refuses those), and only in this process, for as long as the flow runs."""
    plain = [u for u in uris if urlsplit(u).scheme == "http"]
    if not plain or not all(is_loopback(u) for u in plain):
        yield
        return
    name = "OAUTHLIB_INSECURE_TRANSPORT"
    before = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _https_or_here(uri: str) -> bool:
    parts = urlsplit(uri)
    return (parts.scheme == "https" and bool(parts.hostname)) or (parts.scheme == "http" and is_loopback(uri))


def _is_sign_in(path: Path) -> bool:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("type") == PERSON


def _browser_here() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
