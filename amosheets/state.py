"""The sync state, in SQLite: what both sides held at the last sync, and what a run left undone.

One database file per spreadsheet + tab + amoCRM account, so two setups never mix. It
holds, per lead, amoCRM's values as last seen and the values both sides held at the last
sync (the *base* of the three-way merge); the pull cursor in the server's time; creations
whose lead_id has not reached the sheet yet; and a log of runs for ``amosheets status``.
Files are created readable by their owner only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amosheets.errors import AmosheetsError, ConfigError, os_reason
from amosheets.i18n import _, kept
from amosheets.sync.catalog import Account, CustomField
from amosheets.sync.fields import CONTACT_CF_PREFIX, Key
from amosheets.sync.model import Catalog, Creation, CrmLead, Known, Names, Values

# 2: creations are keyed by the pending marker's token and kept a while once finished;
# 3: a lead's values are JSON keyed by field, so that the field set can grow without a schema change.
SCHEMA_VERSION = 3
FINISHED_CREATIONS_KEPT = 30 * 86400  # seconds: an undo in the sheet can bring an old marker back

_META_TABLE = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_SCHEMA = f"""
{_META_TABLE};
CREATE TABLE IF NOT EXISTS leads (
    lead_id INTEGER PRIMARY KEY,
    contact_id INTEGER,
    crm TEXT,
    crm_pipeline INTEGER,
    crm_updated_at INTEGER,
    base TEXT,
    has_row INTEGER NOT NULL DEFAULT 0,
    row_removed INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    row_digest TEXT
);
CREATE TABLE IF NOT EXISTS creations (
    token TEXT PRIMARY KEY,
    lead_id INTEGER,
    created_at INTEGER NOT NULL,
    sent TEXT NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    exit_status INTEGER,
    summary TEXT,
    problems TEXT
);
"""

# ``crm`` holds the lead's own fields by key, and its main contact's values as lists under these
# (a field's value is the first of them). ``crm_pipeline`` is a copy that ``load_index`` reads without JSON.
_PHONES, _EMAILS = "phones", "emails"
_COMPACT = (",", ":")  # a lead's values are stored 100,000 times over: no spaces


class StateError(AmosheetsError):
    pass


@dataclass(frozen=True)
class Scope:
    """What one state file belongs to."""

    spreadsheet_id: str
    worksheet: str  # "" for the first tab
    amocrm_origin: str

    @property
    def key(self) -> str:
        raw = f"{self.spreadsheet_id}\x1f{self.worksheet}\x1f{self.amocrm_origin}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class IndexEntry:
    digest: str | None
    has_row: bool
    row_removed: bool
    deleted: bool
    has_crm: bool
    crm_pipeline: int | None


@dataclass
class RunRecord:
    id: int
    command: str
    dry_run: bool
    started_at: float
    finished_at: float | None
    exit_status: int | None
    summary: dict[str, Any]
    problems: list[str]


def state_path(state_dir: Path, scope: Scope) -> Path:
    return state_dir / f"sync-{scope.key}.sqlite3"


class StateStore:
    def __init__(self, path: Path, scope: Scope) -> None:
        self.path = path
        self.scope = scope
        ensure_state_dir(path.parent)
        self._open()

    def _open(self, in_memory: bool = False) -> None:
        path = self.path
        new = in_memory or not path.exists()
        try:
            if new and not in_memory:
                # Create the file owner-only before SQLite writes anything into it.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            # Creations are journalled as each batch's answer arrives, on the amoCRM client's threads
            # (the engine serialises those calls).
            self._db = sqlite3.connect(
                ":memory:" if in_memory else path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = _schema_version(self._db)
            if version is not None and version > SCHEMA_VERSION:
                self._db.close()
                raise StateError(
                    _(
                        "The sync state {path} was made by a newer amosheets (state schema {version}; "
                        "this one knows up to {known})."
                    ).format(path=path, version=version, known=SCHEMA_VERSION),
                    hint=_(
                        "Upgrade amosheets to the version that last ran with this state "
                        "(or point AMOSHEETS_STATE_DIR elsewhere to start afresh)."
                    ),
                )
            if version is not None and version < SCHEMA_VERSION:
                self._migrate()
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StateError(
                _("The sync state {path} cannot be read: {error}.").format(path=path, error=e),
                hint=_(
                    "If the file is damaged, move it away; the next run starts afresh "
                    "(existing lead_ids in the sheet are matched again, nothing is created twice for them)."
                ),
            ) from None
        for suffix in () if in_memory else ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                side.chmod(stat.S_IRUSR | stat.S_IWUSR)
        if version is None:
            self._set_meta(
                schema_version=str(SCHEMA_VERSION),
                spreadsheet_id=self.scope.spreadsheet_id,
                worksheet=self.scope.worksheet,
                amocrm_origin=self.scope.amocrm_origin,
                created_at=str(int(time.time())),
            )

    def _migrate(self) -> None:
        """Bring a file of an older schema up to this one in place, one step per transaction.

        A step that fails leaves the file at the last version reached, so the next run goes on from there.
        """
        self._db.execute(_META_TABLE)  # early schema-1 files have none
        while True:
            with self.transaction():
                # Read again under the write lock: another process (`amosheets status`) may have migrated it.
                version = _schema_version(self._db) or SCHEMA_VERSION
                if version >= SCHEMA_VERSION:
                    return
                _MIGRATIONS[version - 1](self._db)
                self._set_meta(schema_version=str(version + 1))

    def set_aside(self, label: str) -> Path:
        """Move this state file aside (kept, its name marked with ``label``) and go on with an empty one.

        The run in progress is carried over, so that it is logged in the new file.
        """
        running = self._db.execute(
            "SELECT id, command, dry_run, started_at FROM runs WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        self._db.close()
        aside = self.path.with_name(f"{self.path.stem}.{label}.{int(time.time())}{self.path.suffix}")
        for suffix in ("", "-wal", "-shm"):
            side = Path(f"{self.path}{suffix}")
            if side.exists():
                side.rename(f"{aside}{suffix}")
        self._open()
        if running:
            self._db.execute("INSERT INTO runs(id, command, dry_run, started_at) VALUES (?, ?, ?, ?)", running)
        return aside

    def forget_in_memory(self) -> None:
        """Go on with an empty state that never reaches the disk (a dry run leaves the file as it was)."""
        self._db.close()
        self._open(in_memory=True)

    @classmethod
    def open(cls, state_dir: Path, scope: Scope) -> StateStore:
        return cls(state_path(state_dir, scope), scope)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------
    def _set_meta(self, **values: str) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def cursor(self) -> int | None:
        """amoCRM's clock (Unix seconds) up to which changes have been taken in."""
        v = self._meta("cursor")
        return int(v) if v is not None else None

    @property
    def cursor_taken_at(self) -> float | None:
        """This machine's clock when the cursor was taken: how much time has passed, should amoCRM's clock jump."""
        v = self._meta("cursor_taken_at")
        return float(v) if v is not None else None

    def set_cursor(self, value: int, taken_at: float | None = None) -> None:
        self._set_meta(cursor=str(int(value)), cursor_taken_at=repr(time.time() if taken_at is None else taken_at))

    @property
    def account_id(self) -> int | None:
        """The amoCRM account whose deals this state describes (None: not known yet)."""
        v = self._meta("account_id")
        return int(v) if v is not None else None

    def set_account_id(self, value: int) -> None:
        self._set_meta(account_id=str(int(value)))

    def account_catalog(self) -> tuple[Account, float, str] | None:
        """The account's fields as last read: (what it said, when — this machine's clock, the header row then)."""
        raw = self._meta("account_catalog")
        if raw is None:
            return None
        d = json.loads(raw)
        fields = tuple(
            CustomField(int(f[0]), f[1], f[2], f[3], f[4], tuple((int(i), t) for i, t in f[5]), bool(f[6]))
            for f in d["fields"]
        )
        users = None if d["users"] is None else {int(k): v for k, v in d["users"].items()}
        return Account(fields, users, d["timezone"]), float(d["at"]), str(d["headers"])

    def remember_account(self, account: Account, headers: str, at: float | None = None) -> None:
        fields = [[f.id, f.name, f.type, f.entity, f.code, list(f.enums), f.is_api_only] for f in account.custom_fields]
        held = {
            "fields": fields,
            "users": account.users,
            "timezone": account.timezone,
            "at": time.time() if at is None else at,
            "headers": headers,
        }
        with self.transaction():
            self._set_meta(account_catalog=json.dumps(held, ensure_ascii=False, separators=_COMPACT))

    def pipelines(self) -> tuple[list[dict[str, Any]], float] | None:
        """amoCRM's pipelines as last read: (its answer, when — this machine's clock)."""
        raw = self._meta("pipelines")
        if raw is None:
            return None
        d = json.loads(raw)
        return list(d["answer"]), float(d["at"])

    def remember_pipelines(self, answer: list[dict[str, Any]], at: float) -> None:
        held = {"answer": answer, "at": at}
        self._set_meta(pipelines=json.dumps(held, ensure_ascii=False, separators=_COMPACT))

    def names(self) -> Names:
        """The names pipelines and statuses have been shown under (cells may still show old ones)."""
        raw = self._meta("names")
        if raw is None:
            return Names()
        data = json.loads(raw)
        return Names(data["pipelines"], {int(pid): names for pid, names in data["statuses"].items()})

    def remember_names(self, catalog: Catalog) -> None:
        """Add the catalog's current names to those remembered."""
        names = self.names().with_catalog(catalog)
        self._set_meta(names=json.dumps({"pipelines": names.pipelines, "statuses": names.statuses}, ensure_ascii=False))

    # -- leads ----------------------------------------------------------------------
    def load_index(self) -> dict[int, IndexEntry]:
        """A light view of every lead (no values): enough to decide which leads a run must load."""
        return {
            r[0]: IndexEntry(r[1], bool(r[2]), bool(r[3]), bool(r[4]), bool(r[5]), r[6])
            for r in self._db.execute(
                "SELECT lead_id, row_digest, has_row, row_removed, deleted, crm IS NOT NULL, crm_pipeline FROM leads"
            )
        }

    def load_known(self, ids: Iterable[int] | None = None) -> dict[int, Known]:
        """What the state holds of these leads (of all, when ``ids`` is None)."""
        sql = (
            "SELECT lead_id, contact_id, crm, crm_updated_at, base, has_row, row_removed, deleted, row_digest"
            " FROM leads"
        )
        if ids is None:
            rows: Iterable[tuple[Any, ...]] = self._db.execute(sql)
        else:
            wanted = sorted(set(ids))
            rows = [
                r
                for i in range(0, len(wanted), 500)
                for r in self._db.execute(
                    f"{sql} WHERE lead_id IN ({','.join('?' * len(wanted[i : i + 500]))})", wanted[i : i + 500]
                )
            ]
        return {
            r[0]: Known(
                r[0],
                None if r[2] is None else _crm_from_json(r[0], r[1], r[3], r[2]),
                None if r[4] is None else _values_from_json(r[4]) or None,
                bool(r[5]),
                bool(r[6]),
                bool(r[7]),
                r[8],
            )
            for r in rows
        }

    def save_crm(self, leads: Iterable[CrmLead]) -> None:
        """Remember amoCRM's current values of these leads (their base is untouched)."""
        self._db.executemany(
            "INSERT INTO leads(lead_id, contact_id, crm, crm_pipeline, crm_updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(lead_id) DO UPDATE SET contact_id=excluded.contact_id, crm=excluded.crm,"
            " crm_pipeline=excluded.crm_pipeline, crm_updated_at=excluded.crm_updated_at, deleted=0",
            ((c.id, c.contact_id, _crm_json(c), c.pipeline_id, c.updated_at) for c in leads),
        )

    def save_base(self, items: Iterable[tuple[int, Values]]) -> None:
        """Set the last-synced values of these leads (fields not given become 'never synced')."""
        self._db.executemany(
            "INSERT INTO leads(lead_id, base) VALUES (?, ?) ON CONFLICT(lead_id) DO UPDATE SET base=excluded.base",
            ((lid, _values_json({f: v for f, v in base.items() if v is not None})) for lid, base in items),
        )

    def set_flag(self, flag: str, lead_ids: Iterable[int], value: bool = True) -> None:
        if flag not in ("has_row", "row_removed", "deleted"):
            raise ValueError(flag)
        self._db.executemany(
            f"INSERT INTO leads(lead_id, {flag}) VALUES (?, ?)"
            f" ON CONFLICT(lead_id) DO UPDATE SET {flag}=excluded.{flag}",
            ((lid, int(value)) for lid in lead_ids),
        )

    def set_digests(self, items: Iterable[tuple[int, str | None]]) -> None:
        self._db.executemany("UPDATE leads SET row_digest = ? WHERE lead_id = ?", ((d, lid) for lid, d in items))

    # -- creations ------------------------------------------------------------------
    def creations(self) -> list[Creation]:
        return [
            Creation(token, lead_id, created_at, _values_from_json(sent), finished_at is not None)
            for token, lead_id, created_at, sent, finished_at in self._db.execute(
                "SELECT token, lead_id, created_at, sent, finished_at FROM creations ORDER BY created_at, token"
            )
        ]

    def begin_creations(self, items: Iterable[Creation]) -> None:
        """Journal these creations *before* their markers are written and their request goes out."""
        self._db.executemany(
            "INSERT OR REPLACE INTO creations(token, lead_id, created_at, sent, finished_at) VALUES (?,NULL,?,?,NULL)",
            ((c.token, c.created_at, _values_json(c.values)) for c in items),
        )

    def created(self, items: Iterable[tuple[str, int]]) -> None:
        """(token, lead_id): amoCRM made the deal."""
        self._db.executemany("UPDATE creations SET lead_id = ? WHERE token = ?", ((lid, t) for t, lid in items))

    def finish_creations(self, tokens: Iterable[str]) -> None:
        """The deal's ID is in its row. Kept a while, so an old marker brought back by an undo still means that deal."""
        now = time.time()
        self._db.executemany(
            "UPDATE creations SET finished_at = ? WHERE token = ? AND finished_at IS NULL", ((now, t) for t in tokens)
        )
        self._db.execute("DELETE FROM creations WHERE finished_at < ?", (now - FINISHED_CREATIONS_KEPT,))

    def forget_creations(self, tokens: Iterable[str]) -> None:
        """No deal was made for these: the row is new again."""
        self._db.executemany("DELETE FROM creations WHERE token = ?", ((t,) for t in tokens))

    # -- runs -----------------------------------------------------------------------
    def begin_run(self, command: str, dry_run: bool) -> int:
        cur = self._db.execute(
            "INSERT INTO runs(command, dry_run, started_at) VALUES (?, ?, ?)", (command, int(dry_run), time.time())
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, exit_status: int, summary: dict[str, Any], problems: list[str]) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at = ?, exit_status = ?, summary = ?, problems = ? WHERE id = ?",
            (
                time.time(),
                exit_status,
                json.dumps(summary, ensure_ascii=False),
                json.dumps(problems, ensure_ascii=False),
                run_id,
            ),
        )
        # Keep the log small: the last 500 runs are plenty for `amosheets status`.
        self._db.execute("DELETE FROM runs WHERE id <= ?", (run_id - 500,))

    def runs(self, limit: int = 10) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT id, command, dry_run, started_at, finished_at, exit_status, summary, problems"
            " FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            RunRecord(
                r[0],
                r[1],
                bool(r[2]),
                r[3],
                r[4],
                r[5],
                json.loads(r[6] or "{}"),
                [kept(p) for p in json.loads(r[7] or "[]")],
            )
            for r in rows
        ]


