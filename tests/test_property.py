"""A state machine over the real clients and the sandbox: random edits on both sides, runs with
and without faults, and after every fault-free sync the promises of the README are checked
against a model the machine keeps itself (which rows exist with which notes, which deals it
made and deleted), never against the tool's own state.

People work meanwhile: between a failed run (killed part-way, or a write carried out whose
answer was lost) and the next, rows are edited (new ones too), sorted and inserted, a lead_id
is cleared, a status is renamed, amoCRM's clock is stepped. Whatever happened, no deal is made
twice and no typed value is lost unless amoCRM changed that field too.

Custom-field columns (a select, a multiselect, a checkbox, a number, a date) and the tags are
edited on both sides too: in the sheet as a person types them (an option in any case, a
multiselect's options in any order, да/нет, "1 500", "15.12.2026"), in amoCRM through the
emulator (cleared too). The machine compares them canonically, by its own reading of both sides,
and knows which value each field may end with: the three-way merge of the sheet's value, amoCRM's
value and the value both sides last agreed on (amoCRM wins a field changed on both sides). After a
failed run the agreed value is any that either side held around it.

The default settings keep it under a minute for CI; ``AMOSHEETS_LONG_PROPERTY=1`` runs many
more and longer examples.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from amosheets.amocrm.connect import amo_client
from amosheets.config import load_settings
from amosheets.engine import Engine, Options, Outcome
from amosheets.errors import AmosheetsError, ExitStatus
from amosheets.sandbox import Sandbox
from amosheets.sheet import Sheet
from amosheets.sync.fields import Key
from amosheets.sync.merge import ConflictPolicy
from amosheets.sync.plan import Direction

# Custom fields of the sandbox's sample account (select, multiselect, checkbox, numeric, date) and the tags.
CUSTOM_HEADERS = ["Продукт", "Интересы", "Оплачено", "Количество", "Дата встречи", "Теги"]
# The sync column last: the tool writes it in the same requests as the rest, never into a row it did not act on.
HEADERS = ["lead_id", "Имя", "Телефон", "Email", "Сумма", "Статус", "Воронка", "Заметки", *CUSTOM_HEADERS, "Sync"]
LEAD_ID, NAME, PHONE, EMAIL, PRICE, STATUS, PIPELINE, NOTES = range(8)
PRODUCT, INTERESTS, PAID, QUANTITY, MEETING, TAGS = range(8, 14)
CUSTOM = (PRODUCT, INTERESTS, PAID, QUANTITY, MEETING, TAGS)
SYNC = 14
WIDTH = len(HEADERS)
LETTERS = "ABCDEFGHIJKLMNO"
MAX_ROWS = 6
MAX_LEADS = 8

# Small pools, so that equal values and collisions happen.
NAMES = ["Анна", "Борис", "Вера"]
TYPED_PRICES = ["1500", "1 500", "2000", "", "0"]  # as typed into the sheet: "1 500" and "1500" are one amount
CRM_PRICES = [0, 1500, 2000, 3000]
PHONES = ["+7 999 11", "+7 999 22", "+7 1"]
EMAILS = ["a@x.ru", "b@x.ru"]
MAIN_STATUSES = [
    "Первичный контакт",
    "Переговоры",
    "Принимают решение",
    "Согласование договора",
    "Успешно реализовано",
    "Закрыто и не реализовано",
]
TYPED_STATUSES = [*MAIN_STATUSES, "переговоры"]  # a status is matched without regard to case
FAULT_KINDS = ["429", "500", "502", "503", "504", "drop"]
# Requests whose answer can be lost after the service carried them out: (service, method, path).
LOST_ANSWERS = [
    ("amocrm", "POST", r"^/api/v4/leads/complex$"),
    ("amocrm", "PATCH", r"^/api/v4/leads$"),
    ("amocrm", "PATCH", r"^/api/v4/contacts$"),
    ("sheets", "POST", r"values:batchUpdate$"),
]
CLOCK_STEPS = [-7200, -600, -61, 61, 600, 7200]  # amoCRM's clock corrected, back or forward
COLUMN_OF = {Key.NAME: NAME, Key.PHONE: PHONE, Key.EMAIL: EMAIL, Key.PRICE: PRICE, Key.STATUS: STATUS}
NOTES_POOL = ["позвонить", "VIP", "42", "перезвонить в пн", ""]

MOSCOW = ZoneInfo("Europe/Moscow")  # the sandbox account's time zone: a date field's day is Moscow's
PRODUCTS = ["Базовый", "Стандарт", "Премиум"]
INTEREST_OPTIONS = ["Доставка", "Монтаж", "Сервис", "Обучение"]
TAG_NAMES = ["VIP", "Опт", "Новый"]
CASES = {"as is": str, "lower": str.lower, "upper": str.upper}


def _moscow(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=MOSCOW).timestamp())


# A date field's value as amoCRM may hold it: midnight in Moscow, late in the day, and just after
# midnight in Moscow (still the day before in UTC); once as an RFC 3339 string.
MEETINGS = [
    _moscow("2026-12-15T00:00"),
    _moscow("2026-12-15T23:30"),
    _moscow("2027-01-20T00:30"),
    "2027-01-20T00:00:00+03:00",
]


def _joined(names: list[str]) -> st.SearchStrategy[str]:
    """Some of ``names`` typed as a person does: any order, any case, joined by ", "; none: a cleared cell."""
    picks = st.lists(
        st.tuples(st.sampled_from(names), st.sampled_from(sorted(CASES))), max_size=3, unique_by=lambda p: p[0]
    )
    return picks.map(lambda ps: ", ".join(CASES[case](name) for name, case in ps))


# One custom cell typed into a row: (column, text as typed); "" clears it.
CUSTOM_EDITS = st.one_of(
    st.tuples(st.just(PRODUCT), st.sampled_from(["Базовый", "стандарт", "ПРЕМИУМ", " Премиум ", ""])),
    st.tuples(st.just(INTERESTS), _joined(INTEREST_OPTIONS)),
    st.tuples(st.just(PAID), st.sampled_from(["TRUE", "FALSE", "да", "нет", ""])),
    st.tuples(st.just(QUANTITY), st.sampled_from(["1 500", "1500", "7", "12.5", ""])),
    st.tuples(st.just(MEETING), st.sampled_from(["2026-12-15", "15.12.2026", "2027-01-20", "20.01.2027", ""])),
    st.tuples(st.just(TAGS), _joined(TAG_NAMES)),
)
# One custom field set in amoCRM: (column, value); None (and an empty set) clears it.
CRM_CUSTOM_EDITS = st.one_of(
    st.tuples(st.just(PRODUCT), st.none() | st.sampled_from(PRODUCTS)),
    st.tuples(st.just(INTERESTS), st.frozensets(st.sampled_from(INTEREST_OPTIONS), max_size=3)),
    st.tuples(st.just(PAID), st.none() | st.booleans()),
    st.tuples(st.just(QUANTITY), st.none() | st.sampled_from([1500, "1500", 7, 12.5, "12.5"])),
    st.tuples(st.just(MEETING), st.none() | st.sampled_from(MEETINGS)),
    st.tuples(st.just(TAGS), st.frozensets(st.sampled_from(TAG_NAMES), max_size=3)),
)
CRM_CUSTOM = st.lists(CRM_CUSTOM_EDITS, min_size=1, max_size=3, unique_by=lambda e: e[0]).map(dict)

# One cell typed into a row: (column, text as typed).
EDITS = st.one_of(
    st.tuples(st.just(NAME), st.sampled_from(NAMES)),
    st.tuples(st.just(PRICE), st.sampled_from(TYPED_PRICES)),
    st.tuples(st.just(PHONE), st.sampled_from(PHONES).map(lambda p: f"'{p}")),
    st.tuples(st.just(EMAIL), st.sampled_from(EMAILS)),
    st.tuples(st.just(STATUS), st.sampled_from(TYPED_STATUSES)),
)

settings.register_profile(
    "amosheets-property-ci",
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "amosheets-property-long",
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = "amosheets-property-long" if os.environ.get("AMOSHEETS_LONG_PROPERTY") == "1" else "amosheets-property-ci"


@dataclass
class Row:
    """What the machine knows of one sheet row (rows are kept in sheet order, row 2 first)."""

    notes: str = ""
    lead: int | None = None  # the deal this row carries, once the tool wrote it
    content: bool = True  # False: nothing in the synced columns (a blank row, or notes only)
    origin: str = "sheet"  # "sheet": typed in by the machine; "crm": appended by the tool
    exposed: bool = False  # a failed run saw it without a lead_id: a deal may exist for it
    cleared: bool = False  # the machine emptied its lead_id cell: the tool must put ``lead`` back
    typed: dict[int, object] = field(default_factory=dict)  # column → value typed since the last sync


def _norm_price(text: str) -> int:
    digits = text.replace(" ", "").replace("\u00a0", "")
    return int(digits) if digits else 0


Canon = object  # a custom field's value as the machine compares it (hashable)


def sheet_canon(col: int, cell: object) -> Canon:
    """A custom cell (as UNFORMATTED_VALUE gives it) in the machine's own canonical form: an option's
    text casefolded, a set of options or tags casefolded, a boolean, a float, an ISO day; None when empty."""
    if col == PAID:
        return cell if isinstance(cell, bool) else str(cell).strip().casefold() in ("true", "да", "yes", "1")
    if col == QUANTITY and isinstance(cell, int | float):
        return float(cell)
    if col == MEETING and isinstance(cell, int | float):
        return (date(1899, 12, 30) + timedelta(days=int(cell))).isoformat()  # a real date cell: its serial
    text = "" if cell is None else str(cell).strip()
    if col == QUANTITY:
        digits = text.replace(" ", "").replace("\u00a0", "")
        return float(digits) if digits else None
    if col == MEETING:
        if not text:
            return None
        for f in ("%Y-%m-%d", "%d.%m.%Y"):
            with contextlib.suppress(ValueError):
                return datetime.strptime(text, f).date().isoformat()
        raise AssertionError(f"{HEADERS[col]}: the cell {cell!r} is not a date")
    if col == PRODUCT:
        return text.casefold() or None
    return frozenset(p.strip().casefold() for p in text.split(",") if p.strip())  # Интересы, Теги


def crm_canon(lead: dict, col: int, field_id: int | None) -> Canon:
    """A custom field (or the tags) of a deal as amoCRM holds it, in the form ``sheet_canon`` gives."""
    if col == TAGS:
        return frozenset(t["name"].casefold() for t in (lead.get("_embedded") or {}).get("tags") or [])
    values = next((f["values"] for f in lead.get("custom_fields_values") or [] if f["field_id"] == field_id), [])
    if col == PAID:
        return bool(values and values[0]["value"])
    if col == INTERESTS:
        return frozenset(str(v["value"]).casefold() for v in values)
    if not values:
        return None
    value = values[0]["value"]
    if col == PRODUCT:
        return str(value).casefold()
    if col == QUANTITY:
        return float(value)
    assert isinstance(value, int), value  # MEETING: amoCRM answers with Unix time
    return datetime.fromtimestamp(value, MOSCOW).date().isoformat()


def merged(base: Canon, sheet: Canon, crm: Canon) -> Canon:
    """The three-way merge of one field: a side that changed wins; both changed, amoCRM wins."""
    if sheet in (crm, base):
        return crm
    return sheet if crm == base else crm


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sb = Sandbox(rate_limit=None, read_quota=None, write_quota=None).start()
        self.sid = self.sb.new_spreadsheet([], headers=HEADERS)
        self.tab = self.sb.worksheet
        self.state_dir = tempfile.mkdtemp(prefix="amosheets-property-")
        self.env = {**self.sb.env(), "AMOSHEETS_STATE_DIR": self.state_dir}
        main = self.sb.amocrm.main_pipeline()
        # Keyed by the original names (the pools above); a renamed status keeps its id.
        self.status_ids = {s["name"]: s["id"] for s in main["_embedded"]["statuses"]}
        self.status_names = {s["id"]: [s["name"]] for s in main["_embedded"]["statuses"]}  # every name it had
        self.renames = 0
        # Statuses typed into the sheet by name since the last clean run: the tool has not read those names yet.
        self.typed_statuses: set[int] = set()
        self.ran_at = 0  # the latest amoCRM time any run started at: a cursor is never later than this
        self.crm_changed: dict[int, set[int]] = {}  # deal → columns amoCRM changed since the last sync
        self.rows: list[Row] = []
        self.crm_made: set[int] = set()  # deals the machine made in amoCRM
        self.sheet_made: set[int] = set()  # deals the tool made for rows the machine typed in
        self.deleted: set[int] = set()  # deals the machine deleted in amoCRM
        self.removed: set[int] = set()  # deals whose row the machine deleted from the sheet
        self.orphan_budget = 0  # rows deleted while a failed run may have made their deal
        emu = self.sb.amocrm
        self.field_ids = {col: int(emu.find_field(HEADERS[col])["id"]) for col in CUSTOM if col != TAGS}
        self.enum_ids = {
            col: {e["value"]: int(e["id"]) for e in emu.find_field(HEADERS[col])["enums"]}
            for col in (PRODUCT, INTERESTS)
        }
        self.column_of = {
            **COLUMN_OF,
            Key.TAGS: TAGS,
            **{f"cf:{fid}": col for col, fid in self.field_ids.items()},
        }
        # (deal, custom column) → the values the tool may hold as the last agreed one: what both sides held
        # after the last fault-free sync, and anything either side held around a failed run since.
        self.bases: dict[tuple[int, int], set[Canon]] = {}

    def teardown(self) -> None:
        self.sb.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- running the tool ---------------------------------------------------------------
    def run(self, direction: str) -> Outcome:
        self.ran_at = max(self.ran_at, self.sb.amocrm.clock.now())
        s = load_settings(environ=self.env)
        amo = amo_client(s.account(), backoff=0.01, max_backoff=0.05)
        sheet = Sheet(s.tab(), backoff=0.01, max_backoff=0.05)
        # --force: random edits may look like a column sorted on its own; the guard is not under test.
        return Engine.from_settings(s, Options(Direction(direction), force=True), amo=amo, sheet=sheet).run()

    def run_clean(self, direction: str) -> Outcome:
        out = self.run(direction)
        assert out.exit_status == ExitStatus.OK, (out.problems, out.notices)
        assert not out.problems and not out.uncertain
        self.typed_statuses.clear()
        return out

    def run_failing(self, direction: str = "sync") -> None:
        """A run that may stop anywhere: a clear error is fine, any other exception is a bug."""
        self.note_bases()
        try:
            out = self.run(direction)
        except AmosheetsError as e:
            event(f"failing run: stopped with {type(e).__name__}")
        else:
            event(f"failing run: finished with exit status {out.exit_status.name}")
        for m in self.rows:
            if m.content and m.lead is None:
                m.exposed = True
        self.observe()
        self.note_bases()

    def note_bases(self) -> None:
        """Around a failed run, any value either side holds may become the one the tool saves as agreed."""
        live = self.live()
        custom = self.sheet_custom()
        for i, m in enumerate(self.rows):
            if m.lead is not None and i < len(custom):
                for col in CUSTOM:
                    self.bases.setdefault((m.lead, col), set()).add(custom[i][col])
        for lid, lead in live.items():
            for col in CUSTOM:
                self.bases.setdefault((lid, col), set()).add(self.crm_custom(lead, col))

    # -- reading both sides -------------------------------------------------------------
    def sheet_rows(self) -> list[list[str]]:
        values = self.sb.sheets.values(self.sid, self.tab)
        assert values and [str(c) for c in values[0]] == HEADERS, values[:1]
        return [[str(c) for c in r] + [""] * (WIDTH - len(r)) for r in values[1:]]

    def sheet_custom(self) -> list[dict[int, Canon]]:
        """Every row's custom cells, canonical, read as the tool reads them (a date cell as its serial)."""
        values = self.sb.sheets.values(self.sid, self.tab, render="UNFORMATTED_VALUE")
        return [{col: sheet_canon(col, r[col] if col < len(r) else "") for col in CUSTOM} for r in values[1:]]

    def crm_custom(self, lead: dict, col: int) -> Canon:
        return crm_canon(lead, col, self.field_ids.get(col))

    def live(self) -> dict[int, dict]:
        return {int(lead["id"]): lead for lead in self.sb.amocrm.leads()}

    def _twins(self, one: int, other: int | None) -> bool:
        """Is deal ``one`` the same as ``other`` in everything the sheet shows, and is its row gone too?"""
        if other is None or one not in self.removed:
            return False
        live = self.live()
        if one not in live or other not in live:
            return False

        def shown(lid: int) -> tuple:
            lead, contact = live[lid], self.sb.amocrm.main_contact_of(lid)
            fields = {
                f["field_code"]: [v["value"] for v in f["values"]]
                for f in (contact or {}).get("custom_fields_values") or []
            }
            return (lead["name"], lead["price"], lead["status_id"], lead["pipeline_id"], fields.get("PHONE", [])[:1],
                    fields.get("EMAIL", [])[:1], [self.crm_custom(lead, col) for col in CUSTOM])  # fmt: skip

        return shown(one) == shown(other)

    def observe(self) -> list[list[str]]:
        """Compare the sheet with the model after a run; learn the lead ids written and the rows appended."""
        rows = self.sheet_rows()
        assert len(rows) >= len(self.rows), "rows disappeared from the sheet"
        for i, (m, cells) in enumerate(zip(self.rows, rows, strict=False)):
            if m.cleared and cells[LEAD_ID].isdigit():
                given = int(cells[LEAD_ID])
                if given != m.lead and self._twins(given, m.lead):
                    # Two deals the sheet cannot tell apart, both without a row: the row may get either.
                    self.removed.discard(given)
                    self.removed.add(m.lead)
                    m.lead = given
                assert given == m.lead, (
                    f"row {i + 2}: its lead_id {m.lead} was cleared, and it got {given} instead of it back"
                )
                m.cleared = False
            self._check_row(i, m, cells)
            # Anything else than an id may mark a creation in flight; after a clean sync every row has its id.
            if m.lead is None and cells[LEAD_ID].isdigit():
                assert m.content, (i + 2, cells)
                m.lead = int(cells[LEAD_ID])
                if m.origin == "sheet":
                    self.sheet_made.add(m.lead)
        for cells in rows[len(self.rows) :]:
            assert cells[LEAD_ID].isdigit() and cells[NOTES] == "", ("appended row", cells)
            self.rows.append(Row(lead=int(cells[LEAD_ID]), origin="crm"))
        return rows

    @staticmethod
    def _check_row(i: int, m: Row, cells: list[str]) -> None:
        assert cells[NOTES] == m.notes, f"row {i + 2}: notes {cells[NOTES]!r}, the machine wrote {m.notes!r}"
        assert cells[SYNC][:1] in ("", "✓", "✗", "⚠"), f"row {i + 2}: the sync column says {cells[SYNC]!r}"
        if m.lead is not None:
            shown = "" if m.cleared else str(m.lead)
            assert cells[LEAD_ID] == shown, f"row {i + 2}: lead_id {cells[LEAD_ID]!r}, the model has {shown!r}"
        if not m.content:
            assert not any(cells[:NOTES] + cells[NOTES + 1 :]), f"row {i + 2} had no synced cells and now has {cells}"

    def trim(self) -> None:
        while self.rows and not self.rows[-1].content and not self.rows[-1].notes:
            self.rows.pop()

    @invariant()
    def sheet_matches_model(self) -> None:
        """Every step: notes as written, lead ids unchanged, blank rows blank, no row lost or added."""
        rows = self.sheet_rows()
        assert len(rows) == len(self.rows), (len(rows), len(self.rows))
        for i, (m, cells) in enumerate(zip(self.rows, rows, strict=True)):
            self._check_row(i, m, cells)

    # -- the checks after a fault-free sync ---------------------------------------------
    def check_after_sync(self, expected: list[tuple[Row, dict[int, set[Canon]]]]) -> None:
        self.observe()
        self.trim()
        live = self.live()
        on_rows = self.check_every_row_has_its_own_deal()
        self.check_fields_agree(on_rows, live)
        self.check_no_deal_made_twice(live)
        self.check_deals_exact(on_rows, live)
        self.check_typed_values_kept(live)
        self.check_custom_merged(expected, live)
        self.check_second_sync_is_quiet()
        for m in self.rows:
            m.typed.clear()
        self.crm_changed.clear()
        custom = self.sheet_custom()
        self.bases = {(lid, col): {custom[i][col]} for lid, i in on_rows.items() if lid in live for col in CUSTOM}
        event(f"checked sync: {len(on_rows)} deals on rows, {len(live)} live")
        if self.deleted & on_rows.keys():
            event("checked sync: a row of a deal deleted in amoCRM")
        if self.removed:
            event("checked sync: a deleted row")
        if any(m.origin == "crm" for m in self.rows):
            event("checked sync: a deal appended from amoCRM")
        if self.orphan_budget:
            event("checked sync: a row deleted after a failed run")

    def check_every_row_has_its_own_deal(self) -> dict[int, int]:
        """Invariant 3: no lead id on two rows; every row with content got its deal."""
        on_rows: dict[int, int] = {}
        for i, m in enumerate(self.rows):
            if m.content:
                assert m.lead is not None, f"row {i + 2} has content but no lead_id after a sync"
                assert not m.cleared, f"row {i + 2}: its cleared lead_id {m.lead} was not put back"
            if m.lead is not None:
                assert m.lead not in on_rows, f"deal {m.lead} on rows {on_rows[m.lead] + 2} and {i + 2}"
                on_rows[m.lead] = i
        return on_rows

    def crm_view(self, lid: int, lead: dict, pipelines: dict[int, dict]) -> tuple:
        """(name, phone, email, price, the status's names, pipeline) as amoCRM holds them."""
        contact = self.sb.amocrm.main_contact_of(lid)
        codes: dict[str, list[str]] = {}
        for f in (contact or {}).get("custom_fields_values") or []:
            codes[f["field_code"]] = [str(v["value"]) for v in f["values"]]
        pipeline = pipelines[lead["pipeline_id"]]
        status = next(s["name"] for s in pipeline["_embedded"]["statuses"] if s["id"] == lead["status_id"])
        # A cell may still show a status's old name: it means the same status (until the row is next written).
        names = {n.casefold() for n in [status, *self.status_names.get(lead["status_id"], [])]}
        return (
            lead["name"],
            (codes.get("PHONE") or [""])[0],
            (codes.get("EMAIL") or [""])[0],
            lead["price"],
            names,
            pipeline["name"].casefold(),
        )

    @staticmethod
    def agrees(cells: list[str], crm: tuple) -> bool:
        name, phone, email, price, statuses, pipeline = crm
        return (
            cells[NAME].strip() == name
            and cells[PHONE].strip() == phone
            and cells[EMAIL].strip() == email
            and _norm_price(cells[PRICE]) == price
            and cells[STATUS].strip().casefold() in statuses
            and cells[PIPELINE].strip().casefold() == pipeline
        )

    def check_fields_agree(self, on_rows: dict[int, int], live: dict[int, dict]) -> None:
        """Invariant 1: both sides hold the same value of every synced field."""
        rows = self.sheet_rows()
        custom = self.sheet_custom()
        pipelines = {p["id"]: p for p in self.sb.amocrm.pipelines()}
        for lid, i in on_rows.items():
            if lid in self.deleted:
                continue
            assert lid in live, f"deal {lid} of row {i + 2} is gone from amoCRM"
            crm = self.crm_view(lid, live[lid], pipelines)
            assert self.agrees(rows[i], crm), f"row {i + 2} (deal {lid}): sheet {rows[i][:NOTES]} != amoCRM {crm}"
            sheet, amo = custom[i], {col: self.crm_custom(live[lid], col) for col in CUSTOM}
            assert sheet == amo, f"row {i + 2} (deal {lid}): custom cells {sheet} != amoCRM {amo}"

    def check_custom_merged(self, expected: list[tuple[Row, dict[int, set[Canon]]]], live: dict[int, dict]) -> None:
        """Each custom field of a deal ends with its three-way merge: a change on one side reached the other,
        a field changed on both sides to different values has amoCRM's (the default policy); a new row's
        deal has the row's values."""
        for m, cols in expected:
            if m.lead is None or m.lead in self.deleted or m.lead not in live:
                continue
            for col, allowed in cols.items():
                now = self.crm_custom(live[m.lead], col)
                assert now in allowed, f"deal {m.lead}: {HEADERS[col]} is {now!r}, the merge allows only {allowed}"

    def expect_custom(self) -> list[tuple[Row, dict[int, set[Canon]]]]:
        """Before a fault-free sync: the values each custom field of each deal on a row may end with. A row
        without its deal yet keeps what it has (nobody can change a deal amoCRM does not show on a row)."""
        custom = self.sheet_custom()
        live = self.live()
        out: list[tuple[Row, dict[int, set[Canon]]]] = []
        for i, m in enumerate(self.rows):
            if m.lead is None:
                if m.content:
                    out.append((m, {col: {custom[i][col]} for col in CUSTOM}))
                continue
            if m.lead not in live:
                continue
            allowed: dict[int, set[Canon]] = {}
            for col in CUSTOM:
                sheet, crm = custom[i][col], self.crm_custom(live[m.lead], col)
                bases = self.bases.get((m.lead, col))
                allowed[col] = {merged(b, sheet, crm) for b in bases} if bases else {sheet, crm}
                if sheet != crm and bases and len(bases) == 1:
                    [base] = bases
                    both = sheet != base and crm != base
                    event(f"sync: a custom field changed on {'both sides' if both else 'one side'}")
            out.append((m, allowed))
        return out

    def check_deals_exact(self, on_rows: dict[int, int], live: dict[int, dict]) -> None:
        """Invariants 4 and 5: amoCRM holds the deals made on either side minus the deleted ones, once each;
        deleted rows stay deleted, deleted deals stay deleted."""
        assert not self.deleted & live.keys(), "a deleted deal is alive again"
        assert not self.removed & on_rows.keys(), "a row deleted from the sheet came back"
        for lid in (self.crm_made | self.sheet_made | self.removed | on_rows.keys()) - self.deleted:
            assert lid in live, f"deal {lid} disappeared from amoCRM"
        for lid in self.crm_made - self.deleted:
            assert lid in on_rows or lid in self.removed, f"deal {lid} made in amoCRM was not added to the sheet"
        for i, m in enumerate(self.rows):
            if m.origin == "sheet" and m.lead is not None:
                assert m.lead not in self.crm_made, f"row {i + 2} took deal {m.lead} that was made in amoCRM"
        extra = (live.keys() | on_rows.keys()) - self.crm_made - self.sheet_made - self.removed
        assert len(extra) <= self.orphan_budget, f"deals nobody asked for: {sorted(extra)}"

    def check_no_deal_made_twice(self, live: dict[int, dict]) -> None:
        """amoCRM made as many deals as there are rows and CRM deals the machine made, live or deleted
        (plus at most one for each row deleted while a failed run may have made its deal)."""
        made = live.keys() | {int(lead["id"]) for lead in self.sb.amocrm.deleted_leads()}
        meant = self.crm_made | self.sheet_made
        extra = made - meant
        names = sorted(str((live.get(lid) or self.sb.amocrm.lead(lid))["name"]) for lid in extra)
        assert len(extra) <= self.orphan_budget, (
            f"{len(made)} deals made for {len(meant)} rows and CRM deals "
            f"(+{self.orphan_budget} allowed for rows deleted after a failed run); deals on no row: {names}"
        )

    def check_typed_values_kept(self, live: dict[int, dict]) -> None:
        """A value typed since the last sync is in amoCRM, unless amoCRM changed that field too."""
        for i, m in enumerate(self.rows):
            if m.lead is None or m.lead in self.deleted:
                continue
            changed = self.crm_changed.get(m.lead, set())
            for col, typed in m.typed.items():
                if col in changed:
                    continue
                now = self.crm_value(m.lead, live[m.lead], col)
                assert now == typed, (
                    f"row {i + 2} (deal {m.lead}): {HEADERS[col]} typed {typed!r} is lost, amoCRM has {now!r} "
                    "and nobody changed it there"
                )

    def crm_value(self, lid: int, lead: dict, col: int) -> object:
        if col in CUSTOM:
            return self.crm_custom(lead, col)
        if col in (PHONE, EMAIL):
            contact = self.sb.amocrm.main_contact_of(lid) or {}
            code = "PHONE" if col == PHONE else "EMAIL"
            for f in contact.get("custom_fields_values") or []:
                if f["field_code"] == code:
                    return str(f["values"][0]["value"])
            return ""
        return lead[{NAME: "name", PRICE: "price", STATUS: "status_id"}[col]]

    def check_conflicts_are_real(self, outs: list[Outcome]) -> None:
        """A conflict needs a change on both sides: amoCRM must have changed the field too."""
        for out in outs:
            for x in out.plan.conflicts if out.plan else []:
                col = self.column_of.get(x.field)
                assert col in self.crm_changed.get(x.lead_id, set()), (
                    f"conflict on row {x.row} (deal {x.lead_id}), {x.field}: amoCRM never changed it "
                    f"(sheet {x.sheet!r}, amoCRM {x.crm!r}, base {x.base!r}); kept {x.winner.value}"
                )
                assert x.winner == ConflictPolicy.CRM, f"conflict on {x.field} of deal {x.lead_id}: kept {x.winner}"

    def check_second_sync_is_quiet(self) -> None:
        """Invariant 2: right after a sync, another one plans nothing and writes nothing."""
        before = self.sheet_rows()
        self.sb.amocrm.reset_stats()
        self.sb.sheets.reset_stats()
        out = self.run_clean("sync")
        amo, sheets = self.sb.amocrm.stats(), self.sb.sheets.stats()
        assert out.plan is not None and out.plan.empty, out.plan
        assert not out.notices, out.notices
        assert amo["mutating"] == 0 and sheets["mutating"] == 0, (amo["by_route"], sheets["by_route"])
        assert self.sheet_rows() == before

    # -- setup ----------------------------------------------------------------------------
    @initialize()
    def first_sync(self) -> None:
        """The first run only sets the starting point (deals older than it are not pulled)."""
        out = self.run_clean("sync")
        assert out.first_run

    # -- the sheet side ---------------------------------------------------------------------
    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(
        name=st.sampled_from(NAMES),
        price=st.sampled_from(TYPED_PRICES),
        phone=st.none() | st.sampled_from(PHONES),
        email=st.none() | st.sampled_from(EMAILS),
        status=st.sampled_from(["", *TYPED_STATUSES]),
        pipeline=st.sampled_from(["", "Воронка"]),
        notes=st.sampled_from(NOTES_POOL),
        custom=st.lists(CUSTOM_EDITS, max_size=3, unique_by=lambda e: e[0]),
    )
    def add_row(self, name, price, phone, email, status, pipeline, notes, custom) -> None:
        status = self.status_as_typed(status) if status else ""
        typed = ["", name, f"'{phone}" if phone else "", email or "", price, status, pipeline, notes]
        typed += [dict(custom).get(col, "") for col in CUSTOM]
        self.sb.sheets.set_values(self.sid, self.tab, [typed], start=f"A{len(self.rows) + 2}", user_entered=True)
        self.rows.append(Row(notes=notes, typed={col: sheet_canon(col, text) for col, text in custom}))

    def synced_rows(self) -> list[int]:
        return [i for i, m in enumerate(self.rows) if m.lead is not None and not m.cleared]

    def new_rows(self) -> list[int]:
        return [i for i, m in enumerate(self.rows) if m.content and m.lead is None]

    def status_as_typed(self, typed: str) -> str:
        """The pools hold the original names: a renamed status is typed by its name now."""
        sid = self.status_ids[next(n for n in MAIN_STATUSES if n.casefold() == typed.casefold())]
        name = self.status_names[sid][-1]
        self.typed_statuses.add(sid)
        return name.lower() if typed == typed.lower() else name

    def type_into(self, i: int, col: int, text: str) -> None:
        """Type ``text`` into row ``i`` and remember the value amoCRM must end up with."""
        value: object
        if col == STATUS:
            value = self.status_ids[next(n for n in MAIN_STATUSES if n.casefold() == text.casefold())]
            text = self.status_as_typed(text)
        elif col == PRICE:
            value = _norm_price(text)
        elif col in CUSTOM:
            value = sheet_canon(col, text)
        else:
            value = text.lstrip("'").strip()
        self.sb.sheets.edit_cell(self.sid, self.tab, f"{LETTERS[col]}{i + 2}", text)
        self.rows[i].typed[col] = value

    @precondition(lambda self: self.synced_rows())
    @rule(pick=st.integers(0, 100), edit=EDITS)
    def edit_row(self, pick, edit) -> None:
        rows = self.synced_rows()
        self.type_into(rows[pick % len(rows)], *edit)

    @precondition(lambda self: self.synced_rows())
    @rule(pick=st.integers(0, 100), edits=st.lists(CUSTOM_EDITS, min_size=1, max_size=3))
    def edit_custom_cells(self, pick, edits) -> None:
        """Custom cells and the tags typed into a synced row (an empty text clears the cell)."""
        rows = self.synced_rows()
        for edit in edits:
            self.type_into(rows[pick % len(rows)], *edit)

    @precondition(lambda self: self.new_rows())
    @rule(pick=st.integers(0, 100), edit=st.one_of(EDITS, CUSTOM_EDITS))
    def edit_new_row(self, pick, edit) -> None:
        """A row not yet given its lead_id, maybe while a killed run's creation of its deal is pending."""
        rows = self.new_rows()
        self.type_into(rows[pick % len(rows)], *edit)

    @precondition(lambda self: self.clearable())
    @rule(pick=st.integers(0, 100))
    def clear_lead_id(self, pick) -> None:
        """Someone empties a synced row's lead_id cell: the tool must put the same deal back."""
        rows = self.clearable()
        i = rows[pick % len(rows)]
        self.sb.sheets.edit_cell(self.sid, self.tab, f"A{i + 2}", "")
        self.rows[i].cleared = True

    def clearable(self) -> list[int]:
        """Rows in step with their live deal, nothing typed or changed since, none cleared yet: such a row
        matches exactly one deal that is on no other row, unambiguously."""
        if any(m.cleared for m in self.rows):
            return []
        live = self.live()
        pipelines = {p["id"]: p for p in self.sb.amocrm.pipelines()}
        rows = self.sheet_rows()
        custom = self.sheet_custom()
        out = []
        for i, m in enumerate(self.rows):
            if m.lead is None or m.typed or self.crm_changed.get(m.lead) or m.lead not in live:
                continue
            same = all(custom[i][col] == self.crm_custom(live[m.lead], col) for col in CUSTOM)
            if same and self.agrees(rows[i], self.crm_view(m.lead, live[m.lead], pipelines)):
                out.append(i)
        return out

    @precondition(lambda self: 0 < len(self.rows) < MAX_ROWS)
    @rule(name=st.sampled_from(NAMES), price=st.sampled_from(TYPED_PRICES))
    def insert_row_above(self, name, price) -> None:
        """A new row typed above the data: every row moves down."""
        self.sb.sheets.insert_rows(self.sid, self.tab, 2, 1)
        typed = ["", name, "", "", price, "", "", ""]
        self.sb.sheets.set_values(self.sid, self.tab, [typed], start="A2", user_entered=True)
        self.rows.insert(0, Row())

    @precondition(lambda self: self.rows)
    @rule(pick=st.integers(0, 100), notes=st.sampled_from(NOTES_POOL))
    def write_notes(self, pick, notes) -> None:
        i = pick % len(self.rows)
        self.sb.sheets.edit_cell(self.sid, self.tab, f"H{i + 2}", notes)
        self.rows[i].notes = notes
        self.trim()

    @precondition(lambda self: len(self.rows) >= 2)
    @rule(pick=st.integers(0, 100))
    def insert_blank_row(self, pick) -> None:
        i = pick % (len(self.rows) - 1) + 1  # between two rows
        self.sb.sheets.insert_rows(self.sid, self.tab, i + 2, 1)
        self.rows.insert(i, Row(content=False))

    @precondition(lambda self: len(self.rows) >= 2)
    @rule(column=st.integers(0, WIDTH - 1), descending=st.booleans())
    def sort_rows(self, column, descending) -> None:
        before = self.sheet_rows()
        self.sb.sheets.sort_rows(self.sid, self.tab, column, descending=descending)
        after = self.sheet_rows()
        after += [[""] * WIDTH for _ in range(len(before) - len(after))]  # blank rows sorted to the end
        # Follow the rows by their content: rows alike in every cell are alike in the model too.
        queues: dict[tuple[str, ...], list[Row]] = {}
        for m, cells in zip(self.rows, before, strict=True):
            queues.setdefault(tuple(cells), []).append(m)
        for group in queues.values():
            if any(m.exposed for m in group):
                for m in group:
                    m.exposed = True
        assert sorted(map(tuple, after)) == sorted(map(tuple, before))
        self.rows = [queues[tuple(cells)].pop(0) for cells in after]
        self.trim()

    @precondition(lambda self: self.rows)
    @rule(pick=st.integers(0, 100))
    def delete_row(self, pick) -> None:
        i = pick % len(self.rows)
        self.sb.sheets.delete_rows(self.sid, self.tab, i + 2, i + 2)
        m = self.rows.pop(i)
        if m.lead is not None:
            self.removed.add(m.lead)
        elif m.exposed:
            self.orphan_budget += 1
        self.trim()

    # -- the amoCRM side -----------------------------------------------------------------
    def live_ids(self) -> list[int]:
        """The live deals a person may change: those the machine knows (a deal made by a failed run and
        not yet on its row is left alone: changed, it is no longer recognisable), none of a cleared row."""
        cleared = {m.lead for m in self.rows if m.cleared}
        return sorted((self.live().keys() & (self.crm_made | self.sheet_made)) - cleared)

    @precondition(lambda self: len(self.crm_made | self.sheet_made) < MAX_LEADS)
    @rule(
        name=st.sampled_from(NAMES),
        price=st.sampled_from(CRM_PRICES),
        status=st.sampled_from(MAIN_STATUSES),
        phone=st.none() | st.sampled_from(PHONES),
        email=st.none() | st.sampled_from(EMAILS),
        custom=st.none() | CRM_CUSTOM,
    )
    def crm_create_lead(self, name, price, status, phone, email, custom) -> None:
        values, tags = self.crm_payload(custom or {})
        lead = self.sb.amocrm.create_lead(
            name,
            price=price,
            status_id=self.status_ids[status],
            phone=phone,
            email=email,
            custom_fields_values=[v for v in values if v["values"] is not None] or None,
            tags=tags,
        )
        self.crm_made.add(int(lead["id"]))

    def crm_payload(self, edits: dict[int, object]) -> tuple[list[dict], list[str] | None]:
        """``custom_fields_values`` (``values: null`` clears a field) and ``tags`` for the emulator."""
        values = []
        for col, value in edits.items():
            if col == TAGS:
                continue
            if value is None or value == frozenset():
                out = None
            elif col == PRODUCT:
                out = [{"enum_id": self.enum_ids[col][value]}]
            elif col == INTERESTS:
                out = [{"enum_id": self.enum_ids[col][o]} for o in sorted(value)]
            else:
                out = [{"value": value}]
            values.append({"field_id": self.field_ids[col], "values": out})
        return values, sorted(edits[TAGS]) if TAGS in edits else None

    @precondition(lambda self: self.live_ids())
    @rule(pick=st.integers(0, 100), edits=CRM_CUSTOM)
    def crm_edit_custom(self, pick, edits) -> None:
        """A manager sets, changes or clears custom fields and the tags of a deal in amoCRM."""
        ids = self.live_ids()
        lid = ids[pick % len(ids)]
        values, tags = self.crm_payload(edits)
        self.sb.amocrm.edit_lead(lid, custom_fields_values=values, **({} if tags is None else {"tags": tags}))
        self.crm_changed.setdefault(lid, set()).update(edits)

    @precondition(lambda self: self.live_ids())
    @rule(
        pick=st.integers(0, 100),
        name=st.none() | st.sampled_from(NAMES),
        price=st.none() | st.sampled_from(CRM_PRICES),
        status=st.none() | st.sampled_from(MAIN_STATUSES),
    )
    def crm_edit_lead(self, pick, name, price, status) -> None:
        ids = self.live_ids()
        lid = ids[pick % len(ids)]
        fields = {"name": name, "price": price, "status_id": self.status_ids[status] if status else None}
        self.sb.amocrm.edit_lead(lid, **{k: v for k, v in fields.items() if v is not None})
        cols = {NAME: name, PRICE: price, STATUS: status}
        self.crm_changed.setdefault(lid, set()).update(c for c, v in cols.items() if v is not None)

    def with_contact(self) -> list[tuple[int, int]]:
        out = []
        for lid in self.live_ids():
            contact = self.sb.amocrm.main_contact_of(lid)
            if contact is not None:
                out.append((lid, int(contact["id"])))
        return out

    @precondition(lambda self: self.with_contact())
    @rule(pick=st.integers(0, 100), phone=st.sampled_from(PHONES))
    def crm_edit_contact_phone(self, pick, phone) -> None:
        """Changes the contact only: the deal's updated_at stays as it was."""
        pairs = self.with_contact()
        lid, cid = pairs[pick % len(pairs)]
        before = self.sb.amocrm.lead(lid)["updated_at"]
        self.sb.amocrm.edit_contact(cid, phone=phone)
        assert self.sb.amocrm.lead(lid)["updated_at"] == before
        self.crm_changed.setdefault(lid, set()).add(PHONE)

    @precondition(lambda self: self.live_ids())
    @rule(pick=st.integers(0, 100))
    def crm_delete_lead(self, pick) -> None:
        ids = self.live_ids()
        lid = ids[pick % len(ids)]
        self.sb.amocrm.delete_lead(lid)
        self.deleted.add(lid)

    def restorable(self) -> list[int]:
        """Deleted deals a person may restore from amoCRM's recycle bin: those whose row still holds them."""
        return sorted(self.deleted & {m.lead for m in self.rows if m.lead is not None and not m.cleared})

    @precondition(lambda self: self.restorable())
    @rule(pick=st.integers(0, 100))
    def crm_restore_lead(self, pick) -> None:
        """The deal comes back (its updated_at as it was): from the next fault-free sync on, its row agrees."""
        ids = self.restorable()
        lid = ids[pick % len(ids)]
        self.sb.amocrm.restore_lead(lid)
        self.deleted.discard(lid)

    @precondition(lambda self: not any(m.cleared for m in self.rows))
    @rule(pick=st.integers(0, 3))
    def crm_rename_status(self, pick) -> None:
        """An administrator renames one of the main pipeline's own statuses (not the closed ones)."""
        sid = self.status_ids[MAIN_STATUSES[pick]]
        if sid in self.typed_statuses:
            # A name typed into the sheet and renamed again before any run read it lived only between two
            # runs: amoCRM keeps no past names, so no tool could tell which status it meant (found by the
            # long run; the same on the release before issue 11).
            return
        self.renames += 1
        name = f"{MAIN_STATUSES[pick]} {self.renames}"
        self.sb.amocrm.rename_status(sid, name)
        self.status_names[sid].append(name)

    @rule(seconds=st.sampled_from(CLOCK_STEPS))
    def crm_clock_steps(self, seconds) -> None:
        """amoCRM's clock is corrected: the Date header and updated_at jump back or forward."""
        self.put_forward(seconds)

    def put_forward(self, seconds: float) -> None:
        """Move amoCRM's clock. A change stamped while the clock is behind the last run's time, and put right
        before the next run, carries an updated_at below any later changes window: no listing by updated_at
        can find it (test_a_deal_made_while_amocrms_clock_was_set_back_and_then_put_forward_is_pulled). The
        model keeps out of that case: cron runs once more before the clock is put right."""
        clock = self.sb.amocrm.clock
        if seconds > 0 and clock.now() < self.ran_at:
            self.run_failing("sync")
        clock.advance(seconds)

    # -- runs ------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([0, 1, 5, 59, 61, 600, 3601]), split=st.booleans())
    def sync(self, seconds, split) -> None:
        """A fault-free run (sync, or push then pull), then every invariant."""
        self.put_forward(seconds)
        cleared = {m.lead for m in self.rows if m.cleared}
        expected = self.expect_custom()
        outs = [self.run_clean("push"), self.run_clean("pull")] if split else [self.run_clean("sync")]
        said = " ".join(n.message for out in outs for n in out.notices)
        for lid in cleared:
            assert str(lid) in said, f"deal {lid} was put back on its row without a word: {said!r}"
        self.check_conflicts_are_real(outs)
        self.check_after_sync(expected)

    @rule(
        request=st.sampled_from(LOST_ANSWERS), kind=st.sampled_from(["drop-after", "504-after"]), resume=st.booleans()
    )
    def lost_answer_sync(self, request, kind, resume) -> None:
        """The service carries out one write and its answer is lost (dropped, or a gateway's 504);
        with ``resume``, cron's next run follows at once, before anyone looks (or a check sync runs)."""
        service, method, path = request
        emu = self.sb.amocrm if service == "amocrm" else self.sb.sheets
        emu.set_faults(script=[(kind, path, method)])
        self.sb.amocrm.clock.advance(1)
        try:
            self.run_failing()
        finally:
            emu.set_faults()
        if resume:
            self.run_failing()

    @rule(
        amo_kinds=st.lists(st.sampled_from(FAULT_KINDS), min_size=1, max_size=3, unique=True),
        sheet_kinds=st.lists(st.sampled_from(FAULT_KINDS), min_size=1, max_size=3, unique=True),
        amo_rate=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
        sheet_rate=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
        seed=st.integers(0, 2**16),
    )
    def faulty_sync(self, amo_kinds, sheet_kinds, amo_rate, sheet_rate, seed) -> None:
        self.sb.amocrm.clock.advance(1)
        self.sb.amocrm.set_faults(rates={k: amo_rate / len(amo_kinds) for k in amo_kinds}, seed=seed)
        self.sb.sheets.set_faults(rates={k: sheet_rate / len(sheet_kinds) for k in sheet_kinds}, seed=seed + 1)
        try:
            self.run_failing()
        finally:
            self.sb.amocrm.set_faults()
            self.sb.sheets.set_faults()

    @rule(
        service=st.sampled_from(["amocrm", "sheets"]), after=st.integers(0, 12), kind=st.sampled_from(["503", "drop"])
    )
    def killed_sync(self, service, after, kind) -> None:
        """Every request to one service after the first ``after`` fails: the run dies part-way."""
        emu = self.sb.amocrm if service == "amocrm" else self.sb.sheets
        seen = [0]

        def hook(phase: str, _req: object) -> None:
            if phase == "before":
                seen[0] += 1
                if seen[0] >= after:
                    emu.set_faults(rates={kind: 1.0})

        self.sb.amocrm.clock.advance(1)
        if after == 0:
            emu.set_faults(rates={kind: 1.0})
        else:
            emu.hook = hook
        try:
            self.run_failing()
        finally:
            emu.hook = None
            emu.set_faults()


