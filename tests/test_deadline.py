"""The run's deadline, and its cancellation: how Ctrl-C reaches the accounts a run works on at once."""

from __future__ import annotations

import pytest

from amosheets.deadline import Deadline
from amosheets.errors import DeadlineReached


def test_a_cancelled_deadline_stops_the_next_request_as_ctrl_c_would():
    d = Deadline(None)
    d.check()  # no limit: goes on
    d.cancel()
    with pytest.raises(KeyboardInterrupt):
        d.check()
    with pytest.raises(KeyboardInterrupt):
        d.timeout(5, 30)  # every request asks for its timeouts first


def test_a_deadline_that_passed_names_its_setting():
    now = [0.0]
    d = Deadline(10, "--deadline", clock=lambda: now[0])
    assert d.timeout(5, 30) == (5, 10)
    now[0] = 11
    with pytest.raises(DeadlineReached, match="--deadline"):
        d.check()