def _values_json(values: Values) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=_COMPACT)


def _values_from_json(raw: str) -> Values:
    return {k: tuple(v) if type(v) is list else v for k, v in json.loads(raw).items()}


def _crm_json(lead: CrmLead) -> str:
    held = {**lead.fields, **lead.contact_fields, _PHONES: list(lead.phones), _EMAILS: list(lead.emails)}
    return json.dumps(held, ensure_ascii=False, separators=_COMPACT)


def _crm_from_json(lead_id: int, contact_id: int | None, updated_at: int | None, raw: str) -> CrmLead:
    d = json.loads(raw)
    phones, emails = tuple(d.pop(_PHONES)), tuple(d.pop(_EMAILS))
    d = {k: tuple(v) if type(v) is list else v for k, v in d.items()}  # JSON gives sets back as lists
    fields = {k: v for k, v in d.items() if not k.startswith(CONTACT_CF_PREFIX)}
    contact = {k: v for k, v in d.items() if k.startswith(CONTACT_CF_PREFIX)}
    return CrmLead(lead_id, fields, updated_at or 0, contact_id, phones, emails, contact)


# -- schema migrations: _MIGRATIONS[n - 1] takes a file from schema n to n + 1 ----------------
# Each step spells out the tables it makes as they were at its version (not _SCHEMA, which moves on),
# so that an old file still passes through every later step.
def _schema_version(db: sqlite3.Connection) -> int | None:
    """The file's schema; None for a new (empty) file. Files of schema 1 did not always record it."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone():
        return None
    if _has_table(db, "meta") and (row := db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()):
        return int(row[0])
    return 1


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _creations_by_token(db: sqlite3.Connection) -> None:
    """Schema 1 keyed creations by the row's content: carry them over, keyed by that fingerprint.

    No row holds a marker for them; the planner still finds their rows by content (a row
    without a lead_id that matches a deal the state knows is given that deal's ID).
    """
    columns = {r[1] for r in db.execute("PRAGMA table_info(creations)")}
    if "fingerprint" not in columns:
        return
    sent_column = "sent" if "sent" in columns else "'{}'"
    old = db.execute(f"SELECT fingerprint, name, lead_id, created_at, {sent_column} FROM creations").fetchall()
    db.execute("DROP TABLE creations")
    db.execute(
        "CREATE TABLE creations (token TEXT PRIMARY KEY, lead_id INTEGER, created_at INTEGER NOT NULL,"
        " sent TEXT NOT NULL, finished_at REAL)"
    )
    for fp, name, lead_id, created_at, sent in old:
        was = json.loads(sent or "{}")
        values = {
            Key.NAME: name,
            Key.PRICE: was.get("price", 0),
            Key.STATUS: was.get("status_id"),
            Key.PIPELINE: was.get("pipeline_id"),
        }
        db.execute(
            "INSERT OR REPLACE INTO creations(token, lead_id, created_at, sent) VALUES (?,?,?,?)",
            (fp, lead_id, created_at, _values_json(values)),
        )


_SCHEMA_2_BASE = {
    Key.NAME: "base_name",
    Key.PHONE: "base_phone",
    Key.EMAIL: "base_email",
    Key.PRICE: "base_price",
    Key.STATUS: "base_status",
    Key.PIPELINE: "base_pipeline",
}


def _values_by_field(db: sqlite3.Connection) -> None:
    """Schema 2 had a column per field; schema 3 keeps amoCRM's values and the base as JSON keyed by field."""
    if not _has_table(db, "leads"):
        return
    old = db.execute(
        "SELECT lead_id, contact_id, crm_name, crm_price, crm_status, crm_pipeline, crm_phones, crm_emails,"
        f" crm_updated_at, {', '.join(_SCHEMA_2_BASE.values())}, has_row, row_removed, deleted, row_digest FROM leads"
    ).fetchall()
    db.execute("DROP TABLE leads")
    db.execute(
        "CREATE TABLE leads (lead_id INTEGER PRIMARY KEY, contact_id INTEGER, crm TEXT, crm_pipeline INTEGER,"
        " crm_updated_at INTEGER, base TEXT, has_row INTEGER NOT NULL DEFAULT 0,"
        " row_removed INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, row_digest TEXT)"
    )
    db.executemany(
        "INSERT INTO leads(lead_id, contact_id, crm, crm_pipeline, crm_updated_at, base, has_row, row_removed,"
        " deleted, row_digest) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (_schema_2_lead(r) for r in old),
    )


def _schema_2_lead(r: tuple[Any, ...]) -> tuple[Any, ...]:
    crm = None
    if r[2] is not None:
        crm = _crm_json(
            CrmLead.of(r[0], r[2], r[3], r[4], r[5], 0, r[1], tuple(json.loads(r[6])), tuple(json.loads(r[7])))
        )
    base = {f: v for f, v in zip(_SCHEMA_2_BASE, r[9:15], strict=True) if v is not None}
    return (r[0], r[1], crm, r[5], r[8], _values_json(base) if base else None, *r[15:19])


_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_creations_by_token, _values_by_field]


def ensure_state_dir(path: Path) -> None:
    """Create the state directory, owner-only, if it is missing; one that cannot be used is a setup problem."""
    hint = _("Set AMOSHEETS_STATE_DIR to a directory this user can write to (it is made if it does not exist).")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ConfigError(
            _("The state directory {path} (AMOSHEETS_STATE_DIR) cannot be made: {reason}.").format(
                path=path, reason=os_reason(e)
            ),
            hint,
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            _("The state directory {path} (AMOSHEETS_STATE_DIR) is not writable by this user.").format(path=path), hint
        )
