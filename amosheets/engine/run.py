"""The run: the lock, reading both sides, planning, carrying the plan out in order, and its outcome."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from amosheets.amocrm.client import AmoClient
from amosheets.amocrm.connect import amo_client
from amosheets.amocrm.mapping import catalog_from
from amosheets.config import AMOCRM, GOOGLE, PairConfig, Settings
from amosheets.deadline import Deadline
from amosheets.engine.account import AccountSession, Pipelines
from amosheets.engine.reading import (
    account_for,
    account_ids,
    check_account,
    fetch_crm,
    list_changes,
    resolve_creations,
)
from amosheets.engine.writing import Sent, create, update_crm, write_sheet
from amosheets.errors import ConfigError, ExitStatus, LockedError
from amosheets.i18n import _, plural
from amosheets.state import StateStore, ensure_state_dir, state_path
from amosheets.sync.catalog import field_set, header_notices, pipelines_stale_reason
from amosheets.sync.creations import Made
from amosheets.sync.fields import BUILT_IN_FIELDS, Cell, FieldSet, HeaderError
from amosheets.sync.guard import mass_change
from amosheets.sync.merge import DEFAULT_POLICY, ConflictPolicy
from amosheets.sync.model import Catalog, Notice, RowProblem
from amosheets.sync.plan import Direction, Plan
from amosheets.sync.planner import digest_context, mark_unchanged, triage
from amosheets.sync.planner import plan as make_plan
from amosheets.sync.selection import known_now, select
from amosheets.sync.tab import SheetData, sheet_data

if TYPE_CHECKING:
    from amosheets.gspread_transport import RequestHook
    from amosheets.sheet import Sheet

Say = Callable[[str], None]

LOCK_WAIT = 10.0  # a second run waits this long for the first, then gives up with ExitStatus.LOCKED


@dataclass
class Options:
    direction: Direction = Direction.BOTH
    dry_run: bool = False
    policy: ConflictPolicy | None = None  # None: the pair's (amosheets.toml's conflict), else DEFAULT_POLICY
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
                "cells_written": p.cells_to_write(),
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


def lock_for(pair: PairConfig) -> FileLock:
    """The lock that keeps two runs off one pair's state."""
    path = state_path(pair.state_dir, pair.scope).with_suffix(".lock")
    ensure_state_dir(pair.state_dir)
    return FileLock(str(path), mode=0o600)


