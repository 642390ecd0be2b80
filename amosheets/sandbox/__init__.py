"""The sandbox: local emulators of amoCRM API v4 and Google Sheets API v4.

Neither service can be reached from a test machine, so tests, benchmarks and the demo run
the real client code (requests, gspread) against these over loopback. ``Sandbox`` starts
both, seeds a sample account and sheet, and says how to point the CLI at them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amosheets.sandbox.amocrm import AmoCRMEmulator
from amosheets.sandbox.server import PortUnavailable, RunningServer
from amosheets.sandbox.sheets import SheetsEmulator

__all__ = [
    "EMPTY_TAB",
    "SAMPLE_HEADERS",
    "SAMPLE_SHEET_HEADERS",
    "AmoCRMEmulator",
    "PortUnavailable",
    "Sandbox",
    "SheetsEmulator",
]

MAX_ACCOUNTS = 20  # amoCRM accounts one sandbox serves at most

SAMPLE_HEADERS = ["lead_id", "Имя", "Телефон", "Email", "Сумма", "Статус", "Воронка"]
SAMPLE_TAB = "Сделки"
# The sample spreadsheet's second tab, left empty: where `amosheets init` (README, first steps) can write its headers.
EMPTY_TAB = "Пустая"

# The sample sheet also has a few custom-field columns of the sample account, so a newcomer sees them work.
SAMPLE_SHEET_HEADERS = [*SAMPLE_HEADERS, "Город", "Продукт", "Дата встречи", "Теги", "Синхронизация"]
_SAMPLE_ROWS = [
    [
        "",
        "Иван Петров",
        "+7 999 123-45-67",
        "ivan@example.com",
        "15000",
        "Первичный контакт",
        "Воронка",
        "Казань",
        "премиум",
        "2026-12-15",
        "VIP",
    ],
    [
        "",
        "ООО «Ромашка»",
        "+7 495 000-00-01",
        "zakupki@romashka.example",
        "250 000",
        "Переговоры",
        "Воронка",
        "",
        "Базовый",
        "",
        "Опт, Новый",
    ],
    ["", "Мария Соколова", "+7 912 555-01-02", "", "", "", ""],
]
_SAMPLE_LEADS = [
    ("Алексей Смирнов", 48000, "Переговоры", "+7 903 111-22-33", "smirnov@example.com"),
    ('=HYPERLINK("http://evil.example")', 1000, "Первичный контакт", "+7 999 000-00-00", None),
    ("ИП Кузнецова", 120000, "Принимают решение", None, "kuznetsova@example.com"),
    ("Дмитрий Орлов", 7500, "Согласование договора", "+7 921 444-55-66", None),
    ("Екатерина Волкова", 0, "Первичный контакт", None, None),
]
# What managers filled in on some of the sample deals: {field name: API write values}, tag names, responsible.
_SAMPLE_EXTRAS: dict[int, tuple[dict[str, list[dict[str, Any]]], list[str], str | None]] = {
    0: (
        {
            "Город": [{"value": "Москва"}],
            "Продукт": [{"value": "Стандарт"}],
            "Интересы": [{"value": "Доставка"}, {"value": "Монтаж"}],
            "Дата встречи": [{"value": "2026-12-02T00:00:00+03:00"}],
        },
        ["VIP"],
        "Анна Соколова",
    ),
    2: (
        {
            "Город": [{"value": "Казань"}],
            "Продукт": [{"value": "Премиум"}],
            "Канал": [{"value": "Рекомендация"}],
            "Оплачено": [{"value": True}],
            "Предоплата": [{"value": 60000}],
        },
        ["VIP", "Опт"],
        None,
    ),
    3: ({"Количество": [{"value": 3}], "Канал": [{"value": "Звонок"}]}, ["Опт"], None),
}


def _seed_leads(amocrm: AmoCRMEmulator, leads: int) -> None:
    """``leads`` sample deals in the main pipeline, some with custom field values, tags, another responsible."""
    pipeline = amocrm.main_pipeline()
    by_name = {s["name"]: s["id"] for s in pipeline["_embedded"]["statuses"]}
    users = {u["name"]: u["id"] for u in amocrm.users()}
    for i in range(leads):
        name, price, status, phone, email = _SAMPLE_LEADS[i % len(_SAMPLE_LEADS)]
        values, tags, responsible = _SAMPLE_EXTRAS.get(i, ({}, [], None))
        amocrm.create_lead(
            name if i < len(_SAMPLE_LEADS) else f"{name} {i + 1}",
            price=price,
            status_id=by_name[status],
            pipeline_id=pipeline["id"],
            phone=phone,
            email=email,
            custom_fields_values=[
                {"field_id": amocrm.find_field(field)["id"], "values": v} for field, v in values.items()
            ]
            or None,
            tags=tags or None,
            responsible_user_id=users[responsible] if responsible else None,
        )


def _toml_str(s: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these)."""
    return json.dumps(s, ensure_ascii=False)


