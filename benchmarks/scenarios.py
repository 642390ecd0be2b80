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

from benchmarks.measure import ToolRun
from benchmarks.world import AMO_RATE_LIMIT, COL, World

# -- the API's limits and what every run costs ------------------------------------------
CREATE_BATCH = 50  # leads per POST /api/v4/leads/complex
UPDATE_BATCH = 250  # entities per PATCH /api/v4/leads or /contacts
PAGE = 250  # entities per list page
IDS_PER_REQUEST = 250  # ids in one filter[id][] query
PIPELINES = 1  # GET /api/v4/leads/pipelines, every run
CHANGE_LISTINGS = 2  # GET /leads and GET /contacts filtered by updated_at, every push/pull/sync

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

    @property
    def bound_seconds(self) -> float:
        return self.bound_requests / AMO_RATE_LIMIT

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    def take(self, run: ToolRun, amo: dict[str, Any], sheets: dict[str, Any]) -> None:
        self.run, self.amo, self.sheets = run, amo, sheets
        self.wall, self.cpu, self.peak_mb = run.wall, run.cpu, run.peak_mb
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


def _by_lead(rows: list[list[Any]]) -> dict[int, list[str]]:
    """lead_id → the row's cells as the sheet shows them (padded to 7)."""
    out: dict[int, list[str]] = {}
    for r in rows:
        if r and str(r[0]).isdigit():
            out[int(r[0])] = [str(c) for c in r] + [""] * (7 - len(r))
    return out


def _prices(w: World) -> dict[int, int]:
    return {int(lead["id"]): int(lead["price"]) for lead in w.amo.leads()}


# -- 1, 2: idle -----------------------------------------------------------------------
def idle(name: str, n: int) -> Result:
    res = Result(name, n, f"sync of {n:,} synced rows, nothing changed")
    with World() as w:
        w.build_synced(n)
        res.take(*w.measure("sync"))
    # Nothing changed: the pipelines, and the two change listings (one empty page each).
    res.bound_requests = PIPELINES + CHANGE_LISTINGS
    s = res.run.summary if res.run else {}
    done = _counts(s, *IDLE_COUNTS)
    res.check(not any(done.values()), f"the idle run changed things: {done}")
    res.check(s.get("rows_read") == n, f"rows_read {s.get('rows_read')}, expected {n}")
    return res


# -- 3: push of new rows --------------------------------------------------------------
def push_create(name: str, n: int) -> Result:
    res = Result(name, n, f"push of {n:,} new rows (no lead_id; name, phone, e-mail, price)")
    with World() as w:
        w.build_synced(0)  # an empty sheet and account, but a cursor: not a first run
        new_rows = [
            ["", f"Новый клиент {i + 1}", f"+7 916 {i:07d}", f"new{i + 1}@example.com", 1000 + i, "", ""]
            for i in range(n)
        ]
        w.sheets.set_values(w.sid, w.tab, new_rows, start="A2")
        before = len(w.amo.leads())
        res.take(*w.measure("push"))
        # Every run: pipelines + 2 change listings; the work: n creates at 50 a request.
        res.bound_requests = PIPELINES + CHANGE_LISTINGS + batches(n, CREATE_BATCH)
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
    return res


# -- 4: push of edited rows -----------------------------------------------------------
def push_update(name: str, n: int) -> Result:
    res = Result(name, n, f"push of {n:,} synced rows whose price was changed in the sheet")
    with World() as w:
        ids = w.build_synced(n)
        rows = w.rows()
        order = [int(r[0]) for r in rows]
        old = _prices(w)
        want = {lid: old[lid] + 7 for lid in order}
        w.sheets.set_values(w.sid, w.tab, [[want[lid]] for lid in order], start=f"{_letter(COL['Сумма'])}2")
        force = w.force_args("push")  # every row changes: past the mass-change guard rail on purpose
        res.take(*w.measure("push", *force))
        res.notes.extend(force)
        # Every run: pipelines + 2 change listings; the work: n lead PATCHes at 250 a request.
        res.bound_requests = PIPELINES + CHANGE_LISTINGS + batches(n, UPDATE_BATCH)
        s = res.run.summary
        res.check(s.get("leads_updated") == n, f"leads_updated {s.get('leads_updated')}, expected {n}")
        now = _prices(w)
        wrong = sum(1 for lid in ids if now.get(lid) != want[lid])
        res.check(wrong == 0, f"{wrong} leads in amoCRM without the sheet's new price")
    return res


