"""A1 notation: what the Sheets API parses, and how it writes ranges back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amosheets.sandbox.a1 import (
    MAX_COLUMNS,
    A1Error,
    A1Range,
    cell_label,
    column_index,
    column_label,
    format_range,
    needs_quotes,
    parse_cell,
    parse_range,
    quote_title,
)

VALID = [
    # text, sheet, start_row, start_col, end_row, end_col  (0-based, end-exclusive, None = open)
    ("A1", None, 0, 0, 1, 1),
    ("a1", None, 0, 0, 1, 1),
    ("$B$2", None, 1, 1, 2, 2),
    ("A1:C3", None, 0, 0, 3, 3),
    ("C3:A1", None, 0, 0, 3, 3),  # reversed corners are normalised
    ("Sheet1!A1:C3", "Sheet1", 0, 0, 3, 3),
    ("'My Sheet'!A:C", "My Sheet", None, 0, None, 3),
    ("'It''s'!B2", "It's", 1, 1, 2, 2),
    ("'A/B'!B2:C", "A/B", 1, 1, None, 3),
    ("My Sheet!A1", "My Sheet", 0, 0, 1, 1),  # unquoted titles with spaces are accepted
    ("Sheet1", "Sheet1", None, None, None, None),
    ("'My Sheet'", "My Sheet", None, None, None, None),
    ("'Sheet1'!A1001", "Sheet1", 1000, 0, 1001, 1),
    ("A:A", None, None, 0, None, 1),
    ("C:A", None, None, 0, None, 3),
    ("2:5", None, 1, None, 5, None),
    ("A5:B", None, 4, 0, None, 2),
    ("B2:D", None, 1, 1, None, 4),
    ("A2:2", None, 1, 0, 2, None),
    ("AA1:ZZ10", None, 0, 26, 10, 702),
    ("Sheet1!ZZZ1", "Sheet1", 0, MAX_COLUMNS - 1, 1, MAX_COLUMNS),
    ("Лист1!A1", "Лист1", 0, 0, 1, 1),
]


@pytest.mark.parametrize(("text", "sheet", "r0", "c0", "r1", "c1"), VALID)
def test_parse_valid(text: str, sheet: str | None, r0: int | None, c0: int | None, r1: int | None, c1: int | None):
    assert parse_range(text) == A1Range(sheet, r0, c0, r1, c1)


INVALID = [
    "",
    "Sheet1!A0",
    "A1:B2:C3",
    "Sheet1!",
    "'Sheet1'!",
    "'Sheet1",  # unterminated quote
    "''!A1",  # empty title
    "'Sheet1'A1",  # no ! after the quoted title
    "Sheet1!A",  # a lone column is not a range
    "Sheet1!5",  # nor a lone row
    "Sheet1!AAAA1",  # four letters
    "Sheet1!A1:",
    "Sheet1!:B2",
    "A:5",
    "5:A",
    "A:B5",
    "A1 :B2",
    " A1",
    "Sheet1!A1-B2",
    "x:1",  # not cells, and a bare title cannot contain ':'
]


@pytest.mark.parametrize("text", INVALID)
def test_parse_invalid(text: str):
    with pytest.raises(A1Error):
        parse_range(text)


def test_bare_text_is_a_sheet_title_candidate():
    # "Foo" is not cell notation, so it can only be a sheet title; the emulator checks it exists.
    assert parse_range("Foo") == A1Range("Foo")
    assert parse_range("Sheet 1") == A1Range("Sheet 1")
    assert parse_range("Foo").whole_sheet
    assert parse_range("A0") == A1Range("A0")  # not a cell (rows start at 1): only a title could match
    assert parse_range("x:y") == A1Range(None, None, 23, None, 25)  # columns X:Y


def test_single_cell_flag():
    assert parse_range("B2").is_single_cell
    assert not parse_range("B2:C3").is_single_cell
    assert not parse_range("A:A").is_single_cell


@pytest.mark.parametrize(("label", "index"), [("A", 0), ("Z", 25), ("AA", 26), ("AZ", 51), ("ZZ", 701), ("ZZZ", 18277)])
def test_column_labels(label: str, index: int):
    assert column_index(label) == index
    assert column_index(label.lower()) == index
    assert column_label(index) == label


@given(st.integers(min_value=0, max_value=MAX_COLUMNS - 1))
def test_column_label_roundtrip(index: int):
    assert column_index(column_label(index)) == index


@given(st.integers(min_value=0, max_value=99_999), st.integers(min_value=0, max_value=MAX_COLUMNS - 1))
def test_cell_label_roundtrip(row: int, col: int):
    assert parse_cell(cell_label(row, col)) == (row, col)


def test_parse_cell_rejects_ranges():
    with pytest.raises(A1Error):
        parse_cell("A1:B2")


@pytest.mark.parametrize(
    ("title", "quoted"),
    [
        ("Sheet1", "Sheet1"),
        ("Solar", "Solar"),
        ("Лист1", "Лист1"),
        ("My Sheet", "'My Sheet'"),
        ("It's", "'It''s'"),
        ("A/B", "'A/B'"),
        ("D3", "'D3'"),  # looks like a cell reference
        ("R1C1", "'R1C1'"),
        ("2024", "'2024'"),
        ("Сделки", "Сделки"),
    ],
)
def test_quote_title_like_the_api(title: str, quoted: str):
    assert quote_title(title) == quoted
    assert needs_quotes(title) == (quoted != title)


def test_format_range():
    assert format_range("Sheet1", 0, 0, 1000, 26) == "Sheet1!A1:Z1000"
    assert format_range("Sheet1", 1, 2, 2, 3) == "Sheet1!C2"
    assert format_range("My Sheet", 0, 0, 2, 2) == "'My Sheet'!A1:B2"
    assert format_range("Sheet1", 0, 0, 1, 1, force_quotes=True) == "'Sheet1'!A1"
