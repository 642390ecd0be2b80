"""The language check of the whole suite: every text a test's run said, checked in each language.

tests/conftest.py has every run of the session (in-process and each subprocess) keep what it said
(amosheets/language_watch.py); the last test of the session judges it all. Its rules are in
tests/language_rules.py; the tests before it show that the watch renders and marks what it should.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amosheets import language_watch
from amosheets.i18n import _, plural

from .language_rules import cyrillic_left, english_words_left, judge


def twins(text: str) -> dict[str, str]:
    assert isinstance(text, language_watch.Said), "the suite's runs should be watched (tests/conftest.py)"
    return text.twins


def test_a_text_carries_its_russian_and_its_values_as_data():
    problem = _("row 1 has a header it cannot bind")
    said = _("row {row}: {message}").format(row=5, message=problem)
    assert said == "row 5: row 1 has a header it cannot bind"
    ru = twins(said)["ru"]
    assert english_words_left(ru) == [] and ru.endswith(twins(problem)["ru"])
    assert "\ue0005\ue001" in ru  # the number is data; the message is the tool's own text


def test_a_plural_is_rendered_in_each_language():
    said = plural(5, "{n} deal created", "{n} deals created")
    assert twins(said)["en"] == "\ue0005\ue001 deals created"
    assert "сделок" in twins(said)["ru"]


def test_words_no_catalog_covers_are_left_in_english_for_the_check_to_find():
    watch = language_watch._watch
    glued = f"{_('row 1 has a header it cannot bind')}; and then some words nobody translated"
    ru = watch.twins_of(glued)["ru"]
    assert english_words_left(ru) == ["and then some words nobody translated"]
    assert "header" not in ru


def test_cyrillic_glued_into_an_english_text_is_found():
    assert cyrillic_left("3 deals created, сделки пропущены") == ["сделки", "пропущены"]
    assert cyrillic_left("column \ue000Имя клиента\ue001 is empty") == []  # a value: data


@pytest.mark.last_of_session
def test_every_text_the_suite_said_is_in_its_language():
    """Every distinct text the session's runs said (messages, the sync column, tables, --json's messages),
    as it reads in Russian and in English: none with English left in Russian or Cyrillic in English."""
    directory = Path(os.environ[language_watch.VARIABLE])
    checked, wrong = judge(directory)
    if checked < 50:
        pytest.skip(f"this session's runs said only {checked} texts: run the whole suite to check them")
    print(f"{checked} texts checked (each distinct text said, once in Russian and once in English)")  # -rP shows it
    assert wrong == [], "\n".join(map(str, wrong))
