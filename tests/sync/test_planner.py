"""The planner on its own: rows, state and amoCRM values in, a plan out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from amosheets.sync.fields import BUILT_IN, HeaderError, Key, match_headers
from amosheets.sync.merge import ConflictPolicy
from amosheets.sync.model import Known
from amosheets.sync.plan import Direction
from amosheets.sync.planner import mark_unchanged, plan, render, row_digest, triage

from .factories import (
    FIRST,
    HEADERS,
    MAIN,
    P_ACTIVE,
    P_NEW,
    PARTNERS,
    TALKS,
    catalog,
    lead,
    row,
    synced,
)


def make(rows, known=None, **kw):
    return plan(headers=HEADERS, rows=rows, catalog=catalog(), known=known or {}, **kw)


def test_a_synced_row_that_nobody_changed_plans_nothing():
    crm = lead(11, "Иван", 1500, TALKS)
    p = make([row(2, "11", "Иван", "+7 999", "", "1 500", "переговоры", "Воронка")], {11: synced(crm)})
    assert p.empty and not p.problems and not p.conflicts


@pytest.mark.parametrize("price", ["1500", "1 500", "1\u00a0500", 1500, 1500.0, "1,500", "1500.00", "1 500 ₽"])
def test_price_formats_do_not_churn(price):
    crm = lead(11, price=1500)
    p = make([row(2, "11", "Иван", "+7 999", "", price, "Первичный контакт", "Воронка")], {11: synced(crm)})
    assert p.empty, p.leads


def test_whitespace_around_phone_and_email_does_not_churn():
    crm = lead(11, emails=("a@b.c",))
    p = make([row(2, "11", " Иван ", " +7 999 ", "a@b.c  ", "1000", "Первичный контакт", "")], {11: synced(crm)})
    assert not p.lead_updates() and not p.contact_updates()


def test_sheet_edit_updates_the_lead():
    crm = lead(11, price=1000)
    p = make([row(2, "11", "Иван", "+7 999", "", "2000", "Первичный контакт", "Воронка")], {11: synced(crm)})
    [lp] = p.lead_updates()
    assert lp.lead_changes == {Key.PRICE} and lp.final[Key.PRICE] == 2000
    assert not p.cell_updates()


def test_crm_edit_updates_the_row():
    old = lead(11, status=FIRST)
    known = {11: Known(11, crm=lead(11, status=TALKS), base=old.values(), has_row=True)}
    p = make([row(2, "11", "Иван", "+7 999", "", "1000", "Первичный контакт", "Воронка")], known)
    [lp] = p.cell_updates()
    assert lp.to_sheet == {Key.STATUS}
    assert render(Key.STATUS, lp.final, p.catalog) == "Переговоры"
    assert not p.lead_updates()


def test_conflict_is_settled_by_the_policy_and_reported():
    base = lead(11, price=1000)
    known = {11: Known(11, crm=lead(11, price=3000), base=base.values(), has_row=True)}
    rows = [row(2, "11", "Иван", "+7 999", "", "2000", "Первичный контакт", "Воронка")]
    p = make(rows, known, policy=ConflictPolicy.CRM)
    [c] = p.conflicts
    assert (c.field, c.sheet, c.crm, c.base, c.row) == (Key.PRICE, 2000, 3000, 1000, 2)
    assert p.cell_updates()[0].final[Key.PRICE] == 3000 and not p.lead_updates()
    p = make(rows, known, policy=ConflictPolicy.SHEET)
    assert p.lead_updates()[0].final[Key.PRICE] == 2000 and not p.cell_updates()


def test_both_changed_to_the_same_value_sends_nothing_but_moves_the_base():
    known = {11: Known(11, crm=lead(11, price=2000), base=lead(11, price=1000).values(), has_row=True)}
    p = make([row(2, "11", "Иван", "+7 999", "", "2000", "Первичный контакт", "Воронка")], known)
    assert p.empty and not p.conflicts
    assert p.leads[0].base_after(set(BUILT_IN), True)[Key.PRICE] == 2000


def test_phone_edit_keeps_the_contacts_other_phones():
    crm = lead(11, phones=("+7 1", "+7 2"))
    p = make([row(2, "11", "Иван", "+7 9", "", "1000", "Первичный контакт", "")], {11: synced(crm)})
    [lp] = p.contact_updates()
    assert lp.new_list(Key.PHONE) == ["+7 9", "+7 2"]


def test_a_new_row_becomes_a_lead_with_the_default_status_filled_in():
    p = make([row(2, "", "Пётр", "+7 1", "p@x.ru", "500")])
    [n] = p.creates()
    assert n.values[Key.STATUS] == FIRST and n.values[Key.PIPELINE] == MAIN
    assert n.values[Key.PRICE] == 500 and n.fill == {Key.STATUS, Key.PIPELINE}


def test_a_new_row_in_another_pipeline_starts_in_its_first_status():
    p = make([row(2, "", "Пётр", "", "", "", "", "партнёры")])
    assert p.creates()[0].values[Key.STATUS] == P_NEW
    p = make([row(2, "", "Пётр", "", "", "", "Активный", "Партнёры")])
    assert p.creates()[0].values[Key.STATUS] == P_ACTIVE


def test_blank_rows_are_skipped():
    p = make([row(2), row(3, "", "", " ", ""), row(4, "", "Анна")])
    assert [n.row for n in p.creates()] == [4]


@pytest.mark.parametrize(
    ("cells", "column", "needle"),
    [
        ({"price": "abc"}, "Сумма", "not a number"),
        ({"price": "12.5"}, "Сумма", "whole"),
        ({"price": "-5"}, "Сумма", "negative"),
        ({"status": "Нет такого"}, "Статус", "has no such status"),
        ({"status": "Неразобранное"}, "Статус", "incoming"),
        ({"pipeline": "Нет такой"}, "Воронка", "no such pipeline"),
        ({"lead_id": "abc"}, "lead_id", "not a deal ID"),
    ],
)
def test_bad_rows_are_reported_with_row_column_and_value_and_others_go_through(cells, column, needle):
    bad = row(3, **{"name": "Плохая", **cells})
    p = make([row(2, "", "Хорошая"), bad, row(4, "", "Тоже хорошая")])
    [problem] = p.problems
    assert (problem.row, problem.column) == (3, column) and needle in problem.message
    assert problem.value == next(iter(cells.values()))
    assert [n.row for n in p.creates()] == [2, 4]


def test_the_same_lead_on_two_rows_is_reported_on_both_and_neither_is_synced():
    crm = lead(11)
    p = make([row(2, "11", "A"), row(5, "11", "B"), row(6, "", "C")], {11: synced(crm)})
    assert sorted(pr.row for pr in p.problems) == [2, 5]
    assert "rows 2, 5" in p.problems[0].message
    assert not p.leads and len(p.creates()) == 1


def test_an_unknown_lead_id_is_a_problem():
    p = make([row(2, "999", "X")], {}, missing={999})
    [pr] = p.problems
    assert pr.row == 2 and "no deal with this ID" in pr.message


def test_a_deleted_lead_is_reported_once_and_never_recreated():
    crm = lead(11)
    p = make([row(2, "11", "Иван")], {11: synced(crm)}, deleted={11})
    assert p.deleted == {11} and not p.creates() and not p.leads and "deleted" in p.notices[0].message
    k = synced(crm)
    k.deleted = True
    p = make([row(2, "11", "Иван")], {11: k})
    assert not p.notices and not p.leads and not p.creates()


def test_new_leads_of_the_pipeline_are_appended_others_are_not():
    known = {
        21: Known(21, crm=lead(21, "Новый")),
        22: Known(22, crm=lead(22, "Другая воронка", status=P_NEW, pipeline=PARTNERS)),
        23: Known(23, crm=lead(23, "Уже был"), has_row=True, row_removed=True),
    }
    p = make([], known)
    assert [a.lead_id for a in p.row_appends()] == [21]
    p = make([], known, listed={21, 23})
    assert [a.lead_id for a in p.row_appends()] == [21, 23]


def test_a_backfill_appends_only_what_amocrm_listed_and_notices_the_rest():
    known = {
        21: Known(21, crm=lead(21, "Есть в amoCRM"), has_row=True, row_removed=True),
        22: Known(22, crm=lead(22, "Удалена в amoCRM"), has_row=True, row_removed=True),
    }
    p = make([], known, listed={21})
    assert [a.lead_id for a in p.row_appends()] == [21]
    [n] = p.notices
    assert n.lead_id == 22 and "no longer lists" in n.message


def test_a_removed_row_is_reported_and_its_lead_left_alone():
    p = make([row(2, "", "Другая")], {11: synced(lead(11))})
    assert p.removed == {11} and not p.lead_updates() and not p.row_appends()
    assert "removed from the sheet" in p.notices[0].message


def test_direction_filters_what_is_sent():
    base = lead(11, price=1000, status=FIRST)
    known = {11: Known(11, crm=lead(11, price=1000, status=TALKS), base=base.values(), has_row=True)}
    rows = [row(2, "11", "Иван", "+7 999", "", "2000", "Первичный контакт", "Воронка"), row(3, "", "Новая")]
    push = make(rows, known, direction=Direction.PUSH)
    assert push.lead_updates() and push.creates() and not push.cell_updates()
    pull = make(rows, known, direction=Direction.PULL)
    assert not pull.lead_updates() and not pull.creates() and pull.cell_updates()
    lp = push.lead_updates()[0]
    assert lp.base_after(crm_done=set(BUILT_IN), sheet_done=False) == {**base.values(), Key.PRICE: 2000}


def test_moving_to_another_pipeline_sends_a_status_valid_there():
    crm = lead(11, status=TALKS)
    p = make([row(2, "11", "Иван", "+7 999", "", "1000", "Переговоры", "Партнёры")], {11: synced(crm)})
    # "Переговоры" does not exist in Партнёры:
    assert p.problems and p.problems[0].column == "Статус"
    p = make([row(2, "11", "Иван", "+7 999", "", "1000", "", "Партнёры")], {11: synced(crm)})
    [lp] = p.lead_updates()
    assert lp.final[Key.PIPELINE] == PARTNERS and lp.final[Key.STATUS] == P_NEW
    assert lp.lead_changes == {Key.PIPELINE, Key.STATUS}


def test_a_row_holding_the_marker_of_a_made_deal_is_that_deals_row_whatever_its_cells_say():
    # The row was edited (price, name) after its deal was made: the marker still ties it to the deal.
    made = Known(555, crm=lead(555, "Пётр", 100), base=lead(555, "Пётр", 100).values(), has_row=True)
    r = row(7, "pending:0123456789abcdef", "Пётр Петров", "+7 999", "", "1", "", "")
    p = make([r], {555: made}, pending={"0123456789abcdef": 555})
    assert not p.creates() and p.seen == {555} and not p.removed
    assert [(x.lead_id, x.row, x.token) for x in p.links] == [(555, 7, "0123456789abcdef")]
    [lp] = p.lead_updates()
    assert lp.final[Key.PRICE] == 1 and lp.final[Key.NAME] == "Пётр Петров" and not p.conflicts


def test_a_marker_whose_deal_was_never_made_is_a_new_row_again():
    r = row(3, "pending:0123456789abcdef", "Пётр", "+7 1")
    p = make([r], {}, pending={"0123456789abcdef": None}, salt="s")
    [n] = p.creates()
    assert n.row == 3 and n.token != "0123456789abcdef" and not p.links


def test_new_tokens_differ_between_runs_and_rows():
    rows = [row(2, "", "А"), row(3, "", "А")]
    one, two = make(rows, salt="run1"), make(rows, salt="run2")
    tokens = [n.token for n in one.creates()] + [n.token for n in two.creates()]
    assert len(set(tokens)) == 4


def test_a_row_whose_lead_id_was_cleared_gets_its_deal_back():
    k = synced(lead(11, "Иван", 1000))
    p = make([row(5, "", "Иван", "+7 999", "", "1000", "Первичный контакт", "Воронка")], {11: k})
    assert not p.creates() and not p.removed
    assert [(x.lead_id, x.row, x.token) for x in p.links] == [(11, 5, None)]
    assert any("deal 11" in n.message for n in p.notices)


def test_a_new_row_typed_like_a_deal_whose_row_has_gone_is_a_new_deal_while_its_cleared_row_gets_it_back():
    """Found by the long property run: a person types a new row with the same name and amount above the row
    whose lead_id was cleared. The new row leaves Статус and Воронка empty; the tool had filled them in the other."""
    k = synced(lead(11, "Анна", 0, phones=()))
    typed = row(2, "", "Анна", "", "", "", "", "")
    cleared = row(3, "", "Анна", "", "", "0", "Первичный контакт", "Воронка")
    p = make([typed, cleared], {11: k})
    assert [(x.lead_id, x.row) for x in p.links] == [(11, 3)]
    assert [n.row for n in p.creates()] == [2] and not p.removed
    p = make([typed], {11: k})  # the cleared row deleted too: the typed row is a new deal
    assert [n.row for n in p.creates()] == [2] and not p.links and p.removed == {11}


def test_a_cleared_row_with_other_content_is_a_new_deal_and_the_old_deals_row_is_removed():
    k = synced(lead(11, "Иван", 1000))
    p = make([row(5, "", "Иван", "+7 999", "", "2000", "", "")], {11: k})
    assert len(p.creates()) == 1 and not p.links and p.removed == {11}


def test_a_deal_whose_row_was_reported_removed_earlier_is_not_matched_by_content():
    k = synced(lead(11, "Иван", 1000))
    k.row_removed = True
    p = make([row(5, "", "Иван", "+7 999", "", "1000", "", "")], {11: k})
    assert len(p.creates()) == 1 and not p.links


def test_rows_as_last_synced_are_skipped_without_their_state():
    r = row(2, 11, "Иван", "+7 999", "", 1000, "Первичный контакт", "Воронка")
    first = make([r], {11: synced(lead(11))})
    assert first.empty and first.digests[11] is None  # no digest was known: planned in full
    t = triage([r], HEADERS)
    mark_unchanged(t, "h", {11: row_digest("h", r)}, fresh=())
    assert t.unchanged == {11} and t.to_plan() == set()
    p = make([r], {}, triaged=t, with_rows=[11])  # no state loaded at all for it
    assert p.empty and not p.problems and p.seen == {11} and not p.removed


def test_a_lead_changed_in_amocrm_is_planned_even_if_its_row_is_unchanged():
    r = row(2, 11, "Иван", "+7 999", "", 1000, "Первичный контакт", "Воронка")
    t = triage([r], HEADERS)
    mark_unchanged(t, "h", {11: row_digest("h", r)}, fresh={11})
    assert t.to_plan() == {11}


def test_a_planned_change_forgets_the_rows_digest_so_a_change_back_is_not_skipped():
    """A→B is pushed; if the digest of A were kept, B→A later would look 'unchanged' and be lost."""
    crm = lead(11, price=1000)
    a = row(2, 11, "Иван", "+7 999", "", 1000, "Первичный контакт", "Воронка")
    b = row(2, 11, "Иван", "+7 999", "", 2000, "Первичный контакт", "Воронка")
    t = triage([b], HEADERS)
    mark_unchanged(t, "h", {11: row_digest("h", a)}, fresh=())
    p = make([b], {11: synced(crm)}, triaged=t)
    assert p.lead_updates() and p.digests == {11: None}
    t = triage([a], HEADERS)
    mark_unchanged(t, "h", {11: None}, fresh=())
    assert t.to_plan() == {11}


def test_a_changed_header_row_replans_every_row():
    r = row(2, 11, "Иван")
    t = triage([r], HEADERS)
    mark_unchanged(t, "new header", {11: row_digest("old header", r)}, fresh=())
    assert t.to_plan() == {11}


def test_columns_the_sheet_lacks_are_not_synced():
    headers = match_headers(["Name", "LEAD_ID", "notes"])
    crm = lead(11, price=5000)
    p = plan(headers=headers, rows=[], catalog=catalog(), known={})
    assert p.columns == {Key.NAME}
    from amosheets.sync.model import SheetRow

    p = plan(headers=headers, rows=[SheetRow(2, ("Иван", 11, "my note"))], catalog=catalog(), known={11: synced(crm)})
    assert p.empty


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ([], "Row 1 is empty"),
        (["Имя", "Сумма"], "no lead_id column"),
        (["lead_id", "Имя", "name"], "Duplicated headers: Имя appears in columns B, C"),
        (["lead_id", "notes"], "none of the synced columns"),
    ],
)
def test_bad_header_rows(header, needle):
    with pytest.raises(HeaderError, match=needle):
        match_headers(header)


def test_headers_match_trimmed_case_insensitive_any_order_with_aliases():
    h = match_headers(["  PRICE ", "x", "Id", "e-mail", "ИМЯ", "status", "Pipeline", "phone"])
    assert h.lead_id == 2 and h.columns[Key.PRICE] == 0 and h.columns[Key.NAME] == 4
    assert h.unknown == ("x",)


def test_a_row_whose_deal_moved_to_another_pairs_pipeline_is_left_and_says_where_it_went():
    moved = lead(5, name="Иван", price=1000, status=P_ACTIVE, pipeline=PARTNERS)
    before = synced(lead(5))  # the row matched the deal when it was in the main pipeline
    k = replace(before, crm=moved)
    cat = replace(catalog(), elsewhere={PARTNERS: "tab «Партнёры» (pair «partners»)"})
    # The row was edited too: nothing of it goes anywhere now.
    rows = [row(2, "5", "Иван (правка)", "+7 999", "", "2000", "Первичный контакт", "Воронка")]
    p = plan(headers=HEADERS, rows=rows, catalog=cat, known={5: k})
    assert p.leads == [] and p.conflicts == [] and p.appends == [] and p.problems == []
    assert list(p.moved) == [5] and p.moved[5].row == 2
    assert "moved in amoCRM to pipeline «Партнёры»: it is on tab «Партнёры» (pair «partners») now" in (
        p.moved[5].text(cat)
    )
    assert [n.row for n in p.notices] == [2] and 5 not in p.removed

    # Without another pair on that pipeline, the row follows its deal as before.
    p = plan(headers=HEADERS, rows=rows, catalog=catalog(), known={5: k})
    assert p.moved == {} and [lp.lead_id for lp in p.leads] == [5]
