"""The test suite's language check: what a run says, as it would say it in every language.

The suite's runs speak English (its expectations are English), yet CONTRACT's "Language" asks that every
message they trigger be right in Russian too. So, while _AMOSHEETS_SAID names a directory (the
suite sets it; nothing else does), every text ``i18n._`` and ``i18n.plural`` give out is a ``Said``: the
text as shown, carrying the same text in every language (its *twins*) with the values filled in marked as
data. ``Said.format`` and ``+`` keep the twins; where code glues a ``Said`` into a plain ``str`` (an
f-string, a join), ``Watch.heard`` puts the twins of the pieces it knows back in, so that what no catalog
text covers is left as it was written, in English, for the check to find.

Each process appends what it said (each distinct text once) to a file of its own in that directory;
tests/language_rules.py judges it at the end of the session. Outside the suite this module is not imported.
"""

from __future__ import annotations

import gettext
import json
import os
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from amosheets.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

VARIABLE = "_AMOSHEETS_SAID"  # not AMOSHEETS_…: tests pass their runs the environment without those
DATA = ("\ue000", "\ue001")  # around a value filled into a text: data, in any language
_DATA_SPAN = re.compile("\ue000[^\ue001]*\ue001")
_STAND_IN = re.compile("\ue002(\\d+)\ue003")
_MOST_KNOWN = 2000  # texts kept to find in plain lines: a line is glued from texts made just before it
_MOST_HEARD = 300  # plain lines looked into per place and process: the rest of a 20 000-row sync column is alike


class Said(str):
    """A text as shown, with its twins: language → the same text in that language, values marked as data."""

    twins: dict[str, str]

    def __new__(cls, shown: str, twins: Mapping[str, str]) -> Said:
        said = super().__new__(cls, shown)
        said.twins = dict(twins)
        return said

    def __getnewargs__(self) -> tuple[str, dict[str, str]]:  # type: ignore[override]
        return str(self), self.twins  # copy.deepcopy (of settings) makes it anew with these

    def format(self, *args: Any, **kwargs: Any) -> Said:
        shown = str.format(self, *args, **kwargs)
        return _watch.made(
            shown, {lang: _MARKING.vformat(t, args, {**kwargs, "_lang": lang}) for lang, t in self.twins.items()}
        )

    def __add__(self, other: str) -> Said:
        return _watch.made(str.__add__(self, other), {lang: t + _twin(other, lang) for lang, t in self.twins.items()})

    def __radd__(self, other: str) -> Said:
        return _watch.made(other + str(self), {lang: _twin(other, lang) + t for lang, t in self.twins.items()})

    def removeprefix(self, prefix: str) -> Said:
        return _watch.made(
            str.removeprefix(self, prefix),
            {lang: t.removeprefix(_twin(prefix, lang)) for lang, t in self.twins.items()},
        )

    def join(self, items: Any) -> Said:
        items = list(items)
        return _watch.made(
            str.join(self, items), {lang: t.join(_twin(i, lang) for i in items) for lang, t in self.twins.items()}
        )


def _twin(value: object, lang: str) -> str:
    """What ``value`` glued to a Said is in ``lang``: a plain text's known pieces are put back in its twins."""
    return _watch.twins_of(str(value))[lang] if not isinstance(value, Said) else value.twins[lang]


class _Marking(string.Formatter):
    """``str.format`` that fills a twin: a Said value by its twin in the same language, any other marked as data."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Twin):
            return value
        shown = format(value, format_spec)
        return DATA[0] + shown + DATA[1] if shown else ""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        value = super().get_value(key, args, kwargs)
        if isinstance(value, Said):
            return _Twin(value.twins[kwargs["_lang"]])
        # A plain text that holds texts of the tool's (a list joined with ", ", a Said that lost its twins on
        # the way) is those texts and glue; one that holds none is data.
        if isinstance(value, str) and any(c.isalpha() for c in value):
            pieces = _watch.pieces(value)
            if pieces:
                return _Twin(_watch.twins_of(value, pieces)[kwargs["_lang"]])
        return value

    def check_unused_args(self, *_: Any) -> None:
        pass


class _Twin(str):
    """A Said's twin on its way into another twin: filled in as it is, not marked as data."""


