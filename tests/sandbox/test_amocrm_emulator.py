"""The amoCRM emulator, exercised over real HTTP with requests, as the client will use it.

The Python control API is used for setup and inspection only; every behaviour under test is
observed through HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from .conftest import TIMEOUT, Amo


@pytest.fixture
def amo(make_amo: Callable[..., Amo]) -> Amo:
    return make_amo()


def status_id(amo: Amo, name: str, pipeline: str = "Воронка") -> int:
    for p in amo.emu.pipelines():
        if p["name"] == pipeline:
            return next(s["id"] for s in p["_embedded"]["statuses"] if s["name"] == name)
    raise AssertionError(pipeline)


def pipeline_id(amo: Amo, name: str) -> int:
    return next(p["id"] for p in amo.emu.pipelines() if p["name"] == name)


def validation_errors(r: requests.Response) -> set[tuple[str, str, str]]:
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["title"] == "Bad Request"
    assert body["type"] == "https://httpstatus.es/400"
    assert body["status"] == 400
    assert body["detail"] == "Request validation failed"
    return {(ve["request_id"], e["code"], e["path"]) for ve in body["validation-errors"] for e in ve["errors"]}


def assert_problem(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert "json" in r.headers["Content-Type"]
    body = r.json()
    assert body["status"] == status
    assert body["type"] == f"https://httpstatus.es/{status}"
    assert body["title"] and body["detail"]
    return body


# ---------------------------------------------------------------------------- gate ------
def test_missing_and_wrong_token_answer_401(amo: Amo) -> None:
    r = requests.get(amo.url + "/api/v4/account", timeout=TIMEOUT)
    body = assert_problem(r, 401)
    assert body["title"] == "Unauthorized"
    r = requests.get(amo.url + "/api/v4/account", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
    assert_problem(r, 401)
    r = requests.get(amo.url + "/api/v4/account", headers={"Authorization": "sandbox-token"}, timeout=TIMEOUT)
    assert_problem(r, 401)
    r = amo.get("/api/v4/account")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/hal+json")
    account = r.json()
    assert account["id"] == amo.emu.account_id
    assert account["subdomain"] == "sandbox"
    assert account["currency"] == "RUB"


def test_revoked_token_answers_401(amo: Amo) -> None:
    assert amo.ctl("POST", "/token", {"token": "new-token"}).status_code == 200
    assert_problem(amo.get("/api/v4/account"), 401)
    r = requests.get(amo.url + "/api/v4/account", headers={"Authorization": "Bearer new-token"}, timeout=TIMEOUT)
    assert r.status_code == 200


def test_unpaid_account_answers_402(amo: Amo) -> None:
    amo.emu.set_unpaid(True)
    body = assert_problem(amo.get("/api/v4/leads"), 402)
    assert body["title"] == "Payment Required"
    assert amo.ctl("POST", "/unpaid", {"unpaid": False}).json()["unpaid"] is False
    assert amo.get("/api/v4/leads").status_code == 204


def test_unknown_route_404_and_wrong_method_405(amo: Amo) -> None:
    assert_problem(amo.get("/api/v4/nothing"), 404)
    assert_problem(amo.get("/api/v4/leads/abc"), 404)
    assert_problem(amo.get("/api/v4/leads/pipelines/1"), 404)
    r = amo.s.delete(amo.url + "/api/v4/leads", timeout=TIMEOUT)
    assert_problem(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST", "PATCH"}
    assert_problem(amo.post("/api/v4/account", []), 405)


# ---------------------------------------------------------------------------- pipelines -
def test_pipelines_shape_and_system_statuses(amo: Amo) -> None:
    r = amo.get("/api/v4/leads/pipelines")
    assert r.status_code == 200
    body = r.json()
    assert body["_total_items"] == 2
    assert body["_links"]["self"]["href"] == amo.url + "/api/v4/leads/pipelines"
    main, partners = body["_embedded"]["pipelines"]
    assert (main["name"], main["is_main"], partners["name"], partners["is_main"]) == (
        "Воронка",
        True,
        "Партнёры",
        False,
    )
    assert 1_000_000 <= main["id"] < 10_000_000
    names = [s["name"] for s in main["_embedded"]["statuses"]]
    assert names == [
        "Неразобранное",
        "Первичный контакт",
        "Переговоры",
        "Принимают решение",
        "Согласование договора",
        "Успешно реализовано",
        "Закрыто и не реализовано",
    ]
    first = main["_embedded"]["statuses"][0]
    assert (first["type"], first["sort"], first["pipeline_id"]) == (1, 10, main["id"])
    assert [s["type"] for s in main["_embedded"]["statuses"][1:]] == [0] * 6
    p_ids = [s["id"] for s in partners["_embedded"]["statuses"]]
    m_ids = [s["id"] for s in main["_embedded"]["statuses"]]
    assert set(p_ids) & set(m_ids) == {142, 143}
    assert all(10_000_000 <= i < 100_000_000 for i in p_ids + m_ids if i not in (142, 143))
    one = amo.get(f"/api/v4/leads/pipelines/{partners['id']}").json()
    assert one["name"] == "Партнёры" and len(one["_embedded"]["statuses"]) == 5


# ---------------------------------------------------------------------------- listing ---
def test_empty_list_is_204_without_body(amo: Amo) -> None:
    r = amo.get("/api/v4/leads")
    assert r.status_code == 204
    assert r.content == b""
    assert "Content-Type" not in r.headers
    assert amo.get("/api/v4/contacts").status_code == 204


def test_limit_over_250_or_not_an_integer_is_rejected(amo: Amo) -> None:
    amo.emu.create_lead("A")
    assert ("0", "InvalidType", "limit") in validation_errors(amo.get("/api/v4/leads", params={"limit": 251}))
    assert ("0", "InvalidType", "limit") in validation_errors(amo.get("/api/v4/leads", params={"limit": "ten"}))
    assert ("0", "InvalidType", "limit") in validation_errors(amo.get("/api/v4/leads", params={"limit": 0}))
    assert ("0", "InvalidType", "page") in validation_errors(amo.get("/api/v4/leads", params={"page": 0}))
    assert amo.get("/api/v4/leads", params={"limit": 250}).status_code == 200
    assert ("0", "InvalidType", "limit") in validation_errors(amo.get("/api/v4/contacts", params={"limit": 300}))


def test_paging_ends_with_204_and_an_exact_multiple_points_next_at_a_204(amo: Amo) -> None:
    ids = [amo.emu.create_lead(f"L{i}")["id"] for i in range(6)]
    seen: list[int] = []
    url = amo.url + "/api/v4/leads?limit=3"
    pages = 0
    while True:
        r = amo.s.get(url, timeout=TIMEOUT)
        if r.status_code == 204:
            break
        pages += 1
        body = r.json()
        assert body["_page"] == pages
        seen += [lead["id"] for lead in body["_embedded"]["leads"]]
        assert "next" in body["_links"]  # full pages always have one
        url = body["_links"]["next"]["href"]
        assert url.startswith(amo.url + "/api/v4/leads?")
    assert pages == 2
    assert seen == ids
    # a short page has no next
    body = amo.get("/api/v4/leads", params={"limit": 4, "page": 2}).json()
    assert [lead["id"] for lead in body["_embedded"]["leads"]] == ids[4:]
    assert "next" not in body["_links"]
    assert body["_links"]["self"]["href"] == amo.url + "/api/v4/leads?limit=4&page=2"
    assert amo.get("/api/v4/leads", params={"limit": 4, "page": 9}).status_code == 204


def test_next_link_keeps_the_filters(amo: Amo) -> None:
    partners = pipeline_id(amo, "Партнёры")
    mine = [amo.emu.create_lead(f"P{i}", pipeline_id=partners)["id"] for i in range(3)]
    amo.emu.create_lead("main one")
    body = amo.get("/api/v4/leads", params={"filter[pipeline_id][]": partners, "limit": 2}).json()
    r = amo.s.get(body["_links"]["next"]["href"], timeout=TIMEOUT)
    assert [lead["id"] for lead in r.json()["_embedded"]["leads"]] == mine[2:]


def test_lead_shape(amo: Amo) -> None:
    lead = amo.emu.create_lead("Shape", price=10)
    got = amo.get(f"/api/v4/leads/{lead['id']}").json()
    expected_keys = {
        "id",
        "name",
        "price",
        "responsible_user_id",
        "group_id",
        "status_id",
        "pipeline_id",
        "loss_reason_id",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
        "closed_at",
        "closest_task_at",
        "is_deleted",
        "custom_fields_values",
        "score",
        "account_id",
        "labor_cost",
        "_links",
        "_embedded",
    }
    assert set(got) == expected_keys
    assert got["id"] >= 30000001
    assert got["custom_fields_values"] is None
    assert got["is_deleted"] is False
    assert got["_embedded"] == {"tags": [], "companies": []}
    assert got["_links"]["self"]["href"] == f"{amo.url}/api/v4/leads/{lead['id']}"
    assert amo.get("/api/v4/leads/99999999").status_code == 204


def test_updated_at_filter_needs_both_bounds(amo: Amo) -> None:
    a = amo.emu.create_lead("A")
    amo.emu.clock.advance(100)
    b = amo.emu.create_lead("B")
    ta, tb = a["updated_at"], b["updated_at"]
    assert tb >= ta + 100

    def ids(**params: Any) -> list[int] | None:
        r = amo.get("/api/v4/leads", params=params)
        return None if r.status_code == 204 else [lead["id"] for lead in r.json()["_embedded"]["leads"]]

    assert ids(**{"filter[updated_at][from]": ta, "filter[updated_at][to]": tb}) == [a["id"], b["id"]]
    assert ids(**{"filter[updated_at][from]": ta + 1, "filter[updated_at][to]": tb + 5}) == [b["id"]]
    assert ids(**{"filter[updated_at][from]": tb + 1, "filter[updated_at][to]": tb + 500}) is None
    # a lone bound returns nothing at all
    assert ids(**{"filter[updated_at][from]": ta - 10}) is None
    assert ids(**{"filter[updated_at][to]": tb + 10}) is None
    assert ids(**{"filter[updated_at]": ta}) is None
    # exclusive bounds
    amo.emu.updated_at_inclusive = False
    assert ids(**{"filter[updated_at][from]": ta, "filter[updated_at][to]": tb}) is None
    assert ids(**{"filter[updated_at][from]": ta - 1, "filter[updated_at][to]": tb + 1}) == [a["id"], b["id"]]
    assert ids(**{"filter[updated_at][from]": ta, "filter[updated_at][to]": tb + 1}) == [b["id"]]
    assert amo.ctl("POST", "/config", {"updated_at_inclusive": True}).json()["updated_at_inclusive"] is True
    assert ids(**{"filter[updated_at][from]": ta, "filter[updated_at][to]": ta}) == [a["id"]]
    assert_problem(amo.get("/api/v4/leads", params={"filter[updated_at][from]": "yesterday"}), 400)


def test_clock_moves_forward_and_writes_stamp_server_time(amo: Amo) -> None:
    before = amo.ctl("GET", "/clock").json()["now"]
    after = amo.ctl("POST", "/clock/advance", {"seconds": 3600}).json()["now"]
    assert after - before >= 3600
    lead = amo.emu.create_lead("Later")
    assert lead["updated_at"] >= after
    r = amo.patch("/api/v4/leads", [{"id": lead["id"], "price": 5}])
    assert r.status_code == 200
    reply = r.json()["_embedded"]["leads"][0]
    assert reply["id"] == lead["id"]
    assert reply["request_id"] == "0"
    assert reply["updated_at"] >= after
    got = amo.emu.lead(lead["id"])
    assert got["price"] == 5
    assert got["updated_by"] == 8123451  # the integration's user
    assert lead["updated_by"] != got["updated_by"]


def test_with_contacts_and_with_leads(amo: Amo) -> None:
    lead = amo.emu.create_lead("Иван Петров", phone="+7 999 000-00-01", email="ivan@example.com")
    plain = amo.get(f"/api/v4/leads/{lead['id']}").json()
    assert "contacts" not in plain["_embedded"]
    body = amo.get("/api/v4/leads", params={"with": "contacts"}).json()
    [embedded] = body["_embedded"]["leads"][0]["_embedded"]["contacts"]
    assert embedded["is_main"] is True
    assert set(embedded) == {"id", "is_main", "_links"}
    contact = amo.get(f"/api/v4/contacts/{embedded['id']}", params={"with": "leads"}).json()
    assert [x["id"] for x in contact["_embedded"]["leads"]] == [lead["id"]]
    assert contact["name"] == "Иван Петров"
    phone, email = contact["custom_fields_values"]
    assert phone == {
        "field_id": phone["field_id"],
        "field_name": "Телефон",
        "field_code": "PHONE",
        "field_type": "multitext",
        "values": [{"value": "+7 999 000-00-01", "enum_id": phone["values"][0]["enum_id"], "enum_code": "WORK"}],
    }
    assert (email["field_name"], email["field_code"], email["values"][0]["value"]) == (
        "Email",
        "EMAIL",
        "ivan@example.com",
    )
    listed = amo.get("/api/v4/contacts", params={"with": "leads"}).json()["_embedded"]["contacts"]
    assert listed[0]["_embedded"]["leads"][0]["id"] == lead["id"]
    assert "leads" not in amo.get("/api/v4/contacts").json()["_embedded"]["contacts"][0]["_embedded"]


def test_filter_id_in_every_form(amo: Amo) -> None:
    ids = [amo.emu.create_lead(f"L{i}")["id"] for i in range(4)]

    def got(query: str) -> list[int]:
        return [lead["id"] for lead in amo.get("/api/v4/leads?" + query).json()["_embedded"]["leads"]]

    assert got(f"filter[id][]={ids[3]}&filter[id][]={ids[1]}") == [ids[1], ids[3]]
    assert got(f"filter[id]={ids[2]}") == [ids[2]]
    assert got(f"filter[id][0]={ids[0]}&filter[id][1]={ids[2]}") == [ids[0], ids[2]]
    assert amo.get("/api/v4/leads?filter[id][]=1").status_code == 204
    assert_problem(amo.get("/api/v4/leads?filter[id][]=abc"), 400)
    contacts = amo.get(f"/api/v4/contacts?filter[id][]={amo.emu.main_contact_of(ids[1])['id']}").json()
    assert [c["name"] for c in contacts["_embedded"]["contacts"]] == ["L1"]


def test_filter_pipeline_id(amo: Amo) -> None:
    partners = pipeline_id(amo, "Партнёры")
    main = pipeline_id(amo, "Воронка")
    a = amo.emu.create_lead("main")["id"]
    b = amo.emu.create_lead("partner", pipeline_id=partners)["id"]
    r = amo.get("/api/v4/leads", params={"filter[pipeline_id][]": partners})
    assert [lead["id"] for lead in r.json()["_embedded"]["leads"]] == [b]
    r = amo.get("/api/v4/leads", params={"filter[pipeline_id][0]": main})
    assert [lead["id"] for lead in r.json()["_embedded"]["leads"]] == [a]
    assert amo.get("/api/v4/leads", params={"filter[pipeline_id][]": 1}).status_code == 204


def test_unsupported_filter_is_refused_not_ignored(amo: Amo) -> None:
    amo.emu.create_lead("x")
    errs = validation_errors(amo.get("/api/v4/leads", params={"filter[statuses][0][status_id]": 142}))
    assert ("0", "NotSupportedChoice", "filter.statuses") in errs


def test_order_by_updated_at_and_id(amo: Amo) -> None:
    a = amo.emu.create_lead("A")["id"]
    b = amo.emu.create_lead("B")["id"]
    c = amo.emu.create_lead("C")["id"]
    amo.emu.clock.advance(10)
    amo.emu.edit_lead(a, price=1)
    amo.emu.clock.advance(10)
    amo.emu.edit_lead(b, price=2)

    def got(**params: Any) -> list[int]:
        return [lead["id"] for lead in amo.get("/api/v4/leads", params=params).json()["_embedded"]["leads"]]

    assert got() == [a, b, c]
    assert got(**{"order[updated_at]": "asc"}) == [c, a, b]
    assert got(**{"order[updated_at]": "desc"}) == [b, a, c]
    assert got(**{"order[id]": "desc"}) == [c, b, a]
    assert got(**{"order[updated_at]": "asc", "limit": 2, "page": 2}) == [b]
    assert_problem(amo.get("/api/v4/leads", params={"order[updated_at]": "up"}), 400)


# ---------------------------------------------------------------------------- creating --
def test_complex_creation_with_phone_email_and_request_id(amo: Amo) -> None:
    body = [
        {
            "name": "Сделка из таблицы",
            "price": 15000,
            "request_id": "row-7",
            "_embedded": {
                "contacts": [
                    {
                        "first_name": "Мария",
                        "last_name": "Соколова",
                        "custom_fields_values": [
                            {"field_code": "PHONE", "values": [{"value": "+7 912 555-01-02", "enum_code": "MOB"}]},
                            {"field_code": "EMAIL", "values": [{"value": "maria@example.com"}]},
                        ],
                    }
                ]
            },
        },
        {"name": "Без контакта"},
    ]
    r = amo.post("/api/v4/leads/complex", body)
    assert r.status_code == 200
    first, second = r.json()
    assert first["request_id"] == ["row-7"]
    assert second["request_id"] == ["1"]
    assert (first["company_id"], first["merged"], second["contact_id"]) == (None, False, None)
    lead = amo.get(f"/api/v4/leads/{first['id']}", params={"with": "contacts"}).json()
    assert "request_id" not in lead
    assert lead["name"] == "Сделка из таблицы" and lead["price"] == 15000
    assert lead["status_id"] == status_id(amo, "Первичный контакт")
    assert lead["pipeline_id"] == pipeline_id(amo, "Воронка")
    assert lead["_embedded"]["contacts"][0]["id"] == first["contact_id"]
    contact = amo.get(f"/api/v4/contacts/{first['contact_id']}").json()
    assert contact["name"] == "Мария Соколова"
    values = {f["field_code"]: f["values"] for f in contact["custom_fields_values"]}
    assert values["PHONE"][0]["value"] == "+7 912 555-01-02" and values["PHONE"][0]["enum_code"] == "MOB"
    assert values["EMAIL"][0]["enum_code"] == "WORK"  # the default
    # no duplicate control inside one request
    again = amo.post("/api/v4/leads/complex", [{"name": "Дубль", "request_id": "x"}] * 2).json()
    assert again[0]["id"] != again[1]["id"] and again[0]["request_id"] == again[1]["request_id"] == ["x"]


def test_complex_with_existing_contact(amo: Amo) -> None:
    contact = amo.emu.create_contact("Старый клиент", phone="+7 1")
    r = amo.post("/api/v4/leads/complex", [{"name": "Повтор", "_embedded": {"contacts": [{"id": contact["id"]}]}}])
    assert r.json()[0]["contact_id"] == contact["id"]
    errs = validation_errors(
        amo.post("/api/v4/leads/complex", [{"name": "x", "_embedded": {"contacts": [{"id": 12345}]}}])
    )
    assert ("0", "NotSupportedChoice", "_embedded.contacts.0.id") in errs


def test_complex_over_50_rejected(amo: Amo) -> None:
    assert_problem(amo.post("/api/v4/leads/complex", [{"name": f"L{i}"} for i in range(51)]), 400)
    assert amo.emu.leads() == []
    assert amo.post("/api/v4/leads/complex", [{"name": f"L{i}"} for i in range(50)]).status_code == 200
    assert len(amo.emu.leads()) == 50


def test_complex_with_two_contacts_rejected_whole(amo: Amo) -> None:
    body = [
        {"name": "ok"},
        {
            "name": "two",
            "request_id": "r2",
            "_embedded": {"contacts": [{"first_name": "A"}, {"first_name": "B"}]},
        },
    ]
    errs = validation_errors(amo.post("/api/v4/leads/complex", body))
    assert errs == {("r2", "TooManyElements", "_embedded.contacts")}
    assert amo.emu.leads() == [] and amo.emu.contacts() == []


def test_post_leads_over_250_rejected(amo: Amo) -> None:
    assert_problem(amo.post("/api/v4/leads", [{"name": f"L{i}"} for i in range(251)]), 400)
    assert amo.emu.leads() == []
    r = amo.post("/api/v4/leads", [{"name": f"L{i}"} for i in range(250)])
    assert r.status_code == 200
    assert len(r.json()["_embedded"]["leads"]) == 250
    assert_problem(amo.patch("/api/v4/leads", [{"id": 1}] * 251), 400)
    assert_problem(amo.post("/api/v4/contacts", [{"name": "c"}] * 251), 400)


def test_post_leads_reply_and_defaults(amo: Amo) -> None:
    partners = pipeline_id(amo, "Партнёры")
    r = amo.post(
        "/api/v4/leads",
        [
            {"name": "default"},
            {"name": "partner", "pipeline_id": partners, "request_id": "p"},
            {"name": "won", "status_id": 142},
            {"name": "partner won", "status_id": 142, "pipeline_id": partners},
        ],
    )
    assert r.status_code == 200
    out = r.json()["_embedded"]["leads"]
    assert [x["request_id"] for x in out] == ["0", "p", "2", "3"]
    assert out[0]["_links"]["self"]["href"] == f"{amo.url}/api/v4/leads/{out[0]['id']}"
    leads = {lead["name"]: lead for lead in amo.emu.leads()}
    assert leads["default"]["status_id"] == status_id(amo, "Первичный контакт")
    assert leads["default"]["closed_at"] is None
    assert (leads["partner"]["pipeline_id"], leads["partner"]["status_id"]) == (
        partners,
        status_id(amo, "Новая заявка", "Партнёры"),
    )
    assert leads["won"]["pipeline_id"] == pipeline_id(amo, "Воронка")
    assert leads["won"]["closed_at"] is not None
    assert leads["partner won"]["pipeline_id"] == partners
    assert out[1]["id"] > out[0]["id"]


def test_non_integer_price_rejected_and_batch_unchanged(amo: Amo) -> None:
    lead = amo.emu.create_lead("Keep", price=7)
    for bad in ["100", 100.0, 100.5, True, None]:
        errs = validation_errors(amo.post("/api/v4/leads", [{"name": "ok", "price": 1}, {"name": "bad", "price": bad}]))
        assert errs == {("1", "InvalidType", "price")}, bad
        errs = validation_errors(
            amo.patch("/api/v4/leads", [{"id": lead["id"], "name": "Changed"}, {"id": lead["id"], "price": bad}])
        )
        assert errs == {("1", "InvalidType", "price")}, bad
        errs = validation_errors(amo.post("/api/v4/leads/complex", [{"name": "c", "price": bad, "request_id": "mine"}]))
        assert errs == {("mine", "InvalidType", "price")}
    assert [x["name"] for x in amo.emu.leads()] == ["Keep"]
    assert amo.emu.lead(lead["id"])["updated_at"] == lead["updated_at"]
    assert amo.emu.lead(lead["id"])["price"] == 7


def test_name_must_be_a_short_string(amo: Amo) -> None:
    assert ("0", "InvalidType", "name") in validation_errors(amo.post("/api/v4/leads", [{"name": 5}]))
    assert ("0", "InvalidLength", "name") in validation_errors(amo.post("/api/v4/leads", [{"name": "x" * 256}]))
    assert amo.post("/api/v4/leads", [{"name": "x" * 255}]).status_code == 200


def test_status_not_in_pipeline_and_unknown_pipeline_rejected(amo: Amo) -> None:
    main, partners = pipeline_id(amo, "Воронка"), pipeline_id(amo, "Партнёры")
    partner_status = status_id(amo, "Новая заявка", "Партнёры")
    errs = validation_errors(amo.post("/api/v4/leads", [{"status_id": partner_status, "pipeline_id": main}]))
    assert errs == {("0", "NotSupportedChoice", "status_id")}
    errs = validation_errors(amo.post("/api/v4/leads", [{"status_id": 99999999}]))
    assert errs == {("0", "NotSupportedChoice", "status_id")}
    errs = validation_errors(amo.post("/api/v4/leads", [{"pipeline_id": 1234567}]))
    assert errs == {("0", "NotSupportedChoice", "pipeline_id")}
    # a patch without pipeline_id checks the status against the lead's own pipeline
    lead = amo.emu.create_lead("in main")
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": lead["id"], "status_id": partner_status}]))
    assert errs == {("0", "NotSupportedChoice", "status_id")}
    r = amo.patch("/api/v4/leads", [{"id": lead["id"], "status_id": partner_status, "pipeline_id": partners}])
    assert r.status_code == 200
    assert (amo.emu.lead(lead["id"])["pipeline_id"], amo.emu.lead(lead["id"])["status_id"]) == (
        partners,
        partner_status,
    )
    assert amo.emu.leads()[0]["name"] == "in main"  # no lead was created by the rejected posts


def test_unsorted_status_cannot_be_set_through_the_api(amo: Amo) -> None:
    unsorted = status_id(amo, "Неразобранное")
    errs = validation_errors(amo.post("/api/v4/leads", [{"name": "x", "status_id": unsorted}]))
    assert errs == {("0", "NotSupportedChoice", "status_id")}
    lead = amo.emu.create_lead("y")
    errs = validation_errors(amo.patch(f"/api/v4/leads/{lead['id']}", {"status_id": unsorted}))
    assert errs == {("0", "NotSupportedChoice", "status_id")}
    assert amo.emu.lead(lead["id"])["status_id"] == status_id(amo, "Первичный контакт")
    # a person in the CRM (or a web form) can still put a lead there, and the API reads it
    incoming = amo.emu.create_lead("from a form", status_id=unsorted)
    assert amo.get(f"/api/v4/leads/{incoming['id']}").json()["status_id"] == unsorted


def test_moving_to_closed_status_sets_closed_at(amo: Amo) -> None:
    lead = amo.emu.create_lead("deal")
    assert lead["closed_at"] is None
    amo.emu.clock.advance(50)
    assert amo.patch("/api/v4/leads", [{"id": lead["id"], "status_id": 143}]).status_code == 200
    closed = amo.emu.lead(lead["id"])
    assert closed["closed_at"] is not None and closed["closed_at"] >= lead["updated_at"] + 50
    amo.patch("/api/v4/leads", [{"id": lead["id"], "status_id": status_id(amo, "Переговоры")}])
    assert amo.emu.lead(lead["id"])["closed_at"] is None


def test_unknown_id_in_patch_rejected(amo: Amo) -> None:
    lead = amo.emu.create_lead("Keep")
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": lead["id"], "name": "New"}, {"id": 31999999}]))
    assert errs == {("1", "NotSupportedChoice", "id")}
    errs = validation_errors(amo.patch("/api/v4/leads", [{"name": "no id", "request_id": "q"}]))
    assert errs == {("q", "FieldMissing", "id")}
    assert ("0", "NotSupportedChoice", "id") in validation_errors(amo.patch("/api/v4/leads/31999999", {"price": 1}))
    assert amo.emu.lead(lead["id"])["name"] == "Keep"
    errs = validation_errors(amo.patch("/api/v4/contacts", [{"id": 59999999, "name": "x"}]))
    assert errs == {("0", "NotSupportedChoice", "id")}


def test_unknown_top_level_field_rejected(amo: Amo) -> None:
    errs = validation_errors(amo.post("/api/v4/leads", [{"name": "x", "contacts": [], "phone": "+7"}]))
    assert errs == {("0", "FieldNotExpected", "contacts"), ("0", "FieldNotExpected", "phone")}
    lead = amo.emu.create_lead("y")
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": lead["id"], "created_at": 5}]))
    assert errs == {("0", "FieldNotExpected", "created_at")}
    errs = validation_errors(amo.post("/api/v4/contacts", [{"name": "c", "email": "a@b"}]))
    assert errs == {("0", "FieldNotExpected", "email")}
    assert [x["name"] for x in amo.emu.leads()] == ["y"]


def test_malformed_json_and_wrong_body_shapes(amo: Amo) -> None:
    r = amo.s.post(
        amo.url + "/api/v4/leads", data=b"[{name:", headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )
    assert_problem(r, 400)
    assert_problem(amo.post("/api/v4/leads", {"name": "not an array"}), 400)
    assert_problem(amo.post("/api/v4/leads", []), 400)
    assert_problem(amo.s.post(amo.url + "/api/v4/leads", timeout=TIMEOUT), 400)
    assert_problem(amo.patch("/api/v4/contacts", "x"), 400)
    assert ("1", "InvalidType", "") in validation_errors(amo.post("/api/v4/leads", [{"name": "a"}, 5]))
    assert amo.emu.leads() == []


def test_lead_custom_fields(amo: Amo) -> None:
    fields = amo.get("/api/v4/leads/custom_fields").json()["_embedded"]["custom_fields"]
    [source] = [f for f in fields if f["id"] == 1412001]
    assert source["name"] == "Источник" and source["type"] == "text"
    r = amo.post(
        "/api/v4/leads",
        [{"name": "x", "custom_fields_values": [{"field_id": source["id"], "values": [{"value": "y"}]}]}],
    )
    assert r.status_code == 200
    got = amo.get(f"/api/v4/leads/{r.json()['_embedded']['leads'][0]['id']}").json()
    assert got["custom_fields_values"] == [
        {
            "field_id": source["id"],
            "field_name": "Источник",
            "field_code": None,
            "field_type": "text",
            "values": [{"value": "y"}],
        }
    ]
    errs = validation_errors(
        amo.post(
            "/api/v4/leads",
            [{"name": "x", "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+7 1"}]}]}],
        )
    )
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.field_code")}
    errs = validation_errors(
        amo.post("/api/v4/leads", [{"custom_fields_values": [{"field_id": 1, "values": [{"value": "+7"}]}]}])
    )
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.field_id")}


# ---------------------------------------------------------------------------- contacts --
def test_contact_write_with_enum_is_rejected(amo: Amo) -> None:
    contact = amo.emu.create_contact("C", phone="+7 1")
    cf = [{"field_code": "PHONE", "values": [{"value": "+7 2", "enum": "WORK"}]}]
    errs = validation_errors(amo.post("/api/v4/contacts", [{"name": "n", "custom_fields_values": cf}]))
    assert errs == {("0", "FieldNotExpected", "custom_fields_values.0.values.0.enum")}
    errs = validation_errors(amo.patch("/api/v4/contacts", [{"id": contact["id"], "custom_fields_values": cf}]))
    assert errs == {("0", "FieldNotExpected", "custom_fields_values.0.values.0.enum")}
    complex_body = [{"name": "l", "_embedded": {"contacts": [{"name": "n", "custom_fields_values": cf}]}}]
    errs = validation_errors(amo.post("/api/v4/leads/complex", complex_body))
    assert errs == {("0", "FieldNotExpected", "_embedded.contacts.0.custom_fields_values.0.values.0.enum")}
    assert amo.emu.contact(contact["id"])["custom_fields_values"][0]["values"][0]["value"] == "+7 1"
    assert len(amo.emu.contacts()) == 1 and amo.emu.leads() == []


def test_contact_write_unknown_field_code_or_enum(amo: Amo) -> None:
    errs = validation_errors(
        amo.post("/api/v4/contacts", [{"custom_fields_values": [{"field_code": "FAXX", "values": [{"value": "1"}]}]}])
    )
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.field_code")}
    errs = validation_errors(
        amo.post(
            "/api/v4/contacts",
            [{"custom_fields_values": [{"field_code": "EMAIL", "values": [{"value": "a@b", "enum_code": "MOB"}]}]}],
        )
    )
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.values.0.enum_code")}
    errs = validation_errors(
        amo.post("/api/v4/contacts", [{"custom_fields_values": [{"field_code": "PHONE", "values": [{"value": ""}]}]}])
    )
    assert errs == {("0", "NotBlank", "custom_fields_values.0.values.0.value")}
    errs = validation_errors(
        amo.post("/api/v4/contacts", [{"custom_fields_values": [{"field_code": "PHONE", "values": [{"value": 79}]}]}])
    )
    assert errs == {("0", "InvalidType", "custom_fields_values.0.values.0.value")}
    assert amo.emu.contacts() == []


def test_contact_create_patch_and_clear_a_field(amo: Amo) -> None:
    fields = {f["code"]: f for f in amo.get("/api/v4/contacts/custom_fields").json()["_embedded"]["custom_fields"]}
    assert [e["value"] for e in fields["PHONE"]["enums"]] == ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]
    assert [e["value"] for e in fields["EMAIL"]["enums"]] == ["WORK", "PRIV", "OTHER"]
    r = amo.post(
        "/api/v4/contacts",
        [
            {
                "first_name": "Анна",
                "last_name": "Иванова",
                "request_id": "c1",
                "custom_fields_values": [
                    {
                        "field_id": fields["PHONE"]["id"],
                        "values": [{"value": "+7 1"}, {"value": "+7 2", "enum_code": "HOME"}],
                    },
                    {"field_code": "EMAIL", "values": [{"value": "anna@example.com", "enum_code": "PRIV"}]},
                ],
            }
        ],
    )
    assert r.status_code == 200
    [created] = r.json()["_embedded"]["contacts"]
    assert created["request_id"] == "c1" and created["id"] >= 50000001
    got = amo.get(f"/api/v4/contacts/{created['id']}").json()
    assert got["name"] == "Анна Иванова"
    phones = got["custom_fields_values"][0]["values"]
    assert [(v["value"], v["enum_code"]) for v in phones] == [("+7 1", "WORK"), ("+7 2", "HOME")]
    amo.emu.clock.advance(30)
    r = amo.patch(
        f"/api/v4/contacts/{created['id']}",
        {
            "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": "+7 3"}]},
                {"field_code": "EMAIL", "values": []},
            ]
        },
    )
    assert r.status_code == 200
    assert r.json()["updated_at"] >= got["updated_at"] + 30
    got = amo.get(f"/api/v4/contacts/{created['id']}").json()
    assert [(f["field_code"], [v["value"] for v in f["values"]]) for f in got["custom_fields_values"]] == [
        ("PHONE", ["+7 3"])
    ]


def test_editing_a_contact_never_bumps_its_lead(amo: Amo) -> None:
    lead = amo.emu.create_lead("Lead", phone="+7 1", email="a@example.com")
    contact_id = lead["_embedded"]["contacts"][0]["id"]
    t0 = lead["updated_at"]
    amo.emu.clock.advance(100)
    r = amo.patch(
        "/api/v4/contacts",
        [{"id": contact_id, "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+7 2"}]}]}],
    )
    assert r.status_code == 200
    amo.emu.clock.advance(100)
    amo.emu.edit_contact(contact_id, email="b@example.com")
    amo.emu.add_phone(contact_id, "+7 3")
    now = amo.ctl("GET", "/clock").json()["now"]
    assert amo.get(f"/api/v4/leads/{lead['id']}").json()["updated_at"] == t0
    window = {"filter[updated_at][from]": t0 + 1, "filter[updated_at][to]": now}
    assert amo.get("/api/v4/leads", params=window).status_code == 204
    # the change is visible through the contacts poll
    body = amo.get("/api/v4/contacts", params={**window, "with": "leads"}).json()
    [contact] = body["_embedded"]["contacts"]
    assert contact["updated_at"] >= t0 + 200
    assert contact["_embedded"]["leads"][0]["id"] == lead["id"]
    values = {f["field_code"]: [v["value"] for v in f["values"]] for f in contact["custom_fields_values"]}
    assert values == {"PHONE": ["+7 2", "+7 3"], "EMAIL": ["b@example.com"]}


# ---------------------------------------------------------------------------- links -----
def test_link_contacts_to_a_lead(amo: Amo) -> None:
    lead = amo.emu.create_lead("Lonely", with_contact=False)
    a = amo.emu.create_contact("A")
    b = amo.emu.create_contact("B")
    amo.emu.clock.advance(60)
    r = amo.post(f"/api/v4/leads/{lead['id']}/link", [{"to_entity_id": a["id"], "to_entity_type": "contacts"}])
    assert r.status_code == 200
    [link] = r.json()["_embedded"]["links"]
    assert (link["entity_id"], link["entity_type"], link["to_entity_id"], link["to_entity_type"]) == (
        lead["id"],
        "leads",
        a["id"],
        "contacts",
    )
    r = amo.post(
        "/api/v4/leads/link",
        [
            {
                "entity_id": lead["id"],
                "to_entity_id": b["id"],
                "to_entity_type": "contacts",
                "metadata": {"is_main": False},
            }
        ],
    )
    assert r.status_code == 200
    got = amo.get(f"/api/v4/leads/{lead['id']}", params={"with": "contacts"}).json()
    assert [(c["id"], c["is_main"]) for c in got["_embedded"]["contacts"]] == [(a["id"], True), (b["id"], False)]
    assert got["updated_at"] == lead["updated_at"]  # linking bumps nothing
    assert amo.emu.main_contact_of(lead["id"])["id"] == a["id"]
    # is_main moves the main contact
    amo.post(
        f"/api/v4/leads/{lead['id']}/link",
        [{"to_entity_id": b["id"], "to_entity_type": "contacts", "metadata": {"is_main": True}}],
    )
    assert amo.emu.main_contact_of(lead["id"])["id"] == b["id"]


def test_link_rejections(amo: Amo) -> None:
    lead = amo.emu.create_lead("L", with_contact=False)
    c = amo.emu.create_contact("C")
    errs = validation_errors(
        amo.post(f"/api/v4/leads/{lead['id']}/link", [{"to_entity_id": c["id"], "to_entity_type": "users"}])
    )
    assert errs == {("0", "NotSupportedChoice", "to_entity_type")}
    errs = validation_errors(
        amo.post(f"/api/v4/leads/{lead['id']}/link", [{"to_entity_id": 59999999, "to_entity_type": "contacts"}])
    )
    assert errs == {("0", "NotSupportedChoice", "to_entity_id")}
    r = amo.post("/api/v4/leads/39999999/link", [{"to_entity_id": c["id"], "to_entity_type": "contacts"}])
    assert_problem(r, 404)
    errs = validation_errors(
        amo.post("/api/v4/leads/link", [{"entity_id": 39999999, "to_entity_id": c["id"], "to_entity_type": "contacts"}])
    )
    assert errs == {("0", "NotSupportedChoice", "entity_id")}
    assert amo.emu.main_contact_of(lead["id"]) is None


# ---------------------------------------------------------------------------- deleted ---
def test_deleted_leads(amo: Amo) -> None:
    keep = amo.emu.create_lead("keep")
    gone = amo.emu.create_lead("gone")
    t0 = amo.ctl("GET", "/clock").json()["now"]
    assert amo.ctl("DELETE", f"/_x/{gone['id']}").status_code == 404  # control 404 on unknown route
    assert amo.ctl("DELETE", f"/leads/{gone['id']}").json() == {"ok": True, "id": gone["id"]}
    assert [x["id"] for x in amo.all_leads()] == [keep["id"]]
    assert amo.get(f"/api/v4/leads/{gone['id']}").status_code == 204
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": gone["id"], "name": "back?"}]))
    assert errs == {("0", "NotSupportedChoice", "id")}
    deleted = amo.get("/api/v4/leads", params={"with": "only_deleted"}).json()["_embedded"]["leads"]
    assert [(x["id"], x["is_deleted"], x["name"]) for x in deleted] == [(gone["id"], True, "gone")]
    r = amo.get("/api/v4/events", params={"filter[type]": "lead_deleted"})
    [event] = r.json()["_embedded"]["events"]
    assert (event["type"], event["entity_id"], event["entity_type"]) == ("lead_deleted", gone["id"], "lead")
    assert event["created_at"] >= t0 and event["account_id"] == amo.emu.account_id
    assert isinstance(event["id"], str) and event["created_by"]
    window = {"filter[type]": "lead_deleted", "filter[created_at][from]": t0, "filter[created_at][to]": t0 + 60}
    assert amo.get("/api/v4/events", params=window).status_code == 200
    later = {"filter[type]": "lead_deleted", "filter[created_at][from]": t0 + 61}
    assert amo.get("/api/v4/events", params=later).status_code == 204
    assert amo.get("/api/v4/events", params={"filter[type]": "lead_added"}).status_code == 204
    assert ("0", "InvalidType", "limit") in validation_errors(amo.get("/api/v4/events", params={"limit": 101}))
    contact = amo.get(f"/api/v4/contacts/{gone['_embedded']['contacts'][0]['id']}", params={"with": "leads"}).json()
    assert contact["_embedded"]["leads"] == []


def test_a_restored_lead_is_listed_again_with_its_updated_at_and_an_event_says_so(amo: Amo) -> None:
    lead = amo.emu.create_lead("back")
    amo.ctl("DELETE", f"/leads/{lead['id']}")
    updated = amo.emu._deleted.get(lead["id"])["updated_at"]
    amo.ctl("POST", "/clock/advance", {"seconds": 100})
    assert amo.ctl("POST", f"/leads/{lead['id']}/restore").json() == {"ok": True, "id": lead["id"]}
    again = amo.get(f"/api/v4/leads/{lead['id']}").json()
    assert again["updated_at"] == updated and not again.get("is_deleted")
    assert amo.get("/api/v4/leads", params={"with": "only_deleted"}).status_code == 204
    both = {"filter[type][]": ["lead_deleted", "lead_restored"]}
    events = amo.get("/api/v4/events", params=both).json()["_embedded"]["events"]
    # Newest first, as amoCRM lists events by default.
    assert [e["type"] for e in events] == ["lead_restored", "lead_deleted"]
    assert {e["entity_id"] for e in events} == {lead["id"]}
    assert amo.ctl("POST", f"/leads/{lead['id']}/restore").status_code == 404  # not deleted


# ---------------------------------------------------------------------------- rate limit
def test_rate_limit_answers_429_and_never_admits_more_than_7_per_second(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(rate_limit=7, block_after=None)
    codes: list[int] = []
    barrier = threading.Barrier(4)
    lock = threading.Lock()

    def fire() -> None:
        s = requests.Session()
        s.headers["Authorization"] = "Bearer sandbox-token"
        barrier.wait()
        for _ in range(5):
            r = s.get(amo.url + "/api/v4/account", timeout=TIMEOUT)
            with lock:
                codes.append(r.status_code)
            if r.status_code == 429:
                body = r.json()
                assert body["status"] == 429 and body["title"] == "Too Many Requests"

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = amo.emu.stats()
    assert len(codes) == 20
    assert set(codes) == {200, 429}
    assert codes.count(429) == stats["rate_limited"] >= 13 - 7  # at most 2 windows' worth got through
    assert stats["max_requests_in_1s"] == 7
    assert stats["by_route"]["GET /api/v4/account"] == 20
    # control requests are neither limited nor counted
    for _ in range(20):
        assert amo.ctl("GET", "/clock").status_code == 200
    amo.emu.clock.advance(1.5)
    assert amo.get("/api/v4/account").status_code == 200
    assert amo.emu.stats()["max_requests_in_1s"] == 7


def test_repeated_429s_block_the_ip_with_an_html_403(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(rate_limit=1, block_after=3, block_seconds=600)
    codes = [amo.get("/api/v4/account").status_code for _ in range(6)]
    assert codes == [200, 429, 429, 429, 403, 403]
    r = amo.get("/api/v4/leads")
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.lstrip().startswith("<html")
    with pytest.raises(ValueError):
        r.json()
    stats = amo.ctl("GET", "/stats").json()
    assert stats["blocked"] is True and stats["rate_limited"] == 3 and stats["blocked_requests"] == 3
    amo.emu.clock.advance(599)
    assert amo.get("/api/v4/account").status_code == 403
    amo.emu.clock.advance(2)
    assert amo.get("/api/v4/account").status_code == 200
    # and by hand, through the control routes
    assert amo.ctl("POST", "/block", {"seconds": 30}).status_code == 200
    assert amo.get("/api/v4/account").status_code == 403
    amo.ctl("POST", "/unblock")
    amo.emu.clock.advance(2)
    assert amo.get("/api/v4/account").status_code == 200


# ---------------------------------------------------------------------------- faults ----
def test_injected_faults_are_seeded_and_replayable(amo: Amo) -> None:
    def run() -> list[int]:
        amo.ctl("POST", "/faults", {"rates": {"500": 0.3, "503": 0.2}, "seed": 42})
        return [amo.get("/api/v4/account").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert {200, 500, 503} == set(first)
    amo.emu.set_faults(rates={"500": 0.3, "503": 0.2}, seed=43)
    assert [amo.get("/api/v4/account").status_code for _ in range(30)] != first
    amo.emu.set_faults(rates={"502": 1.0}, only=r"/contacts")
    assert amo.get("/api/v4/account").status_code == 200
    assert amo.get("/api/v4/contacts").status_code == 502


def test_each_kind_of_scripted_fault(amo: Amo) -> None:
    amo.emu.set_faults(
        script=[
            ("504", r"^/api/v4/leads$", "POST"),
            ("429", None, None),
            ("500", None, None),
            ("502", None, None),
            ("503", None, None),
            ("drop", None, None),
        ]
    )
    for status in (429, 500, 502, 503):
        body = assert_problem(amo.get("/api/v4/account"), status)
        assert body["title"]
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(amo.url + "/api/v4/account", headers={"Authorization": "Bearer sandbox-token"}, timeout=TIMEOUT)
    r = amo.get("/api/v4/account")  # the 504 waits for a POST to /leads
    assert r.status_code == 200
    r = amo.post("/api/v4/leads", [{"name": "lost?"}])
    assert r.status_code == 504
    assert r.headers["Content-Type"].startswith("text/html") and "504" in r.text
    assert amo.emu.leads() == []
    assert amo.post("/api/v4/leads", [{"name": "kept"}]).status_code == 200
    # the same faults through the control route
    amo.ctl("POST", "/faults", {"script": [["503", "/contacts", "GET"]]})
    assert_problem(amo.get("/api/v4/contacts"), 503)
    assert amo.get("/api/v4/contacts").status_code == 204  # the script is used up; no contacts yet
    assert amo.emu.stats()["faults_injected"] == {"429": 1, "500": 1, "502": 1, "503": 2, "504": 1, "drop": 1}
    assert amo.emu.stats()["rate_limited"] == 0  # injected 429s are not rate-limit 429s


def test_a_write_carried_out_whose_answer_is_lost(amo: Amo) -> None:
    amo.emu.set_faults(script=[("504-after", r"/leads/complex", "POST"), ("drop-after", r"/leads/complex", "POST")])
    r = amo.post("/api/v4/leads/complex", [{"name": "made, 504"}])
    assert r.status_code == 504 and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.ConnectionError):
        amo.post("/api/v4/leads/complex", [{"name": "made, dropped"}])
    assert sorted(x["name"] for x in amo.emu.leads()) == ["made, 504", "made, dropped"]
    assert amo.emu.stats()["faults_injected"] == {"504-after": 1, "drop-after": 1}


def test_a_hook_can_say_a_request_never_arrived(amo: Amo) -> None:
    amo.emu.hook = lambda phase, req: phase == "before" and req.method == "POST"
    with pytest.raises(requests.exceptions.ConnectionError):
        amo.post("/api/v4/leads", [{"name": "never sent"}])
    amo.emu.hook = None
    assert amo.emu.leads() == []
    assert amo.post("/api/v4/leads", [{"name": "sent"}]).status_code == 200


def test_a_renamed_status_keeps_its_id_and_its_leads(amo: Amo) -> None:
    status = amo.emu.find_status("Переговоры")
    lead = amo.emu.create_lead("Анна", status_id=status["id"])
    rename = f"/pipelines/{amo.emu.main_pipeline()['id']}/statuses/{{}}"
    r = amo.ctl("PATCH", rename.format(status["id"]), {"name": "Обсуждение"})
    assert r.status_code == 200
    names = [
        s["name"]
        for s in amo.get("/api/v4/leads/pipelines").json()["_embedded"]["pipelines"][0]["_embedded"]["statuses"]
    ]
    assert "Обсуждение" in names and "Переговоры" not in names
    after = amo.emu.lead(lead["id"])
    assert (after["status_id"], after["updated_at"]) == (status["id"], lead["updated_at"])
    assert amo.ctl("PATCH", rename.format(142), {"name": "Won"}).status_code == 400
    assert amo.ctl("PATCH", rename.format(status["id"]), {"name": "Первичный контакт"}).status_code == 400


def test_a_status_added_to_a_pipeline_is_listed_before_the_closed_ones_and_takes_deals(amo: Amo) -> None:
    pid = amo.emu.main_pipeline()["id"]
    r = amo.ctl("POST", f"/pipelines/{pid}/statuses", {"name": "Счёт выставлен"})
    assert r.status_code == 200, r.text
    added = r.json()
    pipeline = amo.get(f"/api/v4/leads/pipelines/{pid}").json()
    names = [s["name"] for s in sorted(pipeline["_embedded"]["statuses"], key=lambda s: s["sort"])]
    assert names[-3:] == ["Счёт выставлен", "Успешно реализовано", "Закрыто и не реализовано"]
    assert amo.create(status_id=added["id"], pipeline_id=pid) > 0
    assert amo.ctl("POST", f"/pipelines/{pid}/statuses", {"name": "Счёт выставлен"}).status_code == 400
    partners = amo.emu.add_status("Договор", next(p["id"] for p in amo.emu.pipelines() if not p["is_main"]))
    assert amo.emu.find_status("Договор", partners["pipeline_id"])["id"] == partners["id"]


def test_big_write_answers_504(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(max_batch_before_504=2)
    r = amo.post("/api/v4/leads", [{"name": f"L{i}"} for i in range(3)])
    assert r.status_code == 504 and r.headers["Content-Type"].startswith("text/html")
    assert amo.emu.leads() == []
    assert amo.post("/api/v4/leads", [{"name": f"L{i}"} for i in range(2)]).status_code == 200
    ids = [x["id"] for x in amo.emu.leads()]
    assert amo.patch("/api/v4/leads", [{"id": i, "price": 9} for i in ids * 2]).status_code == 504
    assert all(x["price"] == 0 for x in amo.emu.leads())
    assert amo.post("/api/v4/leads/complex", [{"name": "c"}] * 3).status_code == 504
    assert amo.post("/api/v4/contacts", [{"name": "c"}] * 3).status_code == 504
    assert len(amo.emu.leads()) == 2 and amo.emu.contacts() == []
    # the gateway gave up but the backend finished the write
    amo.ctl("POST", "/config", {"batch_504_applied": True})
    assert amo.post("/api/v4/leads", [{"name": f"M{i}"} for i in range(3)]).status_code == 504
    assert len(amo.emu.leads()) == 5


# ---------------------------------------------------------------------------- counters --
def test_counters_group_by_route_and_skip_control(amo: Amo) -> None:
    lead = amo.emu.create_lead("x")
    amo.emu.reset_stats()
    amo.get(f"/api/v4/leads/{lead['id']}")
    amo.get(f"/api/v4/leads/{lead['id'] + 1}")
    amo.get("/api/v4/leads")
    amo.patch("/api/v4/leads", [{"id": lead["id"], "price": 1}])
    amo.post(f"/api/v4/leads/{lead['id']}/link", [{"to_entity_id": 1, "to_entity_type": "contacts"}])
    amo.ctl("GET", "/leads")
    stats = amo.ctl("GET", "/stats").json()
    assert stats["by_route"] == {
        "GET /api/v4/leads/{id}": 2,
        "GET /api/v4/leads": 1,
        "PATCH /api/v4/leads": 1,
        "POST /api/v4/leads/{id}/link": 1,
    }
    assert (stats["requests"], stats["reads"], stats["mutating"]) == (5, 3, 2)
    assert amo.ctl("POST", "/stats/reset").status_code == 200
    assert amo.emu.stats()["requests"] == 0


def test_latency(amo: Amo) -> None:
    amo.ctl("POST", "/latency", {"seconds": 0.25})
    t = time.monotonic()
    assert amo.get("/api/v4/account").status_code == 200
    assert time.monotonic() - t >= 0.25
    t = time.monotonic()
    amo.ctl("GET", "/clock")  # control requests are not delayed
    assert time.monotonic() - t < 0.2
    amo.emu.latency = 0
    t = time.monotonic()
    amo.get("/api/v4/account")
    assert time.monotonic() - t < 0.2


# ---------------------------------------------------------------------------- control ---
def test_http_control_routes(amo: Amo) -> None:
    partners = pipeline_id(amo, "Партнёры")
    r = amo.ctl("POST", "/leads", {"name": "Ольга", "price": 500, "phone": "+7 5", "email": "o@example.com"})
    assert r.status_code == 200
    lead = r.json()
    assert lead["name"] == "Ольга" and lead["updated_by"] == 8123452
    contact_id = lead["_embedded"]["contacts"][0]["id"]
    assert amo.ctl("GET", f"/leads/{lead['id']}").json()["price"] == 500
    assert amo.ctl("GET", f"/leads/{lead['id']}/main_contact").json()["id"] == contact_id
    amo.emu.clock.advance(5)
    edited = amo.ctl("PATCH", f"/leads/{lead['id']}", {"price": 700, "pipeline_id": partners}).json()
    assert edited["price"] == 700 and edited["pipeline_id"] == partners and edited["updated_at"] > lead["updated_at"]
    assert edited["status_id"] == status_id(amo, "Новая заявка", "Партнёры")
    assert amo.ctl("PATCH", f"/leads/{lead['id']}", {"colour": "red"}).status_code == 400
    c = amo.ctl("PATCH", f"/contacts/{contact_id}", {"name": "Ольга Н.", "phone": "+7 6"}).json()
    assert c["name"] == "Ольга Н." and c["custom_fields_values"][0]["values"][0]["value"] == "+7 6"
    c = amo.ctl("POST", f"/contacts/{contact_id}/phones", {"phone": "+7 7"}).json()
    assert [v["value"] for v in c["custom_fields_values"][0]["values"]] == ["+7 6", "+7 7"]
    assert [x["id"] for x in amo.ctl("GET", "/contacts").json()] == [contact_id]
    assert [x["id"] for x in amo.ctl("GET", "/leads").json()] == [lead["id"]]
    assert amo.ctl("GET", "/leads/1").status_code == 404
    assert amo.ctl("PATCH", "/contacts/1", {"name": "x"}).status_code == 404
    p = amo.ctl("POST", "/pipelines", {"name": "Третья", "statuses": ["Один", "Два"]}).json()
    assert [s["name"] for s in p["_embedded"]["statuses"]][:3] == ["Неразобранное", "Один", "Два"]
    assert len(amo.ctl("GET", "/pipelines").json()) == 3
    assert amo.ctl("GET", "/config").json()["rate_limit"] is None
    assert amo.ctl("POST", "/config", {"nonsense": 1}).status_code == 400
    seeded = amo.ctl("POST", "/seed_bulk", {"n": 300}).json()
    assert seeded["created"] == 300 and seeded["last_id"] - seeded["first_id"] == 299
    assert (
        amo.get("/api/v4/leads", params={"limit": 250, "page": 2}).json()["_embedded"]["leads"][-1]["id"]
        == (seeded["last_id"])
    )
    assert amo.ctl("DELETE", f"/leads/{lead['id']}").status_code == 200
    assert [x["id"] for x in amo.ctl("GET", "/leads/deleted").json()] == [lead["id"]]
    assert amo.ctl("GET", "/events").json()[0]["entity_id"] == lead["id"]
    amo.ctl("POST", "/token", {"token": "t2"})
    amo.ctl("POST", "/unpaid", {"unpaid": True})
    assert amo.ctl("POST", "/reset").json() == {"ok": True}
    assert amo.get("/api/v4/leads").status_code == 204  # the original token and a paid account again
    assert len(amo.get("/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]) == 2
    assert amo.ctl("GET", "/leads").json() == []


def test_bulk_seed_of_100k_leads_pages_fast(amo: Amo) -> None:
    t = time.monotonic()
    ids = amo.emu.seed_bulk(100_000)
    assert time.monotonic() - t < 10
    assert len(ids) == 100_000 and ids == sorted(ids)
    partners = pipeline_id(amo, "Партнёры")
    amo.emu.edit_lead(ids[-1], pipeline_id=partners)
    now = amo.ctl("GET", "/clock").json()["now"]
    queries = [
        {"limit": 250},
        {"limit": 250, "page": 399, "with": "contacts"},
        {"limit": 250, "order[updated_at]": "desc"},
        {"limit": 250, "filter[updated_at][from]": now - 60, "filter[updated_at][to]": now, "page": 200},
        {"limit": 250, "filter[pipeline_id][]": partners},
    ]
    for params in queries:
        t = time.monotonic()
        r = amo.get("/api/v4/leads", params=params)
        elapsed = time.monotonic() - t
        assert r.status_code == 200, params
        assert elapsed < 0.1, (params, elapsed)
    assert [x["id"] for x in r.json()["_embedded"]["leads"]] == [ids[-1]]
    last = amo.get("/api/v4/leads", params={"limit": 250, "page": 400}).json()
    assert last["_embedded"]["leads"][-1]["id"] == ids[-1] and "next" in last["_links"]
    assert amo.get("/api/v4/leads", params={"limit": 250, "page": 401}).status_code == 204
    contact = amo.get("/api/v4/contacts", params={"limit": 1, "with": "leads"}).json()["_embedded"]["contacts"][0]
    assert contact["_embedded"]["leads"][0]["id"] == ids[0]


def test_the_clock_steps_back_and_the_api_goes_on_with_it(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo(rate_limit=7)
    amo.emu.clock.advance(7200)  # two hours ahead, as a misset server clock might be
    for _ in range(7):
        assert amo.get("/api/v4/leads/pipelines").status_code == 200
    back = amo.ctl("POST", "/clock/advance", {"seconds": -7200}).json()["now"]
    r = amo.get("/api/v4/leads/pipelines")
    assert r.status_code == 200, r.text  # requests stamped "in the future" do not fill the rate window
    lead = amo.emu.create_lead("После перевода часов")
    amo.emu.edit_lead(lead["id"], price=1)
    assert back <= amo.emu.lead(lead["id"])["updated_at"] < back + 60
    listed = amo.get(
        "/api/v4/leads", params={"filter[updated_at][from]": back - 1, "filter[updated_at][to]": back + 60}
    )
    assert [x["id"] for x in listed.json()["_embedded"]["leads"]] == [lead["id"]]


def test_each_new_emulator_is_another_account_unless_told(make_amo: Callable[..., Amo]) -> None:
    a, b = make_amo(), make_amo()
    assert a.emu.account_id != b.emu.account_id
    lead = a.emu.create_lead("x")
    assert a.get(f"/api/v4/leads/{lead['id']}").json()["account_id"] == a.emu.account_id
    assert make_amo(account_id=5).emu.account_id == 5
    before = a.emu.account_id
    assert a.ctl("POST", "/reset").json() == {"ok": True}
    assert a.emu.account_id != before  # reset starts lead ids over: for a client, another account
