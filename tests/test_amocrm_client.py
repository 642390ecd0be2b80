"""The amoCRM client against the emulator: the limit, retries, paging, batches, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from amosheets.amocrm.auth import LongLivedToken
from amosheets.amocrm.client import AmoClient, _retry_after
from amosheets.amocrm.errors import AmoAuthError, AmoBlockedError, AmoError
from amosheets.amocrm.ratelimit import RateLimiter
from amosheets.deadline import Deadline
from amosheets.errors import ConfigError, DeadlineReached, ExitStatus
from amosheets.sandbox.amocrm import AmoCRMEmulator
from amosheets.sandbox.server import RunningServer
from amosheets.secret import Secret


@pytest.fixture
def emu() -> Iterator[AmoCRMEmulator]:
    e = AmoCRMEmulator()
    with RunningServer(e) as server:
        e.url = server.url  # type: ignore[attr-defined]
        yield e


def client(emu: AmoCRMEmulator, **kw) -> AmoClient:
    kw.setdefault("backoff", 0.01)
    return AmoClient(emu.url, LongLivedToken(Secret("sandbox-token")), **kw)  # type: ignore[attr-defined]


# -- the rate limit ----------------------------------------------------------------------
def test_limiter_never_lets_more_than_rate_through_in_any_window():
    now = [0.0]
    sent: list[float] = []

    def sleep(s: float) -> None:
        now[0] += s

    lim = RateLimiter(7, per=1.0, margin=0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(50):
        lim.acquire()
        sent.append(now[0])
    for i in range(len(sent) - 7):
        assert sent[i + 7] - sent[i] >= 1.0
    assert sent[-1] == pytest.approx(7.0)  # sends 43-49 at t=6, the 50th at t=7: 7 a second, no slower


def test_limiter_pause_holds_everyone_back():
    now = [0.0]
    lim = RateLimiter(7, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    lim.pause(2.0)
    lim.acquire()
    assert now[0] >= 2.0


def _fake_time() -> tuple[list[float], dict]:
    now = [0.0]
    return now, {"clock": lambda: now[0], "sleep": lambda s: now.__setitem__(0, now[0] + s)}


def test_limiter_holds_a_slot_for_the_delay_its_answer_leaves_open():
    """A second, plus the answer's delay over the fastest answer, plus the least margin; never more than the
    full margin, which a request without an answer keeps."""
    now, fake = _fake_time()
    lim = RateLimiter(1, per=1.0, margin=0.1, least_margin=0.02, **fake)
    lim.done(lim.acquire(), 0.25)  # 1 answer, 1 in flight at most: it may have paid for a handshake
    b = lim.acquire()
    assert now[0] == pytest.approx(1.1)
    lim.done(b, now[0] + 0.25)  # 2 answers: one came over a connection used before; the fastest is fair
    c = lim.acquire()
    assert now[0] == pytest.approx(1.1 + 1.02)  # as fast as the fastest: only the least margin is left open
    lim.done(c, now[0] + 0.30)  # 50 ms slower than the fastest: it may have waited that long
    d = lim.acquire()
    assert now[0] == pytest.approx(2.12 + 1.07)
    lim.done(d, now[0] + 0.9)  # far slower: no more than the full margin
    lim.acquire()  # never answered (a dropped connection): the full margin
    assert now[0] == pytest.approx(3.19 + 1.1)
    lim.acquire()
    assert now[0] == pytest.approx(4.29 + 1.1)


def test_limiter_trusts_answers_only_once_one_cannot_have_been_a_first_on_its_connection():
    now, fake = _fake_time()
    lim = RateLimiter(2, per=1.0, margin=0.1, least_margin=0.02, **fake)
    a, b = lim.acquire(), lim.acquire()  # two in flight at once: two connections, each new
    lim.done(a, 0.25)
    lim.done(b, 0.25)
    c = lim.acquire()
    assert now[0] == pytest.approx(1.1)  # two answers, both may have paid for a handshake: the full margin
    lim.done(c, now[0] + 0.25)
    lim.acquire()  # three answers: c reused a connection, so 0.25 s is a fair yardstick for a and b too
    assert now[0] == pytest.approx(1.1)
    lim.acquire()
    assert now[0] == pytest.approx(2.12)


def test_limiter_gives_back_a_slot_that_was_not_used():
    now, fake = _fake_time()
    lim = RateLimiter(1, **fake)
    lim.unused(lim.acquire())  # a page that turned out to be past the end of its listing
    lim.acquire()
    assert now[0] == 0.0


def test_limiter_lets_requests_sure_to_be_needed_go_before_speculative_ones():
    lim = RateLimiter(1, per=0.2, margin=0.0)
    lim.acquire()
    order: list[str] = []

    def ask(name: str, needed) -> None:
        lim.acquire(needed)
        order.append(name)

    speculative = threading.Thread(target=ask, args=("page past the end?", lambda: False))
    sure = threading.Thread(target=ask, args=("sure", None))
    speculative.start()
    time.sleep(0.02)  # it waits first
    sure.start()
    speculative.join(5)
    sure.join(5)
    assert order == ["sure", "page past the end?"]


def test_limiter_waits_no_longer_than_the_deadline():
    lim = RateLimiter(1, deadline=Deadline(0.05))
    lim.acquire()
    with pytest.raises(DeadlineReached):
        lim.acquire()  # the next slot is a second away: the run stops at its deadline instead


def test_slow_answers_overlap_so_the_budget_is_used_yet_never_exceeded(emu):
    """With 250 ms per answer, one-at-a-time would reach 4 a second; overlapping reaches 7 and stops there."""
    emu.latency = 0.25
    assert client(emu).contacts_by_ids(range(1, 21 * 250 + 1)) == []  # 21 queries of 250 ids, all 204
    stats = emu.stats()
    assert stats["requests"] == 21 and stats["rate_limited"] == 0
    # Answers overlap (how fast they then go is the benchmark's to measure), and never past the limit.
    assert stats["max_in_flight"] >= 2 and stats["max_requests_in_1s"] <= 7


# -- retries -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "drop"])
def test_transient_faults_are_retried(emu, kind):
    emu.set_faults(script=[(kind, None, "GET"), (kind, None, "GET")])
    assert c_pipelines(emu)
    assert emu.stats()["by_route"]["GET /api/v4/leads/pipelines"] == 3


def c_pipelines(emu):
    return client(emu).pipelines()


def test_retries_are_bounded(emu):
    emu.set_faults(rates={"503": 1.0})
    with pytest.raises(AmoError, match=r"did not answer .* after 3 attempts"):
        client(emu, attempts=3).pipelines()
    assert emu.stats()["requests"] == 3


def test_a_create_whose_answer_is_lost_is_not_resent_but_reported_uncertain(emu):
    emu.set_faults(script=[("drop", "complex", "POST")])
    res = client(emu).create_leads_complex([{"name": "A", "request_id": "r0"}])
    assert res.uncertain == [0] and not res.ok
    assert emu.stats()["by_route"]["POST /api/v4/leads/complex"] == 1


def test_a_504_halves_the_batch_until_it_fits(emu):
    ids = emu.seed_bulk(40, with_contacts=False)
    emu.configure(max_batch_before_504=10)
    res = client(emu).update_leads([{"id": i, "price": 7} for i in ids])
    assert len(res.ok) == 40 and not res.failed
    assert all(emu.lead(i)["price"] == 7 for i in ids)
    assert emu.stats()["by_route"]["PATCH /api/v4/leads"] == 1 + 2 + 4  # 40 → 20+20 → 10×4


def test_a_504_to_a_lone_update_is_sent_again_after_a_pause(emu):
    [lid] = emu.seed_bulk(1, with_contacts=False)
    emu.set_faults(script=[("504", r"/leads$", "PATCH"), ("504", r"/leads$", "PATCH")])
    res = client(emu).update_leads([{"id": lid, "price": 7}])
    assert list(res.ok) == [0] and not res.failed
    assert emu.lead(lid)["price"] == 7
    assert emu.stats()["by_route"]["PATCH /api/v4/leads"] == 3


def test_a_lone_update_that_keeps_timing_out_fails_after_a_few_tries(emu):
    [lid] = emu.seed_bulk(1, with_contacts=False)
    emu.configure(max_batch_before_504=0)
    res = client(emu, attempts=3).update_leads([{"id": lid, "price": 7}])
    assert not res.ok and "504" in res.failed[0]
    assert emu.stats()["by_route"]["PATCH /api/v4/leads"] == 3


def test_a_504_to_a_create_is_never_sent_again(emu):
    emu.set_faults(script=[("504", "complex", "POST")])
    res = client(emu).create_leads_complex([{"name": "A", "request_id": "r0"}])
    assert res.uncertain == [0] and not res.ok and not res.failed
    assert emu.stats()["by_route"]["POST /api/v4/leads/complex"] == 1


def test_a_bad_item_fails_alone_and_the_rest_of_its_batch_goes_through(emu):
    ids = emu.seed_bulk(3, with_contacts=False)
    res = client(emu).update_leads(
        [{"id": ids[0], "price": 1}, {"id": ids[1], "price": "x"}, {"id": ids[2], "price": 3}]
    )
    assert sorted(res.ok) == [0, 2] and list(res.failed) == [1]
    assert "price" in res.failed[1]
    assert emu.lead(ids[0])["price"] == 1 and emu.lead(ids[2])["price"] == 3


def test_complex_creates_map_failures_by_request_id(emu):
    items = [{"name": "ok", "request_id": "a"}, {"name": "bad", "price": 1.5, "request_id": "b"}]
    res = client(emu).create_leads_complex(items)
    assert list(res.ok) == [0] and list(res.failed) == [1]


def test_retry_after_header_is_read():
    r = requests.Response()
    r.headers["Retry-After"] = "3"
    assert _retry_after(r) == 3.0
    r.headers["Retry-After"] = "soon"
    assert _retry_after(r) is None


# -- paging ------------------------------------------------------------------------------
def test_paging_reads_to_the_204_past_an_exact_multiple(emu):
    emu.seed_bulk(500, with_contacts=False)
    now = emu.clock.now()
    leads = client(emu).leads_updated(now - 100, now + 100)
    assert len(leads) == 500 and len({lead["id"] for lead in leads}) == 500
    # page 1 (full, with `next`) alone; then pages 2 and 3 at once: 2 is full, 3 is empty (204) — the end.
    # Page 4 goes out as soon as page 2 says there is more: asked in vain when page 3's 204 is not in yet.
    assert emu.stats()["by_route"]["GET /api/v4/leads"] in (3, 4)


def test_a_long_listing_goes_at_the_rate_limit_not_at_one_answer_per_page(emu):
    emu.seed_bulk(2600, with_contacts=False)
    emu.latency = 0.25
    now = emu.clock.now()
    assert len(client(emu).leads_updated(now - 100, now + 100)) == 2600
    stats = emu.stats()
    assert stats["by_route"]["GET /api/v4/leads"] <= 11 + 3  # 11 pages, at most 3 asked past the end
    # Pages are asked for while others are being answered (not one answer's latency per page), and the
    # limiter still keeps them under amoCRM's limit.
    assert stats["max_in_flight"] >= 2 and stats["rate_limited"] == 0


def test_a_page_still_waiting_for_its_slot_when_the_end_is_known_is_not_sent(emu):
    emu.seed_bulk(600, with_contacts=False)  # pages of 250, 250 and 100
    c = client(emu)
    c.limiter = RateLimiter(1, per=0.3, margin=0.0)  # one page at a time: page 4 waits behind page 3
    now = emu.clock.now()
    assert len(c.leads_updated(now - 100, now + 100)) == 600
    assert emu.stats()["by_route"]["GET /api/v4/leads"] == 3


def test_listings_run_at_once_never_wait_on_their_own_pages(emu):
    """More listings than workers, each of several pages: their pages have threads of their own."""
    emu.seed_bulk(600)
    c = client(emu, workers=2)
    now = emu.clock.now()
    got: list[list[int]] = []
    t = threading.Thread(
        target=lambda: got.append(
            [len(x) for x in c.concurrently(*[lambda: c.leads_updated(now - 100, now + 100)] * 3)]
        ),
        daemon=True,
    )
    t.start()
    t.join(30)
    assert got == [[600, 600, 600]]


# -- errors in words ---------------------------------------------------------------------
def test_bad_token(emu):
    emu.set_token("another")
    with pytest.raises(AmoAuthError, match="refused the token") as e:
        client(emu).pipelines()
    assert e.value.exit_status == ExitStatus.AUTH and "long-lived token" in str(e.value)


def test_unpaid_account(emu):
    emu.set_unpaid(True)
    with pytest.raises(AmoAuthError, match="402"):
        client(emu).pipelines()


def test_ip_block_stops_at_once_without_retrying(emu):
    emu.block(600)
    with pytest.raises(AmoBlockedError, match="blocked") as e:
        client(emu).pipelines()
    assert "wait" in str(e.value) and emu.stats()["requests"] == 1


def test_unknown_host_is_a_setup_problem_that_names_the_host_and_the_settings():
    c = AmoClient("https://no-such-account.invalid", LongLivedToken(Secret("t")), backoff=0.01, attempts=2)
    with pytest.raises(ConfigError, match=r"no-such-account\.invalid") as e:
        c.pipelines()
    assert e.value.exit_status == ExitStatus.CONFIG and "AMOCRM_SUBDOMAIN" in str(e.value)


def test_404_says_to_check_the_subdomain(emu):
    with pytest.raises(AmoError, match="AMOCRM_SUBDOMAIN"):
        client(emu).request("GET", "/api/v4/nothing-here")


def test_the_token_never_appears_in_errors(emu):
    emu.set_token("another")
    with pytest.raises(AmoAuthError) as e:
        client(emu).pipelines()
    assert "sandbox-token" not in str(e.value) and "sandbox-token" not in repr(e.value)
