"""``amosheets.toml``: the pairs (tab ↔ pipeline of an account) one run syncs (shared/CONTRACT.md).

Without the file the environment describes one pair; with it, each ``[[pair]]`` is one, and
``[account.NAME]`` sections add amoCRM accounts whose tokens stay in the environment / .env
(``token_env`` names the variable). Every problem is reported at once, each with the file, the
line and the key, because a user fixing a config file wants the whole list, not one per run.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amosheets.amocrm.auth import LongLivedToken, OAuthIntegration, SignIn, token_path
from amosheets.config import (
    AMOCRM,
    EVERY_PIPELINE,
    GOOGLE,
    AccountConfig,
    AccountKeys,
    PairConfig,
    Ref,
    SettingNames,
    Settings,
    TabConfig,
    amocrm_origin,
    bad_sheet_id,
    clean_token,
    parse_sheet_id,
    redirect_problem,
    token_problem,
)
from amosheets.errors import ConfigError
from amosheets.i18n import _
from amosheets.secret import Secret, redact
from amosheets.sync.merge import ConflictPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "amosheets.toml"

PAIR_KEYS = ("name", "tab", "pipeline", "status", "sheet", "conflict", "account")
# An account signs in with a long-lived token (token_env), or as an external integration through OAuth.
OAUTH_ACCOUNT_KEYS = ("client_id", "client_secret_env", "redirect_uri")
ACCOUNT_KEYS = ("subdomain", "domain", "base_url", "token_env", *OAUTH_ACCOUNT_KEYS)
TOP_KEYS = ("pair", "account")
_FILE_ACCOUNT_KEYS = AccountKeys(base_url="base_url", domain="domain", subdomain="subdomain")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# With a file, each pair names its own pipeline, status and tab: these environment variables do not
# apply, and their problems must not block a run. Problems start with the variable's name.
_UNUSED_ENV = ("AMOCRM_PIPELINE_ID", "AMOCRM_STATUS_ID", "GOOGLE_WORKSHEET")
_SHEET_ENV = ("GOOGLE_SHEET_ID", "GOOGLE_SHEET_NAME")


def _hint() -> str:
    return _(
        "Fix these in {file} (each line above says where) and the variables in .env or the environment, "
        "then run `amosheets check`."
    ).format(file=CONFIG_FILE)


def find_config(given: Path | None) -> Path | None:
    """--config PATH (it must be an existing file, else ConfigError naming it); else ./amosheets.toml if there is one.

    None: no file, the environment alone describes the one pair.
    """
    if given is not None:
        if given.is_dir():
            raise ConfigError(
                _("--config {path} is a directory.").format(path=given),
                hint=_("Give the path of the {file} file.").format(file=CONFIG_FILE),
            )
        if not given.is_file():
            raise ConfigError(
                _("--config {path}: no such file.").format(path=given),
                hint=_("Give the path of an existing {file}.").format(file=CONFIG_FILE),
            )
        return given
    default = Path(CONFIG_FILE)
    return default if default.is_file() else None


# --- where each key is -------------------------------------------------------------------------
# tomllib gives values, not positions, and a message without a line is hard to act on in a file of
# several pairs. This scanner reads the lines once more and notes, for each [[pair]] (by index) and
# each [account.NAME], the line of its header and of each `key =` in it. It is not a TOML parser:
# it only needs to be right for ordinary files, and falls back to the header's line otherwise.


@dataclass
class Section:
    line: int  # the header's (1 for the top level)
    keys: dict[str, int] = field(default_factory=dict)  # key → the line it is set on (the first time)

    def at(self, key: str | None) -> int:
        return self.keys.get(key, self.line) if key else self.line


@dataclass
class Lines:
    top: Section = field(default_factory=lambda: Section(1))
    pairs: list[Section] = field(default_factory=list)
    accounts: dict[str, Section] = field(default_factory=dict)


_KEY = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")
_HEADER = re.compile(r"""\s*(\[\[?)\s*(.*?)\s*\]\]?\s*(?:#.*)?$""")


def _unquote(key: str) -> str:
    return key[1:-1] if key[:1] in "\"'" else key


def scan(text: str) -> Lines:
    lines = Lines()
    current = lines.top
    in_string: str | None = None  # the delimiter of a multi-line string we are inside
    depth = 0  # open brackets of a multi-line array
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:  # inside a """…""" value: nothing here is a key or header
            if in_string in line:
                in_string = None
            continue
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                name = header.group(2)
                if header.group(1) == "[[":
                    current = Section(number)
                    if name == "pair":
                        lines.pairs.append(current)
                else:
                    current = Section(number)
                    parts = name.split(".", 1)
                    if len(parts) == 2 and parts[0].strip() == "account":
                        lines.accounts.setdefault(_unquote(parts[1].strip()), current)
                continue
            key = _KEY.match(line)
            if key is None:
                continue
            current.keys.setdefault(_unquote(key.group(1)), number)
            line = line[key.end() :]
        # What follows `=` (or continues an array): strip strings so their brackets and quotes do not count.
        rest = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', "", line.replace('"""', "\x00").replace("'''", "\x01"))
        for delimiter, mark in (('"""', "\x00"), ("'''", "\x01")):
            if rest.count(mark) % 2:
                in_string = delimiter
        rest = rest.split("#", 1)[0]
        depth = max(0, depth + rest.count("[") - rest.count("]"))
    return lines


# --- reading the file --------------------------------------------------------------------------


@dataclass
class _Problems:
    """Every problem found, each prefixed with the file and line it is on."""

    file: str
    lines: Lines
    found: list[str] = field(default_factory=list)

    def at(self, line: int, where: str, message: str) -> None:
        if where:
            said = _("{file}, line {line}, {where}: {message}").format(
                file=self.file, line=line, where=where, message=message
            )
        else:
            said = _("{file}, line {line}: {message}").format(file=self.file, line=line, message=message)
        self.found.append(said)


def _label(index: int, name: object) -> str:
    if isinstance(name, str) and name.strip():
        return _("pair «{name}»").format(name=name)
    return _("[[pair]] no. {number}").format(number=index + 1)


def _unknown(key: str, known: tuple[str, ...], what: str) -> str:
    """An unknown key's problem; ``what`` (TOP_KEYS, "account" or "pair") is where the key is."""
    close = difflib.get_close_matches(key, known, n=1)
    # i18n: put before the list of keys a section may have
    suggestion = _("did you mean {key}? ").format(key=close[0]) if close else ""
    if what == "account":
        said = _("unknown key {key!r}; {suggestion}an account may have: {known}.")
    elif what == "pair":
        said = _("unknown key {key!r}; {suggestion}a pair may have: {known}.")
    else:
        said = _("unknown key {key!r}; {suggestion}the top level may have: {known}.")
    return said.format(key=key, suggestion=suggestion, known=", ".join(known))


def _ref(value: object, key: str, every: bool) -> tuple[Ref, str | None]:
    """A pipeline or status as the file gives it, or the problem with it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        if key == "pipeline":
            said = _(
                '{key} must be a pipeline\'s name in quotes or its ID (a whole number), e.g. {key} = "Основная" '
                "or {key} = 1234567; run `amosheets pipelines` to see them."
            )
        else:
            said = _(
                '{key} must be a status\'s name in quotes or its ID (a whole number), e.g. {key} = "Основная" '
                "or {key} = 1234567; run `amosheets pipelines` to see them."
            )
        return None, said.format(key=key)
    if isinstance(value, int):
        if value <= 0:
            return None, _(
                "{key} is {value}; an ID is a positive whole number — run `amosheets pipelines` to see them."
            ).format(key=key, value=value)
        return value, None
    name = value.strip()
    if not name:
        return None, _("{key} is empty; give a name or an ID, or remove the line for the default.").format(key=key)
    if name == EVERY_PIPELINE and not every:
        return None, _('{key} cannot be "{every}" (that means every pipeline, for pipeline only).').format(
            key=key, every=EVERY_PIPELINE
        )
    return name, None


def load_pairs(path: Path, settings: Settings) -> list[PairConfig]:
    """Every [[pair]] of the file, in file order, with defaults from the environment's settings.

    Raises one ConfigError listing every problem found, the relevant environment problems too.
    """
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(
            _("{file} could not be read: {error}.").format(file=file, error=e.strerror or e),
            hint=_("Check the path and its permissions."),
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            _("{path} is not a text file in UTF-8.").format(path=file), hint=_("Save it as UTF-8.")
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib says "Invalid value (at line 3, column 8)": keep the position, in our format.
        message = str(e)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
        if m:
            # i18n: {what} is the TOML reader's own (English) words
            said = _("{file}, line {line}: not valid TOML: {what} at column {column}.").format(
                file=file, line=m.group(1), what=message[: m.start()], column=m.group(2)
            )
        else:
            said = _("{file}: not valid TOML: {what}.").format(file=file, what=message)
        raise ConfigError(
            said,
            hint=_('Look for a missing quote, = or bracket there; strings go in quotes, like tab = "Сделки".'),
        ) from None
    p = _Problems(file, scan(text))
    secrets: list[str] = []

    for key in data:
        if key not in TOP_KEYS:
            p.at(p.lines.top.at(key), "", _unknown(key, TOP_KEYS, "top"))

    accounts = _accounts(data.get("account", {}), settings, p, secrets)

    pairs_raw = data.get("pair", [])
    if isinstance(pairs_raw, dict):  # [pair] instead of [[pair]]
        p.at(p.lines.top.line, "", _("write each pair as [[pair]] (two brackets), not [pair]."))
        pairs_raw = []
    elif not pairs_raw:
        p.found.append(
            _(
                '{file}: no [[pair]]. Add one for each tab to sync: [[pair]], then name = "main" and tab = "Сделки".'
            ).format(file=file)
        )
    pairs = _pairs(pairs_raw, accounts, settings, p)

    env_problems = _environment_problems(settings, pairs_raw if isinstance(pairs_raw, list) else [])
    found = [redact(m, secrets) for m in (*p.found, *env_problems)]
    if found:
        raise ConfigError(found, hint=_hint())
    return pairs


def _accounts(section: object, settings: Settings, p: _Problems, secrets: list[str]) -> dict[str, AccountConfig]:
    """The [account.NAME] sections, built; one that has a problem is reported and left out."""
    if not isinstance(section, dict):
        p.at(p.lines.top.at("account"), "", _("account must be sections like [account.agency], one per account."))
        return {}
    accounts: dict[str, AccountConfig] = {}
    for name, values in section.items():
        lines = p.lines.accounts.get(name, Section(p.lines.top.at("account")))
        where = f"[account.{name}]"
        if not isinstance(values, dict):
            p.at(
                lines.line, where, _("{section} must be a section with subdomain and token_env.").format(section=where)
            )
            continue
        before = len(p.found)
        for key in values:
            if key not in ACCOUNT_KEYS:
                p.at(lines.at(key), where, _unknown(key, ACCOUNT_KEYS, "account"))
        strings: dict[str, str] = {}
        for key in ("subdomain", "domain", "base_url"):
            if key not in values:
                continue
            if isinstance(values[key], str):
                strings[key] = values[key].strip()
            else:
                p.at(
                    lines.at(key), where, _('{key} must be a string in quotes, like {key} = "otherco".').format(key=key)
                )

        def report(key: str, message: str, lines: Section = lines, where: str = where) -> None:
            p.at(lines.at(key), where, message)

        base_url = amocrm_origin(strings, report, _FILE_ACCOUNT_KEYS)
        auth: SignIn
        if "token_env" in values or not any(k in values for k in OAUTH_ACCOUNT_KEYS):
            token = _token(values.get("token_env"), settings.variables, lines, where, p)
            auth = LongLivedToken(Secret(token))
        else:
            auth = _oauth(values, settings, base_url, lines, where, p)
        secrets.extend(auth.secrets())
        if len(p.found) == before:
            accounts[name] = AccountConfig(name, base_url, auth, settings.amocrm_rate)
        else:
            # Already reported; an account that cannot sign in keeps the pairs naming it from being reported too.
            accounts[name] = AccountConfig(name, "", LongLivedToken(Secret("")), settings.amocrm_rate)
    return accounts


def _oauth(
    values: dict[str, Any], settings: Settings, base_url: str, lines: Section, where: str, p: _Problems
) -> OAuthIntegration:
    """An account that signs in as an external integration: its three keys, each checked on its line."""
    for key in OAUTH_ACCOUNT_KEYS:
        if key not in values:
            p.at(
                lines.line,
                where,
                _(
                    "{key} is missing: an account signed in through OAuth needs client_id, client_secret_env (the NAME "
                    "of the variable holding the secret) and redirect_uri (amoCRM: Settings → Integrations → your "
                    "integration → Keys and scopes); or give token_env for a long-lived token instead."
                ).format(key=key),
            )
    strings = {}
    for key in ("client_id", "redirect_uri"):
        if key in values and not isinstance(values[key], str):
            p.at(lines.at(key), where, _('{key} must be a string in quotes, like {key} = "…".').format(key=key))
        strings[key] = values[key].strip() if isinstance(values.get(key), str) else ""
    if strings["redirect_uri"] and (problem := redirect_problem(strings["redirect_uri"], "redirect_uri")):
        p.at(lines.at("redirect_uri"), where, problem)
    secret = ""
    if "client_secret_env" in values:
        secret = _variable(
            values["client_secret_env"],
            "client_secret_env",
            "OTHERCO_SECRET",
            _("the integration's secret key"),
            lines,
            where,
            p,
            settings.variables,
        )
    return OAuthIntegration(
        strings["client_id"], Secret(secret), strings["redirect_uri"], token_path(settings.state_dir, base_url)
    )


def _token(env_name: object, variables: Mapping[str, str], lines: Section, where: str, p: _Problems) -> str:
    """The token of the variable ``token_env`` names; "" (and a report) if there is none."""
    if env_name is None:
        p.at(
            lines.line,
            where,
            _(
                'token_env is missing: add token_env = "OTHERCO_TOKEN", and set OTHERCO_TOKEN to the account\'s '
                "long-lived token in .env or the environment (or, for an external integration, give client_id, "
                "client_secret_env and redirect_uri instead)."
            ),
        )
        return ""
    token = _variable(
        env_name, "token_env", "OTHERCO_TOKEN", _("the account's long-lived token"), lines, where, p, variables
    )
    return clean_token(token)


def _variable(
    env_name: object,
    key: str,
    example: str,
    what: str,
    lines: Section,
    where: str,
    p: _Problems,
    variables: Mapping[str, str],
) -> str:
    """The value of the variable ``key`` names (``what`` it should hold); "" (and a report) if there is none."""
    # Never echo a value that is not a variable name: it may be the secret pasted in the wrong place.
    if not isinstance(env_name, str) or not _VARIABLE.match(env_name.strip()):
        p.at(
            lines.at(key),
            where,
            # i18n: {what} is "the account's long-lived token" or "the integration's secret key"
            _(
                '{key} must be the NAME of a variable (letters, digits and _), like {key} = "{example}", '
                "not {what}: that goes in .env or the environment under that name."
            ).format(key=key, example=example, what=what),
        )
        return ""
    name = env_name.strip()
    value = clean_token(variables.get(name, "")) if key == "token_env" else variables.get(name, "").strip()
    if not value:
        p.at(
            lines.at(key),
            where,
            # i18n: {what} is "the account's long-lived token" or "the integration's secret key"
            _(
                "{key} is {name!r}, which is not set: set {name} in .env or the environment to {what} "
                "(amoCRM: Settings → Integrations → your integration → Keys and scopes)."
            ).format(key=key, name=name, what=what),
        )
        return ""
    problem = token_problem(value, name)
    if problem:
        p.at(lines.at(key), where, problem)
        return ""
    return value


def _pairs(
    pairs_raw: list[Any], accounts: dict[str, AccountConfig], settings: Settings, p: _Problems
) -> list[PairConfig]:
    pairs: list[PairConfig] = []
    names: dict[str, int] = {}  # name → its line
    tabs: dict[tuple[str, str], tuple[str, int]] = {}  # (spreadsheet, tab as Sheets compares it) → (label, line)
    for index, values in enumerate(pairs_raw):
        lines = p.lines.pairs[index] if index < len(p.lines.pairs) else Section(p.lines.top.at("pair"))
        if not isinstance(values, dict):
            p.at(lines.line, _label(index, None), _("a pair must be a [[pair]] section."))
            continue
        label = _label(index, values.get("name"))

        def report(key: str | None, message: str, lines: Section = lines, label: str = label) -> None:
            p.at(lines.at(key), label, message)

        for key in values:
            if key not in PAIR_KEYS:
                report(key, _unknown(key, PAIR_KEYS, "pair"))

        name = values.get("name")
        if name is None:
            report(None, _('the pair has no name; add name = "main" (it is used in messages, state and --pair).'))
        elif not isinstance(name, str) or not name.strip():
            report("name", _('name must be a non-empty string in quotes, like name = "main".'))
        else:
            name = name.strip()
            if name in names:
                report(
                    "name",
                    _(
                        "the name «{name}» is used by the pair on line {other} too, and on line "
                        "{line}; give each pair its own name."
                    ).format(name=name, other=names[name], line=lines.at("name")),
                )
            else:
                names[name] = lines.at("name")

        tab = values.get("tab")
        if tab is None:
            report(None, _('the pair has no tab; add tab = "…", the title of the sheet\'s tab to sync.'))
        elif not isinstance(tab, str) or not tab.strip():
            report("tab", _('tab must be the tab\'s title in quotes, like tab = "Сделки".'))
            tab = None

        sheet = values.get("sheet")
        spreadsheet_id = settings.sheet_id
        if sheet is not None:
            parsed = parse_sheet_id(sheet.strip()) if isinstance(sheet, str) else None
            if parsed is None:
                report("sheet", bad_sheet_id("sheet", sheet if isinstance(sheet, str) else str(sheet)))
            else:
                spreadsheet_id = parsed

        pipeline, problem = _ref(values.get("pipeline"), "pipeline", every=True)
        if problem and "pipeline" in values:
            report("pipeline", problem)
        status, problem = _ref(values.get("status"), "status", every=False)
        if problem and "status" in values:
            report("status", problem)

        policy: ConflictPolicy | None = None
        conflict = values.get("conflict")
        if conflict is not None:
            choices = [c.value for c in ConflictPolicy]
            if isinstance(conflict, str) and conflict.strip().lower() in choices:
                policy = ConflictPolicy(conflict.strip().lower())
            else:
                report(
                    "conflict",
                    _("conflict must be one of {choices} (who wins a conflict).").format(
                        choices=", ".join(map(repr, choices))
                    ),
                )

        account = settings.account()
        account_name = values.get("account")
        if account_name is not None:
            if isinstance(account_name, str) and account_name in accounts:
                account = accounts[account_name]
            else:
                if accounts:
                    said = _(
                        "account is {name!r}, but the file defines no [account.{name}] "
                        "(defined: {defined}). Add that section, or remove account to use the environment's."
                    )
                else:  # a text of its own, rather than a "none" put in the list's place
                    said = _(
                        "account is {name!r}, but the file defines no [account.{name}] "
                        "(defined: none). Add that section, or remove account to use the environment's."
                    )
                report("account", said.format(name=account_name, defined=", ".join(accounts)))

        if isinstance(tab, str):
            same = (spreadsheet_id, tab.strip().casefold())  # Sheets matches titles this way
            if same in tabs:
                other, line = tabs[same]
                report(
                    "tab",
                    # i18n: {other} is "pair «main»" or "[[pair]] no. 2"
                    _(
                        "tab «{tab}» is also the tab of {other} (line {line}) in the same spreadsheet; "
                        "two pairs cannot sync one tab — change the tab or sheet of one of them."
                    ).format(tab=tab.strip(), other=other, line=line),
                )
            else:
                tabs[same] = (label, lines.at("tab"))

        if isinstance(name, str) and isinstance(tab, str):
            # i18n: where a pair's pipeline or status is set: "amosheets.toml, line 3, pair «main»"
            where = _("{file}, line {line}, {label}")
            pairs.append(
                PairConfig(
                    name=name,
                    account=account,
                    tab=TabConfig(spreadsheet_id, tab.strip(), settings.sheets_api_url, settings.google_credentials),
                    pipeline=pipeline,
                    status=status,
                    state_dir=settings.state_dir,
                    policy=policy,
                    names=SettingNames(
                        pipeline=f"pipeline ({where.format(file=p.file, line=lines.at('pipeline'), label=label)})",
                        status=f"status ({where.format(file=p.file, line=lines.at('status'), label=label)})",
                    ),
                )
            )
    return pairs


def _environment_problems(settings: Settings, pairs_raw: list[Any]) -> list[str]:
    """The environment's problems that matter with this file (their wording kept)."""

    def about(problem: str, names: tuple[str, ...]) -> bool:
        return problem.startswith(tuple(f"{n} " for n in names))

    pairs = [v for v in pairs_raw if isinstance(v, dict)]
    env_account = any("account" not in v for v in pairs)
    env_sheet = any("sheet" not in v for v in pairs)
    found = [g for g in settings.problems.get(GOOGLE, []) if env_sheet or not about(g, _SHEET_ENV)]
    if env_account:
        found += [a for a in settings.problems.get(AMOCRM, []) if not about(a, _UNUSED_ENV)]
    found += settings.problems.get("other", [])
    return [f for f in found if not about(f, _UNUSED_ENV)]