class Engine:
    def __init__(
        self,
        pair: PairConfig,
        options: Options,
        *,
        amo: AmoClient | None = None,
        session: AccountSession | None = None,
        sheet: Sheet | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
        deadline: Deadline | None = None,
        detail: Say | None = None,
        trace: Say | None = None,
    ) -> None:
        """One pair's run. ``deadline`` None: no limit (``from_settings`` gives the configured one).

        ``detail`` is told what each phase found and did (-v); ``trace`` one line per request (--debug).
        ``session`` is shared with the account's other pairs of the run (see ``AccountSession``); without
        one, the pair has one of its own, on ``amo`` or on a client of its account.
        """
        self.pair = pair
        self.options = options
        # One deadline for the whole run, counted from here, shared by both services' clients.
        self.deadline = deadline or Deadline(None)
        self.detail: Say = detail or (lambda text: None)
        self._closes_client = session is None  # a shared session's client is closed by whoever shares it
        if session is None:
            amo = amo or amo_client(pair.account, deadline=self.deadline, on_request=request_line("amoCRM", trace))
            session = AccountSession(amo, (pair,))
        self.session = session
        self.amo = session.amo
        self._sent_before = sum(self.amo.sent.values())  # the account's client may have served other pairs
        self._sheet = sheet
        self._sheet_hook = request_line("Sheets", trace)
        self.fields: FieldSet = BUILT_IN_FIELDS  # the account's, once the run has read its catalog
        if progress is not None:
            self.amo.progress = progress

    @property
    def sheet(self) -> Sheet:
        """The pair's tab, made when first needed: the first time is in the thread that reads it, so that
        gspread and google-auth are imported (some 0.12 s) while amoCRM is answering the listing."""
        if self._sheet is None:
            from amosheets.sheet import Sheet

            self._sheet = Sheet(
                self.pair.tab,
                secrets=self.pair.account.secrets(),
                deadline=self.deadline,
                on_request=self._sheet_hook,
            )
        return self._sheet

    @classmethod
    def from_settings(
        cls, settings: Settings, options: Options, *, deadline: Deadline | None = None, **kw: Any
    ) -> Engine:
        """The run of the environment's one pair, limited by the configured deadline.

        Both services' settings are required here, before any client is made: every problem is
        reported at once, as before the settings were split into an account, a tab and a pair.
        """
        settings.require(GOOGLE, AMOCRM)
        deadline = deadline or Deadline(settings.deadline, settings.deadline_setting)
        return cls(settings.pair(), options, deadline=deadline, **kw)

    def run(self) -> Outcome:
        lock = lock_for(self.pair)
        try:
            lock.acquire(timeout=self.options.lock_wait)
        except Timeout:
            raise LockedError(
                _("Another amosheets run is working on this sheet and account; this one did nothing."),
                hint=_(
                    "That is normal when a run takes longer than the cron interval. If no other run is going, "
                    "the lock is released by itself (file: {path})."
                ).format(path=lock.lock_file),
            ) from None
        try:
            store = StateStore.open(self.pair.state_dir, self.pair.scope)
            try:
                return self._run(store)
            finally:
                store.close()
        finally:
            lock.release()
            if self._closes_client:
                self.amo.close()

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
            # Each part is a whole clause whose verb agrees with its count ("записаны 3 ячейки"); the line is one
            # text around the two.
            wrote = plural(out.cells_written, "wrote {n:,} cell", "wrote {n:,} cells")
            added = plural(out.rows_appended, "added {n:,} row", "added {n:,} rows")
            # i18n: {wrote} is "wrote 3 cells", {added} "added 1 row"
            self.detail(_("sheet: {wrote}, {added}").format(wrote=wrote, added=added))
        return out

    def _sync(self, store: StateStore, out: Outcome) -> None:
        opts = self.options
        # The sheet is read while amoCRM is asked what changed: the two don't wait for each other.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheet") as pool:
            sheet_read = pool.submit(lambda: self.sheet.read_values())
            held = store.pipelines()
            # Without a cursor the run needs amoCRM's clock, which the pipelines' answer gives; --all lists
            # every followed pipeline, so it must know them as amoCRM has them now.
            pipelines = self.session.pipelines(
                Pipelines(*held, read=False) if held else None, fresh=store.cursor is None or opts.backfill
            )
            if not pipelines.read:
                self.detail(_("amoCRM: the pipelines as the state kept them {age} ago").format(age=_age(pipelines.at)))
            catalog = self._catalog(pipelines)
            changes = list_changes(self.session, store, opts, catalog, self.detail)
            values = sheet_read.result()
        now, now_here = changes.now, changes.now_here  # amoCRM's clock and this machine's, at one moment
        set_aside = check_account(store, changes, opts)  # first: a state set aside takes its cached catalog with it
        account = account_for(self.session, store, values, changes.leads.values(), keep=not opts.dry_run)
        self.fields = field_set(account)
        data = self._bind(values)
        why = None
        if not self.session.pipelines().read:
            listed = [(int(x.get("pipeline_id") or 0), int(x.get("status_id") or 0)) for x in changes.leads.values()]
            age = time.time() - pipelines.at
            seen = store.names().with_catalog(catalog)
            why = _("the state was set aside") if set_aside else None
            why = why or pipelines_stale_reason(catalog, age, listed, data.headers, values[1:], seen)
        if why is not None:
            self.detail(_("amoCRM: the pipelines are read again: {why}").format(why=why))
            pipelines = self.session.pipelines(fresh=True)
            catalog = self._catalog(pipelines)
        catalog = replace(catalog, fields=self.fields)
        out.notices.extend(header_notices(data.headers, catalog.fields))
        index = store.load_index()
        entries = resolve_creations(self.amo, store, index.keys(), now, changes)
        pending = {c.token: c.lead_id for c in entries}
        unfinished = [c for c in entries if not c.finished]
        rows = triage(data.rows, data.headers, pending)
        fresh, deleted, missing = fetch_crm(self.amo, store, rows, index, changes, catalog.fields)
        accounts = account_ids(changes.leads.values())
        # amoCRM's answers are in ``fresh`` now: on a pull --all of 100,000 deals they are some 100 MB.
        changes.leads.clear()
        changes.contacts.clear()
        out.first_run = changes.first_run
        out.notices.extend(changes.notices)

        # Only the leads this run may touch are loaded: unchanged rows are skipped unread.
        mark_unchanged(
            rows,
            digest_context(data.header_row, catalog),
            {lid: e.digest for lid, e in index.items()},
            fresh.keys() | deleted,
        )
        chosen = select(index, unfinished, rows, catalog.followed, opts.backfill)
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
            policy=opts.policy or self.pair.policy or DEFAULT_POLICY,
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
            kept = self.session.pipelines()
            if held is None or held[1] != kept.at:  # read in this run, or another pair's copy
                store.remember_pipelines(kept.answer, kept.at)
            store.remember_names(catalog)
            store.save_crm(fresh.values())
            store.set_flag("deleted", plan.deleted | deleted)
            store.set_flag("has_row", [lid for lid in plan.seen if not (e := index.get(lid)) or not e.has_row])
            store.set_flag("has_row", chosen.adopted)
            store.set_flag("row_removed", plan.removed)
            store.set_digests(plan.digests.items())
            store.set_cursor(now, taken_at=now_here)
            # By now the leads fetched by id are among the listed ones: a first run learns the account too.
            if store.account_id is None and len(accounts) == 1:
                store.set_account_id(accounts.pop())
            store.created((c.token, c.lead_id) for c in unfinished if c.lead_id is not None)
            store.save_base(bases.items())
            # Never made: the row is new again (this run's plan makes it afresh).
            store.forget_creations(c.token for c in unfinished if c.lead_id is None)
            # Made, and no row holds its marker any more: the deal is known like any other.
            store.finish_creations(c.token for c in unfinished if c.lead_id is not None and c.token not in marked)

        sent = Sent()
        made = Made()
        if opts.direction.pushes:
            made = create(self.amo, self.sheet, self._read_sheet, store, plan, out, pending)
            sent = update_crm(self.amo, store, plan, out, known)
        when = datetime.fromtimestamp(now, account.tz()).strftime("%Y-%m-%d %H:%M")
        write_sheet(self.sheet, self._read_sheet, store, plan, out, data, made, sent, pending, when)
        out.requests = self._requests()

    def _catalog(self, pipelines: Pipelines) -> Catalog:
        """The pair's catalog; the state's copy of the pipelines is read again when it lacks the pair's."""
        pair = self.pair
        try:
            catalog = catalog_from(pipelines.answer, pair.pipeline, pair.status, names=pair.names)
        except ConfigError:
            if pipelines.read:
                raise
            self.detail(_("amoCRM: the pipelines are read again: the state's copy lacks the pair's pipeline or status"))
            return self._catalog(self.session.pipelines(fresh=True))
        return replace(catalog, elsewhere=self.session.elsewhere(pair, catalog.followed), fields=self.fields)

    def _read_sheet(self) -> SheetData:
        return self._bind(self.sheet.read_values())

    def _bind(self, values: list[list[Cell]]) -> SheetData:
        try:
            data = sheet_data(values, self.fields)
        except HeaderError as e:
            raise ConfigError(_("The sheet's header row cannot be used: {error}").format(error=e)) from None
        self.detail(plural(len(data.rows), "read the sheet: {n:,} row", "read the sheet: {n:,} rows"))
        return data

    def _requests(self) -> dict[str, int]:
        return {"amocrm": sum(self.amo.sent.values()) - self._sent_before}


