"""The scenarios: each builds its starting state, runs the tool once under measurement, checks the outcome.

Lower bounds are in amoCRM requests at the API's documented limits (creates 50 per request, updates
250 per request, list pages of 250, id filters of 250 ids per request), plus what every run sends
(1 request for the pipelines; for push/pull/sync the 2 change listings, leads and contacts), divided
by the 7 requests a second amoCRM allows. Each formula is written out in its scenario and computed
from the scenario's sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amosheets.sandbox import SAMPLE_HEADERS
from amosheets.sync.fields import SYNC_HEADERS
from amosheets.sync.sync_column import DONE
from benchmarks import custom
from benchmarks.custom import CF_COL, CF_HEADERS
from benchmarks.measure import ToolRun
from benchmarks.world import AMO_RATE_LIMIT, CATALOG_ROUTES, COL, World, catalog_requests

# -- the API's limits and what every run costs ------------------------------------------
CREATE_BATCH = 50  # leads per POST /api/v4/leads/complex
UPDATE_BATCH = 250  # entities per PATCH /api/v4/leads or /contacts
PAGE = 250  # entities per list page
IDS_PER_REQUEST = 250  # ids in one filter[id][] query
EVENTS = 1  # GET /api/v4/events (deletions and restores), every push/pull/sync
PIPELINES = 1  # GET /api/v4/leads/pipelines: a run with no copy of them in the state (or a day-old one)
CHANGE_LISTINGS = 2 + EVENTS  # GET /leads and GET /contacts filtered by updated_at, and the events: every run

IDLE_AMO, IDLE_SHEETS = 3, 1  # what an idle run may send, at any size: the 3 listings; the values read

IDLE_COUNTS = (
    "created",
    "leads_updated",
    "contacts_updated",
    "cells_written",
    "rows_appended",
    "conflicts",
    "notices",
    "uncertain_creates",
)


def batches(n: int, size: int) -> int:
    return math.ceil(n / size)


def listing(n: int) -> int:
    """Requests to list ``n`` changed entities: one even when nothing changed (the change listing), else a page each."""
    return max(1, batches(n, PAGE))


@dataclass
class Result:
    name: str
    rows: int  # data rows in the sheet when the run starts
    what: str = ""
    run: ToolRun | None = None
    amo: dict[str, Any] = field(default_factory=dict)
    sheets: dict[str, Any] = field(default_factory=dict)
    bound_requests: int = 0
    wall: float | None = None
    cpu: float | None = None
    peak_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    base: str | None = None  # the scenario without the variant's columns this one is compared with
    variant: Variant | None = None  # set with ``base``: what this scenario adds to it
    catalog: int = 0  # amoCRM requests of the measured run that read the fields' catalog
    first_run: dict[str, Any] = field(default_factory=dict)  # amoCRM's counters of the setup's pull --all
    sheet_writes: list[tuple[str, int]] = field(default_factory=list)  # each Sheets write: route, body bytes

    @property
    def bound_seconds(self) -> float:
        return self.bound_requests / AMO_RATE_LIMIT

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    def take(self, run: ToolRun, amo: dict[str, Any], sheets: dict[str, Any]) -> None:
        self.run, self.amo, self.sheets = run, amo, sheets
        self.catalog = catalog_requests(amo)
        self.wall, self.cpu, self.peak_mb = run.wall, run.cpu, run.peak_mb
        self.sheet_writes = list(sheets.get("writes", []))
        self.check(run.exit_code == 0, run.describe())
        self.check(bool(run.summary), "no --json summary on stdout")
        s = run.summary
        self.check(s.get("problems", 0) == 0, f"{s.get('problems')} rows failed: {s.get('problem_list', [])[:3]}")
        if amo.get("rate_limited"):
            self.notes.append(f"amoCRM answered 429 {amo['rate_limited']}×")
        if sheets.get("quota_rejections"):
            self.notes.append(f"Sheets quota 429 {sheets['quota_rejections']}×")


def _counts(summary: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: summary.get(k) for k in keys}


def _by_lead(rows: list[list[Any]], width: int = 7) -> dict[int, list[str]]:
    """lead_id → the row's cells as the sheet shows them (padded to ``width``)."""
    out: dict[int, list[str]] = {}
    for r in rows:
        if r and str(r[0]).isdigit():
            out[int(r[0])] = [str(c) for c in r] + [""] * (width - len(r))
    return out


