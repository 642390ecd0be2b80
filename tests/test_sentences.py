"""Sentences that were glued from pieces, said as one text: how they read in Russian, and that English is as it was."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from amosheets import i18n
from amosheets.engine.reading import changes_line
from amosheets.report import print_notices
from amosheets.sync.model import Notice


@pytest.fixture
def in_russian():
    """The tool's own Russian catalog in use for the test."""
    i18n.use("ru")
    yield
    i18n.use("en")


@pytest.mark.parametrize(
    ("counts", "said"),
    [
        ((1, 2, 5, 0), "amoCRM: 1 изменённая сделка, 2 изменённых контакта; удалено сделок: 5, восстановлено: 0"),
        ((2, 5, 1, 2), "amoCRM: 2 изменённые сделки, 5 изменённых контактов; удалено сделок: 1, восстановлено: 2"),
        ((5, 1, 2, 1), "amoCRM: 5 изменённых сделок, 1 изменённый контакт; удалено сделок: 2, восстановлено: 1"),
    ],
)
def test_the_changes_line_is_one_sentence_in_russian(in_russian, counts, said):
    """-v's line of amoCRM's changes was four pieces glued one after the other, so that Russian could not say
    whose the deletions were («…, 2 изменённых контакта, удалено: 5»): one text now, each count agreeing with
    its noun."""
    assert changes_line(*counts) == said


def test_the_changes_line_says_in_english_what_it_said():
    assert changes_line(1, 2, 1203, 0) == "amoCRM: 1 changed deal, 2 changed contacts, 1,203 deleted, 0 restored"
    assert changes_line(2, 1, 1, 1) == "amoCRM: 2 changed deals, 1 changed contact, 1 deleted, 1 restored"


def test_lists_in_a_sentence_are_said_alike_in_each_language(in_russian):
    assert [i18n.listing(range(1, n + 1), 3) for n in (2, 3, 4, 5, 8)] == [
        "1, 2",
        "1, 2, 3",
        "1, 2, 3 и ещё 1",
        "1, 2, 3 и ещё 2",
        "1, 2, 3 и ещё 5",
    ]
    assert [i18n.and_list(range(1, n + 1)) for n in (1, 2, 3)] == ["1", "1 и 2", "1, 2 и 3"]
    i18n.use("en")
    assert i18n.listing(["Имя", "Сумма", "Статус", "Телефон", "Email"], 3) == "Имя, Сумма, Статус and 2 more"
    assert [i18n.and_list(range(1, n + 1)) for n in (1, 2, 3)] == ["1", "1 and 2", "1, 2 and 3"]


def _summarised(count: int) -> str:
    """The line that counts ``count`` notices of one kind, on deals 101, 102, …"""
    said: list[str] = []
    notices = [Notice(None, f"deal {101 + i} is odd", 101 + i) for i in range(count)]
    print_notices(SimpleNamespace(verbosity=0, warn=said.append), notices)  # type: ignore[arg-type]
    assert len(said) == 1
    return said[0]


def test_a_summarised_notice_is_one_sentence(in_russian):
    assert _summarised(21) == (
        "21 предупреждение вроде этого: сделки 101, 102, 103, 104, 105 и ещё 16 (-v или --json покажет каждое): "
        "deal 101 is odd"
    )
    assert _summarised(22).startswith("22 предупреждения вроде этого: сделки 101, 102, 103, 104, 105 и ещё 17 (")
    assert _summarised(25).startswith("25 предупреждений вроде этого: сделки 101, 102, 103, 104, 105 и ещё 20 (")
    i18n.use("en")
    assert _summarised(12) == (
        "12 notices like this one, for deals 101, 102, 103, 104, 105 and 7 more (-v or --json lists each one): "
        "deal 101 is odd"
    )
