"""One run of push, pull or sync: read both sides, plan, carry the plan out, remember.

The order of writes is what makes a crash harmless (the next run converges, nothing is
made twice):
1. amoCRM's current values and the pull cursor are saved before anything is written;
2. a creation is recorded *before* its request is sent, and its lead id right after;
3. writes to amoCRM, then the sheet (cells located again by lead_id just before);
4. the base of each field moves only once both sides hold its value.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from filelock import FileLock, Timeout

from amosheets.amocrm.client import AmoClient
from amosheets.amocrm.mapping import (
    EMAIL,
    PHONE,
    catalog_from,
    complex_item,
    contact_from,
    field_value,
    lead_from,
    lead_patch,
    main_contact_id,
)
from amosheets.config import AMOCRM, GOOGLE, Settings
from amosheets.deadline import Deadline
from amosheets.errors import ConfigError, ExitStatus, LockedError
from amosheets.gspread_transport import RequestHook
from amosheets.sheet import Sheet, SheetData
from amosheets.state import IndexEntry, Scope, StateStore, ensure_state_dir, state_path
from amosheets.sync import creations as journal
from amosheets.sync.creations import Made
from amosheets.sync.fields import CONTACT_FIELDS, Field, HeaderError
from amosheets.sync.freshness import contact_owners, contacts_to_fetch, current_leads, leads_to_fetch
from amosheets.sync.guard import mass_change
from amosheets.sync.merge import DEFAULT_POLICY, ConflictPolicy
from amosheets.sync.model import Catalog, Creation, CrmLead, Known, Notice, RowProblem
from amosheets.sync.placement import markers, place, touches_sheet
from amosheets.sync.plan import Direction, LeadPlan, NewRow, Plan
from amosheets.sync.planner import (
    Triage,
    digest_context,
    mark_unchanged,
    triage,
)
from amosheets.sync.planner import plan as make_plan
from amosheets.sync.selection import known_now, select

Say = Callable[[str], None]

OVERLAP = 60  # seconds each window reaches back: amoCRM's bounds may be exclusive, writes land late
LOCK_WAIT = 10.0  # a second run waits this long for the first, then gives up with ExitStatus.LOCKED


@dataclass
class Options:
    direction: Direction = Direction.BOTH
    dry_run: bool = False
    policy: ConflictPolicy = DEFAULT_POLICY
    backfill: bool = False  # pull --all
    since: int | None = None  # pull --since, Unix seconds
    force: bool = False  # go on past the guard rails
    lock_wait: float = LOCK_WAIT


@dataclass
class Outcome:
    """What a run did (or, dry, would do)."""

    plan: Plan | None = None
    dry_run: bool = False
    created: int = 0
    leads_updated: int = 0
    contacts_updated: int = 0
    cells_written: int = 0
    rows_appended: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    uncertain: int = 0
    first_run: bool = False
    blocked: str | None = None  # why a guard rail held the run back
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def exit_status(self) -> ExitStatus:
        if self.blocked:
            return ExitStatus.NEEDS_FORCE
        return ExitStatus.PARTIAL if (self.problems or self.uncertain) else ExitStatus.OK

    def summary(self) -> dict[str, Any]:
        """Counts of what was done, or with --dry-run of what would be."""
        p = self.plan
        if self.dry_run and p is not None:
            done = {
                "created": len(p.creates()),
                "leads_updated": len(p.lead_updates()),
                "contacts_updated": len(p.contact_updates()),
                "cells_written": sum(len(lp.to_sheet) for lp in p.cell_updates()),
                "rows_appended": len(p.row_appends()),
            }
        else:
            done = {
                "created": self.created,
                "leads_updated": self.leads_updated,
                "contacts_updated": self.contacts_updated,
                "cells_written": self.cells_written,
                "rows_appended": self.rows_appended,
            }
        return {
            "dry_run": self.dry_run,
            **done,
            "conflicts": len(p.conflicts) if p else 0,
            "problems": len(self.problems),
            "notices": len(self.notices),
            "uncertain_creates": self.uncertain,
            "rows_read": p.rows_read if p else 0,
            "requests": self.requests,
        }


@dataclass
class Changes:
    """amoCRM's answers to "what changed": raw leads and contacts by id."""

    first_run: bool
    leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    listed: set[int] | None = None  # with --all: every lead amoCRM listed in the pipeline