def _cell_key(header: str, cell: str) -> Any:
    """A cell as the contract compares it: multiselect options and tags as a set (order is amoCRM's)."""
    return frozenset(cell.split(", ")) if header in ("Интересы", "Теги") else cell


@dataclass(frozen=True)
class Variant:
    """A way of making a scenario's sheet different while the work stays the same: the base's name + ``suffix``,
    measured next to the base and compared with it (``benchmarks.__main__._compare``)."""

    suffix: str  # "" for the base scenarios
    headers: tuple[str, ...]  # row 1 of the sheet
    what: str  # for the scenario's description and the comparison's heading
    cf: bool = False  # the 12 custom columns: every row carries a value in each (benchmarks/custom.py)
    sync: int | None = None  # the sync column's index, if row 1 has one
    catalog_slack: int = 0  # amoCRM requests the variant may add, all of them reading the fields' catalog
    sheets_compared: str = "requests"  # the Sheets counter that must be equal: all requests, or "mutating" only
    # Where the base writes nothing to the sheet, the variant may write once, reading the tab again to find the
    # rows and its metadata (read only by a run that writes): the sync column's lines have no other write.
    own_write: bool = False


OWN_WRITE_READS = 2  # what such a write adds to the reads: the values read again, and the tab's metadata


BASE = Variant("", tuple(SAMPLE_HEADERS), "")
CF = Variant(
    "-cf",
    tuple(custom.HEADERS),
    f"{len(CF_HEADERS)} custom columns",
    cf=True,
    catalog_slack=len(CATALOG_ROUTES),
)
SYNC_HEADER = SYNC_HEADERS[0]  # Синхронизация
SYNC = Variant(
    "-sync",
    (*SAMPLE_HEADERS, SYNC_HEADER),
    f"the {SYNC_HEADER} column",
    sync=len(SAMPLE_HEADERS),
    sheets_compared="mutating",  # the promise is about writes: its lines go in the run's own values:batchUpdate
    own_write=True,
)


def _world(v: Variant) -> World:
    """A sandbox whose sheet has the variant's headers."""
    return World(v.headers)


def _extras(w: World, v: Variant) -> Any:
    """What build_synced gives each seeded lead besides seed_bulk's values: with custom columns, every one of them."""
    return (lambda i: custom.amo_edit(w.amo, i)) if v.cf else None


def _also(v: Variant) -> str:
    return f", {v.what}" if v.what else ""


def _sync_cells(w: World, v: Variant) -> dict[int, str]:
    """lead_id → its row's sync cell ({} without the sync column)."""
    if v.sync is None:
        return {}
    return {lid: cells[v.sync] for lid, cells in _by_lead(w.rows(), w.width).items()}


def _check_lines(res: Result, shown: dict[int, str], want: dict[int, tuple[str, ...]], what: str) -> None:
    """Each lead's sync cell in ``want`` starts with ✓ and holds every one of ``want[lead]`` (parts of the line)."""
    bad = [lid for lid, parts in want.items() if not _says(shown.get(lid, ""), parts)]
    example = f" (lead {bad[0]}: {shown.get(bad[0])!r}, expected ✓ … {' … '.join(want[bad[0]])})" if bad else ""
    res.check(not bad and bool(want), f"{len(bad)} of {len(want)} rows' sync cells do not say {what}{example}")


def _says(line: str, parts: tuple[str, ...]) -> bool:
    return line.startswith(DONE) and all(p in line for p in parts)


def _prices(w: World) -> dict[int, int]:
    return {int(lead["id"]): int(lead["price"]) for lead in w.amo.leads()}


# -- 1, 2: idle -----------------------------------------------------------------------
def idle(name: str, n: int, v: Variant = BASE) -> Result:
    res = Result(name, n, f"sync of {n:,} synced rows{_also(v)}, nothing changed")
    with _world(v) as w:
        w.build_synced(n, _extras(w, v))
        res.first_run = w.first_run
        lines_before = _sync_cells(w, v)
        res.take(*w.measure("sync"))
        lines_after = _sync_cells(w, v)
    # Nothing changed: the three listings (one empty page each). The pipelines are the state's.
    res.bound_requests = CHANGE_LISTINGS
    s = res.run.summary if res.run else {}
    done = _counts(s, *IDLE_COUNTS)
    res.check(not any(done.values()), f"the idle run changed things: {done}")
    res.check(s.get("rows_read") == n, f"rows_read {s.get('rows_read')}, expected {n}")
    amo_n, sheets_n = res.amo.get("requests"), res.sheets.get("requests")
    res.check(amo_n == IDLE_AMO, f"the idle run sent {amo_n} amoCRM requests, not {IDLE_AMO}")
    res.check(sheets_n == IDLE_SHEETS, f"the idle run sent {sheets_n} Sheets requests, not {IDLE_SHEETS}")
    res.check(not res.sheet_writes, f"the idle run wrote to the sheet: {res.sheet_writes}")
    if v.sync is not None:  # the lines setup's pull --all wrote stay as they were
        _check_lines(res, lines_before, dict.fromkeys(lines_before, ("added from amoCRM",)), "added from amoCRM")
        changed = sum(1 for lid, line in lines_before.items() if lines_after.get(lid) != line)
        res.check(changed == 0 and len(lines_after) == n, f"the idle run changed {changed} rows' sync cells")
    return res


