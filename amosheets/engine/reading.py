"""Reading amoCRM: what changed since the last run, and the current values of the leads a run needs."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from amosheets.amocrm.client import AmoClient
from amosheets.amocrm.mapping import account_from, contact_from, custom_field_refs, lead_from, main_contact_id
from amosheets.i18n import _, plural
from amosheets.state import IndexEntry, StateStore
from amosheets.sync import creations as journal
from amosheets.sync.catalog import Account, stale_reason
from amosheets.sync.fields import BUILT_IN_FIELDS, Cell, FieldSet
from amosheets.sync.freshness import contact_owners, contacts_to_fetch, current_leads, leads_to_fetch
from amosheets.sync.model import Catalog, Creation, CrmLead, Notice
from amosheets.sync.planner import Triage, header_signature
from amosheets.sync.window import AHEAD, OVERLAP, Window, changes_window

if TYPE_CHECKING:
    from amosheets.engine.account import AccountSession
    from amosheets.engine.run import Options, Say


@dataclass
class Changes:
    """amoCRM's answers to "what changed": raw leads and contacts by id."""

    first_run: bool
    leads: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    listed: set[int] | None = None  # with --all: every lead amoCRM listed in the pipeline
    gone: set[int] = field(default_factory=set)  # deals deleted since (their latest event says so)
    back: set[int] = field(default_factory=set)  # deals restored since
    now: int = 0  # amoCRM's clock when the changes were asked for: the next cursor
    now_here: float = 0.0  # this machine's clock at that moment


def read_account(amo: AmoClient) -> Account:
    """The account's custom fields, users and time zone: four requests at once."""
    lead_fields, contact_fields, users, account = amo.concurrently(
        lambda: amo.custom_fields("leads"), lambda: amo.custom_fields("contacts"), amo.users, amo.account_settings
    )
    return account_from(lead_fields, contact_fields, users, account)


def account_for(
    session: AccountSession,
    store: StateStore,
    values: list[list[Cell]],
    leads: Iterable[Mapping[str, Any]],
    keep: bool,
) -> Account:
    """The catalog (custom fields, users, time zone) this run uses: the one cached in the state, unless
    ``stale_reason`` says otherwise. A catalog read anew is kept in the state when ``keep``."""
    header_row = values[0] if values else []
    held = store.account_catalog()
    if held is not None:
        cached, at, headers_then = held
        why = stale_reason(cached, time.time() - at, header_row, headers_then, values[1:], custom_field_refs(leads))
        if why is None:
            return cached
    account = session.read_account()
    if keep:
        store.remember_account(account, header_signature(header_row))
    return account


# Seconds a window asked for before amoCRM's clock is known reaches further back than the one computed
# from this machine's clock: a drift of a few seconds between the two must not cost a second listing.
SLACK = 10


def list_changes(session: AccountSession, store: StateStore, opts: Options, catalog: Catalog, detail: Say) -> Changes:
    """What changed in amoCRM since the cursor, or the whole pipeline with --all (the listings at once).

    The changes come from ``session``, which asks amoCRM once for all the pairs of the account. When the
    run has had no answer yet (the pipelines came from the state), amoCRM's clock is taken to have moved
    as this machine's since the cursor; the listing's first answer then says where it is, and a window
    that fell short of it (the clock jumped) is listed further.
    """
    amo = session.amo
    cursor = store.cursor
    changes = Changes(first_run=cursor is None and opts.since is None and not opts.backfill)
    if opts.backfill:
        # Every followed pipeline is listed: ``listed`` is then their leads together.
        for items in amo.concurrently(*(partial(amo.leads_in_pipeline, p) for p in sorted(catalog.followed))):
            for item in items:
                changes.leads[int(item["id"])] = item
            changes.listed = (changes.listed or set()) | {int(item["id"]) for item in items}
    if not changes.first_run:
        if session.now is None:  # no answer yet: the listing's first answer will say where amoCRM's clock is
            guess = changes_window(cursor, _amocrm_now(store), _elapsed(store, time.time()))
            session.changed(guess.since - SLACK if opts.since is None else opts.since, guess.until)
        now, now_here = session.clock()
        w = _window(store, now, now_here, changes)
        until = w.until
        # The upper bound need only lie well past every change: half of AHEAD past the true end will do.
        if (listed := session.listed_until) is not None and listed >= w.until - AHEAD // 2:
            until = min(until, listed)
        got = session.changed(w.since if opts.since is None else opts.since, until)
        changes.leads.update(got.leads)
        changes.contacts.update(got.contacts)
        changes.gone, changes.back = got.gone, got.back
    changes.now, changes.now_here = session.clock()
    if changes.first_run:
        detail(_("amoCRM: first run, so no changes are asked for; they are taken from now on"))
    else:
        detail(changes_line(len(changes.leads), len(changes.contacts), len(changes.gone), len(changes.back)))
    return changes