def scope_of(settings: Settings) -> Scope:
    return Scope(settings.sheet_id, settings.worksheet or "", settings.amocrm_base_url)


def lock_for(settings: Settings) -> FileLock:
    path = state_path(settings.state_dir, scope_of(settings)).with_suffix(".lock")
    ensure_state_dir(settings.state_dir)
    return FileLock(str(path), mode=0o600)


def amo_client(settings: Settings, **kw: Any) -> AmoClient:
    return AmoClient(settings.amocrm_base_url, settings.amocrm_token, rate=settings.amocrm_rate, **kw)


class Engine:
    def __init__(
        self,
        settings: Settings,
        options: Options,
        *,
        amo: AmoClient | None = None,
        sheet: Sheet | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
        deadline: Deadline | None = None,
        detail: Say | None = None,
        trace: Say | None = None,
    ) -> None:
        """``detail`` is told what each phase found and did (-v); ``trace`` one line per request (--debug)."""
        settings.require(GOOGLE, AMOCRM)
        self.settings = settings
        self.options = options
        # One deadline for the whole run, counted from here, shared by both services' clients.
        self.deadline = deadline or Deadline(settings.deadline, settings.deadline_setting)
        self.detail: Say = detail or (lambda _: None)
        self.amo = amo or amo_client(settings, deadline=self.deadline, on_request=request_line("amoCRM", trace))
        self.sheet = sheet or Sheet(settings, deadline=self.deadline, on_request=request_line("Sheets", trace))
        if progress is not None:
            self.amo.progress = progress

    def run(self) -> Outcome:
        lock = lock_for(self.settings)
        try:
            lock.acquire(timeout=self.options.lock_wait)
        except Timeout:
            raise LockedError(
                "Another amosheets run is working on this sheet and account; this one did nothing.",
                hint="That is normal when a run takes longer than the cron interval. If no other run is going, "
                f"the lock is released by itself (file: {lock.lock_file}).",
            ) from None
        try:
            store = StateStore.open(self.settings.state_dir, scope_of(self.settings))
            try:
                return self._run(store)
            finally:
                store.close()
        finally:
            lock.release()
            self.amo.close()

    # -- the run --------------------------------------------------------------------
    def _run(self, store: StateStore) -> Outcome:
        opts = self.options
        run_id = None if opts.dry_run else store.begin_run(opts.direction.value, False)
        out = Outcome(dry_run=opts.dry_run)
        try:
            self._sync(store, out)
        except KeyboardInterrupt:
            # What was done up to Ctrl-C is in ``out``: the log must not read "0 created" after 750 were.
            if run_id is not None:
                store.finish_run(run_id, ExitStatus.INTERRUPTED, out.summary(), ["interrupted"])
            raise
        except BaseException as e:
            if run_id is not None:
                store.finish_run(run_id, getattr(e, "exit_status", ExitStatus.ERROR), out.summary(), [str(e)])
            raise
        if run_id is not None:
            store.finish_run(run_id, out.exit_status, out.summary(), [str(p) for p in out.problems])
        if not opts.dry_run and not out.blocked:
            self.detail(f"sheet: wrote {out.cells_written:,} cells, added {out.rows_appended:,} rows")
        return out

    def _sync(self, store: StateStore, out: Outcome) -> None:
        opts = self.options
        # The sheet is read while amoCRM is asked what changed: the two don't wait for each other.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheet") as pool:
            sheet_read = pool.submit(self._read_sheet)
            catalog = catalog_from(self.amo.pipelines(), self.settings.pipeline_id, self.settings.status_id)
            now = self.amo.server_time or int(time.time())  # the pipelines' answer gives amoCRM's clock
            now_here = time.time()  # … and this machine's at the same moment
            changes = self._list_changes(store, catalog, now)
            data = sheet_read.result()
        self._check_account(store, changes)
        index = store.load_index()
        entries = self._resolve_creations(store, index.keys(), now, changes)
        pending = {c.token: c.lead_id for c in entries}
        unfinished = [c for c in entries if not c.finished]
        rows = triage(data.rows, data.headers, pending)
        fresh, deleted, missing = self._fetch_crm(store, rows, index, changes)
        out.first_run = changes.first_run
        out.notices.extend(changes.notices)

        # Only the leads this run may touch are loaded: unchanged rows are skipped unread.
        mark_unchanged(
            rows, digest_context(data.header_row, catalog), {lid: e.digest for lid, e in index.items()}, fresh.keys()
        )
        chosen = select(index, unfinished, rows, catalog.default_pipeline_id, opts.backfill)
        stored = store.load_known(rows.to_plan() | fresh.keys() | chosen.candidates | chosen.orphans)
        known, bases = known_now(stored, fresh, unfinished)

        plan = make_plan(
            headers=data.headers,
            rows=data.rows,
            catalog=catalog,
            known=known,
            missing=missing,
            deleted=deleted,
            pending=pending,
            salt=secrets.token_hex(8),
            policy=opts.policy,
            direction=opts.direction,
            listed=changes.listed,
            triaged=rows,
            with_rows=chosen.with_rows,
            names=store.names(),
        )
        out.plan = plan
        self.detail(plan_line(plan))
        out.problems.extend(plan.problems)
        out.notices.extend(plan.notices)
        out.blocked = None if opts.force else mass_change(plan)
        if opts.dry_run or out.blocked:
            out.requests = self._requests()
            return

        # 1. What amoCRM holds now is remembered before anything is written.
        marked = {plan_link.token for plan_link in plan.links if plan_link.token}
        with store.transaction():
            store.remember_names(catalog)
            store.save_crm(fresh.values())
            store.set_flag("deleted", plan.deleted | deleted)
            store.set_flag("has_row", [lid for lid in plan.seen if not (e := index.get(lid)) or not e.has_row])
            store.set_flag("has_row", chosen.adopted)
            store.set_flag("row_removed", plan.removed)
            store.set_digests(plan.digests.items())
            store.set_cursor(now, taken_at=now_here)
            # By now the leads fetched by id are among the listed ones: a first run learns the account too.
            if store.account_id is None and len(accounts := _account_ids(changes.leads.values())) == 1:
                store.set_account_id(accounts.pop())
            store.created((c.token, c.lead_id) for c in unfinished if c.lead_id is not None)
            store.save_base(bases.items())
            # Never made: the row is new again (this run's plan makes it afresh).
            store.forget_creations(c.token for c in unfinished if c.lead_id is None)
            # Made, and no row holds its marker any more: the deal is known like any other.
            store.finish_creations(c.token for c in unfinished if c.lead_id is not None and c.token not in marked)

        crm_done: dict[int, set[Field]] = {}
        made = Made()
        if opts.direction.pushes:
            made = self._create(store, plan, out, pending)
            crm_done = self._update_crm(store, plan, out, known)
        self._write_sheet(store, plan, out, data, made, crm_done, pending)
        out.requests = self._requests()

    def _read_sheet(self) -> SheetData:
        try:
            data = self.sheet.read()
        except HeaderError as e:
            raise ConfigError(f"The sheet's header row cannot be used: {e}") from None
        self.detail(f"read the sheet: {len(data.rows):,} rows")
        return data

    def _requests(self) -> dict[str, int]:
        return {"amocrm": sum(self.amo.sent.values())}

    # -- reading amoCRM -------------------------------------------------------------
    def _list_changes(self, store: StateStore, catalog: Catalog, now: int) -> Changes:
        """What changed in amoCRM since the cursor (both listings at once), or the whole pipeline with --all."""
        opts = self.options
        cursor = store.cursor
        changes = Changes(first_run=cursor is None and opts.since is None and not opts.backfill)
        calls = []
        if opts.backfill:
            calls.append(lambda: ("listed", self.amo.leads_in_pipeline(catalog.default_pipeline_id)))
        if not changes.first_run:
            since, until = self._window(store, now, changes)
            if opts.since is not None:
                since = opts.since
            calls.append(lambda: ("leads", self.amo.leads_updated(since, until)))
            calls.append(lambda: ("contacts", self.amo.contacts_updated(since, until)))
        for kind, items in self.amo.concurrently(*calls):
            target = changes.contacts if kind == "contacts" else changes.leads
            for item in items:
                target[int(item["id"])] = item
            if kind == "listed":
                changes.listed = {int(item["id"]) for item in items}
        if changes.first_run:
            self.detail("amoCRM: first run, so no changes are asked for; they are taken from now on")
        else:
            self.detail(f"amoCRM: {len(changes.leads):,} changed deals, {len(changes.contacts):,} changed contacts")
        return changes

    @staticmethod
    def _window(store: StateStore, now: int, changes: Changes) -> tuple[int, int]:
        """The window of amoCRM's clock to ask "what changed" for: from the cursor up to now, and wider when
        amoCRM's clock was set back.

        Edits made after the clock was set back are stamped earlier than the cursor; edits made before, later
        than amoCRM's clock now. Either way they lie no further from the cursor or from now than the time this
        machine has seen pass since the cursor was taken, so the window reaches that far on both sides. (Both
        bounds are always sent: a lone bound has been seen to return nothing.)
        """
        cursor = store.cursor if store.cursor is not None else now
        start = min(cursor, now)
        end = max(cursor, now)
        taken_at = store.cursor_taken_at
        if taken_at is not None:
            elapsed = max(0, int(time.time() - taken_at))
            start = min(start, now - elapsed)
            end = max(end, cursor + elapsed)
        if cursor > now:
            changes.notices.append(
                Notice(
                    None,
                    f"amoCRM's clock ({_utc(now)}) is behind the time the last sync reached ({_utc(cursor)}): "
                    f"it was set back. Changes are looked for from {_utc(start - OVERLAP)} on, so none made "
                    "since is missed.",
                )
            )
        return start - OVERLAP, end + 3600

    def _check_account(self, store: StateStore, changes: Changes) -> None:
        """A state made with another amoCRM account (or a sandbox since reset) is set aside, never trusted.

        Its lead ids would name other deals, or none: rows "removed" by the thousand, rows written for deals
        that do not exist. The run goes on as a first run, with the sheet's lead_ids matched afresh.
        """
        stored = store.account_id
        seen = _account_ids(changes.leads.values())
        if stored is None or not seen or stored in seen:
            return
        old = store.path
        if self.options.dry_run:
            store.forget_in_memory()
            what = "This dry run plans as a first run; a real run moves the file aside (it is kept) and starts afresh"
        else:
            what = f"It was moved to {store.set_aside(f'account-{stored}')} (kept), and this run starts afresh"
        accounts = ", ".join(str(a) for a in sorted(seen))
        changes.notices = [
            Notice(
                None,
                f"The sync state {old} was made with amoCRM account {stored}, but amoCRM now answers as account "
                f"{accounts} (another account, or a sandbox that was reset), so it is not trusted. {what}: the "
                "sheet's lead_ids are matched again, and an id amoCRM does not have is reported on its row.",
            )
        ]
        changes.first_run = self.options.since is None and not self.options.backfill
        if changes.first_run:  # a first run takes in no earlier changes
            changes.leads.clear()
            changes.contacts.clear()

    def _fetch_crm(
        self, store: StateStore, rows: Triage, index: dict[int, IndexEntry], changes: Changes
    ) -> tuple[dict[int, CrmLead], set[int], set[int]]:
        """amoCRM's current values of every lead that changed, or that the sheet names and the state lacks."""
        raw_leads = changes.leads
        wanted = leads_to_fetch(rows.by_id, raw_leads.keys(), index)
        if wanted:
            for lead in self.amo.leads_by_ids(wanted):
                raw_leads[int(lead["id"])] = lead
        unseen = wanted - raw_leads.keys()
        deleted: set[int] = set()
        if unseen:
            deleted = {int(lead["id"]) for lead in self.amo.leads_by_ids(unseen, deleted=True)}
        missing = unseen - deleted

        changed = [contact_from(c) for c in changes.contacts.values()]
        needed = raw_leads.keys() | contact_owners(changed)
        known = store.load_known(needed) if needed else {}
        # Phones and e-mails: from the contacts that changed, else the state, else asked for.
        contacts = dict(changes.contacts)
        mains = {lid: main_contact_id(lead) for lid, lead in raw_leads.items()}
        need_contacts = contacts_to_fetch(mains, contacts.keys(), known)
        if need_contacts:
            for c in self.amo.contacts_by_ids(need_contacts):
                contacts[int(c["id"])] = c
        leads = {lid: lead_from(lead, contacts) for lid, lead in raw_leads.items()}
        fresh = current_leads(leads, contacts.keys(), changed, known)
        return fresh, deleted, missing

    def _resolve_creations(
        self, store: StateStore, tracked: Collection[int], now: int, changes: Changes
    ) -> list[Creation]:
        """The journal, with the deal each unanswered creation made found in amoCRM (None: none was made).

        ``tracked`` are the leads the state knew before this run: none of them is a lost one.
        A deal found this way joins ``changes``, so its current values are read like any other's.
        """
        made = store.creations()
        unanswered = [c for c in made if c.lead_id is None]
        if not unanswered:
            return made
        since = min(c.created_at for c in unanswered) - OVERLAP
        listed = {
            int(lead["id"]): lead
            # max(): amoCRM's clock may have been set back since the request was sent.
            for lead in self.amo.leads_updated(since, max(now, since) + 3600)
            if int(lead["id"]) not in tracked and int(lead.get("created_at") or 0) >= since
        }
        found = journal.recognise(unanswered, [lead_from(lead, {}) for lead in listed.values()])
        for lid in found.values():
            changes.leads.setdefault(lid, listed[lid])
        return [replace(c, lead_id=found.get(c.token)) if c.lead_id is None else c for c in made]

    # -- writing amoCRM -------------------------------------------------------------
    def _create(self, store: StateStore, plan: Plan, out: Outcome, pending: dict[str, int | None]) -> Made:
        """Create the new rows' deals.

        The order makes an interrupted run harmless: the journal first, then each row's marker,
        then the request. Whatever happens after that, the next run finds the row by its marker
        and the deal by what the journal says was sent; nothing is made twice.
        """
        made = Made()
        todo = plan.creates()
        if not todo:
            return made
        now = self.amo.server_time or int(time.time())
        with store.transaction():
            store.begin_creations(Creation(n.token, None, now, n.values) for n in todo)
        marked = self._write_markers(todo, pending)
        with store.transaction():
            store.forget_creations(n.token for n in todo if n not in marked)
        if not marked:
            return made
        created = made.created
        lock = threading.Lock()

        def record(answers: dict[int, Any]) -> None:
            # Runs on the client's threads as each request's answer arrives.
            new_leads = [_made_lead(marked[i], answer, now) for i, answer in answers.items()]
            with lock, store.transaction():
                store.created((marked[i].token, lead.id) for i, lead in zip(answers, new_leads, strict=True))
                store.save_crm(new_leads)
                store.save_base((lead.id, lead.values()) for lead in new_leads)
                store.set_flag("has_row", [lead.id for lead in new_leads])
                created.update((marked[i].token, lead.id) for i, lead in zip(answers, new_leads, strict=True))
                out.created = len(created)

        result = self.amo.create_leads_complex([complex_item(n.values, n.token) for n in marked], on_ok=record)
        made.refused = [marked[i].token for i in result.failed]
        with store.transaction():
            store.forget_creations(made.refused)
        for i, message in result.failed.items():
            out.problems.append(RowProblem(marked[i].row, None, None, f"amoCRM did not create the deal: {message}"))
        out.uncertain += len(result.uncertain)
        for i in result.uncertain:
            out.notices.append(
                Notice(
                    marked[i].row,
                    "amoCRM's answer to creating this deal was lost; the next run checks whether "
                    "it was made before trying again",
                )
            )
        return made

    def _write_markers(self, todo: list[NewRow], pending: dict[str, int | None]) -> list[NewRow]:
        """Write each new row's pending marker into its lead_id cell; the rows that got one.

        The rows are found again first (people sort and insert while a run works); a row that
        changed since it was read is left for the next run.
        """
        writes, marked = markers(todo, self._read_sheet(), pending)
        if writes:
            self.sheet.write_cells(writes)
        return marked

    def _update_crm(
        self, store: StateStore, plan: Plan, out: Outcome, known: dict[int, Known]
    ) -> dict[int, set[Field]]:
        """PATCH leads and contacts; returns, per lead, the fields amoCRM now holds."""
        done: dict[int, set[Field]] = {}
        gone_ids: set[int] = set()  # deals found deleted: nothing more is sent or remembered for them
        leads = plan.lead_updates()
        if leads:
            result = self.amo.update_leads([lead_patch(lp.lead_id, lp.final, lp.lead_changes) for lp in leads])
            gone: list[LeadPlan] = []
            for i in result.ok:
                done.setdefault(leads[i].lead_id, set()).update(leads[i].lead_changes)
            for i, message in result.failed.items():
                if message.startswith("id:"):
                    gone.append(leads[i])
                else:
                    out.problems.append(
                        RowProblem(leads[i].row, None, None, f"amoCRM refused the change: {message}", leads[i].lead_id)
                    )
            if gone:
                self._note_gone(store, gone, out)
                gone_ids.update(lp.lead_id for lp in gone)
            out.leads_updated = len(result.ok)

        contacts = [lp for lp in plan.contact_updates() if lp.lead_id not in gone_ids]
        # A contact outlives its deal: before changing it, make sure the deal still exists (a PATCH of
        # the deal in this run proves it), or a deal deleted in amoCRM would never be noticed.
        unproven = [lp for lp in contacts if lp.lead_id not in done]
        if unproven:
            alive = {int(lead["id"]) for lead in self.amo.leads_by_ids([lp.lead_id for lp in unproven])}
            if gone := [lp for lp in unproven if lp.lead_id not in alive]:
                self._note_gone(store, gone, out)
                gone_ids.update(lp.lead_id for lp in gone)
            contacts = [lp for lp in contacts if lp.lead_id not in gone_ids]
        with_contact = [lp for lp in contacts if lp.contact_id is not None]
        without = [lp for lp in contacts if lp.contact_id is None]
        if with_contact:
            result = self.amo.update_contacts([_contact_patch(lp) for lp in with_contact])
            for i in result.ok:
                done.setdefault(with_contact[i].lead_id, set()).update(with_contact[i].contact_changes)
            for i, message in result.failed.items():
                lp = with_contact[i]
                out.problems.append(
                    RowProblem(lp.row, None, None, f"amoCRM refused the contact: {message}", lp.lead_id)
                )
            out.contacts_updated += len(result.ok)
        if without:
            made = self.amo.create_contacts([_contact_create(lp) for lp in without])
            for i, message in made.failed.items():
                out.problems.append(_refused(without[i], f"amoCRM refused the contact: {message}"))
            made_for = [without[i] for i in made.ok]
            pairs = [(lp.lead_id, int(made.ok[i]["id"])) for i, lp in zip(made.ok, made_for, strict=True)]
            linked = self.amo.link_contacts(pairs)
            for j, message in linked.failed.items():
                out.problems.append(_refused(made_for[j], f"amoCRM did not link the new contact: {message}"))
            for j in linked.ok:
                made_for[j].contact_id = pairs[j][1]
                done.setdefault(made_for[j].lead_id, set()).update(made_for[j].contact_changes)
            out.contacts_updated += len(linked.ok)

        # amoCRM now holds these values: remember them as its current ones.
        updated = [
            lp.crm_after(k.crm, fields)
            for lp in plan.leads
            if (fields := done.get(lp.lead_id))
            and (k := known.get(lp.lead_id)) is not None
            and k.crm is not None
            and lp.lead_id not in gone_ids
        ]
        with store.transaction():
            store.save_crm(updated)
        return done

    def _note_gone(self, store: StateStore, gone: list[LeadPlan], out: Outcome) -> None:
        """A PATCH named leads that no longer exist: deleted in amoCRM since the last look."""
        deleted = {int(lead["id"]) for lead in self.amo.leads_by_ids([lp.lead_id for lp in gone], deleted=True)}
        with store.transaction():
            store.set_flag("deleted", deleted)
        for lp in gone:
            if lp.lead_id in deleted:
                out.notices.append(
                    Notice(
                        lp.row,
                        f"deal {lp.lead_id} was deleted in amoCRM; row {lp.row} is no longer "
                        "synced and the deal is not made again",
                        lp.lead_id,
                    )
                )
            else:
                out.problems.append(
                    RowProblem(lp.row, "lead_id", str(lp.lead_id), "amoCRM no longer has this deal", lp.lead_id)
                )

    # -- writing the sheet ----------------------------------------------------------
    def _write_sheet(
        self,
        store: StateStore,
        plan: Plan,
        out: Outcome,
        data: SheetData,
        made: Made,
        crm_done: dict[int, set[Field]],
        pending: dict[str, int | None],
    ) -> None:
        sheet_done: set[int] = set()
        finished: list[str] = []
        if touches_sheet(plan, made):
            placed = place(plan, data, self._read_sheet(), made, pending)
            if placed.rows_appended:
                self.sheet.ensure_rows(placed.last_row)
            if placed.cells or placed.appended:
                # The new rows go in the same write as the rest.
                self.sheet.write_cells(placed.cells + placed.appended)
                out.cells_written = len(placed.cells)
                out.rows_appended = placed.rows_appended
            sheet_done, finished = placed.sheet_done, placed.finished
        with store.transaction():
            store.finish_creations(finished)
            if plan.direction.pulls:
                store.set_flag("has_row", [a.lead_id for a in plan.row_appends()])
                store.save_base((a.lead_id, a.values) for a in plan.row_appends())
            store.save_base(
                (lp.lead_id, base)
                for lp in plan.leads
                if (base := lp.base_after(crm_done.get(lp.lead_id, set()), lp.lead_id in sheet_done)) != lp.base
            )