# -- 3: push of new rows --------------------------------------------------------------
def push_create(name: str, n: int, v: Variant = BASE) -> Result:
    extra = f" and the {len(CF_HEADERS)} custom columns" if v.cf else ""
    sync = f"; an empty {SYNC_HEADER} cell" if v.sync is not None else ""
    res = Result(name, n, f"push of {n:,} new rows (no lead_id; name, phone, e-mail, price{extra}{sync})")
    with _world(v) as w:
        w.build_synced(0)  # an empty sheet and account, but a cursor: not a first run
        res.first_run = w.first_run
        new_rows = [
            ["", f"Новый клиент {i + 1}", f"+7 916 {i:07d}", f"new{i + 1}@example.com", 1000 + i, "", ""]
            + (custom.cells(i) if v.cf else [])
            for i in range(n)
        ]
        w.sheets.set_values(w.sid, w.tab, new_rows, start="A2")
        before = len(w.amo.leads())
        res.take(*w.measure("push"))
        # Every run: pipelines + 2 change listings; the work: n creates at 50 a request.
        res.bound_requests = CHANGE_LISTINGS + batches(n, CREATE_BATCH)
        s = res.run.summary
        res.check(s.get("created") == n, f"created {s.get('created')}, expected {n}")
        after = len(w.amo.leads())
        res.check(after - before == n, f"amoCRM has {after - before} more leads, expected {n}")
        rows = w.rows()
        ids = [r[0] for r in rows if r and str(r[0]).isdigit()]
        distinct = len(set(ids))
        res.check(len(ids) == n and distinct == n, f"the sheet has {distinct} distinct lead_ids, expected {n}")
        unfilled = sum(1 for r in rows if len(r) < 7 or not r[COL["Статус"]] or not r[COL["Воронка"]])
        res.check(unfilled == 0, f"{unfilled} new rows without status/pipeline filled in")
        if v.sync is not None:  # every row says which deal it made
            shown = _sync_cells(w, v)
            made = {lid: ("deal created",) for lid in shown}
            res.check(len(made) == n, f"{len(made)} rows with a lead_id and the sync column, expected {n}")
            _check_lines(res, shown, made, "its deal was created")
        if v.cf:  # every new lead carries the row's custom values (checked on two fields, the tags, the user)
            by_name = {lead["name"]: lead for lead in w.amo.leads()}
            city, product = custom.field_id(w.amo, "Город"), custom.field_id(w.amo, "Продукт")
            bad = 0
            for i in range(n):
                lead = by_name.get(f"Новый клиент {i + 1}", {})
                want = dict(zip(CF_HEADERS, custom.cells(i), strict=True))
                tags = {t["name"] for t in lead.get("_embedded", {}).get("tags", [])}
                if (
                    custom.amo_value(lead, city) != [want["Город"]]
                    or custom.amo_value(lead, product) != [want["Продукт"]]
                    or tags != set(want["Теги"].split(", "))
                    or lead.get("responsible_user_id")
                    != custom.amo_edit(w.amo, i, only=("Ответственный",))["responsible_user_id"]
                ):
                    bad += 1
            res.check(bad == 0, f"{bad} new leads without the row's custom values, tags or responsible user")
    return res


# -- 4: push of edited rows -----------------------------------------------------------
UPDATED_CF = ("Город", "Количество", "Продукт")  # the custom columns push-update-10k-cf edits in every row


