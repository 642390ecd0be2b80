"""Fixtures shared by the end-to-end tests: a running sandbox and a way to run amosheets on it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from amosheets import i18n, language_watch
from amosheets.config import load_settings
from amosheets.engine import Engine, Options, Outcome
from amosheets.sandbox import SAMPLE_HEADERS, Sandbox
from amosheets.state import StateStore
from amosheets.sync.catalog import TTL
from amosheets.sync.plan import Direction

ROOT = Path(__file__).resolve().parent.parent
_SAID = pytest.StashKey[Path]()

# The suite's expectations are in English, the code's own language: whatever this machine's locale, the runs it
# starts speak English unless a test asks for another language (AMOSHEETS_LANG, which wins over the locale).
for _variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
    os.environ.pop(_variable, None)
os.environ["LC_ALL"] = "C.UTF-8"


def pytest_configure(config: pytest.Config) -> None:
    """Every run of the session keeps what it said, in every language, for test_language_watch.py to judge:
    this process's from now on, each subprocess's through the environment it inherits."""
    config.addinivalue_line("markers", "last_of_session: run after every other test (it judges what they did)")
    directory = Path(tempfile.mkdtemp(prefix="amosheets-said-"))
    os.environ[language_watch.VARIABLE] = str(directory)
    i18n.watch_languages(directory)
    config.stash[_SAID] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash.get(_SAID, Path("/nonexistent")), ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last_of_session") is not None)  # a stable sort


def interruptible() -> None:
    """A child's ``preexec_fn``: Ctrl-C (SIGINT) as a terminal sends it, whatever the test runner inherited.

    A shell starts a background job (``pytest … &``, as some CI runners do) with SIGINT ignored, and
    a child inherits that: Python then installs no KeyboardInterrupt, and a test that presses Ctrl-C
    would hang or see the tool finish as if nothing was pressed.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class World:
    """A sandbox with an empty sheet (header row only), and amosheets pointed at it."""

    sb: Sandbox
    env: dict[str, str]

    @property
    def sid(self) -> str:
        assert self.sb.spreadsheet_id
        return self.sb.spreadsheet_id

    @property
    def tab(self) -> str:
        return self.sb.worksheet

    def settings(self):
        return load_settings(environ=self.env)

    def run(self, direction: str = "sync", **options) -> Outcome:
        return Engine.from_settings(self.settings(), Options(Direction(direction), **options)).run()

    def a_day_later(self) -> None:
        """Age the state's copy of the pipelines by a day, so that the next run reads them again.

        (amoCRM's clock can be moved, this machine's cannot: the copy's age is this machine's.)"""
        pair = self.settings().pair()
        store = StateStore.open(pair.state_dir, pair.scope)
        try:
            held = store.pipelines()
            assert held is not None, "no run has kept the pipelines yet"
            with store.transaction():
                store.remember_pipelines(held[0], held[1] - TTL)
        finally:
            store.close()

    def rows(self, render: str = "FORMATTED_VALUE") -> list[list]:
        return self.sb.sheets.values(self.sid, self.tab, render=render)

    def set_rows(self, rows: list[list], headers: list[str] | None = None) -> None:
        """Replace the tab's content: a header row and these rows."""
        old = self.rows()
        if old:
            width = max(len(r) for r in old)
            self.sb.sheets.set_values(self.sid, self.tab, [[""] * width for _ in old])
        self.sb.sheets.set_values(self.sid, self.tab, [headers or SAMPLE_HEADERS, *rows])

    def by_lead(self) -> dict[int, list]:
        """lead_id → the row's cells (as the sheet shows them)."""
        values = self.rows()
        out = {}
        for r in values[1:]:
            if r and str(r[0]).isdigit():
                out[int(r[0])] = r + [""] * (7 - len(r))
        return out

    def stats(self) -> tuple[dict, dict]:
        return self.sb.amocrm.stats(), self.sb.sheets.stats()

    def reset_stats(self) -> None:
        self.sb.amocrm.reset_stats()
        self.sb.sheets.reset_stats()

    def status_id(self, name: str, pipeline_id: int | None = None) -> int:
        return int(self.sb.amocrm.find_status(name, pipeline_id)["id"])

    def store(self) -> StateStore:

        s = self.settings()
        return StateStore.open(s.state_dir, s.pair().scope)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AMOCRM_", "GOOGLE_", "AMOSHEETS_"))}
        full_env.update(env if env is not None else self.env)
        full_env["NO_COLOR"] = "1"
        return subprocess.run(
            [sys.executable, "-m", "amosheets", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=self.env.get("AMOSHEETS_STATE_DIR", str(ROOT)),
            timeout=120,
        )


def sandbox_world(tmp_path: Path, oauth: bool = False) -> Iterator[World]:
    """A sandbox with an empty sheet and a state directory; amoCRM signed in with its token, or (``oauth``) set
    up for OAuth and not signed in yet."""
    with Sandbox() as sb:
        sb.new_spreadsheet([])
        state = tmp_path / "state"
        state.mkdir()
        yield World(sb, {**(sb.oauth_env() if oauth else sb.env()), "AMOSHEETS_STATE_DIR": str(state)})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from sandbox_world(tmp_path)