# -- 5: pull of leads changed in amoCRM -----------------------------------------------
def pull(name: str, n: int) -> Result:
    res = Result(name, n, f"pull of {n:,} leads changed in amoCRM (price; phone of half their contacts)")
    with World() as w:
        ids = w.build_synced(n)
        contact_of = {int(lead["id"]): lead["_embedded"]["contacts"][0]["id"] for lead in w.amo.leads()}
        want_price: dict[int, int] = {}
        want_phone: dict[int, str] = {}
        for i, lid in enumerate(ids):
            want_price[lid] = 500_000 + i
            w.amo.edit_lead(lid, price=want_price[lid])
            if i % 2 == 0:
                want_phone[lid] = f"+7 925 {i:07d}"
                w.amo.edit_contact(contact_of[lid], phone=want_phone[lid])
        res.take(*w.measure("pull"))  # changes made in amoCRM are not held back by the guard rail
        # Pipelines, then the changed leads page by page and the changed contacts page by page (the first
        # page of each is the change listing every run makes). The other contacts' values are in the
        # state, so no contact needs fetching by id.
        res.bound_requests = PIPELINES + listing(len(want_price)) + listing(len(want_phone))
        s = res.run.summary
        cells = len(want_price) + len(want_phone)
        res.check(s.get("cells_written") == cells, f"cells_written {s.get('cells_written')}, expected {cells}")
        shown = _by_lead(w.rows())
        bad_price = sum(1 for lid, p in want_price.items() if shown.get(lid, [""] * 7)[COL["Сумма"]] != str(p))
        bad_phone = sum(1 for lid, p in want_phone.items() if shown.get(lid, [""] * 7)[COL["Телефон"]] != p)
        res.check(bad_price == 0, f"{bad_price} rows do not show amoCRM's new price")
        res.check(bad_phone == 0, f"{bad_phone} rows do not show the contact's new phone")
    return res


# -- 6: a mixed sync ------------------------------------------------------------------
def mixed(name: str, base: int, k: int, conflicts: int) -> Result:
    res = Result(
        name,
        base + k,
        f"sync of {base:,} synced rows + {k:,} new rows, {k:,} rows edited in the sheet, {k:,} leads edited "
        f"in amoCRM, {conflicts} leads edited on both sides (price)",
    )
    with World() as w:
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
        # Pipelines; the changed leads (amoCRM-side edits and conflicts) page by page and the (empty)
        # contact change listing; k creates at 50 a request; k lead PATCHes at 250 a request. The
        # conflicts go to the sheet (amoCRM wins by default): no request.
        res.bound_requests = (
            PIPELINES
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
        shown = _by_lead(after)
        expect_sheet = {**{lid: crm_price[lid] for lid in crm_ids}, **{lid: crm_price[lid] for lid in both_ids}}
        bad_sheet = sum(1 for lid, p in expect_sheet.items() if shown[lid][COL["Сумма"]] != str(p))
        res.check(bad_sheet == 0, f"{bad_sheet} rows without amoCRM's new price (conflicts included: amoCRM wins)")
        res.check(len(shown) == base + k, f"the sheet has {len(shown)} lead_ids, expected {base + k}")
        res.check(all(now[lid] == crm_price[lid] for lid in both_ids), "a conflict changed amoCRM's value")
    return res


def _letter(col: int) -> str:
    return chr(ord("A") + col)


@dataclass
class Scenario:
    name: str
    run: Callable[[int], Result]  # called with the scale divisor (1, or 10 for --quick)


SCENARIOS: list[Scenario] = [
    Scenario("idle-10k", lambda d: idle("idle-10k", 10_000 // d)),
    Scenario("idle-100k", lambda d: idle("idle-100k", 100_000 // d)),
    Scenario("push-create-10k", lambda d: push_create("push-create-10k", 10_000 // d)),
    Scenario("push-update-10k", lambda d: push_update("push-update-10k", 10_000 // d)),
    Scenario("pull-10k", lambda d: pull("pull-10k", 10_000 // d)),
    Scenario("mixed", lambda d: mixed("mixed", 10_000 // d, 1_000 // d, 50 // d)),
]
