"""How the project points real gspread at another origin (the sandbox emulator).

gspread has no base-URL setting; its supported hook is ``gspread.Client(auth, http_client=cls)``
where ``cls`` subclasses ``gspread.http_client.HTTPClient``. The subclass made here rewrites
only URLs on ``https://sheets.googleapis.com`` and leaves every other URL (Drive, OAuth) alone.
Retries are not this module's business.
"""

from __future__ import annotations

from typing import Any

import gspread
from google.auth.credentials import Credentials
from gspread.http_client import HTTPClient
from requests import Response

SHEETS_ORIGIN = "https://sheets.googleapis.com"


def http_client_for(base_url: str) -> type[HTTPClient]:
    """An ``HTTPClient`` subclass that sends Sheets API requests to ``base_url`` instead."""
    origin = base_url.rstrip("/")

    class RedirectedHTTPClient(HTTPClient):
        target_origin = origin

        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Response:
            if endpoint == SHEETS_ORIGIN or endpoint.startswith((SHEETS_ORIGIN + "/", SHEETS_ORIGIN + "?")):
                endpoint = origin + endpoint[len(SHEETS_ORIGIN) :]
            return super().request(method, endpoint, *args, **kwargs)

    return RedirectedHTTPClient


def client_for(base_url: str | None, credentials: Credentials) -> gspread.Client:
    """A gspread client; with ``base_url`` None an ordinary one that talks to Google."""
    if base_url is None:
        return gspread.Client(credentials)
    return gspread.Client(credentials, http_client=http_client_for(base_url))
