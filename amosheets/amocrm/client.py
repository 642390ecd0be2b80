"""The amoCRM API v4 client: one session, the rate limit, bounded retries, paging, batching.

Every request goes through ``_send``: it waits for the limiter (and tells it when the answer
came, see ``ratelimit``), retries what is worth retrying (429 with its Retry-After, 5xx,
dropped connections) a bounded number of times, and turns every other answer into a domain
error that says what to do. Long listings stream their pages at the limiter's pace. Batch writes are
split to the API's limits and sent concurrently (the limiter keeps them at 7 per second);
a 400 names the elements at fault, which fail alone while the rest are sent again; a 504
halves the batch, and an item that still times out alone is sent again after a pause (a
create never gets that far: its 504 is an uncertain write, never re-sent).
"""

from __future__ import annotations

import json as jsonlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from amosheets import __version__
from amosheets.amocrm.auth import Authorization
from amosheets.amocrm.errors import (
    AmoAuthError,
    AmoBlockedError,
    AmoError,
    AmoValidationError,
    ItemError,
    OAuthRefused,
    TooLarge,
    UncertainWrite,
)
from amosheets.amocrm.mapping import contact_kept, lead_kept
from amosheets.amocrm.ratelimit import RateLimiter
from amosheets.deadline import NO_DEADLINE, Deadline
from amosheets.errors import ConfigError
from amosheets.i18n import _, plural
from amosheets.secret import redact

OAUTH_PATH = "/oauth2/access_token"  # the token endpoint: not under /api/v4, and asked without a token
PAGE = 250  # the most entities one list request returns
EVENTS_PAGE = 100  # the events API pages by at most 100 on amocrm.ru (250 on Kommo): 100 serves both
COMPLEX_BATCH = 50  # leads per POST /leads/complex
UPDATE_BATCH = 250  # entities per PATCH
IDS_PER_QUERY = 250
PAGES_AHEAD = 4  # the most pages of one listing asked for before the earliest of them has answered


class _Unwanted(Exception):
    """A request found not to be needed any more once the limiter let it go: it was not sent."""


class _Unauthorized(Exception):
    """amoCRM answered 401 to a request sent with ``sent``: the Authorization decides what that means."""

    def __init__(self, sent: str) -> None:
        super().__init__("401")
        self.sent = sent


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class BatchResult:
    """Per-item outcome of a batch write, by the item's index in the caller's list."""

    ok: dict[int, Any] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    uncertain: list[int] = field(default_factory=list)  # creates whose outcome is unknown


@dataclass
class FirstAnswer:
    """amoCRM's clock at the earliest answer to the requests of a ``first_answer`` block, and this machine's
    clock then (None: no answer carried a Date)."""

    now: int | None = None
    now_here: float | None = None


