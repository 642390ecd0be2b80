"""The requests of `init --format`, as a pure function of the bound header row, the catalog and the tab's
layout: no server. (What they do to a sheet is tested through the CLI in test_init_format.py.)"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from amosheets.sheet_format import PROTECTION_DESCRIPTION, Layout, Protection, format_plan, status_names
from amosheets.sync.catalog import Account, CustomField, field_set
from amosheets.sync.fields import DEFAULT_HEADER_ROW, match_headers

from .sync.factories import MAIN, PARTNERS, catalog

SHEET = 417
LAYOUT = Layout(SHEET, rows=100, cols=12)
ACCOUNT = Account(
    (
        CustomField(1, "Продукт", "select", "leads", enums=((11, "Базовый"), (12, "Премиум"))),
        CustomField(2, "Пустой список", "select", "leads"),
        CustomField(3, "Оплачено", "checkbox", "leads"),
    ),
    timezone="Europe/Moscow",
)


def kinds(requests: list[dict[str, Any]]) -> list[str]:
    return [next(iter(r)) for r in requests]


def validations(requests: list[dict[str, Any]]) -> dict[int, dict[str, Any] | None]:
    """Column → the rule set on it (None: cleared)."""
    return {
        r["setDataValidation"]["range"]["startColumnIndex"]: r["setDataValidation"].get("rule")
        for r in requests
        if "setDataValidation" in r
    }


def test_every_known_column_gets_its_rule_or_has_an_old_one_cleared_and_others_are_never_named():
    headers_row = [*DEFAULT_HEADER_ROW, "Заметки", "Продукт", "Пустой список", "Оплачено"]
    cat = replace(catalog(), fields=field_set(ACCOUNT))
    plan = format_plan(match_headers(headers_row, cat.fields), cat, LAYOUT)
    rules = validations(plan.requests)
    assert sorted(rules) == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]  # not 7, "Заметки"
    assert rules[8] is not None and rules[8]["strict"] is True
    assert rules[9] is None  # a select without options: a list needs one item at least
    assert rules[10] == {"condition": {"type": "BOOLEAN"}}
    assert all(r[k]["range"]["sheetId"] == SHEET for r in plan.requests for k in r if "range" in r[k])
    bold = [r["repeatCell"]["range"] for r in plan.requests if "textFormat" in str(r)]
    assert [(b["startColumnIndex"], b["endColumnIndex"]) for b in bold] == [(0, 7), (8, 11)]  # around column 7
    body = [r["setDataValidation"]["range"] for r in plan.requests if "setDataValidation" in r]
    assert {(b["startRowIndex"], b["endRowIndex"]) for b in body} == {(1, 100)}  # below the header row


def test_the_status_list_of_several_pipelines_has_each_name_once():
    names = status_names(catalog(), (MAIN, PARTNERS))
    assert names[:2] == ["Первичный контакт", "Переговоры"]  # not Неразобранное: no deal can be put there
    assert names.count("Успешно реализовано") == 1 and "Активный" in names
    cat = catalog()
    plan = format_plan(match_headers(list(DEFAULT_HEADER_ROW)), cat, LAYOUT, (MAIN, PARTNERS))
    assert [v["userEnteredValue"] for v in validations(plan.requests)[5]["condition"]["values"]] == names
    assert "statuses of «Воронка», «Партнёры»" in " ".join(plan.said)


def test_the_status_list_is_strict_only_when_no_deal_can_move_to_another_pipeline_from_the_sheet():
    cat = catalog()
    no_pipeline_column = ["lead_id", "Имя", "Статус"]
    plan = format_plan(match_headers(no_pipeline_column), cat, LAYOUT)
    assert validations(plan.requests)[2]["strict"] is True
    plan = format_plan(match_headers(list(DEFAULT_HEADER_ROW)), cat, LAYOUT)
    assert validations(plan.requests)[5]["strict"] is False


def test_the_protection_is_added_once_then_updated_and_any_copy_removed():
    headers = match_headers(list(DEFAULT_HEADER_ROW))
    first = format_plan(headers, catalog(), LAYOUT)
    assert kinds(first.requests)[-1] == "addProtectedRange"
    added = first.requests[-1]["addProtectedRange"]["protectedRange"]
    assert added == {
        "range": {"sheetId": SHEET, "startColumnIndex": 0, "endColumnIndex": 1},
        "description": PROTECTION_DESCRIPTION,
        "warningOnly": True,
    }
    someone_elses = Protection(5, "do not touch")
    layout = replace(
        LAYOUT, protections=(someone_elses, Protection(7, PROTECTION_DESCRIPTION), Protection(9, "amosheets: old"))
    )
    again = format_plan(headers, catalog(), layout)
    assert kinds(again.requests)[-2:] == ["updateProtectedRange", "deleteProtectedRange"]
    assert again.requests[-2]["updateProtectedRange"]["protectedRange"]["protectedRangeId"] == 7
    assert again.requests[-1] == {"deleteProtectedRange": {"protectedRangeId": 9}}
    named = [
        r[k].get("protectedRangeId", r[k].get("protectedRange", {}).get("protectedRangeId"))
        for r in again.requests
        for k in r
    ]
    assert someone_elses.id not in named


def test_a_grid_of_the_header_row_alone_gets_only_what_row_1_takes():
    plan = format_plan(match_headers(list(DEFAULT_HEADER_ROW)), catalog(), Layout(SHEET, rows=1, cols=7))
    assert kinds(plan.requests) == ["updateSheetProperties", "repeatCell", "addProtectedRange"]
