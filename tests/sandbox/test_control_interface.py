"""What both emulators do around their APIs, as a user with curl meets it.

Cyrillic in paths and queries, sent percent-encoded (as requests and gspread send it) or as raw
UTF-8 (as curl sends what it was given).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from amosheets.gspread_transport import client_for
from amosheets.sandbox import Sandbox

TIMEOUT = 10
TAB = "Сделки"
TAB_ENCODED = "%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B8"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(rate_limit=None, read_quota=None, write_quota=None) as sandbox:
        sandbox.seed_sample()
        yield sandbox


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