SyncMachine.TestCase.settings = settings.get_profile(PROFILE)
TestSync = SyncMachine.TestCase


# -- what the machine found, each in its smallest form ----------------------------------------
@contextlib.contextmanager
def _world(rows: list[list[str]], tmp_path) -> Iterator[tuple[Sandbox, Callable[[], Outcome]]]:
    with Sandbox(rate_limit=None, read_quota=None, write_quota=None) as sb:
        sb.new_spreadsheet(rows, headers=HEADERS[: NOTES + 1])
        env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(tmp_path)}

        def sync() -> Outcome:
            return Engine.from_settings(load_settings(environ=env), Options(Direction.BOTH)).run()

        yield sb, sync


def test_two_identical_new_rows_make_one_deal_each(tmp_path):
    """Was: two deals made, one lead_id written; the next runs appended the other and made a third."""
    with _world([["", "Анна"], ["", "Анна"]], tmp_path) as (sb, sync):
        assert sync().exit_status == ExitStatus.OK
        ids = [r[0] for r in sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1:]]
        assert len(sb.amocrm.leads()) == 2
        assert all(ids) and len(set(ids)) == 2, ids
        assert sync().plan.empty and len(sb.amocrm.leads()) == 2


def test_a_deal_appended_below_a_blank_row_lands_in_its_columns(tmp_path):
    """Was: values.append found a "table" starting at column F and wrote the new row shifted right."""
    with _world([[], ["", "Борис"]], tmp_path) as (sb, sync):
        assert sync().exit_status == ExitStatus.OK
        sb.amocrm.clock.advance(5)
        lead = sb.amocrm.create_lead("Вера", price=5)
        assert sync().rows_appended == 1
        last = sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[-1]
        assert last[:5] == [str(lead["id"]), "Вера", "", "", "5"], last


