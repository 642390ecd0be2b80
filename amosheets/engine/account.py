"""What the pairs of one amoCRM account share in a run: one client, and what it has already been told.

Three tabs on one account must cost amoCRM no more than one (and hold 7 requests a second
together): the pairs run one after another on one ``AccountSession``, whose client carries
the account's one rate limiter, and which asks for the pipelines, the changes and the custom
fields once, however many pairs take them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amosheets.amocrm.client import AmoClient, FirstAnswer
from amosheets.amocrm.mapping import catalog_from
from amosheets.config import PairConfig
from amosheets.engine.reading import read_account
from amosheets.errors import AmosheetsError, ConfigError
from amosheets.i18n import _
from amosheets.sync.catalog import Account
from amosheets.sync.freshness import deleted_and_restored

Raw = dict[str, Any]


@dataclass(frozen=True)
class Pipelines:
    """amoCRM's pipelines (the parts a catalog is made of), and when this machine was given them."""

    answer: list[Raw]
    at: float  # this machine's clock: the age of a copy the state kept
    read: bool = True  # asked of amoCRM in this run (False: the state's copy)


@dataclass
class _Listing:
    """The changes amoCRM listed for a stretch of its clock, ``since``..``until``, bounds included."""

    since: int
    until: int
    leads: dict[int, Raw] = field(default_factory=dict)
    contacts: dict[int, Raw] = field(default_factory=dict)
    events: dict[str, Raw] = field(default_factory=dict)  # lead_deleted / lead_restored, by event id


@dataclass(frozen=True)
class Changed:
    """What one pair is handed of the account's listing: changed leads and contacts, and the deals deleted
    (``gone``) or restored (``back``) since, by each deal's latest event."""

    leads: dict[int, Raw]
    contacts: dict[int, Raw]
    gone: set[int]
    back: set[int]


