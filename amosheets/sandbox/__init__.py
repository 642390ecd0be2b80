"""The sandbox: local emulators of amoCRM API v4 and Google Sheets API v4.

Neither service can be reached from a test machine, so tests, benchmarks and the demo run
the real client code (requests, gspread) against these over loopback. ``Sandbox`` starts
both, seeds a sample account and sheet, and says how to point the CLI at them.
"""

from __future__ import annotations

import threading
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
    ) -> None:
        """``any_port_if_taken`` names the emulators ("amocrm", "sheets") that take a free port when theirs is
        in use; ``moved`` then says which ports they wanted."""
        self.token = token
        self._amocrm_options: dict[str, Any] = {
            "token": token,
            "latency": amocrm_latency,
            "rate_limit": rate_limit,
            "timezone": amocrm_timezone,
            "token_is_admin": token_is_admin,
        }
        self.amocrm = AmoCRMEmulator(account_id=account_id, **self._amocrm_options)
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
        except PortUnavailable:
            self.close()
            raise
        return self

    def restart_amocrm(self, account_id: int | None = None) -> AmoCRMEmulator:
        """Serve a freshly seeded amoCRM at the same address: what a restarted sandbox looks like to a client
        (another account id unless ``account_id`` is given; lead ids start over)."""
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

    def new_spreadsheet(self, rows: list[list[str]] | None = None, headers: list[str] | None = None) -> str:
        """A spreadsheet with one tab holding a header row and ``rows``; it becomes the one env() names."""
        self.spreadsheet_id = self.sheets.create_spreadsheet(title="amosheets sandbox", sheets=[self.worksheet])
        values = [list(headers if headers is not None else SAMPLE_HEADERS), *(rows or [])]
        self.sheets.set_values(self.spreadsheet_id, self.worksheet, values)
        return self.spreadsheet_id

    def seed_sample(self, leads: int = 5) -> None:
        """A sheet with a few new rows and an account with a few deals, as the demo shows them.

        The spreadsheet has a second tab, EMPTY_TAB, with nothing in it, for trying ``amosheets init``.

        Some of the first deals carry custom field values (Город, Продукт, Интересы, …), tags and
        another responsible user, as managers leave them.
        """
        sid = self.new_spreadsheet(_SAMPLE_ROWS, SAMPLE_SHEET_HEADERS)
        self.sheets.add_sheet(sid, EMPTY_TAB)
        pipeline = self.amocrm.main_pipeline()
        by_name = {s["name"]: s["id"] for s in pipeline["_embedded"]["statuses"]}
        users = {u["name"]: u["id"] for u in self.amocrm.users()}
        for i in range(leads):
            name, price, status, phone, email = _SAMPLE_LEADS[i % len(_SAMPLE_LEADS)]
            values, tags, responsible = _SAMPLE_EXTRAS.get(i, ({}, [], None))
            self.amocrm.create_lead(
                name if i < len(_SAMPLE_LEADS) else f"{name} {i + 1}",
                price=price,
                status_id=by_name[status],
                pipeline_id=pipeline["id"],
                phone=phone,
                email=email,
                custom_fields_values=[
                    {"field_id": self.amocrm.find_field(field)["id"], "values": v} for field, v in values.items()
                ]
                or None,
                tags=tags or None,
                responsible_user_id=users[responsible] if responsible else None,
            )

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

    def wait(self) -> None:
        threading.Event().wait()