def test_a_phone_typed_for_a_deal_deleted_in_amocrm_is_not_sent(tmp_path):
    """Was: a stray contact made and not linkable ("No lead …"), exit 3, again on every run."""
    with _world([["", "Анна"]], tmp_path) as (sb, sync):
        assert sync().exit_status == ExitStatus.OK
        sb.amocrm.delete_lead(int(sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1][0]))
        sb.sheets.edit_cell(sb.spreadsheet_id, sb.worksheet, "C2", "'+7 1")
        out = sync()
        assert (out.exit_status, out.problems) == (ExitStatus.OK, []), out.problems
        assert any("deleted in amoCRM" in n.message for n in out.notices)
        assert sb.amocrm.contacts() == []


def test_a_single_504_on_a_read_is_retried(tmp_path):
    """Was: taken for "too much in one request" (TooLarge), never retried: the run stopped with exit 1."""
    with _world([], tmp_path) as (sb, sync):
        sb.amocrm.set_faults(script=[("504", "/api/v4/leads/pipelines", "GET")])
        assert sync().exit_status == ExitStatus.OK


def test_a_deal_deleted_in_amocrm_is_reported_once(tmp_path):
    """Was: with a deal field and a contact field changed, the contact PATCH went through and saving
    amoCRM's values cleared the deletion just noted: the next run PATCHed the deal and said it again."""
    with _world([["", "Анна", "+7 1"]], tmp_path) as (sb, sync):
        assert sync().exit_status == ExitStatus.OK
        sb.amocrm.delete_lead(int(sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1][0]))
        sb.sheets.edit_cell(sb.spreadsheet_id, sb.worksheet, "E2", "1")
        sb.sheets.edit_cell(sb.spreadsheet_id, sb.worksheet, "C2", "'+7 2")
        first = sync()
        assert any("deleted in amoCRM" in n.message for n in first.notices)
        sb.amocrm.reset_stats()
        second = sync()
        assert not second.notices, second.notices
        assert sb.amocrm.stats()["mutating"] == 0, sb.amocrm.stats()["by_route"]