def push_update(name: str, n: int, v: Variant = BASE) -> Result:
    extra = f" and {', '.join(UPDATED_CF)}" if v.cf else ""
    sync = f", the {SYNC_HEADER} column" if v.sync is not None else ""
    res = Result(name, n, f"push of {n:,} synced rows whose price{extra} was changed in the sheet{sync}")
    with _world(v) as w:
        ids = w.build_synced(n, _extras(w, v))
        res.first_run = w.first_run
        rows = w.rows()
        order = [int(r[0]) for r in rows]
        old = _prices(w)
        want = {lid: old[lid] + 7 for lid in order}
        w.sheets.set_values(w.sid, w.tab, [[want[lid]] for lid in order], start=f"{_letter(COL['Сумма'])}2")
        index = {lid: i for i, lid in enumerate(ids)}  # the lead's number in the seeding: its custom values
        if v.cf:
            for h in UPDATED_CF:  # each column gets the values of another row: all of them change
                column = [custom.cells(index[lid], salt=1, only=(h,)) for lid in order]
                w.sheets.set_values(w.sid, w.tab, column, start=f"{_letter(CF_COL[h])}2")
        force = w.force_args("push")  # every row changes: past the mass-change guard rail on purpose
        res.take(*w.measure("push", *force))
        res.notes.extend(force)
        # Every run: pipelines + 2 change listings; the work: n lead PATCHes at 250 a request.
        res.bound_requests = CHANGE_LISTINGS + batches(n, UPDATE_BATCH)
        s = res.run.summary
        res.check(s.get("leads_updated") == n, f"leads_updated {s.get('leads_updated')}, expected {n}")
        now = _prices(w)
        wrong = sum(1 for lid in ids if now.get(lid) != want[lid])
        res.check(wrong == 0, f"{wrong} leads in amoCRM without the sheet's new price")
        if v.sync is not None:
            sent = ("sent to amoCRM: Сумма",)
            _check_lines(res, _sync_cells(w, v), dict.fromkeys(ids, sent), "the price went to amoCRM")
        if v.cf:
            city, product = custom.field_id(w.amo, "Город"), custom.field_id(w.amo, "Продукт")
            bad = 0
            for lead in w.amo.leads():
                i = index[int(lead["id"])]
                want_city, _, want_product = custom.cells(i, salt=1, only=UPDATED_CF)
                if custom.amo_value(lead, city) != [want_city] or custom.amo_value(lead, product) != [want_product]:
                    bad += 1
            res.check(bad == 0, f"{bad} leads in amoCRM without the sheet's new Город/Продукт")
    return res


# -- 5: pull of leads changed in amoCRM -----------------------------------------------
PULLED_CF = ("Город", "Предоплата", "Интересы")  # the custom fields pull-10k-cf changes in amoCRM on every lead


def pull(name: str, n: int, v: Variant = BASE) -> Result:
    extra = f", {', '.join(PULLED_CF)}" if v.cf else ""
    sync = f", the {SYNC_HEADER} column" if v.sync is not None else ""
    res = Result(name, n, f"pull of {n:,} leads changed in amoCRM (price{extra}; phone of half their contacts){sync}")
    with _world(v) as w:
        ids = w.build_synced(n, _extras(w, v))
        res.first_run = w.first_run
        contact_of = {int(lead["id"]): lead["_embedded"]["contacts"][0]["id"] for lead in w.amo.leads()}
        want_price: dict[int, int] = {}
        want_phone: dict[int, str] = {}
        want_cf: dict[int, list[Any]] = {}
        for i, lid in enumerate(ids):
            want_price[lid] = 500_000 + i
            edits = custom.amo_edit(w.amo, i, salt=1, only=PULLED_CF) if v.cf else {}
            if v.cf:
                want_cf[lid] = custom.cells(i, salt=1, only=PULLED_CF)
            w.amo.edit_lead(lid, price=want_price[lid], **edits)
            if i % 2 == 0:
                want_phone[lid] = f"+7 925 {i:07d}"
                w.amo.edit_contact(contact_of[lid], phone=want_phone[lid])
        res.take(*w.measure("pull"))  # changes made in amoCRM are not held back by the guard rail
        # The changed leads page by page, the changed contacts page by page (the first page of each is the
        # change listing every run makes) and the events. The other contacts' values are in the state,
        # so no contact needs fetching by id.
        res.bound_requests = listing(len(want_price)) + listing(len(want_phone)) + EVENTS
        s = res.run.summary
        cells = len(want_price) + len(want_phone) + len(PULLED_CF) * len(want_cf)
        res.check(s.get("cells_written") == cells, f"cells_written {s.get('cells_written')}, expected {cells}")
        shown = _by_lead(w.rows(), w.width)
        blank = [""] * w.width
        bad_price = sum(1 for lid, p in want_price.items() if shown.get(lid, blank)[COL["Сумма"]] != str(p))
        bad_phone = sum(1 for lid, p in want_phone.items() if shown.get(lid, blank)[COL["Телефон"]] != p)
        res.check(bad_price == 0, f"{bad_price} rows do not show amoCRM's new price")
        res.check(bad_phone == 0, f"{bad_phone} rows do not show the contact's new phone")
        bad_cf = sum(
            1
            for lid, values in want_cf.items()
            if [_cell_key(h, shown.get(lid, blank)[CF_COL[h]]) for h in PULLED_CF]
            != [_cell_key(h, str(v)) for h, v in zip(PULLED_CF, values, strict=True)]
        )
        res.check(bad_cf == 0, f"{bad_cf} rows do not show amoCRM's new {', '.join(PULLED_CF)}")
        if v.sync is not None:  # "from amoCRM: Сумма", with "Телефон" too where the contact's phone changed
            got = {lid: ("from amoCRM: ", "Сумма", *(["Телефон"] if lid in want_phone else [])) for lid in want_price}
            _check_lines(res, _sync_cells(w, v), got, "what came from amoCRM")
    return res


