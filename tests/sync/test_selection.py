"""Which leads a run looks at beyond its rows, from the state's index and the creation journal."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from amosheets.amocrm.mapping import catalog_from
from amosheets.config import SettingNames
from amosheets.errors import ConfigError
from amosheets.sync.fields import Key
from amosheets.sync.model import Creation, Known
from amosheets.sync.planner import triage
from amosheets.sync.selection import known_now, select
from tests.sync.factories import HEADERS, MAIN, PARTNERS, catalog, lead, row


@dataclass
class Entry:
    has_row: bool = False
    row_removed: bool = False
    deleted: bool = False
    has_crm: bool = True
    crm_pipeline: int | None = MAIN


INDEX = {
    1: Entry(),  # a deal of the pipeline no row has carried
    2: Entry(has_row=True),
    3: Entry(has_row=True, row_removed=True),
    4: Entry(deleted=True),
    5: Entry(crm_pipeline=PARTNERS),
}


def test_candidates_are_the_pipelines_deals_without_a_row_or_all_with_backfill() -> None:
    rows = triage([row(2, lead_id=2, name="A")], HEADERS)
    assert select(INDEX, [], rows, {MAIN}, backfill=False).candidates == {1}
    assert select(INDEX, [], rows, {MAIN}, backfill=True).candidates == {1, 2, 3}


def test_a_deal_made_for_a_row_is_adopted_and_carried_by_a_row() -> None:
    made = Creation("t", 9, 0, {})
    chosen = select(
        INDEX, [made, Creation("u", 2, 0, {}), Creation("v", None, 0, {})], triage([], HEADERS), {MAIN}, False
    )
    assert chosen.adopted == {9}
    assert chosen.with_rows == [2, 9]
    assert chosen.orphans == set()  # no new row to match them against


def test_orphans_are_rows_gone_when_a_new_row_may_be_theirs() -> None:
    rows = triage([row(2, name="A cleared lead_id")], HEADERS)
    assert select(INDEX, [], rows, {MAIN}, False).orphans == {2}


def test_known_now_takes_fresh_values_and_the_sent_values_as_base() -> None:
    old, new, made = lead(1, name="old"), lead(1, name="new"), lead(9)
    sent = {Key.NAME: "sent"}
    known, bases = known_now(
        {1: Known(1, crm=old, deleted=True)},
        {1: new, 9: made},
        [Creation("t", 9, 0, sent), Creation("u", 7, 0, sent)],
    )
    assert known[1] == Known(1, crm=new)
    assert bases == {9: sent}  # 7 is not known: nothing to set a base on
    assert known[9] == Known(9, crm=made, base=sent, has_row=True)


# -- where new deals go and which pipelines are followed are two settings ----------------------


def test_a_catalog_follows_the_pipeline_new_deals_go_to_unless_told_otherwise() -> None:
    c = catalog()
    assert (c.new_deal_pipeline_id, c.followed) == (MAIN, frozenset({MAIN}))
    both = replace(c, followed=frozenset({MAIN, PARTNERS}))
    assert both.new_deal_pipeline_id == MAIN and both.followed == {MAIN, PARTNERS}


def test_catalog_from_follows_the_configured_pipeline() -> None:
    pipelines = [
        {"id": 1, "name": "A", "is_main": True, "_embedded": {"statuses": [{"id": 10, "name": "a", "sort": 10}]}},
        {"id": 2, "name": "B", "is_main": False, "_embedded": {"statuses": [{"id": 20, "name": "b", "sort": 10}]}},
    ]
    assert catalog_from(pipelines, None, None).followed == {1}
    c = catalog_from(pipelines, 2, None)
    assert (c.new_deal_pipeline_id, c.default_status_id, c.followed) == (2, 20, frozenset({2}))


def test_only_deals_of_a_followed_pipeline_are_candidates() -> None:
    rows = triage([], HEADERS)
    assert select(INDEX, [], rows, frozenset(), backfill=True).candidates == set()


def test_catalog_from_takes_a_pipeline_and_status_by_name_or_every_pipeline() -> None:
    pipelines = [
        {"id": 1, "name": "A", "is_main": True, "_embedded": {"statuses": [{"id": 10, "name": "a", "sort": 10}]}},
        {"id": 2, "name": "Партнёры", "_embedded": {"statuses": [{"id": 20, "name": "Новые", "sort": 10}]}},
    ]
    c = catalog_from(pipelines, " партнёры ", "НОВЫЕ")
    assert (c.new_deal_pipeline_id, c.default_status_id, c.followed) == (2, 20, frozenset({2}))
    every = catalog_from(pipelines, "*", None)
    assert (every.new_deal_pipeline_id, every.default_status_id, every.followed) == (1, 10, frozenset({1, 2}))
    with pytest.raises(ConfigError, match=r"pipeline \(amosheets.toml, line 3\) is 'Нет'.*'A' \(1\)"):
        catalog_from(pipelines, "Нет", None, names=SettingNames("pipeline (amosheets.toml, line 3)"))