class Sandbox:
    """Both emulators on loopback. Use as a context manager."""

    def __init__(
        self,
        amocrm_port: int = 0,
        sheets_port: int = 0,
        amocrm_latency: float = 0.0,
        sheets_latency: float = 0.0,
        rate_limit: int | None = 7,
        read_quota: int | None = 60,
        write_quota: int | None = 60,
        token: str = "sandbox-token",
        account_id: int | None = None,
        amocrm_timezone: str = "Europe/Moscow",
        token_is_admin: bool = True,
        any_port_if_taken: frozenset[str] = frozenset(),
        accounts: int = 1,
    ) -> None:
        """``any_port_if_taken`` names the emulators ("amocrm", "sheets") that take a free port when theirs is
        in use; ``moved`` then says which ports they wanted.

        ``accounts`` > 1 serves that many amoCRM accounts: ``amocrm`` is the first (the one env() names), the
        others each listen on a free port of their own, with their own token (``{token}-2``, …), account id,
        deals, counters and rate limit, and the same options. ``accounts`` lists them all; account_sections()
        and account_env() say how amosheets.toml reaches the others."""
        if not 1 <= accounts <= MAX_ACCOUNTS:
            raise ValueError(f"accounts must be 1 to {MAX_ACCOUNTS}, not {accounts}")
        self.token = token
        self._amocrm_options: dict[str, Any] = {
            "token": token,
            "latency": amocrm_latency,
            "rate_limit": rate_limit,
            "timezone": amocrm_timezone,
            "token_is_admin": token_is_admin,
        }
        self.amocrm = AmoCRMEmulator(account_id=account_id, **self._amocrm_options)
        self._more_accounts = [
            AmoCRMEmulator(**{**self._amocrm_options, "token": f"{token}-{n}", "subdomain": f"sandbox{n}"})
            for n in range(2, accounts + 1)
        ]
        self.sheets = SheetsEmulator(latency=sheets_latency, read_quota=read_quota, write_quota=write_quota)
        self._ports = (amocrm_port, sheets_port)
        self._any_port_if_taken = any_port_if_taken
        self.moved: dict[str, int] = {}  # emulator name → the port that was in use
        self._servers: list[RunningServer] = []
        self.spreadsheet_id: str | None = None
        self.worksheet = SAMPLE_TAB

    def start(self) -> Sandbox:
        """Serve both emulators. A taken port is PortUnavailable (with neither left running), unless the
        emulator is in ``any_port_if_taken``: then it listens on a free port, and ``moved`` says so."""
        try:
            for emulator, port in ((self.amocrm, self._ports[0]), (self.sheets, self._ports[1])):
                try:
                    server = RunningServer(emulator, port=port)
                except PortUnavailable:
                    if not port or emulator.name not in self._any_port_if_taken:
                        raise
                    server = RunningServer(emulator, port=0)
                    self.moved[emulator.name] = port
                self._servers.append(server)
            for emulator in self._more_accounts:
                self._servers.append(RunningServer(emulator, port=0))
        except PortUnavailable:
            self.close()
            raise
        return self

    def restart_amocrm(self, account_id: int | None = None) -> AmoCRMEmulator:
        """Serve a freshly seeded amoCRM at the same address: what a restarted sandbox looks like to a client
        (another account id unless ``account_id`` is given; lead ids start over). The other accounts, if any,
        stay as they are."""
        old = self._servers[0]
        old.close()
        self.amocrm = AmoCRMEmulator(account_id=account_id, **self._amocrm_options)
        self._servers[0] = RunningServer(self.amocrm, host=old.host, port=old.port)
        return self.amocrm

    def close(self) -> None:
        for s in self._servers:
            s.close()
        self._servers = []

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def amocrm_url(self) -> str:
        return self._servers[0].url

    @property
    def sheets_url(self) -> str:
        return self._servers[1].url

    # -- several amoCRM accounts ----------------------------------------------------------
    @property
    def accounts(self) -> list[AmoCRMEmulator]:
        """Every amoCRM account served; index 0 is ``amocrm``."""
        return [self.amocrm, *self._more_accounts]

    def account_url(self, i: int) -> str:
        """The origin of account ``i`` (0: ``amocrm_url``)."""
        self._check_account(i)
        return self._servers[0].url if i == 0 else self._servers[i + 1].url

    def account_token(self, i: int) -> str:
        """The token account ``i`` answers to (0: ``token``)."""
        self._check_account(i)
        return self.accounts[i].token

    @staticmethod
    def account_name(i: int) -> str:
        """The key of account ``i`` in amosheets.toml: ``a1``, ``a2``, … (a1 is the environment's account)."""
        return f"a{i + 1}"

    @staticmethod
    def account_token_env(i: int) -> str:
        """The name of the environment variable that holds account ``i``'s token: ``A2_TOKEN``, …"""
        return f"A{i + 1}_TOKEN"

    def account_tab(self, i: int) -> str:
        """The tab of account ``i``'s pair in config_sample(): ``worksheet`` for the first, ``Сделки a2``, …"""
        return self.worksheet if i == 0 else f"{self.worksheet} {self.account_name(i)}"

    def account_sections(self, accounts: Sequence[int] | None = None) -> str:
        """The ``[account.aN]`` sections of amosheets.toml for the accounts after the first (or ``accounts``);
        their tokens are in account_env()."""
        chosen = range(1, len(self.accounts)) if accounts is None else accounts
        sections = []
        for i in chosen:
            if i == 0:
                continue  # the environment's account (AMOCRM_BASE_URL, AMOCRM_INTEGRATION_TOKEN)
            sections.append(
                f"[account.{self.account_name(i)}]\n"
                f"base_url = {_toml_str(self.account_url(i))}\n"
                f"token_env = {_toml_str(self.account_token_env(i))}\n"
            )
        return "\n".join(sections)

    def account_env(self) -> dict[str, str]:
        """The environment variables that hold the tokens of the accounts after the first."""
        return {self.account_token_env(i): self.account_token(i) for i in range(1, len(self.accounts))}

    def pair_section(self, i: int, name: str | None = None, tab: str | None = None, pipeline: str = "*") -> str:
        """One ``[[pair]]`` of amosheets.toml: account ``i``'s deals of ``pipeline`` ↔ ``tab`` (default:
        account_tab(i)) of the spreadsheet; the first account is the environment's, so it names none."""
        lines = [
            "[[pair]]",
            f"name = {_toml_str(name or self.account_name(i))}",
            f"tab = {_toml_str(tab or self.account_tab(i))}",
            f"pipeline = {_toml_str(pipeline)}",
        ]
        if i:
            lines.append(f"account = {_toml_str(self.account_name(i))}")
        return "\n".join(lines) + "\n"

    def config_sample(self) -> str:
        """An amosheets.toml with one pair per account (each its own tab, every pipeline) and the accounts'
        sections; the spreadsheet is the environment's (GOOGLE_SHEET_ID)."""
        pairs = [self.pair_section(i) for i in range(len(self.accounts))]
        return "\n".join([*pairs, self.account_sections()]).rstrip("\n") + "\n"

    def _check_account(self, i: int) -> None:
        if not 0 <= i < len(self.accounts):
            raise IndexError(f"no account {i}: the sandbox serves {len(self.accounts)} (0 to {len(self.accounts) - 1})")

    def new_spreadsheet(self, rows: list[list[str]] | None = None, headers: list[str] | None = None) -> str:
        """A spreadsheet with one tab holding a header row and ``rows``; it becomes the one env() names."""
        self.spreadsheet_id = self.sheets.create_spreadsheet(title="amosheets sandbox", sheets=[self.worksheet])
        values = [list(headers if headers is not None else SAMPLE_HEADERS), *(rows or [])]
        self.sheets.set_values(self.spreadsheet_id, self.worksheet, values)
        return self.spreadsheet_id

    def seed_sample(self, leads: int = 5) -> None:
        """A sheet with a few new rows and an account with a few deals, as the demo shows them.

        The spreadsheet has a second tab, EMPTY_TAB, with nothing in it, for trying ``amosheets init``.

        With several accounts, each of the others gets the same deals and a tab of its own with the headers
        (account_tab(i)), for config_sample()'s pairs.

        Some of the first deals carry custom field values (Город, Продукт, Интересы, …), tags and
        another responsible user, as managers leave them.
        """
        sid = self.new_spreadsheet(_SAMPLE_ROWS, SAMPLE_SHEET_HEADERS)
        self.sheets.add_sheet(sid, EMPTY_TAB)
        _seed_leads(self.amocrm, leads)
        for i, account in enumerate(self._more_accounts, start=1):
            self.sheets.add_sheet(sid, self.account_tab(i))
            self.sheets.set_values(sid, self.account_tab(i), [list(SAMPLE_SHEET_HEADERS)])
            _seed_leads(account, leads)

    def env(self) -> dict[str, str]:
        """The settings that point amosheets at this sandbox."""
        env = {
            "AMOCRM_BASE_URL": self.amocrm_url,
            "AMOCRM_INTEGRATION_TOKEN": self.token,
            "GOOGLE_SHEETS_API_URL": self.sheets_url,
            "GOOGLE_WORKSHEET": self.worksheet,
        }
        if self.spreadsheet_id:
            env["GOOGLE_SHEET_ID"] = self.spreadsheet_id
        return env

    def oauth_env(self) -> dict[str, str]:
        """Like env(), for a client that signs in with OAuth instead of the long-lived token: no
        AMOCRM_INTEGRATION_TOKEN, but the first account's integration (AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET,
        AMOCRM_REDIRECT_URI). The code to exchange comes from ``amocrm.oauth_code()`` (or POST
        /_sandbox/oauth/code); every other account has an integration of its own (``accounts[i].oauth_client()``)."""
        env = self.env()
        del env["AMOCRM_INTEGRATION_TOKEN"]
        client = self.amocrm.oauth_client()
        oauth = {
            "AMOCRM_CLIENT_ID": client["client_id"],
            "AMOCRM_CLIENT_SECRET": client["client_secret"],
            "AMOCRM_REDIRECT_URI": client["redirect_uri"],
        }
        return {"AMOCRM_BASE_URL": env.pop("AMOCRM_BASE_URL"), **oauth, **env}

    def env_lines(self) -> list[str]:
        """The lines of a .env file for this sandbox; when the spreadsheet has the empty tab, a commented-out
        GOOGLE_WORKSHEET line names it (for ``amosheets init``, which writes headers into an empty tab only)."""
        lines = [f"{k}={v}" for k, v in self.env().items()]
        if self.spreadsheet_id and EMPTY_TAB in self.sheets.sheet_titles(self.spreadsheet_id):
            at = next(i for i, line in enumerate(lines) if line.startswith("GOOGLE_WORKSHEET=")) + 1
            lines.insert(
                at,
                f"# GOOGLE_WORKSHEET={EMPTY_TAB}   # an empty tab, for `amosheets init`: uncomment this line to use it",
            )
        return lines

    # -- Google as a person -------------------------------------------------------------------
    def google_client_secrets(self, client_id: str | None = None) -> dict[str, Any]:
        """An OAuth client's secrets file (``{"installed": …}``) whose auth_uri and token_uri are the Sheets
        emulator's: what `amosheets auth google --client-secrets FILE` takes. The first registered client
        (registered now if there is none) unless ``client_id`` is given."""
        return self.sheets.client_secrets_json(self.sheets_url, client_id)

    def google_authorized_user(self, email: str | None = None) -> dict[str, Any]:
        """A person already signed in (``email``, default anna@example.com): an ``authorized_user`` file's
        content, its token_uri the Sheets emulator's."""
        return self.sheets.authorized_user_json(self.sheets_url, email)

    def write_client_secrets(self, path: str | os.PathLike[str]) -> Path:
        """``google_client_secrets()`` written to ``path`` (readable by its owner only, as a secret should be)."""
        return _write_private_json(Path(path), self.google_client_secrets())

    def write_authorized_user(self, path: str | os.PathLike[str], email: str | None = None) -> Path:
        """``google_authorized_user(email)`` written to ``path`` (0600): a GOOGLE_APPLICATION_CREDENTIALS file."""
        return _write_private_json(Path(path), self.google_authorized_user(email))

    def wait(self) -> None:
        threading.Event().wait()


def _write_private_json(path: Path, content: dict[str, Any]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
    os.chmod(path, 0o600)  # the file may have been there before, with another mode
    return path
