"""What counts as a text in the wrong language (CONTRACT's "Language"): the rules the language tests share.

Names, commands, what the user typed and the data a text quotes may be in any language; every other word is
the run's. A Russian text fails with three English words in a row once those are out; an English text with
any Cyrillic word beyond the tool's own headers (Russian by default) and the sandbox's data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from amosheets.language_watch import DATA
from amosheets.sync.fields import DEFAULT_HEADER_ROW, SYNC_HEADERS

# Names, commands, what the user typed and quoted text may stay in any language; everything else must be the run's.
KEPT = re.compile(
    r"`[^`]*`|«[^»]*»|'[^']*'|\"[^\"]*\"|https?://\S+|\b[A-Z][A-Z0-9_]{2,}\b|--?[a-z][\w-]*|\S+\.(?:json|toml|env|sqlite3)\b"
    r"|\b(?:amoCRM|Kommo|Google|Sheets|OAuth|JSON|amosheets|lead_id|Email|sync|pull|push|check|init)\b"
    r"|^\d{4}-\d\d-\d\dT[\d:]+ |^\s+amosheets .*$",
    re.M,
)
# The column headers the tool reads (Russian by default), and the words a yes/no cell may hold, are names.
_HEADERS = re.compile(
    r"\b(?:" + "|".join(map(re.escape, (*DEFAULT_HEADER_ROW, *SYNC_HEADERS, "Контакт", "да/нет"))) + r")\b"
)
_DATA = ("Анна", "Борис", "Воронка", "Первичный контакт", "Сделки", "Sandbox account", "пять", "Сума")
_MARKED = re.compile(f"{DATA[0]}[^{DATA[1]}]*{DATA[1]}")


def english_words_left(text: str) -> list[str]:
    """Runs of three or more English words in a Russian text, once names, commands and quoted data are out."""
    rest = KEPT.sub(" ", _MARKED.sub(" ", text))
    return re.findall(r"\b[A-Za-z]{3,}\b(?:[ ,]+\b[A-Za-z]{2,}\b){2,}", rest)


def cyrillic_left(text: str) -> list[str]:
    """Cyrillic words in an English text beyond the tool's headers and the sandbox's data."""
    rest = _HEADERS.sub(" ", KEPT.sub(" ", _MARKED.sub(" ", text)))
    for d in _DATA:
        rest = rest.replace(d, " ")
    return re.findall(r"[А-Яа-яЁё]+", rest)


@dataclass(frozen=True)
class Wrong:
    """A text said in a run of the suite that is not in its language."""

    lang: str
    where: str  # stderr, stdout, table, json, sync column, or text (any text the tool made)
    text: str
    left: tuple[str, ...]  # the words that should not be there
    test: str

    def __str__(self) -> str:
        shown = self.text.replace(DATA[0], "⟦").replace(DATA[1], "⟧")
        return f"[{self.lang}, {self.where}] {shown!r}: {', '.join(self.left)}  (said in {self.test})"


def said(directory: Path) -> Iterator[dict[str, str]]:
    """Every record the watched processes kept (a process killed mid-line leaves half a line: skipped)."""
    for file in sorted(directory.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def judge(directory: Path) -> tuple[int, list[Wrong]]:
    """How many distinct texts the suite's runs said, and those not in their language."""
    checks = {"ru": english_words_left, "en": cyrillic_left}
    seen: set[tuple[str, str, str]] = set()
    wrong = []
    for record in said(directory):
        for lang, check in checks.items():
            key = (lang, record["where"], _MARKED.sub("⟦⟧", record[lang]))
            if key in seen:
                continue
            seen.add(key)
            if left := check(record[lang]):
                wrong.append(Wrong(lang, record["where"], record[lang], tuple(left), record.get("test", "")))
    return len(seen), wrong
