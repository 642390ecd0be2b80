"""The tool in each language, through the CLI against the sandbox: what it says, its help and the sync column."""

from __future__ import annotations

import re

import pytest

from amosheets.sandbox import SAMPLE_HEADERS
from amosheets.sync.fields import DEFAULT_HEADER_ROW, SYNC_HEADERS

from .conftest import World

# Names, commands and what the user typed may stay in any language; everything else must be the run's.
_KEPT = re.compile(
    r"`[^`]*`|«[^»]*»|'[^']*'|\"[^\"]*\"|https?://\S+|\b[A-Z][A-Z0-9_]{2,}\b|--?[a-z][\w-]*|\S+\.(?:json|toml|env|sqlite3)\b"
    r"|\b(?:amoCRM|Kommo|Google|Sheets|OAuth|JSON|amosheets|lead_id|Email|sync|pull|push|check|init|Usage|Options"
    r"|Commands|Show this message and exit)\b|^\d{4}-\d\d-\d\dT[\d:]+ ",
    re.M,
)
_HEADERS = re.compile(r"\b(?:" + "|".join(map(re.escape, (*DEFAULT_HEADER_ROW, *SYNC_HEADERS, "Контакт"))) + r")\b")
_DATA = ("Анна", "Борис", "Воронка", "Первичный контакт", "Сделки", "Sandbox account", "пять", "Сума")


def english_words_left(text: str) -> list[str]:
    """Runs of three or more English words in a Russian text, once names, commands and quoted data are out."""
    rest = _KEPT.sub(" ", text)
    return re.findall(r"\b[A-Za-z]{3,}\b(?:[ ,]+\b[A-Za-z]{2,}\b){2,}", rest)


def cyrillic_left(text: str) -> list[str]:
    """Cyrillic words in an English text beyond the tool's headers and the sandbox's data."""
    rest = _HEADERS.sub(" ", _KEPT.sub(" ", text))
    for d in _DATA:
        rest = rest.replace(d, " ")
    return re.findall(r"[А-Яа-яЁё]+", rest)


@pytest.fixture
def spoken(world: World):
    """A sheet with a good new row, a row with a bad number and a near-miss header, in amoCRM a deal."""
    world.set_rows(
        [["", "Анна", "", "", "100", "", "", ""], ["", "Борис", "", "", "пять", "", "", ""]],
        [*SAMPLE_HEADERS, "Синхронизация", "Сума"],
    )
    return world


def run(w: World, lang: str, *args: str) -> str:
    r = w.cli(*args, env={**w.env, "AMOSHEETS_LANG": lang, "COLUMNS": "200"})
    assert "Traceback" not in r.stderr
    return r.stdout + r.stderr


def test_a_run_in_russian_says_everything_in_russian(spoken: World):
    said = [
        run(spoken, "ru", *args) for args in (("check",), ("sync", "--dry-run"), ("sync",), ("status",), ("sync", "-h"))
    ]
    said.append(run(spoken, "ru", "--help"))
    for text in said:
        assert english_words_left(text) == [], text
    whole = "\n".join(said)
    assert "ошибка: строка 3, столбец Сумма" in whole  # the bad row, named
    assert "Строка 1:" not in said[0] and "Сума" in said[0]  # check's header line, without its "Row 1:"
    cells = {r[1]: r[7] for r in spoken.rows()[1:]}
    assert "сделка создана" in cells["Анна"] and cells["Борис"].startswith("✗ Сумма")


def test_a_run_in_english_has_no_russian_but_data(spoken: World):
    said = [
        run(spoken, "en", *args) for args in (("check",), ("sync", "--dry-run"), ("sync",), ("status",), ("sync", "-h"))
    ]
    said.append(run(spoken, "en", "--help"))
    for text in said:
        assert cyrillic_left(text) == [], text
    cells = {r[1]: r[7] for r in spoken.rows()[1:]}
    assert "deal created" in cells["Анна"]


def test_the_locale_chooses_when_the_setting_does_not(spoken: World):
    env = {**spoken.env, "LC_ALL": "ru_RU.UTF-8"}
    r = spoken.cli("sync", "--dry-run", env=env)
    assert "холостой запуск" in r.stdout + r.stderr
    r = spoken.cli("sync", "--dry-run", env={**env, "AMOSHEETS_LANG": "en"})
    assert "dry run" in r.stdout + r.stderr