def _age(at: float) -> str:
    minutes = max(0, int(time.time() - at)) // 60
    return (
        plural(minutes, "{n} minute", "{n} minutes")
        if minutes < 120
        else plural(minutes // 60, "{n} hour", "{n} hours")
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
    counts = (
        plural(len(plan.creates()), "{n:,} create", "{n:,} creates"),
        plural(len(plan.lead_updates()), "{n:,} deal update", "{n:,} deal updates"),
        plural(len(plan.contact_updates()), "{n:,} contact update", "{n:,} contact updates"),
        plural(cells, "{n:,} cell to write", "{n:,} cells to write"),
        plural(len(plan.row_appends()), "{n:,} row to add", "{n:,} rows to add"),
        plural(len(plan.conflicts), "{n:,} conflict", "{n:,} conflicts"),
        plural(len(plan.problems), "{n:,} row problem", "{n:,} row problems"),
    )
    # i18n: {counts} is the list of the counts above, joined with ", ".
    return _("plan: {counts}").format(counts=", ".join(counts))


def parse_since(value: str) -> int:
    """--since: a date or date-time (ISO 8601, local time unless it says otherwise) or Unix seconds."""
    v = value.strip()
    if v.isdigit():
        return int(v)
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            _("--since {value} is not a time.").format(value=repr(value)),
            hint=_("Write it like 2026-11-01 or 2026-11-01T09:30 (or Unix seconds)."),
        ) from None
    return int(dt.timestamp())
