"""Settings: read from the environment and ``.env``, validated, with messages that fix.

The contract (shared/CONTRACT.md) fixes the variable names. Problems are collected per
service, so ``amosheets pipelines`` works with only the amoCRM settings filled in and a
run that needs both services reports every missing variable at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dotenv import dotenv_values
from platformdirs import user_state_dir

from amosheets.amocrm.auth import LongLivedToken, OAuthIntegration, SignIn, token_path
from amosheets.deadline import DEFAULT_DEADLINE
from amosheets.errors import ConfigError
from amosheets.i18n import _, and_list, language_problem
from amosheets.secret import Secret
from amosheets.sync.merge import ConflictPolicy

if TYPE_CHECKING:  # imported where used: the state module brings sqlite3 and the sync model, which settings do not need
    from amosheets.state import Scope

AMOCRM_DOMAINS = ("amocrm.ru", "amocrm.com", "kommo.com")
DEFAULT_DOMAIN = "amocrm.ru"

_SHEET_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_SHEET_ID = re.compile(r"^[A-Za-z0-9_-]{10,}$")
_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

GOOGLE = "google"
AMOCRM = "amocrm"
# An external integration's keys (amoCRM: Settings → Integrations → the integration → Keys and scopes).
OAUTH_KEYS = ("AMOCRM_CLIENT_ID", "AMOCRM_CLIENT_SECRET", "AMOCRM_REDIRECT_URI")


# The environment describes one account, one tab and the pair of them; this names all three
# until a config file names more (shared/CONTRACT.md, amosheets.toml).
ENVIRONMENT = "default"


@dataclass(frozen=True)
class AccountConfig:
    """One amoCRM account: where it is, how to sign in to it and how fast it may be asked."""

    name: str
    base_url: str
    auth: SignIn
    rate: int = 7  # requests per second, for the whole account (every pair on it shares them)

    def secrets(self) -> list[str]:
        return self.auth.secrets()


@dataclass(frozen=True)
class TabConfig:
    """One tab of one Google spreadsheet, and how to reach Google for it."""

    spreadsheet_id: str
    worksheet: str | None  # None: the spreadsheet's first tab
    sheets_api_url: str | None = None  # a local emulator's origin; None: Google's
    credentials: Path | None = None  # a service account's key or a person's sign-in; None: anonymous (an emulator)


EVERY_PIPELINE = "*"  # a pair's pipeline: every one of the account's; the Воронка column then decides

# A pipeline or status as configured: its id, its name (matched trimmed, case-insensitively), or None for
# the default (the main pipeline; the pipeline's first status a deal may be put in).
Ref = int | str | None


@dataclass(frozen=True)
class SettingNames:
    """How messages name where a pair's pipeline and status were set: the variable, or the file's line."""

    pipeline: str = "AMOCRM_PIPELINE_ID"
    status: str = "AMOCRM_STATUS_ID"


ENV_NAMES = SettingNames()


@dataclass(frozen=True)
class PairConfig:
    """A tab synced with an account, the way vdirsyncer's pair names its two sides and its policy.

    Where new deals go is the pair's, not the account's: two pairs on one account differ in it.
    """

    name: str
    account: AccountConfig
    tab: TabConfig
    pipeline: Ref  # the pipeline followed and new deals go to, or EVERY_PIPELINE
    status: Ref  # where new deals start
    state_dir: Path  # where the pair's state file and lock are kept
    policy: ConflictPolicy | None = None  # who wins a conflict; None: the run's (--conflict, default crm)
    names: SettingNames = ENV_NAMES

    @property
    def scope(self) -> Scope:
        """What the pair's state file belongs to. Its path is derived from this: it must never
        change for the environment's pair, or users' existing state would not be found."""
        from amosheets.state import Scope

        return Scope(self.tab.spreadsheet_id, self.tab.worksheet or "", self.account.base_url)


@dataclass
class Settings:
    google_credentials: Path | None = None
    sheet_id: str = ""
    worksheet: str | None = None
    sheets_api_url: str | None = None
    amocrm_base_url: str = ""
    amocrm_token: Secret = field(default_factory=lambda: Secret(""))
    amocrm_oauth: OAuthIntegration | None = None  # an external integration's keys, when there is no token
    pipeline_id: int | None = None
    status_id: int | None = None
    amocrm_rate: int = 7  # requests per second; only a sandbox may take more (AMOSHEETS_AMOCRM_RATE)
    state_dir: Path = field(default_factory=lambda: Path(user_state_dir("amosheets", appauthor=False)))
    deadline: float = DEFAULT_DEADLINE  # seconds a run may take; 0 = no limit
    deadline_setting: str = "AMOSHEETS_DEADLINE"  # where ``deadline`` came from (--deadline overrides it)
    problems: dict[str, list[str]] = field(default_factory=lambda: {GOOGLE: [], AMOCRM: [], "other": []})
    # Every variable of .env and the real environment (the real one wins), not only the known ones:
    # amosheets.toml's token_env may name any of them. Hidden from repr: tokens are among them.
    variables: dict[str, str] = field(default_factory=dict, repr=False)

    def require(self, *services: str) -> Settings:
        """Raise one ConfigError listing every problem of the services a command needs."""
        found = [p for s in (*services, "other") for p in self.problems.get(s, [])]
        if found:
            raise ConfigError(
                found,
                hint=_("Set these in .env (see .env.example) or in the environment, then run `amosheets check`."),
            )
        return self

    def secrets(self) -> list[str]:
        """Values that must never be printed: the token or the integration's secret (the key file's content is
        never read into Settings; OAuth tokens are kept out by the client that holds them)."""
        return [*self.account().secrets(), *(self.amocrm_oauth.secrets() if self.amocrm_oauth else [])]

    # The environment's one account, tab and pair. They are built whatever the problems are (a
    # command that needs one service only takes that side): ``require`` first what you use.
    def account(self) -> AccountConfig:
        # AMOCRM_INTEGRATION_TOKEN wins when both ways are set (shared/CONTRACT.md).
        auth: SignIn = LongLivedToken(self.amocrm_token)
        if not self.amocrm_token and self.amocrm_oauth is not None:
            auth = self.amocrm_oauth
        return AccountConfig(ENVIRONMENT, self.amocrm_base_url, auth, self.amocrm_rate)

    def tab(self) -> TabConfig:
        return TabConfig(self.sheet_id, self.worksheet, self.sheets_api_url, self.google_credentials)

    def pair(self) -> PairConfig:
        return PairConfig(ENVIRONMENT, self.account(), self.tab(), self.pipeline_id, self.status_id, self.state_dir)


def read_environment(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables in force: the file's, overridden by the real environment's."""
    return _read_environment(env_file, environ)[0]


