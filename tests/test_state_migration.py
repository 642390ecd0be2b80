"""A state file written by an earlier release is migrated in place (or used as it is) on the first run:
no re-sync, no duplicate.

The fixtures were made by ``tests/fixtures/make_state_fixture.py`` with those releases; the sandbox
and sheet each describes are rebuilt here (lead and contact ids are deterministic).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from amosheets import state
from amosheets.errors import ExitStatus
from amosheets.sandbox import Sandbox
from amosheets.state import state_path
from amosheets.sync.fields import BUILT_IN, Key
from amosheets.sync.model import CrmLead, Known

from .conftest import World

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_BASE_COLUMNS = {
    Key.NAME: "base_name",
    Key.PHONE: "base_phone",
    Key.EMAIL: "base_email",
    Key.PRICE: "base_price",
    Key.STATUS: "base_status",
    Key.PIPELINE: "base_pipeline",
}


def rebuilt(name: str, tmp_path: Path) -> Iterator[World]:
    """The sandbox and sheet the fixture ``name``'s state describes, with that state file in the state dir."""
    data = json.loads((FIXTURES / f"state-{name}.json").read_text())
    with Sandbox(account_id=data["account_id"]) as sb:
        for lead in data["leads"]:
            sb.amocrm.create_lead(**lead)
        for lead_id in data["deleted"]:
            sb.amocrm.delete_lead(lead_id)
        sb.new_spreadsheet(data["rows"], headers=data["headers"])
        (tmp_path / "state").mkdir()
        w = World(sb, {**sb.env(), "AMOSHEETS_STATE_DIR": str(tmp_path / "state")})
        shutil.copyfile(FIXTURES / f"state-{name}.sqlite3", state_file(w))
        yield w


@pytest.fixture
def old_world(tmp_path: Path) -> Iterator[World]:
    yield from rebuilt("schema2", tmp_path)


def first_sync_changes_nothing(w: World) -> None:
    """The first sync with an old state file: no deal made, no request that changes either side."""
    w.reset_stats()
    out = w.run("sync")
    amo, sheets = w.stats()
    assert out.exit_status == ExitStatus.OK, out.problems
    assert out.created == 0
    assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])


def state_file(w: World) -> Path:
    settings = w.settings()
    return state_path(settings.state_dir, settings.pair().scope)


