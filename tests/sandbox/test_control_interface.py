"""What both emulators do around their APIs, as a user with curl meets it.

The control interface under ``/_sandbox/`` and its index; Cyrillic in paths and queries, sent
percent-encoded (as requests and gspread send it) or as raw UTF-8 (as curl sends what it was given);
bodies that are not the JSON object a route needs.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from amosheets.gspread_transport import client_for
from amosheets.sandbox import Sandbox

TIMEOUT = 10
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TAB = "Сделки"
TAB_ENCODED = "%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B8"

# What the emulators' docstrings and the README promise; the index may list more, never fewer.
DOCUMENTED = {
    "amocrm": {
        ("GET", "/_sandbox/"),
        ("GET", "/_sandbox/stats"),
        ("POST", "/_sandbox/stats/reset"),
        ("POST", "/_sandbox/faults"),
        ("POST", "/_sandbox/latency"),
        ("GET", "/_sandbox/clock"),
        ("POST", "/_sandbox/clock/advance"),
        ("GET", "/_sandbox/config"),
        ("POST", "/_sandbox/config"),
        ("GET", "/_sandbox/account"),
        ("GET", "/_sandbox/pipelines"),
        ("POST", "/_sandbox/pipelines"),
        ("PATCH", "/_sandbox/pipelines/{pipeline_id}"),
        ("DELETE", "/_sandbox/pipelines/{pipeline_id}"),
        ("PATCH", "/_sandbox/pipelines/{pipeline_id}/statuses/{status_id}"),
        ("GET", "/_sandbox/custom_fields"),
        ("POST", "/_sandbox/custom_fields"),
        ("PATCH", "/_sandbox/custom_fields/{field_id}"),
        ("DELETE", "/_sandbox/custom_fields/{field_id}"),
        ("GET", "/_sandbox/leads"),
        ("GET", "/_sandbox/leads/deleted"),
        ("POST", "/_sandbox/leads"),
        ("GET", "/_sandbox/leads/{lead_id}"),
        ("PATCH", "/_sandbox/leads/{lead_id}"),
        ("DELETE", "/_sandbox/leads/{lead_id}"),
        ("GET", "/_sandbox/leads/{lead_id}/main_contact"),
        ("POST", "/_sandbox/leads/{lead_id}/link"),
        ("GET", "/_sandbox/contacts"),
        ("POST", "/_sandbox/contacts"),
        ("GET", "/_sandbox/contacts/{contact_id}"),
        ("PATCH", "/_sandbox/contacts/{contact_id}"),
        ("POST", "/_sandbox/contacts/{contact_id}/phones"),
        ("GET", "/_sandbox/events"),
        ("POST", "/_sandbox/token"),
        ("GET", "/_sandbox/oauth"),
        ("POST", "/_sandbox/oauth/code"),
        ("POST", "/_sandbox/oauth/revoke"),
        ("POST", "/_sandbox/unpaid"),
        ("POST", "/_sandbox/block"),
        ("POST", "/_sandbox/unblock"),
        ("POST", "/_sandbox/reset"),
        ("POST", "/_sandbox/seed_bulk"),
    },
    "sheets": {
        ("GET", "/_sandbox/"),
        ("GET", "/_sandbox/stats"),
        ("POST", "/_sandbox/stats/reset"),
        ("POST", "/_sandbox/faults"),
        ("POST", "/_sandbox/latency"),
        ("GET", "/_sandbox/clock"),
        ("POST", "/_sandbox/clock/advance"),
        ("POST", "/_sandbox/quota"),
        ("GET", "/_sandbox/spreadsheets"),
        ("POST", "/_sandbox/spreadsheets"),
        ("POST", "/_sandbox/spreadsheets/{sid}/sheets"),
        ("GET", "/_sandbox/spreadsheets/{sid}/values"),
        ("PUT", "/_sandbox/spreadsheets/{sid}/values"),
        ("GET", "/_sandbox/spreadsheets/{sid}/cell"),
        ("GET", "/_sandbox/spreadsheets/{sid}/format"),
        ("POST", "/_sandbox/spreadsheets/{sid}/format"),
        ("GET", "/_sandbox/spreadsheets/{sid}/grid"),
        ("POST", "/_sandbox/spreadsheets/{sid}/edit"),
        ("POST", "/_sandbox/spreadsheets/{sid}/sort"),
        ("POST", "/_sandbox/spreadsheets/{sid}/share"),
        ("POST", "/_sandbox/spreadsheets/{sid}/rows/insert"),
        ("POST", "/_sandbox/spreadsheets/{sid}/rows/delete"),
        ("POST", "/_sandbox/spreadsheets/{sid}/share_with"),
        ("POST", "/_sandbox/oauth/clients"),
        ("GET", "/_sandbox/oauth/client_secrets"),
        ("POST", "/_sandbox/oauth/authorized_user"),
        ("POST", "/_sandbox/oauth/sign_in_as"),
        ("POST", "/_sandbox/oauth/revoke"),
    },
}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(rate_limit=None, read_quota=None, write_quota=None) as sandbox:
        sandbox.seed_sample()
        yield sandbox


def urls(sb: Sandbox) -> dict[str, str]:
    return {"amocrm": sb.amocrm_url, "sheets": sb.sheets_url}


def index(url: str) -> list[dict[str, str]]:
    r = requests.get(f"{url}/_sandbox/", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["control"]


def refused_by_router(r: requests.Response) -> bool:
    """The router found no such control route (as opposed to a route refusing its arguments)."""
    return r.status_code in (404, 405) and "no control route" in r.text


def raw_request(url: str, method: str, target: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request written byte by byte: the target goes out exactly as given (raw UTF-8 too)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as s:
        head = f"{method} ".encode() + target + b" HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n"
        s.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# -- the index ------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["amocrm", "sheets"])
def test_the_index_lists_every_control_route_the_router_accepts(sb: Sandbox, service: str):
    url = urls(sb)[service]
    listed = index(url)
    pairs = {(e["method"], e["path"]) for e in listed}
    assert len(pairs) == len(listed)
    assert DOCUMENTED[service] <= pairs, f"missing from the index: {DOCUMENTED[service] - pairs}"
    for e in listed:
        assert e["description"].strip() and "\n" not in e["description"], e
    lead = sb.amocrm.leads()[0]
    fill = {"sid": sb.spreadsheet_id or "", "lead_id": str(lead["id"]), "contact_id": str(lead["id"])}
    methods_of: dict[str, set[str]] = {}
    for method, path in sorted(pairs):
        methods_of.setdefault(path, set()).add(method)
        concrete = re.sub(r"\{(\w+)\}", lambda m: fill.get(m[1], "1"), path)
        r = requests.request(method, url + concrete, timeout=TIMEOUT)
        assert not refused_by_router(r) and r.status_code < 500, (method, path, r.status_code, r.text)
    # ... and nothing else: every other method on a listed path is refused, naming the listed ones
    for path, methods in methods_of.items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: fill.get(m[1], "1"), path)
        for method in set(METHODS) - methods:
            r = requests.request(method, url + concrete, timeout=TIMEOUT)
            assert refused_by_router(r) and r.status_code == 405, (method, path, r.status_code, r.text)
            assert set(r.headers["Allow"].split(", ")) == methods
    r = requests.get(f"{url}/_sandbox/no/such/thing", timeout=TIMEOUT)
    assert refused_by_router(r) and r.status_code == 404 and "GET /_sandbox/ lists them" in r.text


def test_the_index_answers_without_the_trailing_slash_and_names_the_emulator(sb: Sandbox):
    for service, url in urls(sb).items():
        r = requests.get(f"{url}/_sandbox", timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["emulator"] == service
        assert r.json()["control"] == index(url)


def test_control_errors_come_in_each_services_own_shape(sb: Sandbox):
    r = requests.get(f"{sb.sheets_url}/_sandbox/nope", timeout=TIMEOUT)
    assert r.json() == {
        "error": {"code": 404, "message": "no control route /nope; GET /_sandbox/ lists them", "status": "NOT_FOUND"}
    }
    r = requests.get(f"{sb.amocrm_url}/_sandbox/leads/999", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json() == {
        "title": "Not Found",
        "type": "https://httpstatus.es/404",
        "status": 404,
        "detail": "no lead 999",
    }


def test_a_key_the_route_needs_is_named(sb: Sandbox):
    r = requests.post(f"{sb.sheets_url}/_sandbox/spreadsheets/{sb.spreadsheet_id}/edit", json={"a1": "B2"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "bad control request: the JSON body needs 'text'"
    r = requests.post(f"{sb.amocrm_url}/_sandbox/clock/advance", json={}, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["detail"] == "bad control request: the JSON body needs 'seconds'"


# -- Cyrillic in paths and queries ------------------------------------------------------------
def test_a_cyrillic_tab_in_a_percent_encoded_path_is_found(sb: Sandbox):
    sid = sb.spreadsheet_id
    for target in (
        f"/v4/spreadsheets/{sid}/values/{TAB_ENCODED}!A1:B2",
        f"/v4/spreadsheets/{sid}/values/{TAB_ENCODED}%21A1%3AB2",
    ):
        r = requests.get(sb.sheets_url + target, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        assert r.json()["range"] == f"{TAB}!A1:B2"
        assert r.json()["values"] == [["lead_id", "Имя"], ["", "Иван Петров"]]


def test_a_cyrillic_tab_sent_as_raw_utf8_is_found(sb: Sandbox):
    sid = sb.spreadsheet_id
    status, body = raw_request(sb.sheets_url, "GET", f"/v4/spreadsheets/{sid}/values/{TAB}!A1:B2".encode())
    assert status == 200, body.decode()
    assert '"range": "Сделки!A1:B2"' in body.decode()
    status, body = raw_request(sb.sheets_url, "GET", f"/v4/spreadsheets/{sid}/values:batchGet?ranges={TAB}!B2".encode())
    assert status == 200 and "Иван Петров" in body.decode(), body.decode()
    status, body = raw_request(sb.sheets_url, "GET", f"/_sandbox/spreadsheets/{sid}/cell?sheet={TAB}&a1=B2".encode())
    assert status == 200 and '"entered": "Иван Петров"' in body.decode(), body.decode()


def test_a_control_query_takes_a_cyrillic_tab_percent_encoded(sb: Sandbox):
    sid = sb.spreadsheet_id
    r = requests.get(f"{sb.sheets_url}/_sandbox/spreadsheets/{sid}/values", params={"sheet": TAB}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["values"][1][1] == "Иван Петров"
    r = requests.get(f"{sb.sheets_url}/_sandbox/spreadsheets/{sid}/grid?sheet={TAB_ENCODED}", timeout=TIMEOUT)
    assert r.status_code == 200, r.text


def test_gspread_reads_and_writes_a_cyrillic_tab(sb: Sandbox):
    gc = client_for(sb.sheets_url, AnonymousCredentials())
    ws = gc.open_by_key(sb.spreadsheet_id or "").worksheet(TAB)
    assert ws.get("A1:B2") == [["lead_id", "Имя"], ["", "Иван Петров"]]
    ws.update([["Пётр"]], "B4")
    assert sb.sheets.values(sb.spreadsheet_id or "", TAB)[3][1] == "Пётр"


def test_an_amocrm_query_in_cyrillic_is_decoded_as_utf8(sb: Sandbox):
    auth = {"Authorization": f"Bearer {sb.token}"}
    r = requests.get(f"{sb.amocrm_url}/api/v4/leads/tags", params={"filter[name]": "Опт"}, headers=auth)
    assert r.status_code == 200 and [t["name"] for t in r.json()["_embedded"]["tags"]] == ["Опт"]
    parts = urlsplit(sb.amocrm_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as s:
        s.sendall(
            "GET /api/v4/leads/tags?query=Опт HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n".encode()
            + f"Authorization: Bearer {sb.token}\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and '"name": "Опт"' in data.decode(), data.decode()


# -- bodies that are not the JSON object a route needs ------------------------------------------
NOT_AN_OBJECT = [
    (b"not json", "Expecting value"),
    (b"{", "Expecting property name"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a1": "\xd0"}', "not UTF-8"),
    (b"[1, 2]", "got an array"),
    (b"42", "got a number"),
    (b"null", "got null"),
]


@pytest.mark.parametrize(("body", "said"), NOT_AN_OBJECT)
def test_a_sheets_control_body_that_is_not_an_object_is_a_400_in_googles_shape(sb: Sandbox, body: bytes, said: str):
    r = requests.post(f"{sb.sheets_url}/_sandbox/spreadsheets/{sb.spreadsheet_id}/edit", data=body, timeout=TIMEOUT)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Invalid JSON payload received. ") and said in error["message"]


@pytest.mark.parametrize(("body", "said"), NOT_AN_OBJECT)
def test_an_amocrm_control_body_that_is_not_an_object_is_a_400_in_amocrms_shape(sb: Sandbox, body: bytes, said: str):
    r = requests.post(f"{sb.amocrm_url}/_sandbox/leads", data=body, timeout=TIMEOUT)
    assert r.status_code == 400
    problem = r.json()
    assert {k: problem[k] for k in ("title", "type", "status")} == {
        "title": "Bad Request",
        "type": "https://httpstatus.es/400",
        "status": 400,
    }
    assert said in problem["detail"]
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_an_empty_control_body_is_an_empty_object(sb: Sandbox):
    r = requests.post(f"{sb.sheets_url}/_sandbox/spreadsheets/{sb.spreadsheet_id}/edit", timeout=TIMEOUT)
    assert r.status_code == 400 and "needs 'a1'" in r.json()["error"]["message"]
    r = requests.post(f"{sb.amocrm_url}/_sandbox/leads", timeout=TIMEOUT)
    assert r.status_code == 400 and "'name'" in r.json()["detail"]
    r = requests.post(f"{sb.amocrm_url}/_sandbox/stats/reset", timeout=TIMEOUT)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "said"),
    [
        ("POST", ":batchUpdate", b"not json", "Invalid JSON payload received. Expecting value"),
        ("POST", ":batchUpdate", b"\xff", "Invalid JSON payload received. 'utf-8' codec can't decode"),
        ("POST", ":batchUpdate", b"[]", "Invalid JSON payload received. Expected an object."),
        ("POST", ":batchUpdate", b"null", "Invalid JSON payload received. Expected an object."),
        ("POST", "/values/A1:append?valueInputOption=RAW", b"null", "Invalid JSON payload received. Expected an"),
        ("PUT", "/values/A1?valueInputOption=RAW", b" null ", "Invalid JSON payload received. Expected an object."),
        ("POST", ":batchUpdate", b"", "Must specify at least one request."),
        ("POST", "/values:batchUpdate", b"\xff", "Invalid JSON payload received."),
        ("POST", "/values:batchUpdate", b"7", "Invalid JSON payload received. Expected an object."),
        ("PUT", "/values/A1?valueInputOption=RAW", b"{", "Invalid JSON payload received."),
        ("PUT", "/values/A1?valueInputOption=RAW", b'"A1"', "Invalid JSON payload received. Expected an object."),
    ],
)
def test_a_sheets_api_body_that_is_not_an_object_is_a_400_in_googles_shape(
    sb: Sandbox, method: str, path: str, body: bytes, said: str
):
    r = requests.request(method, f"{sb.sheets_url}/v4/spreadsheets/{sb.spreadsheet_id}{path}", data=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and r.json()["error"]["message"].startswith(said)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        *[("POST", "/api/v4/leads/complex", b) for b in (b"not json", b"\xff\xfe", b"", b"{}", b"42", b"null")],
        *[("PATCH", "/api/v4/leads/{id}", b) for b in (b"not json", b"\xff\xfe", b"", b"[]", b"42")],
    ],
)
def test_an_amocrm_api_body_that_is_not_what_the_route_takes_is_a_400_in_amocrms_shape(
    sb: Sandbox, method: str, path: str, body: bytes
):
    lead_id = sb.amocrm.leads()[0]["id"]
    r = requests.request(
        method,
        sb.amocrm_url + path.format(id=lead_id),
        data=body,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 400, r.text
    problem: dict[str, Any] = r.json()
    assert problem["status"] == 400 and problem["title"] == "Bad Request" and problem["detail"]