# -- 5b: pull --all into an empty tab ---------------------------------------------------
def pull_all(name: str, n: int, v: Variant = BASE) -> Result:
    assert v == BASE, "pull --all has no variant"
    res = Result(name, n, f"pull --all of {n:,} deals (each with a contact) into an empty tab, a first run")
    with _world(v) as w:
        w.setup_mode()
        w.amo.seed_bulk(n)
        w.advance()
        res.take(*w.measure("pull", "--all"))
        # The pipelines (a first run has no copy), the pipeline page by page, its deals' contacts by id at
        # 250 a request, and the three change listings (nothing changed).
        res.bound_requests = PIPELINES + listing(n) + batches(n, IDS_PER_REQUEST) + CHANGE_LISTINGS
        s = res.run.summary if res.run else {}
        res.check(s.get("rows_appended") == n, f"rows_appended {s.get('rows_appended')}, expected {n}")
        shown = len(w.rows())
        res.check(shown == n, f"the tab holds {shown:,} rows, expected {n:,}")
    return res


# -- 6: a mixed sync ------------------------------------------------------------------
def mixed(name: str, base: int, k: int, conflicts: int, v: Variant = BASE) -> Result:
    assert not v.cf, "mixed has no rows with custom values"
    res = Result(
        name,
        base + k,
        f"sync of {base:,} synced rows + {k:,} new rows, {k:,} rows edited in the sheet, {k:,} leads edited "
        f"in amoCRM, {conflicts} leads edited on both sides (price){_also(v)}",
    )
    with _world(v) as w:
        w.build_synced(base)
        rows = w.rows()
        order = [int(r[0]) for r in rows]
        old = _prices(w)
        sheet_ids = order[:k]  # price changed in the sheet
        crm_ids = order[k : 2 * k]  # price changed in amoCRM
        both_ids = order[2 * k : 2 * k + conflicts]  # price changed on both sides, differently
        sheet_price = {lid: old[lid] + 11 for lid in sheet_ids + both_ids}
        crm_price = {lid: old[lid] + 13 for lid in crm_ids + both_ids}
        price_col = [[sheet_price.get(lid, old[lid])] for lid in order]
        w.sheets.set_values(w.sid, w.tab, price_col, start=f"{_letter(COL['Сумма'])}2")
        for lid, p in crm_price.items():
            w.amo.edit_lead(lid, price=p)
        new_rows = [
            ["", f"Смешанный {i + 1}", f"+7 917 {i:07d}", f"mix{i + 1}@example.com", 2000 + i, "", ""] for i in range(k)
        ]
        w.sheets.set_values(w.sid, w.tab, new_rows, start=f"A{len(rows) + 2}")
        before = len(w.amo.leads())
        res.take(*w.measure("sync"))
        # The changed leads (amoCRM-side edits and conflicts) page by page, the (empty) contact change
        # listing and the events; k creates at 50 a request; k lead PATCHes at 250 a request. The
        # conflicts go to the sheet (amoCRM wins by default): no request.
        res.bound_requests = (
            EVENTS
            + listing(len(crm_ids) + len(both_ids))
            + listing(0)
            + batches(k, CREATE_BATCH)
            + batches(len(sheet_ids), UPDATE_BATCH)
        )
        s = res.run.summary
        res.check(s.get("created") == k, f"created {s.get('created')}, expected {k}")
        res.check(s.get("leads_updated") == len(sheet_ids), f"leads_updated {s.get('leads_updated')}, expected {k}")
        res.check(s.get("conflicts") == conflicts, f"conflicts {s.get('conflicts')}, expected {conflicts}")
        res.check(len(w.amo.leads()) - before == k, f"amoCRM has {len(w.amo.leads()) - before} more leads, not {k}")
        now = _prices(w)
        bad_crm = sum(1 for lid in sheet_ids if now[lid] != sheet_price[lid])
        res.check(bad_crm == 0, f"{bad_crm} leads in amoCRM without the sheet's new price")
        after = w.rows()
        shown = _by_lead(after, w.width)
        expect_sheet = {**{lid: crm_price[lid] for lid in crm_ids}, **{lid: crm_price[lid] for lid in both_ids}}
        bad_sheet = sum(1 for lid, p in expect_sheet.items() if shown[lid][COL["Сумма"]] != str(p))
        res.check(bad_sheet == 0, f"{bad_sheet} rows without amoCRM's new price (conflicts included: amoCRM wins)")
        res.check(len(shown) == base + k, f"the sheet has {len(shown)} lead_ids, expected {base + k}")
        res.check(all(now[lid] == crm_price[lid] for lid in both_ids), "a conflict changed amoCRM's value")
        if v.sync is not None:
            lines = {lid: cells[v.sync] for lid, cells in shown.items()}
            made = {lid: ("deal created",) for lid in set(shown) - set(order)}
            _check_lines(res, lines, made, "its deal was created")
            _check_lines(res, lines, dict.fromkeys(sheet_ids, ("sent to amoCRM: Сумма",)), "the price went to amoCRM")
            _check_lines(res, lines, dict.fromkeys(crm_ids, ("from amoCRM: Сумма",)), "the price came from amoCRM")
            kept = ("Сумма: amoCRM has", "kept amoCRM's")
            _check_lines(res, lines, dict.fromkeys(both_ids, kept), "the conflict and whose value was kept")
            idle_ids = order[2 * k + conflicts :]
            _check_lines(res, lines, dict.fromkeys(idle_ids, ("added from amoCRM",)), "what setup's pull --all said")
    return res


