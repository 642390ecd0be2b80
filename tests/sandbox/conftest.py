"""What the emulators' tests share: an emulator served on loopback, and a session for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from amosheets.sandbox.amocrm import AmoCRMEmulator
from amosheets.sandbox.server import RunningServer
from amosheets.sandbox.sheets import SheetsEmulator

TIMEOUT = 10


class Amo:
    """An emulator served on loopback, with an authorised session."""

    def __init__(self, emu: AmoCRMEmulator, server: RunningServer) -> None:
        self.emu = emu
        self.server = server
        self.url = server.url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {emu.token}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.s.get(self.url + path, timeout=TIMEOUT, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.s.post(self.url + path, json=body, timeout=TIMEOUT, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.s.patch(self.url + path, json=body, timeout=TIMEOUT, **kw)

    def ctl(self, method: str, path: str, body: Any = None) -> requests.Response:
        """A control request: no token, never counted."""
        return requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=TIMEOUT)

    def fields(self, entity: str = "leads") -> dict[str, dict[str, Any]]:
        r = self.get(f"/api/v4/{entity}/custom_fields", params={"limit": 250})
        assert r.status_code == 200, r.text
        return {f["name"]: f for f in r.json()["_embedded"]["custom_fields"]}

    def lead(self, lead_id: int) -> dict[str, Any]:
        r = self.get(f"/api/v4/leads/{lead_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def create(self, **lead: Any) -> int:
        r = self.post("/api/v4/leads", [{"name": "Сделка", **lead}])
        assert r.status_code == 200, r.text
        return int(r.json()["_embedded"]["leads"][0]["id"])

    def all_leads(self) -> list[dict[str, Any]]:
        r = self.get("/api/v4/leads", params={"limit": 250})
        return [] if r.status_code == 204 else r.json()["_embedded"]["leads"]


_closing: list[threading.Thread] = []


@pytest.fixture(scope="module", autouse=True)
def _join_closing_servers() -> Iterator[None]:
    yield
    for t in _closing:
        t.join(timeout=5)


@pytest.fixture
def make_amo() -> Iterator[Callable[..., Amo]]:
    """Emulators on loopback; ``rate_limit`` is off unless a test asks for it."""
    servers: list[RunningServer] = []

    def make(**kw: Any) -> Amo:
        kw.setdefault("rate_limit", None)
        emu = AmoCRMEmulator(**kw)
        server = RunningServer(emu)
        servers.append(server)
        return Amo(emu, server)

    yield make
    for s in servers:  # shutdown waits for the serve loop's poll; do it in the background
        t = threading.Thread(target=s.close, daemon=True)
        t.start()
        _closing.append(t)


@pytest.fixture(scope="module")
def quota_free_sheets() -> Iterator[tuple[SheetsEmulator, RunningServer]]:
    """A Sheets emulator without quotas (what the format and date tests need), served for one test module."""
    emu = SheetsEmulator(read_quota=None, write_quota=None)
    with RunningServer(emu) as server:
        yield emu, server