def schema2_known(path: Path) -> dict[int, Known]:
    """What the schema-2 columns hold, read the way the schema-2 release read them."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    out = {}
    for r in db.execute("SELECT * FROM leads"):
        crm = None
        if r["crm_name"] is not None:
            crm = CrmLead.of(
                r["lead_id"],
                r["crm_name"],
                r["crm_price"],
                r["crm_status"],
                r["crm_pipeline"],
                r["crm_updated_at"],
                r["contact_id"],
                tuple(json.loads(r["crm_phones"])),
                tuple(json.loads(r["crm_emails"])),
            )
        base = {f: r[c] for f, c in _BASE_COLUMNS.items() if r[c] is not None}
        out[r["lead_id"]] = Known(
            r["lead_id"],
            crm,
            base or None,
            bool(r["has_row"]),
            bool(r["row_removed"]),
            bool(r["deleted"]),
            r["row_digest"],
        )
    db.close()
    return out


def schema_version(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    finally:
        db.close()


def test_a_schema_2_state_is_migrated_in_place_by_the_first_sync_without_a_resync(old_world: World, monkeypatch):
    path = state_file(old_world)
    assert schema_version(path) == "2"
    before = schema2_known(path)
    assert before[30000003].crm.phones == ("+7 999 123-45-67",) and before[30000005].deleted
    assert before[30000006].row_removed and before[30000001].base[Key.EMAIL] == "anna@example.com"

    first_sync_changes_nothing(old_world)
    assert schema_version(path) == "3"

    # A second open finds schema 3 and runs no step again.
    ran = []
    steps = [lambda db, step=step: (ran.append(step), step(db)) for step in state._MIGRATIONS]
    monkeypatch.setattr(state, "_MIGRATIONS", steps)
    store = old_world.store()
    try:
        after = store.load_known()
    finally:
        store.close()
    assert ran == []
    # The run saw every deal again (the rebuilt sandbox made them just now): only that time moved on.
    assert {lid: without_updated_at(k) for lid, k in after.items()} == {
        lid: without_updated_at(k) for lid, k in before.items()
    }


def test_the_migration_carries_every_value_and_the_creations_journal(old_world: World):
    path = state_file(old_world)
    before = schema2_known(path)
    store = old_world.store()
    try:
        assert store.load_known() == before
        assert [(c.lead_id, c.finished, c.values[Key.NAME]) for c in store.creations()] == [
            (30000001, True, "Анна Смирнова"),
            (30000002, True, "Пётр"),
        ]
    finally:
        store.close()
    assert schema_version(path) == "3"


def without_updated_at(k: Known) -> Known:
    """The lead as the schema-2 columns could hold it: its built-in fields (the run reads the others too)."""
    built_in = k.crm and {key: v for key, v in k.crm.fields.items() if key in BUILT_IN}
    return replace(k, crm=k.crm and replace(k.crm, updated_at=0, fields=built_in))


@pytest.fixture
def schema3_world(tmp_path: Path) -> Iterator[World]:
    """A state file made by the release before field specs (issue 9's, schema 3), with its sandbox and sheet."""
    yield from rebuilt("schema3", tmp_path)


def stored_leads(path: Path) -> dict[int, tuple[dict, dict | None]]:
    """Each lead's amoCRM values and base as the file holds them (built-in fields only)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT lead_id, crm, base FROM leads").fetchall()
    finally:
        db.close()
    out = {}
    for lid, crm, base in rows:
        held = {k: v for k, v in json.loads(crm).items() if k in BUILT_IN or k in ("phones", "emails")} if crm else {}
        out[lid] = (held, json.loads(base) if base else None)
    return out


def test_a_state_of_the_release_before_field_specs_is_used_as_it_is_without_a_resync(schema3_world: World):
    w = schema3_world
    path = state_file(w)
    assert schema_version(path) == "3"
    before = stored_leads(path)
    assert before[30000003][0]["phones"] == ["+7 999 123-45-67"]

    first_sync_changes_nothing(w)
    assert schema_version(path) == "3"
    assert stored_leads(path) == before

    # The same state then takes a custom-field column like any other.
    values = w.rows()
    w.sb.sheets.set_values(w.sid, w.tab, [[*values[0], "Город"]])
    number = next(i for i, r in enumerate(values) if r and r[1] == "Иван Петров") + 1
    w.sb.sheets.edit_cell(w.sid, w.tab, f"H{number}", "Тверь")
    out = w.run("sync")
    assert out.exit_status == ExitStatus.OK, out.problems
    lead = w.sb.amocrm.lead(30000003)
    assert [f["values"][0]["value"] for f in lead["custom_fields_values"] if f["field_name"] == "Город"] == ["Тверь"]


def test_the_release_before_amosheets_toml_leaves_the_state_of_a_pair_on_the_same_tab(tmp_path: Path):
    """A user who had the environment only writes amosheets.toml with a pair on the same tab and account:
    its first run is not a first run (no re-sync, nothing made again, no request that changes anything)."""
    world = next(w := rebuilt("before-pairs", tmp_path))
    try:
        config = tmp_path / "amosheets.toml"
        config.write_text(f'[[pair]]\nname = "main"\ntab = "{world.tab}"\n', encoding="utf-8")
        world.reset_stats()
        r = world.cli("--config", str(config), "sync")
        amo, sheets = world.stats()
        assert r.returncode == 0, r.stderr
        assert "First run" not in r.stderr and "set aside" not in r.stderr
        assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])
        assert [p.name for p in (tmp_path / "state").glob("*.sqlite3")] == [state_file(world).name]
    finally:
        w.close()