def changes_line(deals: int, contacts: int, deleted: int, restored: int) -> str:
    """-v's line of what amoCRM said changed: ``amoCRM: 3 changed deals, 1 changed contact, 0 deleted, 0 restored``."""
    # Each count that names its noun agrees with it on its own ("3 изменённые сделки"); the line is one text
    # around them, so that a language can order them, and say the bare counts (deals) its own way.
    said_deals = plural(deals, "{n:,} changed deal", "{n:,} changed deals")
    said_contacts = plural(contacts, "{n:,} changed contact", "{n:,} changed contacts")
    # i18n: {deals} "3 changed deals", {contacts} "1 changed contact"; {deleted} and {restored} count deals
    return _("amoCRM: {deals}, {contacts}, {deleted:,} deleted, {restored:,} restored").format(
        deals=said_deals, contacts=said_contacts, deleted=deleted, restored=restored
    )


def _elapsed(store: StateStore, at: float) -> int | None:
    """Seconds this machine saw pass from when the cursor was taken to ``at`` (None: not known).

    ``at`` is the moment amoCRM's clock was read: every pair of the run then has the same window."""
    taken_at = store.cursor_taken_at
    return max(0, int(at - taken_at)) if taken_at is not None else None


def _amocrm_now(store: StateStore) -> int:
    """amoCRM's clock now, before it has answered: the cursor moved on by the time passed here since."""
    cursor, elapsed = store.cursor, _elapsed(store, time.time())
    return int(time.time()) if cursor is None or elapsed is None else cursor + elapsed


def _window(store: StateStore, now: int, now_here: float, changes: Changes) -> Window:
    """The changes window (see ``sync.window``), with a notice when amoCRM's clock was set back."""
    cursor = store.cursor
    w = changes_window(cursor, now, _elapsed(store, now_here))
    if w.set_back:
        changes.notices.append(
            Notice(
                None,
                _(
                    "amoCRM's clock ({now}) is behind the time the last sync reached ({cursor}): "
                    "it was set back. Changes are looked for from {since} on, so none made since is missed."
                ).format(now=_utc(now), cursor=_utc(cursor or now), since=_utc(w.since)),
            )
        )
    return w


