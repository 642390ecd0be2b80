"""The guard on its own: which plans look like a column sorted on its own."""

from __future__ import annotations

from amosheets.sync.guard import mass_change
from amosheets.sync.plan import Direction

from .factories import lead, row, synced
from .test_planner import make

PRICES = [1000, 2000, 3000, 4000]
KNOWN = {11 + i: synced(lead(11 + i, price=p)) for i, p in enumerate(PRICES)}


def sheet(prices, direction=Direction.BOTH):
    rows = [row(2 + i, str(11 + i), "Иван", "+7 999", "", str(p), "", "") for i, p in enumerate(prices)]
    return make(rows, KNOWN, direction=direction)


def test_values_gone_round_among_three_rows_are_held_back():
    message = mass_change(sheet([2000, 3000, 1000, 4000]))
    assert message and "In column Сумма, rows 2, 3, 4 " in message


def test_two_rows_that_swap_values_are_an_edit():
    assert mass_change(sheet([2000, 1000, 3000, 4000])) is None


def test_new_values_on_every_row_are_an_edit():
    assert mass_change(sheet([1, 2, 3, 4])) is None


def test_a_pull_is_never_held_back():
    assert mass_change(sheet([4000, 3000, 2000, 1000], Direction.PULL)) is None