def test_a_phone_typed_for_a_deleted_deal_with_a_contact_is_not_sent(tmp_path):
    """Was: the phone was PATCHed into the deleted deal's contact and the deletion never reported."""
    with _world([["", "Анна", "+7 1"]], tmp_path) as (sb, sync):
        assert sync().exit_status == ExitStatus.OK
        lid = int(sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1][0])
        sb.amocrm.delete_lead(lid)
        sb.sheets.edit_cell(sb.spreadsheet_id, sb.worksheet, "C2", "'+7 2")
        sb.amocrm.reset_stats()
        out = sync()
        assert sb.amocrm.stats()["mutating"] == 0, sb.amocrm.stats()["by_route"]
        assert any("deleted in amoCRM" in n.message for n in out.notices), out.notices


@pytest.mark.xfail(strict=True, reason="not knowable by polling updated_at: see the docstring")
def test_a_deal_made_while_amocrms_clock_was_set_back_and_then_put_forward_is_pulled(tmp_path):
    """Found by the machine (crm_clock_steps(-61), crm_create_lead, sync(seconds=61); also with a contact's
    phone changed instead): the window starts OVERLAP seconds before the cursor when the clock is no longer
    behind it, so a change stamped earlier than that is never asked for, on this run or any later one.

    No run can tell: between the two runs amoCRM's clock went back and forward again, and the deal's
    updated_at says it changed before the last run. Kept as a strict xfail, the known limit of listing
    changes by updated_at (the README says so); the state machine does not generate it (``put_forward``)."""
    with _world([], tmp_path) as (sb, sync):
        assert sync().first_run
        sb.amocrm.clock.advance(-600)  # amoCRM's clock is set back…
        lead = sb.amocrm.create_lead("Вера", price=5)  # …a deal is made meanwhile…
        sb.amocrm.clock.advance(600)  # …and the clock is put right again before the next run
        sync()
        assert sync().exit_status == ExitStatus.OK
        ids = [r[0] for r in sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1:]]
        assert ids == [str(lead["id"])], ids


