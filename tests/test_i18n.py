"""The translation layer: which language, the catalogs in step with the code, plurals, --help through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from amosheets import i18n
from amosheets.cli import app, translate_help
from amosheets.sync.fields import DEFAULT_HEADER_ROW, SYNC_HEADERS
from tools import catalog as catalogs


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({}, "en"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "ru_RU.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),  # LC_ALL first
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "ru_RU.UTF-8", "AMOSHEETS_LANG": "en"}, "en"),
        ({"AMOSHEETS_LANG": "RU "}, "ru"),
        ({"AMOSHEETS_LANG": "de", "LANG": "ru_RU.UTF-8"}, "en"),  # unknown: reported, and English meanwhile
    ],
)
def test_the_language_is_the_setting_else_the_locale_else_english(environ, lang):
    assert i18n.language(environ) == lang


def test_an_unknown_language_setting_is_named():
    assert i18n.language_problem({"AMOSHEETS_LANG": "de"}) == (
        "AMOSHEETS_LANG is 'de'; it must be one of en, ru (or unset: the locale decides)."
    )
    assert i18n.language_problem({"AMOSHEETS_LANG": "ru"}) is None and i18n.language_problem({}) is None


def test_the_catalogs_are_in_step_with_the_code_and_every_language_is_complete():
    """A text the code says that a language lacks fails here, naming it. `python -m tools.catalog` re-extracts
    the texts, updates each .po (the new texts then need their translation) and compiles it."""
    assert catalogs.out_of_step() == []


def test_every_help_text_is_in_the_catalog():
    template = catalogs.extracted()
    helps = list(catalogs.help_texts(typer.main.get_command(app)))
    assert len(helps) > 40 and all(template.get(text) is not None for text in helps)


@pytest.fixture
def russian(tmp_path: Path):
    """A catalog of a few Russian texts, in use for the test."""
    ru = Catalog(locale="ru", domain=i18n.DOMAIN)
    ru.add(
        ("{n} deal created", "{n} deals created"), ("{n} сделка создана", "{n} сделки созданы", "{n} сделок создано")
    )
    sync_help = typer.main.get_command(app).commands["sync"].help
    ru.add(sync_help, "Оба направления за один запуск.")
    out = tmp_path / "ru" / "LC_MESSAGES"
    out.mkdir(parents=True)
    with (out / f"{i18n.DOMAIN}.mo").open("wb") as f:
        write_mo(f, ru)
    i18n.use("ru", tmp_path)
    yield
    i18n.use("en")


def test_plural_forms_follow_the_language(russian):
    said = [i18n.plural(n, "{n} deal created", "{n} deals created") for n in (1, 2, 5, 11, 21, 22, 25)]
    assert said == [
        "1 сделка создана",
        "2 сделки созданы",
        "5 сделок создано",
        "11 сделок создано",
        "21 сделка создана",
        "22 сделки созданы",
        "25 сделок создано",
    ]
    i18n.use("en")
    assert [i18n.plural(n, "{n} deal created", "{n} deals created") for n in (1, 2)] == [
        "1 deal created",
        "2 deals created",
    ]
    # Other placeholders are filled beside the number (a second .format would need them written {{doubled}}).
    assert i18n.plural(3, "{n} row of {tab}", "{n} rows of {tab}", tab="Сделки") == "3 rows of Сделки"


def test_help_is_shown_in_the_language_in_use(russian):
    command = typer.main.get_command(app)
    translate_help(command)
    assert command.commands["sync"].help == "Оба направления за один запуск."
    assert i18n.current() == "ru"


def test_the_russian_catalog_says_how_russian_plurals_go():
    header = catalogs.po_path("ru").read_text(encoding="utf-8")
    assert "Plural-Forms: nplurals=3; plural=n % 10 == 1 && n % 100 != 11 ? 0 :" in header


def _catalog(lang: str):
    with catalogs.po_path(lang).open("rb") as f:
        return read_po(f)


def _forms(message) -> list[tuple[str, str]]:
    """(msgid, translation) for each form: a plural's first form goes with its singular, the rest its plural."""
    if isinstance(message.id, str):
        return [(message.id, message.string)]
    return [(message.id[0] if i == 0 else message.id[1], s) for i, s in enumerate(message.string)]


PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_translation_keeps_the_placeholders_of_its_text(lang):
    wrong = [
        (source, said)
        for message in _catalog(lang)
        if message.id
        for source, said in _forms(message)
        if sorted(set(PLACEHOLDER.findall(source))) != sorted(set(PLACEHOLDER.findall(said)))
    ]
    assert wrong == []


# What may stay Latin in a Russian sentence: names, and what the user types or reads as it is.
_LATIN_KEPT = re.compile(
    r"`[^`]*`|\{[^{}]*\}|https?://\S+|--?[a-z][\w-]*|\b[A-Z][A-Z0-9_]{2,}\b|[\w./-]+\.(?:json|toml|env|md|py|sqlite3|lock)\b"
    r"|\b(?:amoCRM|Kommo|Google|Sheets|Cloud|OAuth|JSON|API|IP|ID|URL|UTF-8|Ctrl-C|cron|gcloud|amosheets|lead_id"
    r"|Testing|In production|Desktop app|IAM|Service accounts|Keys|Add key|APIs & Services|Credentials)\b"
)


# Quoted text (what amoCRM said, what the user types) and --help's example lines are data, in any language.
_QUOTED = re.compile(r"«[^»]*»|\"[^\"]*\"|^\s+amosheets .*$", re.M)


def test_no_russian_translation_leaves_an_english_sentence():
    """A Russian text with English words left in it (beyond names, commands and what the user types) is not
    translated: three English words in a row, once those are taken out, fail here."""
    left = []
    for message in _catalog("ru"):
        if not message.id:
            continue
        for _source, said in _forms(message):
            rest = _LATIN_KEPT.sub(" ", _QUOTED.sub(" ", said))
            if re.search(r"\b[A-Za-z]{4,}\b(?:\s+\b[A-Za-z]{2,}\b){2,}", rest):  # three English words in a row
                left.append(said)
    assert left == []


# The column headers the tool reads (Russian by default) are names, in an English sentence too.
_HEADERS = re.compile(
    r"\b(?:" + "|".join(re.escape(h) for h in (*DEFAULT_HEADER_ROW, *SYNC_HEADERS, "Контакт", "да/нет")) + r")\b"
)


def test_no_english_text_holds_cyrillic_but_names_and_quoted_data():
    """Russian words in an English text are data (a header, a tab's title in an example) or they are untranslated."""
    left = [
        said
        for message in _catalog("en")
        if message.id
        for _source, said in _forms(message)
        if re.search(
            r"[А-Яа-яЁё]", _HEADERS.sub(" ", _QUOTED.sub(" ", re.sub(r"`[^`]*`", " ", PLACEHOLDER.sub(" ", said))))
        )
    ]
    assert left == []


def test_a_text_that_means_two_things_is_translated_once_for_each():
    """The word "Options" heads the options of a command in --help (typer's) and a field's choices in `fields`."""
    i18n.use("ru")
    try:
        assert (i18n._("Options"), i18n.pgettext("custom field", "Options")) == ("Параметры", "Варианты")
    finally:
        i18n.use("en")
    assert (i18n._("Options"), i18n.pgettext("custom field", "Options")) == ("Options", "Options")