def request_line(service: str, trace: Say | None) -> RequestHook | None:
    """A client's request hook that tells ``trace`` one line per request."""
    if trace is None:
        return None

    def told(method: str, path: str, outcome: str, ms: float) -> None:
        trace(f"{service} {method} {path} → {outcome} ({ms:,.0f} ms)")

    return told


def plan_line(plan: Plan) -> str:
    cells = sum(len(lp.to_sheet) for lp in plan.cell_updates())
    return (
        f"plan: {len(plan.creates()):,} creates, {len(plan.lead_updates()):,} deal updates, "
        f"{len(plan.contact_updates()):,} contact updates, {cells:,} cells to write, "
        f"{len(plan.row_appends()):,} rows to add, {len(plan.conflicts):,} conflicts, "
        f"{len(plan.problems):,} row problems"
    )


def _made_lead(n: NewRow, answer: dict[str, Any], now: int) -> CrmLead:
    """The deal amoCRM made for a new row: what was sent, with the ids it answered."""
    v = n.values
    cid = answer.get("contact_id")
    return CrmLead(
        int(answer["id"]),
        v[Field.NAME],
        v[Field.PRICE],
        v[Field.STATUS],
        v[Field.PIPELINE],
        now,
        int(cid) if cid else None,
        (v[Field.PHONE],) if v[Field.PHONE] else (),
        (v[Field.EMAIL],) if v[Field.EMAIL] else (),
    )