@pytest.mark.xfail(strict=True, reason="known: the changes window reaches 1 h past its end; see the docstring")
@pytest.mark.parametrize("back", [2, 18])
def test_a_deal_made_while_amocrms_clock_ran_fast_between_two_runs_is_pulled(tmp_path, back):
    """Found by the long run (seed 56868062118252574081099551523789206840: crm_clock_steps(7200),
    crm_edit_custom, crm_clock_steps(-7200) × 9, sync; and with the clock put back only as far as the last
    run): the clock ran fast after a run, a deal changed, and the clock was put right before the next. The
    change is stamped ahead of the cursor by more than this machine saw pass, past the window's end (cursor +
    elapsed + window.AHEAD, 1 h), and reaches the sheet only once amoCRM's clock gets there. A window reaching
    a month ahead fixed both cases, but the same seed then failed three other ways not yet understood, so the
    change was taken back; a strict xfail until it is made with them understood."""
    with _world([], tmp_path) as (sb, sync):
        assert sync().first_run
        sb.amocrm.clock.advance(2 * 3600)  # amoCRM's clock runs 2 h fast…
        lead = sb.amocrm.create_lead("Вера", price=5)  # …a deal is made meanwhile…
        sb.amocrm.clock.advance(-back * 3600)  # …and the clock is put right, or set back further
        assert sync().exit_status == ExitStatus.OK
        ids = [r[0] for r in sb.sheets.values(sb.spreadsheet_id, sb.worksheet)[1:]]
        assert ids == [str(lead["id"])], ids


