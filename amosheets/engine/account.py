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

from amosheets.amocrm.client import AmoClient
from amosheets.amocrm.mapping import catalog_from
from amosheets.config import PairConfig
from amosheets.engine.reading import read_account
from amosheets.errors import AmosheetsError, ConfigError
from amosheets.sync.catalog import Account

Raw = dict[str, Any]


@dataclass(frozen=True)
class Pipelines:
    """amoCRM's pipelines, and both clocks at the moment it gave them."""

    answer: list[Raw]
    now: int  # amoCRM's clock (from the answer's Date header)
    now_here: float  # this machine's


@dataclass
class _Listing:
    """The changes amoCRM listed for a stretch of its clock, ``since``..``until``, bounds included."""

    since: int
    until: int
    leads: dict[int, Raw] = field(default_factory=dict)
    contacts: dict[int, Raw] = field(default_factory=dict)


class AccountSession:
    def __init__(self, amo: AmoClient, pairs: Sequence[PairConfig] = ()) -> None:
        """``pairs``: every pair the configuration puts on this account, run or not (see ``elsewhere``)."""
        self.amo = amo
        self.pairs = tuple(pairs)
        self._pipelines: Pipelines | None = None
        self._listing: _Listing | None = None
        self._account: Account | None = None

    def pipelines(self) -> Pipelines:
        if self._pipelines is None:
            answer = self.amo.pipelines()
            self._pipelines = Pipelines(answer, self.amo.server_time or int(time.time()), time.time())
        return self._pipelines

    def changed(self, since: int, until: int) -> tuple[dict[int, Raw], dict[int, Raw]]:
        """The leads and contacts amoCRM changed from ``since`` to ``until``.

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
        return _within(listing.leads, since, until), _within(listing.contacts, since, until)

    def _list(self, listing: _Listing, since: int, until: int) -> None:
        leads, contacts = self.amo.concurrently(
            lambda: self.amo.leads_updated(since, until), lambda: self.amo.contacts_updated(since, until)
        )
        for items, into in ((leads, listing.leads), (contacts, listing.contacts)):
            for item in items:
                held = into.get(int(item["id"]))
                if held is None or _updated(item) >= _updated(held):
                    into[int(item["id"])] = item

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
        answer = self.pipelines().answer
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
                    f"pairs «{pair.name}» and «{other.name}» both follow the pipeline {names} of one amoCRM account; "
                    "its deals would be kept on two tabs.",
                    hint='Give each pipeline to one pair (pipeline = "*" follows every pipeline, so it fits only a '
                    "pair that is the account's only one).",
                )
            out.update(dict.fromkeys(theirs, f"tab «{other.tab.worksheet}» (pair «{other.name}»)"))
        return out


def _updated(item: Mapping[str, Any]) -> int:
    return int(item.get("updated_at") or 0)


def _within(items: Mapping[int, Raw], since: int, until: int) -> dict[int, Raw]:
    # An item without a time is kept: handing a pair a change it already has costs nothing, missing one loses it.
    return {i: x for i, x in items.items() if not x.get("updated_at") or since <= _updated(x) <= until}