def _read_environment(
    env_file: Path | None, environ: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """The known variables in force, and every variable (for amosheets.toml's token_env), both stripped.

    Only the real environment is filtered for the first: the .env file is ours, all of it counts.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(
                _("--env-file {path}: no such file.").format(path=env_file),
                hint=_("Give the path of an existing .env file."),
            )
        path: Path | None = env_file
    else:
        path = Path(".env") if Path(".env").is_file() else None
    if path is not None:
        try:
            file_values = dotenv_values(path)
        except UnicodeDecodeError:
            raise ConfigError(
                _("{path} is not a text file in UTF-8.").format(path=path), hint=_("Save it as UTF-8.")
            ) from None
        values.update({k: v for k, v in file_values.items() if v is not None})
    every = {**values, **environ}
    values.update({k: v for k, v in environ.items() if k in _KNOWN or k.startswith("AMOSHEETS_")})
    return {k: v.strip() for k, v in values.items()}, {k: v.strip() for k, v in every.items()}


def load_settings(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; problems are kept per service, not raised."""
    env, every = _read_environment(env_file, environ)
    s = Settings(variables=every)
    g, a, o = s.problems[GOOGLE], s.problems[AMOCRM], s.problems["other"]

    s.sheets_api_url = _origin(env, "GOOGLE_SHEETS_API_URL", lambda _key, m: g.append(m))
    creds = env.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if creds:
        path = Path(creds).expanduser()
        if not path.is_file():
            g.append(
                _(
                    "GOOGLE_APPLICATION_CREDENTIALS points to {path}, which does not exist. "
                    "Give the path of the service account's JSON key file, or of the sign-in file "
                    "`amosheets auth google` wrote."
                ).format(path=path)
            )
        s.google_credentials = path
    elif not s.sheets_api_url:
        g.append(
            _(
                "GOOGLE_APPLICATION_CREDENTIALS is not set. Set it to the path of the service account's "
                "JSON key (Google Cloud console → IAM → Service accounts → Keys → Add key → JSON), or sign in "
                "as a person once: amosheets auth google --client-secrets FILE."
            )
        )
    s.sheet_id = _sheet_id(env, g)
    s.worksheet = env.get("GOOGLE_WORKSHEET") or None

    s.amocrm_base_url = amocrm_origin(env, lambda _key, m: a.append(m))
    token = clean_token(env.get("AMOCRM_INTEGRATION_TOKEN", ""))
    if token and (problem := token_problem(token, "AMOCRM_INTEGRATION_TOKEN")):
        a.append(problem)
    s.amocrm_oauth = _oauth(env, s.amocrm_base_url, a if not token else [])
    if not token and not any(env.get(k) for k in OAUTH_KEYS):
        a.append(
            _(
                "AMOCRM_INTEGRATION_TOKEN is not set. In amoCRM: Settings → Integrations → your private "
                "integration → Keys and scopes → Long-lived token; paste it here. (For an external integration, "
                "set AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URI instead and run "
                "`amosheets auth amocrm --code CODE`.)"
            )
        )
    s.amocrm_token = Secret(token)
    s.pipeline_id = _positive_int(env, "AMOCRM_PIPELINE_ID", a)
    s.status_id = _positive_int(env, "AMOCRM_STATUS_ID", a)

    rate = env.get("AMOSHEETS_AMOCRM_RATE", "")
    if rate:
        if not rate.isdigit() or not 1 <= int(rate) <= 1000:
            o.append(
                _("AMOSHEETS_AMOCRM_RATE is {rate!r}; it must be a whole number from 1 to 1000.").format(rate=rate)
            )
        elif int(rate) > 7 and not (s.amocrm_base_url.startswith(("http://127.", "http://localhost"))):
            o.append(
                _(
                    "AMOSHEETS_AMOCRM_RATE is above 7, but amoCRM blocks an IP that keeps exceeding 7 requests a "
                    "second; it may be raised only for a local sandbox (AMOCRM_BASE_URL on 127.0.0.1). Remove it."
                )
            )
        else:
            s.amocrm_rate = int(rate)
    s.state_dir = _state_dir(env)
    if s.state_dir.exists() and not s.state_dir.is_dir():
        o.append(_("AMOSHEETS_STATE_DIR is {path}, which is a file; give a directory.").format(path=s.state_dir))
    s.deadline = _deadline(env, o)
    if lang := language_problem(env):
        o.append(lang)
    return s


def _state_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("AMOSHEETS_STATE_DIR")
    return Path(raw).expanduser() if raw else Path(user_state_dir("amosheets", appauthor=False))


def _oauth(env: Mapping[str, str], base_url: str, problems: list[str]) -> OAuthIntegration | None:
    """The external integration's keys, when all three are set and well-formed (else problems, if any set)."""
    given = [k for k in OAUTH_KEYS if env.get(k)]
    if not given:
        return None
    missing = [k for k in OAUTH_KEYS if k not in given]
    if missing:
        # Of the three keys, one or two are set: the other two or one are missing.
        if len(given) == 1:
            # i18n: {given} names one variable, {missing} two ("A and B")
            said = _(
                "{given} is set for OAuth, but {missing} are not. Copy them from amoCRM: "
                "Settings → Integrations → your integration → Keys and scopes (or set AMOCRM_INTEGRATION_TOKEN "
                "to a long-lived token instead)."
            )
        else:
            # i18n: {given} names two variables ("A, B"), {missing} one
            said = _(
                "{given} are set for OAuth, but {missing} is not. Copy them from amoCRM: "
                "Settings → Integrations → your integration → Keys and scopes (or set AMOCRM_INTEGRATION_TOKEN "
                "to a long-lived token instead)."
            )
        problems.append(said.format(given=", ".join(given), missing=and_list(missing)))
        return None
    if problem := redirect_problem(env["AMOCRM_REDIRECT_URI"]):
        problems.append(problem)
        return None
    return OAuthIntegration(
        env["AMOCRM_CLIENT_ID"],
        Secret(env["AMOCRM_CLIENT_SECRET"]),
        env["AMOCRM_REDIRECT_URI"],
        token_path(_state_dir(env), base_url),
    )


def redirect_problem(raw: str, name: str = "AMOCRM_REDIRECT_URI") -> str | None:
    """What is wrong with an integration's redirect address (``name``, where it was set), if anything."""
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return _(
        "{name} is {raw!r}; it must be the integration's redirect address exactly as entered in "
        "amoCRM (Settings → Integrations → your integration), like https://example.com/amosheets."
    ).format(name=name, raw=raw)


def _deadline(env: Mapping[str, str], problems: list[str]) -> float:
    raw = env.get("AMOSHEETS_DEADLINE", "")
    if not raw:
        return DEFAULT_DEADLINE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        problems.append(
            _(
                "AMOSHEETS_DEADLINE is {raw!r}; it must be a number of seconds a run may take "
                "(default {default:g}), or 0 for no limit."
            ).format(raw=raw, default=DEFAULT_DEADLINE)
        )
        return DEFAULT_DEADLINE
    return seconds


_KNOWN = frozenset(
    {
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_SHEET_ID",
        "GOOGLE_SHEET_NAME",
        "GOOGLE_WORKSHEET",
        "GOOGLE_SHEETS_API_URL",
        "AMOCRM_SUBDOMAIN",
        "AMOCRM_DOMAIN",
        "AMOCRM_BASE_URL",
        "AMOCRM_INTEGRATION_TOKEN",
        *OAUTH_KEYS,
        "AMOCRM_PIPELINE_ID",
        "AMOCRM_STATUS_ID",
    }
)


def parse_sheet_id(value: str) -> str | None:
    """The spreadsheet ID from an ID or from the sheet's whole URL; None if it is neither."""
    m = _SHEET_URL.search(value)
    if m:
        return m.group(1)
    return value if _SHEET_ID.match(value) else None


def _sheet_id(env: Mapping[str, str], problems: list[str]) -> str:
    by_id, by_name = env.get("GOOGLE_SHEET_ID", ""), env.get("GOOGLE_SHEET_NAME", "")
    if by_id and by_name and parse_sheet_id(by_id) != parse_sheet_id(by_name):
        problems.append(
            _(
                "GOOGLE_SHEET_ID and GOOGLE_SHEET_NAME are both set and differ. GOOGLE_SHEET_NAME is the old "
                "name of the same setting: keep only GOOGLE_SHEET_ID."
            )
        )
        return ""
    name = "GOOGLE_SHEET_ID" if by_id else "GOOGLE_SHEET_NAME"
    raw = by_id or by_name
    if not raw:
        problems.append(
            _(
                "GOOGLE_SHEET_ID is not set. Copy the sheet's address from the browser "
                "(https://docs.google.com/spreadsheets/d/<ID>/edit) and set GOOGLE_SHEET_ID to it or to the <ID> part."
            )
        )
        return ""
    parsed = parse_sheet_id(raw)
    if parsed is None:
        problems.append(bad_sheet_id(name, raw))
        return ""
    return parsed


def bad_sheet_id(name: str, raw: str) -> str:
    """Why ``raw``, set as ``name``, is not a spreadsheet (parse_sheet_id found no ID in it)."""
    return _(
        "{name} is {raw!r}, which is neither a spreadsheet ID nor its URL. It is the long part between "
        "/d/ and /edit in the sheet's address (the sheet's title will not do)."
    ).format(name=name, raw=raw)


# A problem found in a setting: (the key it is about, the message). The environment's checks just
# collect the message; amosheets.toml's put the key's file and line in front of it.
Report = Callable[[str, str], None]


@dataclass(frozen=True)
class AccountKeys:
    """What an account's three address settings are called where they are read."""

    base_url: str = "AMOCRM_BASE_URL"
    domain: str = "AMOCRM_DOMAIN"
    subdomain: str = "AMOCRM_SUBDOMAIN"


ENV_ACCOUNT_KEYS = AccountKeys()


def clean_token(raw: str) -> str:
    """The token as pasted, without the ``Bearer `` people copy along with it."""
    raw = raw.strip()
    return raw[7:].strip() if raw.lower().startswith("bearer ") else raw


def token_problem(token: str, name: str) -> str | None:
    """What is wrong with a (cleaned, non-empty) token; the message never contains the token."""
    if re.search(r"\s", token):
        return _("{name} contains spaces or line breaks; paste the token as one line.").format(name=name)
    return None


def amocrm_origin(env: Mapping[str, str], report: Report, keys: AccountKeys = ENV_ACCOUNT_KEYS) -> str:
    """The account's origin from its base URL, or its subdomain and domain; "" (and a report) if they are wrong.

    ``env`` holds the values under ``keys``' names: the environment's variables, or an [account.*] of
    amosheets.toml, so both are held to the same rules and wording.
    """
    base = _origin(env, keys.base_url, report)
    if base:
        return base
    if env.get(keys.base_url):
        return ""  # malformed; already reported
    domain = env.get(keys.domain, "").lower() or DEFAULT_DOMAIN
    if domain not in AMOCRM_DOMAINS:
        report(
            keys.domain,
            _("{name} is {domain!r}; use one of {domains}.").format(
                name=keys.domain, domain=domain, domains=", ".join(AMOCRM_DOMAINS)
            ),
        )
        return ""
    sub = env.get(keys.subdomain, "").lower()
    if not sub:
        report(
            keys.subdomain,
            _(
                "{name} is not set. It is `mycompany` of https://mycompany.amocrm.ru "
                "(or set {base_url} to the whole address)."
            ).format(name=keys.subdomain, base_url=keys.base_url),
        )
        return ""
    # People paste the whole address; take the subdomain (and the domain) out of it.
    host = urlsplit(sub if "://" in sub else f"https://{sub}").hostname or sub
    for d in AMOCRM_DOMAINS:
        if host.endswith("." + d):
            host, domain = host[: -len(d) - 1], d
            break
    if not _SUBDOMAIN.match(host):
        report(
            keys.subdomain,
            _(
                "{name} is {raw!r}; it should be only the first part of your account's address, "
                "like `mycompany` of mycompany.amocrm.ru."
            ).format(name=keys.subdomain, raw=sub),
        )
        return ""
    return f"https://{host}.{domain}"


def _origin(env: Mapping[str, str], name: str, report: Report) -> str | None:
    raw = env.get(name, "")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        report(
            name,
            _("{name} is {raw!r}; it must be an origin like https://host or http://127.0.0.1:8081, no path.").format(
                name=name, raw=raw
            ),
        )
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _positive_int(env: Mapping[str, str], name: str, problems: list[str]) -> int | None:
    raw = env.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        problems.append(
            _(
                "{name} is {raw!r}; it must be a whole number (an ID) — run `amosheets pipelines` to see the IDs."
            ).format(name=name, raw=raw)
        )
        return None
    return int(raw)
