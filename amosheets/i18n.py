"""The tool's words in its user's language (shared/CONTRACT.md, "Language").

Every user-facing text is written in English in the code and goes through ``_`` (or ``plural`` for text
that depends on a number), which looks it up in the gettext catalog of the language in use:
``amosheets/locale/<language>/LC_MESSAGES/amosheets.mo``, compiled with Babel from the ``.po`` beside it
(``python -m tools.catalog``). Adding a language is adding a ``.po``; a text the catalog lacks is shown as
written.

A sentence is one text, never glued from pieces: another language orders its words and makes them agree its own
way. What it names goes in as values: a count with its noun said by ``plural``, a list by ``listing`` or
``and_list``.

The language is AMOSHEETS_LANG (``ru`` or ``en``), else the locale (the first of LC_ALL, LC_MESSAGES and
LANG that is set: one starting with ``ru`` means Russian), else English. ``use`` switches it; the CLI
calls it once the environment and ``.env`` are read.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amosheets.language_watch import Watch

DOMAIN = "amosheets"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "ru")  # the first is the code's own
SETTING = "AMOSHEETS_LANG"

_translation: gettext.NullTranslations = gettext.NullTranslations()
_watch: Watch | None = None  # the test suite's language check (amosheets/language_watch.py); None in use


def language(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for (see the module's docstring); an unknown AMOSHEETS_LANG is
    left to ``language_problem`` to report, and English is used meanwhile."""
    env = os.environ if environ is None else environ
    chosen = env.get(SETTING, "").strip().lower()
    if chosen:
        return chosen if chosen in LANGUAGES else LANGUAGES[0]
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(variable, "")
        if value:
            return "ru" if value.lower().startswith("ru") else LANGUAGES[0]
    return LANGUAGES[0]


def language_problem(environ: Mapping[str, str]) -> str | None:
    """What is wrong with AMOSHEETS_LANG, if anything."""
    chosen = environ.get(SETTING, "").strip()
    if not chosen or chosen.lower() in LANGUAGES:
        return None
    return _("{setting} is {value}; it must be one of {languages} (or unset: the locale decides).").format(
        setting=SETTING, value=repr(chosen), languages=", ".join(LANGUAGES)
    )


def use(lang: str, localedir: Path = LOCALE_DIR) -> None:
    """Speak ``lang`` from now on (with the catalogs of ``localedir``: a test's own)."""
    global _translation
    _translation = gettext.translation(DOMAIN, localedir, languages=[lang], fallback=True)


def current() -> str:
    """The language in use."""
    info = _translation.info()
    return info.get("language", LANGUAGES[0]) or LANGUAGES[0]


def _(text: str) -> str:
    """``text`` in the language in use."""
    said = _translation.gettext(text)
    return said if _watch is None else _watch.text(text, said)


def pgettext(context: str, text: str) -> str:
    """``text`` in the language in use, as meant in ``context``: a short text that means two things is translated
    once for each (``pgettext("custom field", "Options")``, a field's choices, beside the options of a command)."""
    return _translation.pgettext(context, text)


def N_(text: str) -> str:
    """Mark ``text`` for the catalog without translating it yet: it is translated where it is shown."""
    return text


def plural(n: int, one: str, many: str, **values: object) -> str:
    """The form of the text for ``n``, in the language in use; ``{n}`` in it becomes the number, and every
    other placeholder the value of that name.

    ``plural(2, "{n} deal created", "{n} deals created")`` → ``2 deals created`` (``2 сделки создано``);
    ``{n:,}`` groups the thousands (``1,203 rows``). Give it the whole phrase, not only the noun: other
    languages agree more than the noun with the number (``1 сделка создана``, ``5 сделок создано``).
    """
    said = _translation.ngettext(one, many, n).format(n=n, **values)
    return said if _watch is None else _watch.plural(n, one, many, said, values)


def watch_languages(directory: Path) -> None:
    """Render every text in every language as well, and keep what is said in ``directory`` (the test suite's
    language check; see amosheets/language_watch.py)."""
    global _watch
    from amosheets import language_watch

    _watch = language_watch.start(directory)


def kept(text: str) -> str:
    """A text a past run said and the state kept: shown as it was said, in the language of that run."""
    return text if _watch is None else _watch.kept(text)


def heard(where: str, text: object, data: bool = False) -> None:
    """``text`` left the tool (``where``: stderr, stdout, the sync column…); the language check keeps it.
    ``data``: unless it is one of the tool's texts, it is data (a table's cell), in any language."""
    if _watch is not None:
        _watch.heard(where, text, data)


# Lists inside a sentence. Each kind is said by one text, here, so that every list of its kind reads alike and a
# translator words it once; the sentence around it takes the whole list as one value.


def listing(items: Iterable[object], most: int | None = None) -> str:
    """``items`` joined with ", "; past the first ``most``, how many more are left out.

    ``listing([1, 2, 3, 4, 5], 3)`` → ``1, 2, 3 and 2 more`` (``1, 2, 3 и ещё 2``).
    """
    said = [str(item) for item in items]
    if most is None or len(said) <= most:
        return ", ".join(said)
    # i18n: a list cut short: {items} is its first few ("1, 2, 3"), {n} how many are left out
    return plural(len(said) - most, "{items} and {n} more", "{items} and {n} more", items=", ".join(said[:most]))


def and_list(items: Iterable[object]) -> str:
    """Every one of ``items``, "and" before the last: ``5``, ``5 and 7``, ``1, 2 and 3`` (``1, 2 и 3``)."""
    said = [str(item) for item in items]
    if len(said) < 2:
        return "".join(said)
    # i18n: the last two items of a list: "5 and 7"; {items} may be several ("1, 2")
    return _("{items} and {last}").format(items=", ".join(said[:-1]), last=said[-1])


use(language())
if os.environ.get("_AMOSHEETS_SAID"):  # the test suite's language check (amosheets/language_watch.py)
    watch_languages(Path(os.environ["_AMOSHEETS_SAID"]))