_MARKING = _Marking()


class Watch:
    """What one process says, kept in ``directory/<pid>.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.languages = {lang: gettext.translation(DOMAIN, LOCALE_DIR, [lang], fallback=True) for lang in LANGUAGES}
        self.file = directory / f"{os.getpid()}.jsonl"
        self.known: dict[str, dict[str, str]] = {}  # a text as shown → its twins
        self.written: set[str] = set()
        self.heard_lines: dict[str, int] = {}

    def text(self, text: str, shown: str) -> Said:
        return self.made(shown, {lang: t.gettext(text) for lang, t in self.languages.items()})

    def plural(self, n: int, one: str, many: str, shown: str, values: Mapping[str, object]) -> Said:
        return self.made(
            shown,
            {
                lang: _MARKING.vformat(t.ngettext(one, many, n), (), {"n": n, **values, "_lang": lang})
                for lang, t in self.languages.items()
            },
        )

    def kept(self, text: str) -> Said:
        return self.made(text, {lang: DATA[0] + text + DATA[1] for lang in self.languages})

    def made(self, shown: str, twins: Mapping[str, str]) -> Said:
        said = Said(shown, twins)
        if any(c.isalpha() for c in shown):
            self.known.pop(shown, None)
            self.known[shown] = said.twins  # the newest last: the oldest go first when there are too many
            if len(self.known) > _MOST_KNOWN:
                del self.known[next(iter(self.known))]
            self._write("text", said.twins)
        return said

    def heard(self, where: str, text: object, data: bool = False) -> None:
        """``text`` left the tool (``where``: stderr, stdout, the sync column…): keep it in every language;
        ``data``: a plain text is data, not the tool's words."""
        if isinstance(text, Said):
            self._write(where, text.twins)
            return
        if isinstance(text, Mapping | list | tuple):  # --json: its values are data, save the tool's texts
            for value in text.values() if isinstance(text, Mapping) else text:
                self.heard(where, value, data=True)
            return
        text = str(text)
        if data or self.heard_lines.get(where, 0) >= _MOST_HEARD or not any(c.isalpha() for c in text):
            return
        self.heard_lines[where] = self.heard_lines.get(where, 0) + 1
        self._write(where, self.twins_of(text))

    def pieces(self, text: str) -> list[str]:
        """The texts this process made that ``text`` holds, longest first."""
        return sorted((k for k in self.known if k in text), key=len, reverse=True)

    def twins_of(self, text: str, pieces: list[str] | None = None) -> dict[str, str]:
        """A plain text in every language: each piece of it that is a text the process made is put back as
        that text's twin, longest first; the rest stays as written (glue, or words no catalog covers)."""
        if text in self.known:
            return self.known[text]
        pieces = self.pieces(text) if pieces is None else pieces
        # Each piece becomes a numbered stand-in first, so that a piece's twin is not searched for pieces again.
        standing = text
        for i, piece in enumerate(pieces):
            standing = standing.replace(piece, f"\ue002{i}\ue003")
        found = [self.known[p] for p in pieces]

        def rendered(lang: str) -> str:
            return _STAND_IN.sub(lambda m: found[int(m[1])][lang], standing)

        return {lang: rendered(lang) for lang in self.languages}

    def _write(self, where: str, twins: Mapping[str, str]) -> None:
        key = where + "\0" + "\0".join(_DATA_SPAN.sub("\ue000\ue001", t) for t in twins.values())
        if key in self.written:
            return
        self.written.add(key)
        record = {"where": where, "test": os.environ.get("PYTEST_CURRENT_TEST", ""), **twins}
        with open(self.file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


_watch: Watch


def start(directory: Path) -> Watch:
    """Watch this process: every text from now on is a ``Said``, and what it says is kept in ``directory``."""
    global _watch
    directory.mkdir(parents=True, exist_ok=True)
    _watch = Watch(directory)
    return _watch
