"""The tool's words in its user's language (shared/CONTRACT.md, "Language").

Every user-facing text is written in English in the code and goes through ``_`` (or ``plural`` for text
that depends on a number), which looks it up in the gettext catalog of the language in use:
``amosheets/locale/<language>/LC_MESSAGES/amosheets.mo``, compiled with Babel from the ``.po`` beside it
(``python -m tools.catalog``). Adding a language is adding a ``.po``; a text the catalog lacks is shown as
written.

The language is AMOSHEETS_LANG (``ru`` or ``en``), else the locale (the first of LC_ALL, LC_MESSAGES and
LANG that is set: one starting with ``ru`` means Russian), else English. ``use`` switches it; the CLI
calls it once the environment and ``.env`` are read.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "amosheets"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "ru")  # the first is the code's own
SETTING = "AMOSHEETS_LANG"

_translation: gettext.NullTranslations = gettext.NullTranslations()


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
    return f"{SETTING} is {chosen!r}; it must be one of {', '.join(LANGUAGES)} (or unset: the locale decides)."


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
    return _translation.gettext(text)


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
    return _translation.ngettext(one, many, n).format(n=n, **values)


use(language())
