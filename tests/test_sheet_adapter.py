"""The Sheets adapter: one read, RAW writes in as few requests as fit, errors in words."""

from __future__ import annotations

import json

import pytest

import amosheets.sheet as sheet_mod
from amosheets.errors import AuthError, ConfigError, ExitStatus
from amosheets.sheet import Sheet, read_key_file

from .conftest import World


def test_reading_a_named_tab_costs_one_request_and_the_first_tab_two(world: World):
    world.set_rows([["1", "a"], ["2", "b"]])
    world.reset_stats()
    data = Sheet(world.settings().tab()).read()
    assert [r.number for r in data.rows] == [2, 3] and data.last_row == 3
    assert world.sb.sheets.stats()["by_route"] == {"GET /v4/spreadsheets/{id}/values/{range}": 1}

    world.env.pop("GOOGLE_WORKSHEET")  # the first tab: its title is looked up in the metadata
    world.reset_stats()
    assert Sheet(world.settings().tab()).read().last_row == 3
    assert world.sb.sheets.stats()["by_route"] == {
        "GET /v4/spreadsheets/{id}": 1,
        "GET /v4/spreadsheets/{id}/values/{range}": 1,
    }


def test_a_tab_title_that_differs_in_case_is_not_taken_though_google_would_read_it(world: World):
    world.env["GOOGLE_WORKSHEET"] = world.tab.upper()
    with pytest.raises(ConfigError, match="differs in case") as e:
        Sheet(world.settings().tab()).read()
    assert repr(world.tab) in str(e.value)


def test_the_metadata_is_read_when_something_is_written_not_before(world: World):
    world.set_rows([["1", "a"]])
    s = Sheet(world.settings().tab())
    s.read()
    assert s.tab is None
    world.reset_stats()
    s.write_cells([(2, 1, "b")])
    assert world.sb.sheets.stats()["by_route"] == {
        "GET /v4/spreadsheets/{id}": 1,
        "POST /v4/spreadsheets/{id}/values:batchUpdate": 1,
    }
    assert world.rows()[1] == ["1", "b"]


def test_writes_are_raw_and_split_only_when_the_payload_is_too_large(world: World, monkeypatch):
    world.set_rows([[str(i)] for i in range(1, 41)])
    s = Sheet(world.settings().tab())
    s.open()
    world.reset_stats()
    assert s.write_cells([(r, 1, f"=HACK({r})") for r in range(2, 42)]) == 1
    monkeypatch.setattr(sheet_mod, "MAX_PAYLOAD", 1000)
    assert s.write_cells([(r, 2, "+7 999 " + "9" * 20) for r in range(2, 42)]) > 1
    cell = world.sb.sheets.cell(world.sid, world.tab, "B2")
    assert cell["type"] == "string" and cell["entered"] == "=HACK(2)"
    assert world.sb.sheets.cell(world.sid, world.tab, "C41")["type"] == "string"
    assert set(world.sb.sheets.stats()["by_route"]) == {"POST /v4/spreadsheets/{id}/values:batchUpdate"}


def test_a_sheet_not_shared_names_the_client_email(world: World):
    world.sb.sheets.set_shared(world.sid, False)
    with pytest.raises(AuthError, match="Share") as e:
        Sheet(world.settings().tab()).open()
    assert e.value.exit_status == ExitStatus.AUTH


def test_a_wrong_sheet_id(world: World):
    world.env["GOOGLE_SHEET_ID"] = "1" * 44
    with pytest.raises(ConfigError, match="no spreadsheet with ID"):
        Sheet(world.settings().tab()).open()


@pytest.mark.parametrize("how", ["open", "read"])
def test_a_tab_that_does_not_exist_lists_the_tabs(world: World, how: str):
    world.env["GOOGLE_WORKSHEET"] = "Нет такой"
    with pytest.raises(ConfigError, match="no such tab") as e:
        getattr(Sheet(world.settings().tab()), how)()
    assert "Сделки" in str(e.value)


def test_key_file_that_is_not_json_is_explained_without_its_content(tmp_path):
    p = tmp_path / "key.json"
    p.write_text("-----BEGIN PRIVATE KEY----- secretstuff")
    with pytest.raises(ConfigError) as e:
        read_key_file(p)
    assert "not valid JSON" in str(e.value) and "secretstuff" not in str(e.value)
    p.write_text(json.dumps({"type": "service_account", "private_key": "secretstuff"}))
    with pytest.raises(ConfigError, match="no client_email") as e:
        read_key_file(p)
    assert "secretstuff" not in str(e.value)
    # A person's sign-in (authorized_user) is taken too, when it has what a refresh needs.
    p.write_text(json.dumps({"type": "authorized_user", "private_key": "secretstuff"}))
    with pytest.raises(ConfigError, match="without client_id, client_secret, refresh_token") as e:
        read_key_file(p)
    assert "secretstuff" not in str(e.value)


def test_a_rows_cells_go_in_one_range_and_the_cells_between_are_left_as_they_are(world: World):
    world.set_rows([["1", "Анна", "keep", "me", "100"], ["2", "Борис", "keep", "me", "200"]])
    s = Sheet(world.settings().tab())
    s.open()
    world.reset_stats()
    assert s.write_cells([(2, 1, "Анна Б."), (2, 4, 150), (3, 1, "Борис В."), (3, 4, 250)]) == 1
    assert world.rows()[1:] == [["1", "Анна Б.", "keep", "me", "150"], ["2", "Борис В.", "keep", "me", "250"]]


def test_rows_next_to_each_other_share_a_range_however_their_written_columns_are_spread(world: World):
    world.set_rows([[str(i), f"Имя {i}", "keep", "x", "1"] for i in range(1, 7)])
    s = Sheet(world.settings().tab())
    s.open()
    sent: list[dict] = []
    post = s._post_values
    s._post_values = lambda body: (sent.append(body), post(body))[1]  # type: ignore[method-assign]
    cells = [(r, 4, 100 + r) for r in range(2, 8)] + [(r, 1, f"Имя {r}!") for r in range(2, 8, 2)]
    assert s.write_cells(cells) == 1
    [body] = sent
    assert [d["range"] for d in body["data"]] == ["'Сделки'!B2:E7"]
    rows = world.rows()[1:]
    assert [r[1] for r in rows] == ["Имя 2!", "Имя 2", "Имя 4!", "Имя 4", "Имя 6!", "Имя 6"]
    assert all(r[2] == "keep" and r[3] == "x" for r in rows)
    assert [r[4] for r in rows] == [str(100 + n) for n in range(2, 8)]
