"""The planner when amoCRM's pipelines and statuses are not what the cells were written with."""

from __future__ import annotations

from dataclasses import replace

from amosheets.sync.catalog import TTL, pipelines_stale_reason
from amosheets.sync.fields import Key
from amosheets.sync.model import Names
from amosheets.sync.planner import plan

from .factories import FIRST, HEADERS, MAIN, PARTNERS, TALKS, catalog, lead, row, synced

BEFORE = Names().with_catalog(catalog())  # the names as the cells were written


def without_talks():
    """The main pipeline as amoCRM lists it once the status "Переговоры" is gone from it."""
    c = catalog()
    main = c.pipelines[MAIN]
    gone = replace(main, statuses=tuple(s for s in main.statuses if s.id != TALKS))
    return replace(c, pipelines={**c.pipelines, MAIN: gone})


def renamed_talks():
    c = catalog()
    main = c.pipelines[MAIN]
    statuses = tuple(replace(s, name="Обсуждение") if s.id == TALKS else s for s in main.statuses)
    return replace(c, pipelines={**c.pipelines, MAIN: replace(main, statuses=statuses)})


def test_a_deal_in_a_status_amocrm_no_longer_lists_keeps_syncing_its_other_columns():
    crm = lead(11, price=1000, status=TALKS)
    rows = [row(2, "11", "Иван", "+7 999", "", "2000", "Переговоры", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=without_talks(), known={11: synced(crm)}, names=BEFORE)
    assert not p.problems
    [lp] = p.lead_updates()
    assert lp.lead_changes == {Key.PRICE} and not lp.to_sheet
    [notice] = p.notices
    assert f"status {TALKS} of pipeline 'Воронка'" in notice.message and "deal 11" in notice.message


def test_the_id_shown_for_an_unlisted_status_reads_back_as_that_status():
    crm = lead(11, status=TALKS)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", str(TALKS), "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=without_talks(), known={11: synced(crm)})
    assert not p.problems and not p.lead_updates() and not p.cell_updates()


def test_an_unlisted_status_is_never_sent():
    crm = lead(11, status=FIRST)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", "Переговоры", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=without_talks(), known={11: synced(crm)}, names=BEFORE)
    [problem] = p.problems
    assert (problem.row, problem.column) == (2, "Статус") and "no such status" in problem.message
    assert not p.lead_updates()


def test_a_status_of_an_unlisted_pipeline_names_the_way_out():
    c = catalog()
    gone = replace(c, pipelines={MAIN: c.pipelines[MAIN]})
    crm = lead(11, status=FIRST, pipeline=PARTNERS)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", "Активный", "")]
    p = plan(headers=HEADERS, rows=rows, catalog=gone, known={11: synced(crm)})
    [problem] = p.problems
    assert f"no longer lists the deal's pipeline ({PARTNERS})" in problem.message and "Воронка" in problem.message


def test_an_old_name_of_a_renamed_status_means_it_and_the_cell_is_written_again():
    crm = lead(11, status=TALKS)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", "переговоры", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=renamed_talks(), known={11: synced(crm)}, names=BEFORE)
    assert not p.problems and not p.lead_updates()
    [lp] = p.cell_updates()
    assert lp.to_sheet == {Key.STATUS} and lp.final[Key.STATUS] == TALKS


def test_an_old_name_can_move_a_deal_to_the_renamed_status():
    crm = lead(11, status=FIRST)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", "Переговоры", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=renamed_talks(), known={11: synced(crm)}, names=BEFORE)
    [lp] = p.lead_updates()
    assert lp.final[Key.STATUS] == TALKS and Key.STATUS in lp.to_sheet


def test_a_name_a_status_has_now_wins_over_an_old_one():
    names = Names(statuses={MAIN: {"принимают решение": TALKS}})
    crm = lead(11, status=TALKS)
    rows = [row(2, "11", "Иван", "+7 999", "", "1000", "Принимают решение", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=catalog(), known={11: synced(crm)}, names=names)
    [lp] = p.lead_updates()
    assert lp.final[Key.STATUS] != TALKS


# -- when the state's copy of the pipelines is read again -------------------------------------
def stale(age: float, listed=(), rows=(), names: Names = BEFORE) -> str | None:
    sheet = [r.cells for r in rows]
    return pipelines_stale_reason(catalog(), age, listed, HEADERS, sheet, names)


def test_a_copy_a_day_old_is_read_again_and_a_fresh_one_with_known_ids_and_names_is_kept():
    assert stale(TTL) == "it is a day old" and stale(-1) == "it is a day old"  # this machine's clock set back
    assert stale(TTL - 1, [(MAIN, TALKS), (PARTNERS, 142)], [row(2, status="переговоры ", pipeline="Воронка")]) is None


def test_a_listed_deal_in_a_pipeline_or_status_the_copy_lacks_has_it_read_again_at_once():
    assert stale(0, [(MAIN, TALKS), (9, 1)]) == "a deal is in pipeline 9"
    assert stale(0, [(PARTNERS, TALKS)]) == f"a deal is in status {TALKS}"  # a status of another pipeline


def test_a_name_the_copy_lacks_has_it_read_again_at_once_and_an_old_name_or_an_id_never():
    assert stale(0, rows=[row(2, status="Переговорры")]) == "the sheet names a status it lacks"
    assert stale(0, rows=[row(2, pipeline="Опт")]) == "the sheet names a pipeline it lacks"
    renamed = Names().with_catalog(renamed_talks())
    assert stale(0, rows=[row(2, status="Переговоры")], names=renamed.with_catalog(catalog())) is None
    assert stale(0, rows=[row(2, status=str(TALKS), pipeline="")]) is None  # an id is no name