def _refused(lp: LeadPlan, message: str) -> RowProblem:
    return RowProblem(lp.row, None, None, message, lp.lead_id)


def _contact_patch(lp: LeadPlan) -> dict[str, Any]:
    fields = []
    if Field.PHONE in lp.contact_changes:
        fields.append(field_value(PHONE, lp.new_list(Field.PHONE)))
    if Field.EMAIL in lp.contact_changes:
        fields.append(field_value(EMAIL, lp.new_list(Field.EMAIL)))
    return {"id": lp.contact_id, "custom_fields_values": fields}


def _contact_create(lp: LeadPlan) -> dict[str, Any]:
    fields = [
        field_value(code, [lp.final[f]])
        for f, code in ((Field.PHONE, PHONE), (Field.EMAIL, EMAIL))
        if f in CONTACT_FIELDS and lp.final.get(f)
    ]
    return {"name": lp.final.get(Field.NAME) or lp.crm.get(Field.NAME) or "", "custom_fields_values": fields}


def _account_ids(leads: Iterable[dict[str, Any]]) -> set[int]:
    return {int(a) for lead in leads if (a := lead.get("account_id"))}


def _utc(t: int) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_since(value: str) -> int:
    """--since: a date or date-time (ISO 8601, local time unless it says otherwise) or Unix seconds."""
    v = value.strip()
    if v.isdigit():
        return int(v)
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {value!r} is not a time.", hint="Write it like 2026-11-01 or 2026-11-01T09:30 (or Unix seconds)."
        ) from None
    return int(dt.timestamp())