def test_a_tag_typed_in_another_case_than_amocrm_spells_it_does_not_rewrite_the_row(tmp_path):
    """Found by the machine: amoCRM keeps a tag's first spelling account-wide ("Опт"), the sheet's "опт" was
    saved as the agreed value, and the next run took amoCRM's ("VIP", "Опт") for a change in amoCRM and
    rewrote the cell. Tags typed in another case are now read as amoCRM spells them."""
    with Sandbox(rate_limit=None, read_quota=None, write_quota=None) as sb:
        sb.new_spreadsheet([["", "Анна", "VIP"]], headers=["lead_id", "Имя", "Теги"])
        env = {**sb.env(), "AMOSHEETS_STATE_DIR": str(tmp_path)}

        def sync() -> Outcome:
            return Engine.from_settings(load_settings(environ=env), Options(Direction.BOTH)).run()

        assert sync().created == 1
        sb.amocrm.create_lead("Другая", tags=["Опт"], with_contact=False)  # the tag "Опт" exists in the account
        sb.amocrm.clock.advance(5)
        assert sync().exit_status == ExitStatus.OK  # "Другая" appended
        sb.sheets.edit_cell(sb.spreadsheet_id, sb.worksheet, "C2", "VIP, опт")
        assert sync().exit_status == ExitStatus.OK  # the tags sent; amoCRM attaches its "Опт"
        sb.amocrm.reset_stats()
        sb.sheets.reset_stats()
        out = sync()
        assert out.plan is not None and out.plan.empty, [lp.to_sheet for lp in out.plan.leads]
        assert sb.sheets.stats()["mutating"] == 0, sb.sheets.stats()["by_route"]
