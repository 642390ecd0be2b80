"""The changes window on its own: amoCRM's clock, the cursor, and the time this machine saw pass."""

from __future__ import annotations

from amosheets.sync.window import AHEAD, OVERLAP, changes_window

H = 3600


def test_a_steady_clock_asks_from_the_cursor_to_now():
    w = changes_window(cursor=1000, now=1300, elapsed=300)
    assert (w.since, w.until, w.set_back) == (1000 - OVERLAP, 1300 + AHEAD, False)


def test_a_clock_set_back_reaches_below_now_by_the_time_passed_and_by_how_far_it_went_back():
    t0 = 100 * H
    w = changes_window(cursor=t0, now=t0 - 2 * H + 600, elapsed=600)
    assert w.set_back
    assert w.since <= (t0 - 2 * H + 600) - (2 * H - 600) - OVERLAP  # put forward again: still covered
    assert w.until >= t0 + 600  # edits stamped before the correction, by the clock that was ahead


def test_without_the_time_passed_the_cursor_and_now_bound_it():
    w = changes_window(cursor=None, now=5000, elapsed=None)
    assert (w.since, w.until, w.set_back) == (5000 - OVERLAP, 5000 + AHEAD, False)