def check_account(store: StateStore, changes: Changes, opts: Options) -> bool:
    """A state made with another amoCRM account (or a sandbox since reset) is set aside, never trusted
    (True: this one was).

    Its lead ids would name other deals, or none: rows "removed" by the thousand, rows written for deals
    that do not exist. The run goes on as a first run, with the sheet's lead_ids matched afresh.
    """
    stored = store.account_id
    seen = account_ids(changes.leads.values())
    if stored is None or not seen or stored in seen:
        return False
    old = store.path
    accounts = ", ".join(str(a) for a in sorted(seen))
    if opts.dry_run:
        store.forget_in_memory()
        said = _(
            "The sync state {old} was made with amoCRM account {stored}, but amoCRM now answers as account "
            "{accounts} (another account, or a sandbox that was reset), so it is not trusted. This dry run plans "
            "as a first run; a real run moves the file aside (it is kept) and starts afresh: the sheet's lead_ids "
            "are matched again, and an id amoCRM does not have is reported on its row."
        ).format(old=old, stored=stored, accounts=accounts)
    else:
        moved = store.set_aside(f"account-{stored}")
        said = _(
            "The sync state {old} was made with amoCRM account {stored}, but amoCRM now answers as account "
            "{accounts} (another account, or a sandbox that was reset), so it is not trusted. It was moved to "
            "{moved} (kept), and this run starts afresh: the sheet's lead_ids are matched again, and an id "
            "amoCRM does not have is reported on its row."
        ).format(old=old, stored=stored, accounts=accounts, moved=moved)
    changes.notices = [Notice(None, said)]
    changes.first_run = opts.since is None and not opts.backfill
    if changes.first_run:  # a first run takes in no earlier changes
        changes.leads.clear()
        changes.contacts.clear()
        changes.gone.clear()
        changes.back.clear()
    return True


def fetch_crm(
    amo: AmoClient,
    store: StateStore,
    rows: Triage,
    index: dict[int, IndexEntry],
    changes: Changes,
    fields: FieldSet,
) -> tuple[dict[int, CrmLead], set[int], set[int]]:
    """amoCRM's current values of every lead that changed, or that the sheet names and the state lacks."""
    raw_leads = changes.leads
    ours = index.keys() | rows.by_id.keys()  # the deals this pair keeps: other deals' deletions are not its
    # A restored deal is read like a changed one (restoring it need not change its updated_at): one of the
    # followed pipelines that the tab lacks is added, as a new deal would be.
    back = changes.back - raw_leads.keys()
    named = leads_to_fetch(rows.by_id, raw_leads.keys(), index)
    if named | back:
        for lead in amo.leads_by_ids(named | back):
            raw_leads[int(lead["id"])] = lead
    unseen = named - raw_leads.keys()  # (a restored deal not found was deleted again since: the next run hears)
    deleted = (changes.gone & ours) - raw_leads.keys()
    if unseen - deleted:
        deleted |= {int(lead["id"]) for lead in amo.leads_by_ids(unseen - deleted, deleted=True)}
    missing = unseen - deleted

    changed = [contact_from(c, fields) for c in changes.contacts.values()]
    needed = raw_leads.keys() | contact_owners(changed)
    known = store.load_known(needed) if needed else {}
    # Phones and e-mails: from the contacts that changed, else the state, else asked for.
    contacts = dict(changes.contacts)
    mains = {lid: main_contact_id(lead) for lid, lead in raw_leads.items()}
    need_contacts = contacts_to_fetch(mains, contacts.keys(), known)
    if need_contacts:
        for c in amo.contacts_by_ids(need_contacts):
            contacts[int(c["id"])] = c
    leads = {lid: lead_from(lead, contacts, fields) for lid, lead in raw_leads.items()}
    fresh = current_leads(leads, contacts.keys(), changed, known)
    return fresh, deleted, missing


def resolve_creations(
    amo: AmoClient, store: StateStore, tracked: Collection[int], now: int, changes: Changes
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
        for lead in amo.leads_updated(since, max(now, since) + 3600)
        if int(lead["id"]) not in tracked and int(lead.get("created_at") or 0) >= since
    }
    found = journal.recognise(unanswered, [lead_from(lead, {}, BUILT_IN_FIELDS) for lead in listed.values()])
    for lid in found.values():
        changes.leads.setdefault(lid, listed[lid])
    return [replace(c, lead_id=found.get(c.token)) if c.lead_id is None else c for c in made]


def account_ids(leads: Iterable[dict[str, Any]]) -> set[int]:
    return {int(a) for lead in leads if (a := lead.get("account_id"))}


def _utc(t: int) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
