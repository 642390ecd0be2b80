"""The SQLite state: round trips, scoping, permissions."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from amosheets.state import SCHEMA_VERSION, Scope, StateError, StateStore, state_path
from amosheets.sync.fields import Key
from amosheets.sync.model import Creation, CrmLead

SCOPE = Scope("sheet1", "Сделки", "https://x.amocrm.ru")


@pytest.fixture
def store(tmp_path):
    s = StateStore.open(tmp_path / "state", SCOPE)
    yield s
    s.close()


def test_crm_values_base_and_flags_round_trip(store):
    crm = CrmLead.of(11, "Иван", 1500, 61, 70, 1234, 99, ("+7 1", "+7 2"), ("a@b.c",))
    store.save_crm([crm])
    store.save_base([(11, {Key.NAME: "Иван", Key.PRICE: 1500})])
    store.set_flag("has_row", [11])
    k = store.load_known()[11]
    assert k.crm == crm
    assert k.base == {Key.NAME: "Иван", Key.PRICE: 1500}
    assert k.has_row and not k.deleted and not k.row_removed
    store.set_flag("deleted", [11])
    assert store.load_known()[11].deleted
    store.save_crm([crm])  # seen again in amoCRM: no longer deleted
    assert not store.load_known()[11].deleted


def test_saving_crm_values_keeps_the_base(store):
    store.save_base([(11, {Key.PRICE: 1})])
    store.save_crm([CrmLead.of(11, "A", 2, 1, 1)])
    k = store.load_known()[11]
    assert k.base == {Key.PRICE: 1} and k.crm.price == 2


def test_a_lead_with_only_flags_has_no_crm_or_base(store):
    store.set_flag("has_row", [5])
    k = store.load_known()[5]
    assert k.crm is None and k.base is None and k.has_row


def test_cursor(store):
    assert store.cursor is None
    store.set_cursor(1700000000)
    assert store.cursor == 1700000000


def test_creations_lifecycle(store):
    values = {Key.NAME: "Иван", Key.PRICE: 5, Key.STATUS: 61, Key.PIPELINE: 70, Key.PHONE: "+7 1"}
    store.begin_creations([Creation("tok1", None, 100, values)])
    [c] = store.creations()
    assert (c.token, c.lead_id, c.created_at, c.values, c.finished) == ("tok1", None, 100, values, False)
    store.created([("tok1", 77)])
    assert store.creations()[0].lead_id == 77
    store.finish_creations(["tok1"])
    # Kept once finished: an undo in the sheet can bring the marker back, and it must still mean deal 77.
    assert [(c.token, c.lead_id, c.finished) for c in store.creations()] == [("tok1", 77, True)]
    store.begin_creations([Creation("tok2", None, 100, values)])
    store.forget_creations(["tok2"])
    assert [c.token for c in store.creations()] == ["tok1"]


def test_a_schema_1_journal_is_carried_over(tmp_path):
    import sqlite3

    path = state_path(tmp_path, SCOPE)
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE creations (fingerprint TEXT PRIMARY KEY, request_id TEXT NOT NULL, name TEXT NOT NULL,"
        " lead_id INTEGER, created_at INTEGER NOT NULL, sent TEXT NOT NULL DEFAULT '{}');"
        "INSERT INTO creations VALUES ('fp', 'r', 'Иван', 12, 100,"
        ' \'{"price": 5, "pipeline_id": 70, "status_id": 61}\');'
    )
    db.commit()
    db.close()
    store = StateStore(path, SCOPE)
    try:
        [c] = store.creations()
        assert (c.token, c.lead_id, c.created_at) == ("fp", 12, 100)
        assert c.values == {Key.NAME: "Иван", Key.PRICE: 5, Key.PIPELINE: 70, Key.STATUS: 61}
    finally:
        store.close()


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.set_cursor(5)
        raise RuntimeError
    assert store.cursor is None


def test_runs_log(store):
    rid = store.begin_run("sync", dry_run=False)
    store.finish_run(rid, 3, {"created": 2}, ["row 4: bad"])
    [r] = store.runs()
    assert (r.command, r.exit_status, r.summary, r.problems) == ("sync", 3, {"created": 2}, ["row 4: bad"])


def test_scopes_do_not_mix(tmp_path):
    a = Scope("sheet1", "", "https://x.amocrm.ru")
    b = Scope("sheet1", "", "https://y.amocrm.ru")
    c = Scope("sheet1", "Tab", "https://x.amocrm.ru")
    assert len({state_path(tmp_path, s) for s in (a, b, c)}) == 3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_files_are_private(tmp_path):
    s = StateStore.open(tmp_path / "state", SCOPE)
    s.set_cursor(1)
    assert stat.S_IMODE(os.stat(s.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    s.close()


def test_a_damaged_file_is_explained(tmp_path):
    path = state_path(tmp_path, SCOPE)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot be read"):
        StateStore(path, SCOPE)


def test_a_state_from_a_newer_amosheets_is_refused(tmp_path):
    import sqlite3

    path = state_path(tmp_path, SCOPE)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer amosheets") as e:
        StateStore(path, SCOPE)
    assert "Upgrade amosheets" in (e.value.hint or "")
