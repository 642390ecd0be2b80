"""The three-way merge of one field: every case, and properties over all values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amosheets.sync.merge import ConflictPolicy, merge

CRM, SHEET = ConflictPolicy.CRM, ConflictPolicy.SHEET


def test_unchanged_sends_nothing():
    o = merge(5, 5, 5, CRM, empty=0)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == (5, False, False, False)


def test_sheet_change_goes_to_crm():
    o = merge(5, 7, 5, CRM, empty=0)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == (7, True, False, False)


def test_crm_change_goes_to_sheet():
    o = merge(5, 5, 9, SHEET, empty=0)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == (9, False, True, False)


def test_same_change_on_both_sides_is_recorded_not_sent():
    o = merge("a", "b", "b", CRM)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == ("b", False, False, False)


def test_different_changes_conflict_and_the_policy_decides():
    o = merge("a", "sheet", "crm", CRM)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == ("crm", False, True, True)
    o = merge("a", "sheet", "crm", SHEET)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == ("sheet", True, False, True)


def test_never_synced_empty_side_takes_the_other():
    assert merge(None, "", "+7", CRM).value == "+7"
    assert merge(None, "+7", "", CRM).value == "+7"
    assert merge(None, 0, 100, SHEET, empty=0).value == 100


def test_never_synced_both_set_differently_is_a_conflict():
    assert merge(None, 1, 2, CRM, empty=0).conflict


def test_a_cell_without_a_value_takes_crms_and_is_filled_in():
    o = merge(10, None, 11, SHEET, sheet_has_value=False)
    assert (o.value, o.to_crm, o.to_sheet, o.conflict) == (11, False, True, False)
    o = merge(10, None, 10, SHEET, sheet_has_value=False)
    assert (o.value, o.to_crm, o.to_sheet) == (10, False, True)  # the empty cell is filled


values = st.one_of(st.none(), st.integers(0, 3))


@given(base=values, sheet=st.integers(0, 3), crm=st.integers(0, 3), policy=st.sampled_from(list(ConflictPolicy)))
def test_after_applying_the_outcome_a_second_merge_is_quiet(base, sheet, crm, policy):
    o = merge(base, sheet, crm, policy, empty=0)
    again = merge(o.value, o.value, o.value, policy, empty=0)
    assert not (again.to_crm or again.to_sheet or again.conflict)


@given(base=values, sheet=st.integers(0, 3), crm=st.integers(0, 3), policy=st.sampled_from(list(ConflictPolicy)))
def test_the_outcome_is_one_of_the_sides_and_writes_go_where_it_differs(base, sheet, crm, policy):
    o = merge(base, sheet, crm, policy, empty=0)
    assert o.value in (sheet, crm)
    assert o.to_crm == (o.value != crm)
    assert o.to_sheet == (o.value != sheet)
    if base is None:
        both_changed = sheet != 0 and crm != 0  # never synced: only two non-empty values can clash
    else:
        both_changed = sheet != base and crm != base
    if both_changed and sheet != crm:
        assert o.conflict and o.value == (crm if policy is CRM else sheet)
    else:
        assert not o.conflict


@given(base=st.integers(0, 3), other=st.integers(0, 3), policy=st.sampled_from(list(ConflictPolicy)))
def test_a_change_on_one_side_is_never_lost(base, other, policy):
    assert merge(base, other, base, policy, empty=0).value == other
    assert merge(base, base, other, policy, empty=0).value == other