def _letter(col: int) -> str:
    return chr(ord("A") + col)


@dataclass
class Scenario:
    name: str
    run: Callable[[int], Result]  # called with the scale divisor (1, or 10 for --quick)


# Each base scenario: (its name, divisor, variant) → its result, at full size 10,000 rows (idle-100k and
# pull-all-100k: 100,000).
Make = Callable[[str, int, Variant], Result]
BASES: dict[str, Make] = {
    "idle-10k": lambda name, d, v: idle(name, 10_000 // d, v),
    "idle-100k": lambda name, d, v: idle(name, 100_000 // d, v),
    "push-create-10k": lambda name, d, v: push_create(name, 10_000 // d, v),
    "push-update-10k": lambda name, d, v: push_update(name, 10_000 // d, v),
    "pull-10k": lambda name, d, v: pull(name, 10_000 // d, v),
    "pull-all-100k": lambda name, d, v: pull_all(name, 100_000 // d, v),
    "mixed": lambda name, d, v: mixed(name, 10_000 // d, 1_000 // d, 50 // d, v),
}

# The same work with a different sheet, each next to its base (named base + the variant's suffix):
# 12 custom-field columns of varied types (benchmarks/custom.py); the Синхронизация column.
VARIANTS: dict[Variant, tuple[str, ...]] = {
    CF: ("idle-10k", "push-create-10k", "push-update-10k", "pull-10k"),
    SYNC: ("idle-10k", "push-create-10k", "push-update-10k", "pull-10k", "mixed"),
}


def _scenario(base: str, v: Variant = BASE) -> Scenario:
    """The base scenario ``base`` with the variant's sheet, named ``base`` + its suffix and compared with ``base``
    (with BASE, the base scenario itself)."""
    name = base + v.suffix

    def run(d: int) -> Result:
        res = BASES[base](name, d, v)
        if v != BASE:
            res.base, res.variant = base, v
        return res

    return Scenario(name, run)


def with_variant(v: Variant) -> list[str]:
    """The names of a variant's scenarios and of the base scenarios they are compared with."""
    return [name for base in VARIANTS[v] for name in (base, base + v.suffix)]


SCENARIOS: list[Scenario] = [_scenario(b) for b in BASES] + [
    _scenario(b, v) for v, bases in VARIANTS.items() for b in bases
]