class AccountSession:
    def __init__(self, amo: AmoClient, pairs: Sequence[PairConfig] = ()) -> None:
        """``pairs``: every pair the configuration puts on this account, run or not (see ``elsewhere``)."""
        self.amo = amo
        self.pairs = tuple(pairs)
        self._pipelines: Pipelines | None = None
        self._listing: _Listing | None = None
        self._account: Account | None = None
        # amoCRM's clock at the earliest answer of this run, and this machine's then (see ``clock``).
        self.now: int | None = None
        self.now_here: float | None = None

    def clock(self) -> tuple[int, float]:
        """amoCRM's clock and this machine's at one moment: that of the run's earliest answer, else now."""
        if self.now is None:
            return int(time.time()), time.time()
        assert self.now_here is not None
        return self.now, self.now_here

    def pipelines(self, held: Pipelines | None = None, *, fresh: bool = False) -> Pipelines:
        """The account's pipelines: ``held`` (the state's copy; whether it is too old to use is the caller's
        ``pipelines_stale_reason``), else amoCRM's.

        ``fresh``: amoCRM's, unless they were read in this run already (a refresh costs one request a run).
        """
        memo = self._pipelines
        if memo is not None and (memo.read or not fresh):
            return memo
        if memo is None and held is not None and not fresh:
            self._pipelines = Pipelines(held.answer, held.at, read=False)
            return self._pipelines
        with self.amo.first_answer() as first:
            answer = self.amo.pipelines()
        self._note(first)
        self._pipelines = Pipelines([_kept(p) for p in answer], time.time())
        return self._pipelines

    @property
    def listed_until(self) -> int | None:
        """How far up amoCRM's clock the changes have been listed (None: not yet)."""
        return self._listing.until if self._listing is not None else None

    def changed(self, since: int, until: int) -> Changed:
        """The leads and contacts amoCRM changed from ``since`` to ``until``, and the deletions and restores.

        Asked once for the first pair; a later pair whose window reaches further gets only the part
        not yet listed asked for. Each pair is handed what falls in its own window, as if it had
        asked alone: a pair run alone (``--pair``) last time has a cursor of its own.
        """
        listing = self._listing
        if listing is None:
            listing = self._listing = _Listing(since, until)
            self._list(listing, since, until)
        else:
            if since < listing.since:
                self._list(listing, since, listing.since)
                listing.since = since
            if until > listing.until:
                self._list(listing, listing.until, until)
                listing.until = until
        gone, back = deleted_and_restored(
            e for e in listing.events.values() if since <= int(e.get("created_at") or 0) <= until
        )
        return Changed(_within(listing.leads, since, until), _within(listing.contacts, since, until), gone, back)

    def _list(self, listing: _Listing, since: int, until: int) -> None:
        amo = self.amo
        with amo.first_answer() as first:
            leads, contacts, events = amo.concurrently(
                lambda: amo.leads_updated(since, until),
                lambda: amo.contacts_updated(since, until),
                lambda: amo.deletions(since, until),
            )
        self._note(first)
        for items, into in ((leads, listing.leads), (contacts, listing.contacts)):
            for item in items:
                held = into.get(int(item["id"]))
                if held is None or _updated(item) >= _updated(held):
                    into[int(item["id"])] = item
        listing.events.update((str(e["id"]), e) for e in events if e.get("entity_id"))

    def _note(self, first: FirstAnswer) -> None:
        if first.now is not None and (self.now is None or first.now < self.now):
            self.now, self.now_here = first.now, first.now_here

    def read_account(self) -> Account:
        """The account's custom fields, users and time zone, read once a run (when a pair's state lacks them)."""
        if self._account is None:
            self._account = read_account(self.amo)
        return self._account

    def elsewhere(self, pair: PairConfig, followed: frozenset[int]) -> dict[int, str]:
        """The pipelines the account's other pairs follow → where their deals are kept, said for a row.

        Two pairs following one pipeline would each keep its deals, and a moved deal would have two
        homes: that is a configuration error, named with both pairs.
        """
        assert self._pipelines is not None, "the pair's catalog is made from the pipelines first"
        answer = self._pipelines.answer
        out: dict[int, str] = {}
        for other in self.pairs:
            if other.name == pair.name:
                continue
            try:
                theirs = catalog_from(answer, other.pipeline, other.status, names=other.names).followed
            except AmosheetsError:
                continue  # that pair's own run says what is wrong with it
            shared = theirs & followed
            if shared:
                names = ", ".join(sorted(p["name"] for p in answer if int(p["id"]) in shared))
                raise ConfigError(
                    _(
                        "pairs «{pair}» and «{other}» both follow the pipeline {names} of one amoCRM account; "
                        "its deals would be kept on two tabs."
                    ).format(pair=pair.name, other=other.name, names=names),
                    hint=_(
                        'Give each pipeline to one pair (pipeline = "*" follows every pipeline, so it fits only a '
                        "pair that is the account's only one)."
                    ),
                )
            out.update(
                dict.fromkeys(theirs, _("tab «{tab}» (pair «{pair}»)").format(tab=other.tab.worksheet, pair=other.name))
            )
        return out


def _kept(pipeline: Mapping[str, Any]) -> Raw:
    """What a catalog is made of: a state keeps this much of each pipeline, not amoCRM's links."""
    statuses = (pipeline.get("_embedded") or {}).get("statuses") or []
    return {
        "id": pipeline["id"],
        "name": pipeline.get("name", ""),
        "is_main": bool(pipeline.get("is_main")),
        "_embedded": {"statuses": [{k: st.get(k) for k in ("id", "name", "sort", "type")} for st in statuses]},
    }


def _updated(item: Mapping[str, Any]) -> int:
    return int(item.get("updated_at") or 0)


def _within(items: Mapping[int, Raw], since: int, until: int) -> dict[int, Raw]:
    # An item without a time is kept: handing a pair a change it already has costs nothing, missing one loses it.
    return {i: x for i, x in items.items() if not x.get("updated_at") or since <= _updated(x) <= until}