class AmoClient:
    def __init__(
        self,
        base_url: str,
        auth: Authorization,
        *,
        rate: int = 7,
        workers: int = 8,
        timeout: tuple[float, float] = (10.0, 60.0),
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        deadline: Deadline = NO_DEADLINE,
        on_request: Callable[[str, str, str, float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.host = urlsplit(self.base_url).hostname or self.base_url
        self._session = requests.Session()
        # Connections for the batch workers and the page fetchers at once (plus a caller's own request).
        connections = 2 * workers + 2
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=connections, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # No Authorization header here: the token may change during a run (OAuth), so each request asks for it.
        self._session.headers.update({"User-Agent": f"amosheets/{__version__}", "Accept": "application/json"})
        self.deadline = deadline
        self.limiter = RateLimiter(rate, deadline=deadline) if rate else None
        self.workers = workers
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        # Told (method, path, status or what went wrong, milliseconds) after each request, for --debug.
        self.on_request = on_request
        # Told (what, done, total or None) as pages arrive and batches finish, for a progress bar.
        self.progress: Callable[[str, int, int | None], None] | None = None
        self.sent: Counter[str] = Counter()
        self.server_time: int | None = None  # amoCRM's clock, from the Date header of its last answer
        self._server_time_at = 0.0  # time.monotonic() when that answer came
        self._watching: list[FirstAnswer] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amocrm")
        # The pages of a listing are fetched by threads of their own: a listing is often itself run on
        # ``_pool`` (``concurrently``), and pages queued behind listings that wait for them would never run.
        self._pages = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amocrm-page")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pages.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    # -- the one way out ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        idempotent: bool = True,
        wanted: Callable[[], bool] | None = None,
        needed: Callable[[], bool] | None = None,
        authorized: bool = True,
    ) -> Any:
        """Send with retries; the parsed JSON answer, or None for 204.

        ``authorized`` False sends no access token (the token endpoint's requests).

        For a request sent on speculation (a page that may lie past the end of its listing): ``needed``
        says whether it is sure to be needed by now (the limiter lets such requests go first), and
        ``wanted`` is asked as the limiter lets it go: False, and it is not sent (``_Unwanted`` is raised).
        """

        def send() -> Any:
            return self._send(method, path, params, json, idempotent, wanted, needed, authorized)

        try:
            try:
                return self._retried(send)
            except _Unauthorized as e:
                if not self.auth.rejected(self, e.sent):
                    raise self.auth.refused(self.host) from None
            try:
                return self._retried(send)
            except _Unauthorized:
                raise self.auth.refused(self.host) from None
        except _Transient as e:
            raise AmoError(
                plural(
                    self.attempts,
                    "amoCRM ({host}) did not answer {method} {path} after {n} attempt: {error}.",
                    "amoCRM ({host}) did not answer {method} {path} after {n} attempts: {error}.",
                    host=self.host,
                    method=method,
                    path=path,
                    error=e,
                ),
                hint=_("It may be down or overloaded; the next run picks up where this one stopped."),
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _retried(self, send: Callable[[], Any]) -> Any:
        """``send``, again while it fails in a way worth retrying (``_Transient``), up to ``attempts`` times."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=self.deadline.sleep,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return send()
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = self._backoff(state.attempt_number)
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(max(exc.retry_after, backoff), self.max_backoff)
        return backoff

    def _backoff(self, attempt: int) -> float:
        """How long to wait after the ``attempt``-th try (1-based) failed."""
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)

    def _send(
        self,
        method: str,
        path: str,
        params: Any,
        json: Any,
        idempotent: bool,
        wanted: Callable[[], bool] | None,
        needed: Callable[[], bool] | None,
        authorized: bool,
    ) -> Any:
        url = self.base_url + path
        token = self.auth.access_token(self) if authorized else None
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        # Build the request (JSON and all) first, and take the rate-limit slot only then: the slot's
        # time should be when the request leaves, or jitter could put 8 in one of the server's seconds.
        prepared = self._session.prepare_request(
            requests.Request(method, url, params=params, json=json, headers=headers)
        )
        settings = self._session.merge_environment_settings(prepared.url or url, {}, None, None, None)
        slot = self.limiter.acquire(needed) if self.limiter else None
        try:
            if wanted is not None and not wanted():
                raise _Unwanted
            timeout = self.deadline.timeout(*self.timeout)
        except BaseException:
            if self.limiter and slot is not None:
                self.limiter.unused(slot)  # not sent after all
            raise
        with self._lock:
            self.sent[method] += 1
        started = time.monotonic()
        answered_at = None
        try:
            r = self._session.send(prepared, timeout=timeout, **settings)
            # When the answer's headers came (``elapsed`` stops there, before the body is read): amoCRM had
            # counted the request by then, which lets the limiter hold its slot for less than the full margin.
            answered_at = started + r.elapsed.total_seconds()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            self._told(method, path, type(e).__name__, started)
            self.deadline.check()  # the wait was cut short by the deadline: stop, don't retry
            raise self._failure(e, idempotent) from None
        finally:
            if self.limiter and slot is not None:
                self.limiter.done(slot, answered_at)
        self._told(method, path, str(r.status_code), started)
        self._note_clock(r)
        if r.status_code == 401 and token is not None:
            raise _Unauthorized(token)
        if token is not None and r.status_code < 500:
            self.auth.answered(self)
        return self._answer(r, method, path, url, idempotent)

    def _told(self, method: str, path: str, outcome: str, started: float) -> None:
        if self.on_request:
            self.on_request(method, path, outcome, (time.monotonic() - started) * 1000)

    def _failure(self, e: requests.exceptions.RequestException, idempotent: bool) -> Exception:
        """What a request that got no answer means: a setup problem, a lost write, or one to retry."""
        if isinstance(e, requests.exceptions.ConnectionError):
            if _is_name_failure(e):
                return ConfigError(
                    _("Cannot find the amoCRM host {host}: no such name in DNS.").format(host=self.host),
                    hint=_(
                        "Check AMOCRM_SUBDOMAIN and AMOCRM_DOMAIN (or AMOCRM_BASE_URL) against the address you "
                        "open amoCRM at. If they are right, check this machine's network and DNS."
                    ),
                )
            if not idempotent and not isinstance(e, requests.exceptions.ConnectTimeout) and not _refused(e):
                return UncertainWrite(_("the connection to {host} broke before amoCRM answered").format(host=self.host))
            return _Transient(_("connection to {host} failed ({reason})").format(host=self.host, reason=_reason(e)))
        if not idempotent:
            return UncertainWrite(_("amoCRM ({host}) did not answer in time").format(host=self.host))
        return _Transient(_("timed out"))

    def _clean(self, text: str) -> str:
        """Text from amoCRM's answer, made safe to show and keep: an error page may echo our token."""
        return redact(text, self.auth.secrets())

    def _answer(self, r: requests.Response, method: str, path: str, url: str, idempotent: bool) -> Any:
        status = r.status_code
        if status == 204:
            return None
        if 200 <= status < 300:
            try:
                return _json(r, self.host)
            except AmoError:
                # A page from a proxy, or an answer cut off: the request may well have been carried out.
                if not idempotent:
                    raise UncertainWrite(
                        plural(
                            len(r.content),
                            "amoCRM's answer to a create was not JSON ({n} byte)",
                            "amoCRM's answer to a create was not JSON ({n} bytes)",
                        )
                    ) from None
                raise _Transient(
                    _("the answer was not JSON ({content_type})").format(
                        content_type=r.headers.get("Content-Type", "?")
                    )
                ) from None
        if status == 429:
            retry_after = _retry_after(r)
            if self.limiter:
                self.limiter.pause(retry_after or 1.0)
            raise _Transient("429 Too Many Requests", retry_after)
        if status == 504:
            if method == "GET":
                raise _Transient("504 Gateway Timeout")  # nothing to split in a read: just ask again
            if not idempotent:
                raise UncertainWrite(_("amoCRM answered 504 (gateway timeout) to a create"))
            raise TooLarge(_("504: too much in one request"))
        if status >= 500:
            if not idempotent and status != 503:
                raise UncertainWrite(_("amoCRM answered {status} to a create").format(status=status))
            raise _Transient(f"{status} {self._clean(r.reason or '')}")
        if status == 402:
            raise AmoAuthError(
                _("amoCRM ({host}) answered 402: the account's subscription is not paid.").format(host=self.host),
                hint=_("Pay for the account (or ask its administrator); the API works again after that."),
                status=402,
            )
        if status == 403:
            if _looks_html(r):
                raise AmoBlockedError(
                    _("amoCRM ({host}) has blocked requests from this IP address (403).").format(host=self.host),
                    hint=_(
                        "This happens after too many requests per second. Stop every other tool using this "
                        "integration, wait (usually an hour) and try again; retrying now extends the block."
                    ),
                )
            raise AmoAuthError(
                _("amoCRM ({host}) refused access (403): {detail}.").format(
                    host=self.host, detail=_problem_detail(r, self._clean)
                ),
                hint=_("Check that the integration has access to deals and contacts and that this IP is allowed."),
                status=403,
            )
        if status == 404:
            raise AmoError(
                _("amoCRM answered 404 Not Found for {method} {url}.").format(method=method, url=url),
                hint=_("Check AMOCRM_SUBDOMAIN / AMOCRM_DOMAIN (or AMOCRM_BASE_URL): there may be no account there."),
            )
        if path == OAUTH_PATH and status in (400, 401):
            raise OAuthRefused(status, _problem_hint(r, self._clean))
        if status == 400:
            raise _validation_error(r, self._clean)
        raise AmoError(
            _("amoCRM answered {status} to {method} {path}: {detail}").format(
                status=status, method=method, path=path, detail=_problem_detail(r, self._clean)
            )
        )

    def _note_clock(self, r: requests.Response) -> None:
        date = r.headers.get("Date")
        if not date:
            return
        try:
            ts = int(parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            return
        with self._lock:
            self.server_time, self._server_time_at = ts, time.monotonic()
            for first in self._watching:
                if first.now is None or ts < first.now:
                    first.now, first.now_here = ts, time.time()

    def amocrm_now(self) -> float | None:
        """amoCRM's clock now: its last answer's Date and the time since; None before any answer."""
        with self._lock:
            if self.server_time is None:
                return None
            return self.server_time + (time.monotonic() - self._server_time_at)

    @contextmanager
    def first_answer(self) -> Iterator[FirstAnswer]:
        """Note amoCRM's clock at the earliest answer within the block.

        A listing's cursor must be no later than its first page's answer: a change made while later
        pages were asked for may sort onto a page already read, and the next run must list it again.
        """
        first = FirstAnswer()
        with self._lock:
            self._watching.append(first)
        try:
            yield first
        finally:
            with self._lock:
                self._watching.remove(first)

    def oauth_grant(self, body: dict[str, str]) -> Any:
        """Ask the token endpoint for tokens (a code or a refresh token in ``body``); its answer.

        Never re-sent once it may have arrived: the code and the refresh token are single-use.
        """
        return self.request("POST", OAUTH_PATH, json=body, idempotent=False, authorized=False)

    # -- reads ----------------------------------------------------------------------
    def account(self) -> dict[str, Any]:
        return self.request("GET", "/api/v4/account") or {}

    def account_settings(self) -> dict[str, Any]:
        """The account, with its date and time settings (its time zone)."""
        return self.request("GET", "/api/v4/account", params={"with": "datetime_settings"}) or {}

    def custom_fields(self, entity: str) -> list[dict[str, Any]]:
        """The custom fields of ``leads`` or ``contacts``."""
        return self.list_all(f"/api/v4/{entity}/custom_fields", "custom_fields", {})

    def users(self) -> list[dict[str, Any]] | None:
        """The account's users; None when the token may not list them (only an administrator's may)."""
        try:
            return self.list_all("/api/v4/users", "users", {})
        except AmoAuthError as e:
            if e.status == 403:
                return None
            raise

    def pipelines(self) -> list[dict[str, Any]]:
        data = self.request("GET", "/api/v4/leads/pipelines")
        return (data or {}).get("_embedded", {}).get("pipelines", [])

    def list_all(
        self,
        path: str,
        key: str,
        params: dict[str, Any],
        label: str | None = None,
        at_most: int | None = None,
        page_size: int = PAGE,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every page until a 204 or a page without a `next` link (or ``at_most`` items, when that is known).

        Page 1 is asked for alone: most listings are one page, and they cost one request. Once it says
        there is more, later pages stream: page p + k is asked for as soon as page p has answered with
        more, so the limiter, not one answer's latency per page, sets the pace (k is how many pages go by
        at the rate limit during page 1's round trip, 2 to ``PAGES_AHEAD``). A page still waiting for
        its slot when an earlier one turned out to be the last is not sent; at most the few already on
        their way are asked for past the end.
        """
        last = None if at_most is None else max(1, -(-at_most // page_size))  # the pages at_most items can fill

        def get(page: int, wanted: Callable[[], bool] | None = None, needed: Callable[[], bool] | None = None) -> Any:
            query = {**params, "limit": page_size, "page": page}
            return self.request("GET", path, params=query, wanted=wanted, needed=needed)

        started = time.monotonic()
        items, has_more = _page(get(1), key)
        out = list(items if keep is None else map(keep, items))
        if label and self.progress:
            self.progress(label, len(out), None)
        if not has_more or last == 1:
            return out if at_most is None else out[:at_most]
        ahead = self._pages_ahead(time.monotonic() - started)

        end = [0]  # the lowest page found to be the last one (0: none yet); pages past it are not sent
        more = {1}  # the pages that said there is more: the page after each is sure to be needed
        lock = threading.Lock()

        def fetch(page: int) -> Any:
            data = get(page, wanted=lambda: not end[0] or page < end[0], needed=lambda: page - 1 in more)
            with lock:
                if _page(data, key)[1]:
                    more.add(page)
                else:
                    end[0] = min(end[0] or page, page)
            return data

        asked: dict[int, Future[Any]] = {}
        page, next_page = 2, 2
        try:
            while at_most is None or len(out) < at_most:
                while next_page < page + ahead and not end[0] and (last is None or next_page <= last):
                    asked[next_page] = self._pages.submit(fetch, next_page)
                    next_page += 1
                if page not in asked:
                    break
                items, has_more = _page(asked.pop(page).result(), key)
                out.extend(items if keep is None else map(keep, items))
                if label and self.progress:
                    self.progress(label, len(out), None)
                if not has_more:
                    break
                page += 1
        finally:
            with lock:
                end[0] = min(end[0] or page, page)  # what is still waiting for a slot is not sent
            for f in asked.values():
                f.cancel()  # pages already on their way are left to finish; their answers are not needed
        return out if at_most is None else out[:at_most]

    def _pages_ahead(self, first: float) -> int:
        """How many pages of a listing to have asked for at once, from page 1's round trip (in seconds)."""
        rate = self.limiter.rate / self.limiter.per if self.limiter else float(self.workers)
        return max(2, min(PAGES_AHEAD, 1 + math.ceil(first * rate)))

    def leads_updated(self, since: int, until: int) -> list[dict[str, Any]]:
        """Leads changed within [since, until] (amoCRM's clock), with their contacts' ids."""
        return self.list_all(
            "/api/v4/leads",
            "leads",
            label=_("reading changed deals"),
            keep=lead_kept,
            params={
                "with": "contacts",
                "filter[updated_at][from]": since,
                "filter[updated_at][to]": until,
                "order[updated_at]": "asc",
            },
        )

    def leads_in_pipeline(self, pipeline_id: int) -> list[dict[str, Any]]:
        return self.list_all(
            "/api/v4/leads",
            "leads",
            {"with": "contacts", "filter[pipeline_id][]": [pipeline_id]},
            label=_("reading the pipeline's deals"),
            keep=lead_kept,
        )

    def leads_by_ids(self, ids: Iterable[int], deleted: bool = False) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"with": "only_deleted" if deleted else "contacts"}
        return self._by_ids("/api/v4/leads", "leads", ids, params, lead_kept)

    def contacts_by_ids(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return self._by_ids("/api/v4/contacts", "contacts", ids, {}, contact_kept)

    def deletions(self, since: int, until: int) -> list[dict[str, Any]]:
        """The lead_deleted and lead_restored events created within [since, until] (amoCRM's clock), as amoCRM
        lists them: the only way it tells of a deal deleted without anyone touching its row."""
        return self.list_all(
            "/api/v4/events",
            "events",
            {
                "filter[type][]": ["lead_deleted", "lead_restored"],
                "filter[created_at][from]": since,
                "filter[created_at][to]": until,
            },
            page_size=EVENTS_PAGE,
        )

    def contacts_updated(self, since: int, until: int) -> list[dict[str, Any]]:
        return self.list_all(
            "/api/v4/contacts",
            "contacts",
            {"with": "leads", "filter[updated_at][from]": since, "filter[updated_at][to]": until},
            keep=contact_kept,
        )

    def _by_ids(
        self,
        path: str,
        key: str,
        ids: Iterable[int],
        params: dict[str, Any],
        keep: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        chunks = _chunks(sorted(set(ids)), IDS_PER_QUERY)
        # A chunk of 250 ids has at most 250 answers: no need to ask for the empty page after a full one.
        results = self._map(
            lambda c: self.list_all(path, key, {**params, "filter[id][]": c}, at_most=len(c), keep=keep), chunks
        )
        return [item for chunk in results for item in chunk]

    # -- writes ---------------------------------------------------------------------
    def create_leads_complex(
        self, leads: Sequence[dict[str, Any]], on_ok: Callable[[dict[int, Any]], None] | None = None
    ) -> BatchResult:
        """POST /leads/complex, ≤ 50 a request. Items are `{..., "request_id": str}`; ok[i] is the answer item.

        ``on_ok`` is told each request's answers as they arrive (from the client's threads), so a
        run that is stopped halfway has already recorded what amoCRM made.
        """

        def send(items: list[dict[str, Any]]) -> list[Any]:
            return self.request("POST", "/api/v4/leads/complex", json=items, idempotent=False) or []

        return self._batch(leads, COMPLEX_BATCH, send, idempotent=False, label=_("creating deals"), on_ok=on_ok)

    def update_leads(self, patches: Sequence[dict[str, Any]]) -> BatchResult:
        def send(items: list[dict[str, Any]]) -> list[Any]:
            data = self.request("PATCH", "/api/v4/leads", json=items)
            return (data or {}).get("_embedded", {}).get("leads", [])

        return self._batch(patches, UPDATE_BATCH, send, label=_("updating deals"))

    def update_contacts(self, patches: Sequence[dict[str, Any]]) -> BatchResult:
        def send(items: list[dict[str, Any]]) -> list[Any]:
            data = self.request("PATCH", "/api/v4/contacts", json=items)
            return (data or {}).get("_embedded", {}).get("contacts", [])

        return self._batch(patches, UPDATE_BATCH, send)

    def create_contacts(self, contacts: Sequence[dict[str, Any]]) -> BatchResult:
        # Contacts have no duplicate control either; a lost answer leaves at worst an unlinked contact.
        def send(items: list[dict[str, Any]]) -> list[Any]:
            data = self.request("POST", "/api/v4/contacts", json=items)
            return (data or {}).get("_embedded", {}).get("contacts", [])

        return self._batch(contacts, UPDATE_BATCH, send)

    def link_contacts(self, pairs: Sequence[tuple[int, int]]) -> BatchResult:
        """(lead_id, contact_id) pairs; each contact becomes its lead's main contact when it has none."""

        def send(items: list[dict[str, Any]]) -> list[Any]:
            data = self.request("POST", "/api/v4/leads/link", json=items)
            return (data or {}).get("_embedded", {}).get("links", [])

        items = [
            {"entity_id": lid, "to_entity_id": cid, "to_entity_type": "contacts", "metadata": {"is_main": True}}
            for lid, cid in pairs
        ]
        return self._batch(items, UPDATE_BATCH, send)

    def _batch(
        self,
        items: Sequence[dict[str, Any]],
        size: int,
        send: Callable[[list[dict[str, Any]]], list[Any]],
        idempotent: bool = True,
        label: str | None = None,
        on_ok: Callable[[dict[int, Any]], None] | None = None,
    ) -> BatchResult:
        result = BatchResult()
        lock = threading.Lock()
        finished = [0]

        def tell(n: int) -> None:
            if label and self.progress:
                with lock:
                    finished[0] += n
                    done = finished[0]
                self.progress(label, done, len(items))

        def run(indices: list[int]) -> None:
            pending = indices
            timeouts = 0  # 504s to this one item: nothing left to split, so it is sent again after a pause
            while pending:
                try:
                    answers = send([items[i] for i in pending])
                except AmoValidationError as e:
                    by_rid = {
                        str(items[i].get("request_id")): n for n, i in enumerate(pending) if "request_id" in items[i]
                    }
                    at_fault = [(by_rid.get(it.request_id, it.index), it) for it in e.items]
                    at_fault = [(n, it) for n, it in at_fault if 0 <= n < len(pending)]
                    bad = {pending[n] for n, _item in at_fault}
                    with lock:
                        for n, it in at_fault:
                            result.failed[pending[n]] = str(it)
                        if not bad:  # amoCRM did not say which: the whole chunk fails with its words
                            for i in pending:
                                result.failed[i] = str(e)
                    pending = [i for i in pending if i not in bad] if bad else []
                    continue
                except UncertainWrite:
                    with lock:
                        result.uncertain.extend(pending)
                    return
                except TooLarge:
                    if len(pending) == 1:
                        timeouts += 1
                        if timeouts < self.attempts:
                            time.sleep(self._backoff(timeouts))
                            continue
                        with lock:
                            result.failed[pending[0]] = plural(
                                timeouts,
                                "amoCRM timed out (504) on this item alone, {n} time; the next run tries again",
                                "amoCRM timed out (504) on this item alone, {n} times; the next run tries again",
                            )
                        return
                    half = len(pending) // 2
                    run(pending[:half])
                    run(pending[half:])
                    return
                ok = dict(zip(pending, answers, strict=False))
                with lock:
                    result.ok.update(ok)
                    for i in pending[len(answers) :]:
                        result.failed[i] = _("amoCRM accepted the request but did not answer for this item")
                    if on_ok is not None and ok:
                        on_ok(ok)
                return

        def run_chunk(indices: list[int]) -> None:
            run(indices)
            tell(len(indices))

        self._map(run_chunk, _chunks(list(range(len(items))), size))
        return result

    def concurrently(self, *calls: Callable[[], Any]) -> list[Any]:
        """Independent reads at once (the limiter still paces them); results in order."""
        return self._map(lambda fn: fn(), list(calls))

    def _map(self, fn: Callable[[Any], Any], args: list[Any]) -> list[Any]:
        """Run concurrently (the limiter paces them); the first domain error stops the rest."""
        if len(args) <= 1:
            return [fn(a) for a in args]
        futures = [self._pool.submit(fn, a) for a in args]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _page(data: Any, key: str) -> tuple[list[dict[str, Any]], bool]:
    """A list page's items, and whether amoCRM says there is more (a 204, an empty page or no `next`: no)."""
    items = (data or {}).get("_embedded", {}).get(key) or []
    return items, bool(data is not None and items and data.get("_links", {}).get("next"))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _json(r: requests.Response, host: str) -> Any:
    try:
        return r.json()
    except ValueError:
        # Outside the plural's call: Babel does not extract a text marked inside another marked call's arguments.
        content_type = r.headers.get("Content-Type", _("no content type"))
        raise AmoError(
            plural(
                len(r.content),
                "amoCRM ({host}) answered {status} with something that is not JSON ({content_type}, {n} byte).",
                "amoCRM ({host}) answered {status} with something that is not JSON ({content_type}, {n} bytes).",
                host=host,
                status=r.status_code,
                content_type=content_type,
            ),
            hint=_("Check that AMOCRM_SUBDOMAIN / AMOCRM_BASE_URL point at amoCRM itself."),
        ) from None


def _looks_html(r: requests.Response) -> bool:
    return "html" in r.headers.get("Content-Type", "") or r.content.lstrip()[:1] == b"<"


def _problem_detail(r: requests.Response, clean: Callable[[str], str]) -> str:
    try:
        data = r.json()
    except ValueError:
        return clean(f"{r.status_code} {r.reason}")
    if isinstance(data, dict):
        return clean(str(data.get("detail") or data.get("title") or r.reason))
    return clean(r.reason or str(r.status_code))


def _problem_hint(r: requests.Response, clean: Callable[[str], str]) -> str:
    """The ``hint`` of an OAuth problem answer (what says why: "Token has been revoked"), else its detail."""
    try:
        data = r.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("hint"), str):
        return clean(data["hint"])
    return _problem_detail(r, clean)


def _validation_error(r: requests.Response, clean: Callable[[str], str]) -> AmoValidationError:
    try:
        data = r.json()
    except ValueError:
        return AmoValidationError(
            _("amoCRM rejected the request (400): {detail}").format(detail=repr(clean(r.text)[:200])), []
        )
    items: list[ItemError] = []
    if isinstance(data, dict):
        for group in data.get("validation-errors") or []:
            rid = str(group.get("request_id", ""))
            index = int(rid) if rid.isdigit() else -1
            for err in group.get("errors") or []:
                path, code, detail = (clean(str(err.get(k, ""))) for k in ("path", "code", "detail"))
                items.append(ItemError(index, rid, path, code, detail))
        detail = clean(str(data.get("detail") or data.get("title") or "Bad Request"))
    else:
        detail = clean(jsonlib.dumps(data))[:200]
    return AmoValidationError(_("amoCRM rejected the request (400): {detail}").format(detail=detail), items)


def _retry_after(r: requests.Response) -> float | None:
    value = r.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            from datetime import datetime, timezone

            return max((parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def _chain(e: BaseException) -> Iterable[BaseException]:
    """The exception and everything it wraps (requests nests urllib3's reasons in args)."""
    todo, seen = [e], set()
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        yield x
        todo.extend(
            a for a in (x.__cause__, x.__context__, *x.args, getattr(x, "reason", None)) if isinstance(a, BaseException)
        )


def _is_name_failure(e: BaseException) -> bool:
    text = " ".join(repr(x) for x in _chain(e))
    return "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo failed" in text


def _refused(e: BaseException) -> bool:
    return any(isinstance(x, ConnectionRefusedError) for x in _chain(e)) or "NewConnectionError" in repr(e)


def _reason(e: BaseException) -> str:
    return type(e).__name__
