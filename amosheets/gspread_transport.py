"""How the project points real gspread at another origin (the sandbox emulator), and bounds its waits.

gspread has no base-URL setting; its supported hook is ``gspread.Client(auth, http_client=cls)``
where ``cls`` subclasses ``gspread.http_client.HTTPClient``. The subclass made here rewrites
only URLs on ``https://sheets.googleapis.com`` (when another origin is given) and leaves every
other URL (Drive, OAuth) alone. gspread waits forever for an answer by default, so every
request also gets connect and read timeouts, cut to what the run's deadline leaves.
Retries are not this module's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import gspread
import requests
from google.auth.credentials import Credentials
from gspread.http_client import HTTPClient
from requests import Response

from amosheets.deadline import NO_DEADLINE, Deadline

SHEETS_ORIGIN = "https://sheets.googleapis.com"
TIMEOUT = (10.0, 60.0)  # seconds to connect, and to wait for each part of an answer

# Told (method, path, status or what went wrong, milliseconds) after each request, for --debug;
# both services' clients take one.
RequestHook = Callable[[str, str, str, float], None]


def http_client_for(
    base_url: str | None, deadline: Deadline = NO_DEADLINE, on_request: RequestHook | None = None
) -> type[HTTPClient]:
    """An ``HTTPClient`` subclass with timeouts; it sends Sheets API requests to ``base_url`` when given."""
    origin = base_url.rstrip("/") if base_url else None

    class BoundedHTTPClient(HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Response:
            if origin and _on_sheets(endpoint):
                endpoint = origin + endpoint[len(SHEETS_ORIGIN) :]
            self.timeout = deadline.timeout(*TIMEOUT)
            started = time.monotonic()

            def told(outcome: str) -> None:
                if on_request is not None:  # the path only: a query string may carry an API key
                    on_request(method.upper(), urlsplit(endpoint).path, outcome, (time.monotonic() - started) * 1000)

            try:
                response = super().request(method, endpoint, *args, **kwargs)
            except gspread.exceptions.APIError as e:
                told(str(e.response.status_code))
                raise
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                google.auth.exceptions.TransportError,  # getting a token (a service account's, or a person's)
            ) as e:
                told(type(e).__name__)
                deadline.check()  # the wait was cut short by the deadline: stop, don't retry
                raise
            told(str(response.status_code))
            return response

    return BoundedHTTPClient


def _on_sheets(url: str) -> bool:
    return url == SHEETS_ORIGIN or url.startswith((SHEETS_ORIGIN + "/", SHEETS_ORIGIN + "?"))


def client_for(
    base_url: str | None,
    credentials: Credentials,
    deadline: Deadline = NO_DEADLINE,
    on_request: RequestHook | None = None,
) -> gspread.Client:
    """A gspread client with timeouts; with ``base_url`` None it talks to Google itself."""
    return gspread.Client(credentials, http_client=http_client_for(base_url, deadline, on_request))
