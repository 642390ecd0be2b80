"""A strict local emulator of the amoCRM (Kommo) API v4.

Everything the project's client may touch is emulated as the real service does it, and
everything the real service rejects is rejected here in the real shape, so that a test
that passes against the emulator says something about production. The facts it follows
are those in ``API-NOTES.md``; where they are silent the choice made is noted in the code.

The request gate runs in this order: IP blocked (403, an HTML page) → rate limit (429,
``rate_limit`` requests per sliding second; ``block_after`` such 429s within 60 s block the
"IP" for ``block_seconds``) → ``Authorization: Bearer <token>`` (401: the long-lived token or a live
OAuth access token) → account unpaid (402) → routing (404 unknown path, 405 wrong method) → validation
(400). The OAuth token endpoint passes the first two steps only (blocking and the rate limit: same host,
same window), then answers 405 to anything but POST, then checks the exchange.

API routes (all under ``/api/v4``)::

    GET   /account                        ?with=datetime_settings (other documented with= values: 400)
    GET   /users                          admin only: 403 unless token_is_admin; limit ≤ 250, page
    GET   /leads/pipelines                GET /leads/pipelines/{id}
    GET   /leads/custom_fields            GET /leads/custom_fields/{id}       (limit ≤ 250, default 50, page)
    GET   /contacts/custom_fields         GET /contacts/custom_fields/{id}
    GET   /leads/tags                     filter[name], filter[id], query; limit ≤ 250, page
    GET   /leads            POST /leads   PATCH /leads
    GET   /leads/{id}                     PATCH /leads/{id}
    POST  /leads/complex
    POST  /leads/{id}/link                POST /leads/link        GET /leads/{id}/links
    GET   /contacts         POST /contacts  PATCH /contacts
    GET   /contacts/{id}                  PATCH /contacts/{id}
    GET   /events

OAuth 2.0 route (not under ``/api/v4``; amoCRM runs league/oauth2-server behind its own error wrapper)::

    POST  /oauth2/access_token            JSON or application/x-www-form-urlencoded:
          {client_id, client_secret, grant_type: "authorization_code", code, redirect_uri}
          {client_id, client_secret, grant_type: "refresh_token", refresh_token, redirect_uri}
          → 200 {"token_type": "Bearer", "expires_in": 86400, "access_token", "refresh_token"}
            (Cache-Control: no-store; tokens opaque random strings)

Lifetimes on the emulator clock: an authorization code 20 minutes (``OAUTH_CODE_SECONDS``), single use; an
access token 24 h (86400 s); a refresh token 90 days (7,776,000 s), single use. A code or token is dead
once ``now > issued + lifetime``. Errors are ``application/problem+json``
``{"hint", "title": "Некорректный запрос", "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
"status", "detail": "В запросе отсутствует ряд параметров или параметры невалидны"}``, checked in this order::

    400  The authorization grant type is not supported by the authorization server.
                                         grant_type missing or not one of the two (also: a body that is
                                         neither a JSON object nor a form, as it has no grant_type)
    400  Check the `client_id` parameter                    client_id missing
    401  Client authentication failed                       wrong client_id, wrong or missing client_secret
    400  Check the `redirect_uri` parameter                 redirect_uri missing
    401  Client authentication failed                       redirect_uri not exactly the integration's
    400  Check the `code` parameter                         code missing or not a string
    400  Cannot decrypt the authorization code              code never issued (or dropped by a reset)
    400  Authorization code has expired                     older than 20 minutes
    400  Authorization code has been revoked                already exchanged, or the integration disabled
    400  Check the `refresh_token` parameter                refresh_token missing or not a string
    401  Cannot decrypt the refresh token                   never issued (or dropped by a reset)
    401  Token has expired                                  older than 90 days
    401  Token has been revoked                             already used, replaced, or the integration disabled

Control routes (JSON in and out; never rate limited, never counted; errors in the API's problem shape;
``GET /_sandbox/`` lists them all, from the table the router uses — the ``control_route`` marks)::

    GET    /_sandbox/                      the index: method, path and one line on each control route
    GET    /_sandbox/stats                 counters (base class) + rate_limited, max_requests_in_1s, ...,
                                           oauth_requests, oauth_code_exchanges, oauth_refreshes,
                                           oauth_failures, oauth_access_refused
    POST   /_sandbox/stats/reset
    POST   /_sandbox/faults                {"rates": {"500": 0.1}, "seed": 1, "only": "regex",
                                            "script": [[kind, path_re, method]]}
    POST   /_sandbox/latency               {"seconds": 0.2}
    GET    /_sandbox/clock                 POST /_sandbox/clock/advance {"seconds": 3600} (negative: back)
    GET    /_sandbox/config                POST /_sandbox/config {"rate_limit": 7, "block_after": 20,
                                           "block_seconds": 600, "updated_at_inclusive": true,
                                           "max_batch_before_504": null, "batch_504_applied": false,
                                           "token_is_admin": true, "timezone": "Europe/Moscow"}
    GET    /_sandbox/account
    GET    /_sandbox/pipelines             POST /_sandbox/pipelines {"name": "…", "statuses": ["…"], "is_main": false}
    PATCH  /_sandbox/pipelines/{id}        {"name": "…"}   PATCH /_sandbox/pipelines/{id}/statuses/{id} {"name": "…"}
    DELETE /_sandbox/pipelines/{id}        takes it off the list; its deals keep its ids (see unlist_pipeline)
    GET    /_sandbox/custom_fields         {"leads": [definitions], "contacts": [definitions]}
    POST   /_sandbox/custom_fields         {"entity": "leads"|"contacts", "name", "type", "code"?, "enums"?: ["…"],
                                            "required_statuses"?: [{"pipeline_id", "status_id"}]} → the definition
    PATCH  /_sandbox/custom_fields/{id}    {"required_statuses": [...]}    DELETE /_sandbox/custom_fields/{id}
    GET    /_sandbox/leads                 live leads, API shape with _embedded.contacts
    GET    /_sandbox/leads/deleted
    POST   /_sandbox/leads                 {"name", "price", "status_id", "pipeline_id", "phone", "email",
                                            "contact_name", "with_contact", "custom_fields_values", "tags",
                                            "responsible_user_id"} – a person in the CRM
    GET    /_sandbox/leads/{id}            PATCH /_sandbox/leads/{id} {"name", "price", "status_id", "pipeline_id",
                                            "responsible_user_id", "custom_fields_values" (API shape and checks),
                                            "tags": ["name", …] (replaces the set)}
    DELETE /_sandbox/leads/{id}            deletes it (and records a lead_deleted event)
    POST   /_sandbox/leads/{id}/restore    restores a deleted one (and records a lead_restored event)
    GET    /_sandbox/leads/{id}/main_contact
    POST   /_sandbox/leads/{id}/link       {"contact_id": n, "is_main": false}
    GET    /_sandbox/contacts              POST /_sandbox/contacts {"name", "phone", "email"}
    GET    /_sandbox/contacts/{id}         PATCH /_sandbox/contacts/{id} {"name", "phone", "email",
                                            "custom_fields_values"}
    POST   /_sandbox/contacts/{id}/phones  {"phone": "+7…"} – adds a second phone value
    GET    /_sandbox/events
    POST   /_sandbox/token                 {"token": "…"}
    GET    /_sandbox/oauth                 {"client_id", "client_secret", "redirect_uri", "codes_issued",
                                            "live_codes", "live_access_tokens", "live_refresh_tokens",
                                            "code_lifetime", "access_token_lifetime", "refresh_token_lifetime"}
    POST   /_sandbox/oauth/code            {} → {"code": "…", "expires_in": 1200}: a person clicked "Allow"
                                           (Settings → Integrations → the integration → Keys → Authorization code)
    POST   /_sandbox/oauth/revoke          a person disabled the integration: every code and token revoked
    POST   /_sandbox/unpaid                {"unpaid": true}
    POST   /_sandbox/block                 {"seconds": 600}      POST /_sandbox/unblock
    POST   /_sandbox/reset                 back to a freshly seeded account (stats and clock stay); its
                                           lead ids start over, so it gets a new account id; OAuth codes and
                                           tokens are dropped, the integration's id and secret stay
    POST   /_sandbox/seed_bulk             {"n": 100000, "pipeline_id": null, "with_contacts": true}
                                           → {"created": n, "first_id": …, "last_id": …}

Unknown lead/contact/field ids in control routes answer 404; bad arguments 400 (a control edit
whose ``custom_fields_values`` the API would refuse is refused, naming the codes and paths).

Python helpers beside them: ``custom_fields(entity)``, ``find_field(name, entity)``,
``add_custom_field(entity, name, field_type, code=, enums=, required_statuses=, is_api_only=)``,
``set_required_statuses(field_id, pairs)``, ``delete_custom_field(field_id)``, ``users()``,
``add_status(name, pipeline_id)``, ``set_token_is_admin(flag)``, ``set_timezone(name)``,
``create_lead(..., custom_fields_values=, tags=,
responsible_user_id=)``, ``edit_lead(id, ..., custom_fields_values=, tags=, responsible_user_id=)``,
``edit_contact(id, ..., custom_fields_values=)``; constructor options ``token_is_admin`` and ``timezone``.
OAuth: ``oauth_client()`` → ``{"client_id", "client_secret", "redirect_uri"}``, ``oauth_code()`` → a code,
``revoke_oauth()``, ``oauth_state()`` (what ``GET /_sandbox/oauth`` answers), ``oauth_token_state(token)`` →
"live" | "expired" | "revoked" | "unknown"; the integration is ``self.oauth`` (an ``OAuthIntegration``);
constructor options ``client_id``, ``client_secret``, ``redirect_uri`` (default
``https://example.com/amosheets``). The default client id is a UUID and the secret 64 letters and digits,
both derived from the subdomain: the same for an emulator restarted in its place, different per account.

The seeded account has three users (8123451 the integration, 8123452 "Менеджер", 8123453 "Анна
Соколова"), the contact fields Должность/Телефон/Email and one lead field of each type a sheet column
can hold (``SAMPLE_LEAD_FIELDS``; ids 1412001 "Источник", then 1412003, 1412005, … with options from
2909001 on, step 2). Fields added later get ids from 1413001 and options from 2910001.

Custom field values, per type (written as ``[{field_id | field_code, values: [...]}]``; read back as
``{field_id, field_name, field_code, field_type, values}``, ``custom_fields_values: null`` when none):

* text, textarea, url, streetaddress, tracking_data: ``{"value": "non-blank string"}``;
* numeric, monetary, price: ``{"value": 12.5}`` or ``{"value": "12.5"}`` (digits, one optional dot
  and minus; "1 500" and "12,5" are refused); read back as a normalised decimal string ("123.50" → "123.5");
* checkbox: ``{"value": true|false}``, a bool only;
* select, radiobutton, category: ``{"enum_id"}`` or ``{"value": "exact option text"}`` (both: must
  agree), one only; multiselect: a list of those (repeats dropped); read back as ``{value, enum_id}``;
* date, birthday, date_time: ``{"value": unix int}`` or an RFC 3339 date-time string
  (``2026-12-02T14:30:00+03:00``, ``…Z``), stored and read back as the Unix int as sent;
* multitext: ``{"value", "enum_code" | "enum_id"}`` (neither: WORK, else the first enum);
* legal_entity: ``{"value": {"name": "…", "vat_id"?, "kpp"?, …}}`` (a name is required);
* any other type (file, items, smart_address, …): values refused as not emulated (400
  NotSupportedChoice at ``….values``) – the tool never sends them.

Choices made where the notes are silent (strict where unsure, so a test errs on the safe side):
a ``filter[...]`` the sandbox does not emulate answers 400 instead of being ignored; a bare
``filter[updated_at]=T`` is treated like a lone bound (nothing); PATCH of leads accepts only the
updatable fields (``created_at``/``updated_at`` there → FieldNotExpected); ``custom_fields_values:
null`` means no change; companies and loss reasons are not emulated (non-empty → 400); reopening
a closed lead clears ``closed_at``; a 504 (``max_batch_before_504``) changes nothing unless
``batch_504_applied``; the events API pages by at most 100 and lists newest first; 429s carry no
Retry-After; API writes are by user 8123451 (the token's), control-API edits by 8123452.

Custom fields and the rest of the second wave: a value of the wrong type (a number for a text, a
non-numeric string for a number, a non-bool checkbox, an unreadable date) → ``InvalidType`` at
``custom_fields_values.N.values.M.value``; an option text that is not exactly an option (case and
spaces count) or an unknown ``enum_id`` → ``NotSupportedChoice``; ``enum_code`` on an option field and
``enum`` anywhere → ``FieldNotExpected``; more than one value for a one-value field →
``TooManyElements`` at ``….values``; ``values: null`` (or ``[]``) clears the field; ``field_name`` and
``field_type`` beside ``field_id`` are ignored, as amoCRM does. A field with ``required_statuses``:
creating a lead in, or moving it into, such a status while the field is (or is being made) empty →
``FieldMissing`` at ``custom_fields_values``, detail naming the field's id and name; a lead already
there is not checked again; control-API edits are not held to it. As with every validation error, one
such lead refuses the whole batch. Tags: ``_embedded.tags`` replaces the set, ``null`` clears it, an
unknown name creates the tag (names match case-insensitively); ``{id, name}`` together – reported to
drop all tags in amoCRM – is refused (``FieldNotExpected`` at ``_embedded.tags.N.name``). Users: when
the token's user is not an admin, ``GET /users`` answers a 403 problem+json. The account's
``datetime_settings`` follow the documentation's example (its ``date_formant`` spelling included;
``timezone_offset`` computed for the sandbox clock's now). An unknown ``with=`` on /account, /users,
/custom_fields and /tags answers 400 ``NotSupportedChoice`` at ``with``, as an unemulated filter does.
An unknown custom field id in ``GET …/custom_fields/{id}`` answers 404. Deleting a field drops its
values without touching ``updated_at``.

OAuth, choices (strict where the notes are silent): a refresh spends the refresh token **and revokes the
access token issued with it** (league/oauth2-server's refresh grant does so), so a client must switch to the
new access token at once; exchanging an authorization code revokes every earlier token of the integration (a
person authorising it again replaces the old grant; other unexchanged codes stay valid); a dead access token
answers 401 exactly as a wrong token does, and ``oauth_access_refused`` counts it. A spent, replaced or
revoked token stays known, so re-using it says "revoked", never "cannot decrypt"; an expired one that was also
revoked says "expired" (league checks expiry first). ``redirect_uri`` is required by both grants (amoCRM's
documentation lists it) and compared exactly. Client credentials are read from the body only (no HTTP Basic);
a missing ``client_secret`` is a failed client authentication (401), as in league. An unpaid account's token
endpoint still answers (the API then answers 402). A token exchange is counted in ``requests``, ``by_route``
and ``oauth_requests`` but in neither ``reads`` nor ``mutating``: it writes nothing in the CRM, and "a run
wrote nothing" (``mutating == 0``) must hold across a refresh; so ``requests == reads + mutating +
oauth_requests``. ``oauth_failures`` counts the endpoint's own error answers (400/401/405), not 429/403 of the
gate nor injected faults. Injected faults apply to the endpoint like to any API route: ``drop-after`` on
``/oauth2/access_token`` is the lost answer to a refresh that spends the token (API-NOTES).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from amosheets.sandbox.server import ApiError, ControlBody, Emulator, Request, Response, control_route

__all__ = ["AmoCRMEmulator", "OAuthIntegration", "UnknownEntity"]

HAL = "application/hal+json"
PROBLEM = "application/problem+json"
MAX_LIMIT = 250
MAX_BATCH = 250
MAX_COMPLEX = 50
MAX_EVENTS_LIMIT = 100  # the events API pages by at most 100
MAX_PIPELINES = 50
MAX_STATUSES = 100
WON, LOST = 142, 143
CLOSED = (WON, LOST)

API_USER_ID = 8123451  # the user the integration's token belongs to
MANAGER_USER_ID = 8123452  # a person working in the CRM (control API edits)
ANNA_USER_ID = 8123453  # another manager, for responsible-user tests
USERS = (
    {"id": API_USER_ID, "name": "Интеграция amosheets", "email": "integration@example.com", "lang": "ru"},
    {"id": MANAGER_USER_ID, "name": "Менеджер", "email": "manager@example.com", "lang": "ru"},
    {"id": ANNA_USER_ID, "name": "Анна Соколова", "email": "a.sokolova@example.com", "lang": "ru"},
)
USER_IDS = frozenset(u["id"] for u in USERS)

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

BLOCKED_HTML = (
    "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
    "<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
GATEWAY_TIMEOUT_HTML = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

ACCOUNT_WITH = frozenset(
    {
        "amojo_id",
        "amojo_rights",
        "users_groups",
        "task_types",
        "version",
        "entity_names",
        "datetime_settings",
        "drive_url",
        "is_api_filter_enabled",
        "invoices_settings",
    }
)

# OAuth 2.0 (league/oauth2-server behind amoCRM's own error wrapper)
OAUTH_PATH = "/oauth2/access_token"
OAUTH_CODE_SECONDS = 20 * 60  # an authorization code lives 20 minutes
OAUTH_ACCESS_SECONDS = 86400  # an access token, 24 hours
OAUTH_REFRESH_SECONDS = 90 * 86400  # a refresh token, "3 months"
DEFAULT_REDIRECT_URI = "https://example.com/amosheets"
OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
OAUTH_TITLE = "Некорректный запрос"
OAUTH_DETAIL = "В запросе отсутствует ряд параметров или параметры невалидны"
HINT_UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server."
HINT_CLIENT = "Client authentication failed"
HINT_CODE_UNKNOWN = "Cannot decrypt the authorization code"
HINT_CODE_EXPIRED = "Authorization code has expired"
HINT_CODE_REVOKED = "Authorization code has been revoked"
HINT_REFRESH_UNKNOWN = "Cannot decrypt the refresh token"
HINT_REFRESH_EXPIRED = "Token has expired"
HINT_REFRESH_REVOKED = "Token has been revoked"
OAUTH_GRANTS = ("authorization_code", "refresh_token")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

_MISSING: Any = object()
_ACCOUNT_IDS: set[int] = set()  # handed out in this process, so no two emulators share one
_ID_PATH = re.compile(r"/\d+(?=/|$)")
_INT_RE = re.compile(r"^-?\d+$")


class UnknownEntity(KeyError):
    """An id the control API does not know (HTTP control answers 404)."""


@dataclass(frozen=True)
class OAuthIntegration:
    """The account's OAuth integration, as Settings → Integrations → the integration → Keys shows it."""

    client_id: str
    client_secret: str
    redirect_uri: str = DEFAULT_REDIRECT_URI

    @classmethod
    def for_subdomain(cls, subdomain: str, redirect_uri: str = DEFAULT_REDIRECT_URI) -> OAuthIntegration:
        """The default integration of an account: a UUID and a 64-character secret derived from the subdomain,
        so an emulator (and one restarted in its place) always has the same ones and two accounts differ."""
        client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://{subdomain}.amocrm.ru/oauth/amosheets-sandbox"))
        digest = hashlib.sha512(f"amosheets sandbox client secret of {subdomain}".encode()).digest()
        return cls(client_id, "".join(_ALNUM[b % len(_ALNUM)] for b in digest), redirect_uri)


@dataclass
class _Grant:
    """An authorization code, access token or refresh token the emulator issued (kept after it dies, so that
    a spent or revoked one is told apart from one never issued)."""

    expires_at: float
    revoked: bool = False
    access_token: str | None = None  # a refresh token's pair

    def live(self, now: float) -> bool:
        return not self.revoked and now <= self.expires_at


# ----------------------------------------------------------------------------------------
# custom fields
# ----------------------------------------------------------------------------------------
FIELD_TYPES = (
    "text",
    "numeric",
    "checkbox",
    "select",
    "multiselect",
    "multitext",
    "date",
    "url",
    "textarea",
    "radiobutton",
    "streetaddress",
    "smart_address",
    "birthday",
    "legal_entity",
    "date_time",
    "items",
    "category",
    "price",
    "tracking_data",
    "linked_entity",
    "chained_list",
    "monetary",
    "file",
    "payer",
    "supplier",
)
TEXT_TYPES = frozenset({"text", "textarea", "url", "streetaddress", "tracking_data"})
NUMBER_TYPES = frozenset({"numeric", "monetary", "price"})
CHOICE_TYPES = frozenset({"select", "radiobutton", "category"})
OPTION_TYPES = CHOICE_TYPES | {"multiselect"}  # enums are option texts
ENUM_TYPES = OPTION_TYPES | {"multitext"}  # enums are required (for multitext: codes such as WORK)
DATE_TYPES = frozenset({"date", "birthday", "date_time"})
# Types whose values the sandbox can write; values for the others are refused as not emulated.
WRITABLE_TYPES = TEXT_TYPES | NUMBER_TYPES | ENUM_TYPES | DATE_TYPES | {"checkbox", "legal_entity"}
LEGAL_ENTITY_KEYS = frozenset(
    {"name", "entity_type", "vat_id", "tax_registration_reason_code", "address", "kpp", "external_uid"}
)


@dataclass(frozen=True)
class _Field:
    id: int
    name: str
    code: str | None
    type: str
    sort: int
    enums: tuple[tuple[int, str], ...] = ()  # (id, value): option texts, or codes for multitext
    entity: str = "leads"
    required_statuses: tuple[tuple[int, int], ...] = ()  # (pipeline_id, status_id)
    is_api_only: bool = False
    predefined: bool = False

    def enum_id(self, code: str) -> int | None:
        return next((i for i, c in self.enums if c == code), None)

    def enum_code(self, enum_id: int) -> str | None:
        return next((c for i, c in self.enums if i == enum_id), None)

    def definition(self, account_id: int, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "account_id": account_id,
            "code": self.code,
            "sort": self.sort,
            "is_api_only": self.is_api_only,
            "enums": [{"id": i, "value": c, "sort": (n + 1) * 2} for n, (i, c) in enumerate(self.enums)] or None,
            "group_id": None,
            "required_statuses": [{"status_id": s, "pipeline_id": p} for p, s in self.required_statuses],
            "is_deletable": not self.predefined,
            "is_predefined": self.predefined,
            "entity_type": self.entity,
            "remind": "never" if self.type == "birthday" else None,
            "_links": {"self": {"href": f"{base}/api/v4/{self.entity}/custom_fields/{self.id}"}},
        }


SOURCE_FIELD = _Field(1412001, "Источник", None, "text", 510)
PHONE_FIELD = _Field(
    1411001,
    "Телефон",
    "PHONE",
    "multitext",
    4,
    ((2908001, "WORK"), (2908003, "WORKDD"), (2908005, "MOB"), (2908007, "FAX"), (2908009, "HOME"), (2908011, "OTHER")),
    entity="contacts",
    predefined=True,
)
EMAIL_FIELD = _Field(
    1411003,
    "Email",
    "EMAIL",
    "multitext",
    6,
    ((2908013, "WORK"), (2908015, "PRIV"), (2908017, "OTHER")),
    entity="contacts",
    predefined=True,
)
POSITION_FIELD = _Field(1411005, "Должность", "POSITION", "text", 2, entity="contacts", predefined=True)


def _sample_lead_fields() -> tuple[_Field, ...]:
    """The lead fields of the sample account: one of every type a sheet column can hold."""
    specs: list[tuple[str, str, str | None, tuple[str, ...]]] = [
        ("Город", "text", None, ()),
        ("Комментарий", "textarea", None, ()),
        ("Сайт", "url", None, ()),
        ("Адрес", "streetaddress", None, ()),
        ("Количество", "numeric", None, ()),
        ("Предоплата", "monetary", None, ()),
        ("Цена", "price", None, ()),
        ("Оплачено", "checkbox", None, ()),
        ("Продукт", "select", None, ("Базовый", "Стандарт", "Премиум")),
        ("Канал", "radiobutton", None, ("Звонок", "Сайт", "Рекомендация")),
        ("Категория", "category", None, ("Розница", "Опт")),
        ("Интересы", "multiselect", None, ("Доставка", "Монтаж", "Сервис", "Обучение")),
        ("Дата встречи", "date", None, ()),
        ("День рождения", "birthday", None, ()),
        ("Время звонка", "date_time", None, ()),
        ("Мессенджеры", "multitext", None, ("TELEGRAM", "WHATSAPP", "VIBER", "OTHER")),
        ("utm_source", "tracking_data", "UTM_SOURCE", ()),
        ("Юрлицо", "legal_entity", None, ()),
    ]
    out = [SOURCE_FIELD]
    enum_id = 2909001
    for n, (name, ftype, code, options) in enumerate(specs):
        enums = tuple((enum_id + 2 * k, v) for k, v in enumerate(options))
        enum_id += 2 * len(options)
        out.append(_Field(1412003 + 2 * n, name, code, ftype, 512 + 2 * n, enums, predefined=code is not None))
    return tuple(out)


SAMPLE_LEAD_FIELDS = _sample_lead_fields()
SAMPLE_CONTACT_FIELDS = (POSITION_FIELD, PHONE_FIELD, EMAIL_FIELD)
FIRST_ADDED_FIELD_ID = 1413001
FIRST_ADDED_ENUM_ID = 2910001

# ----------------------------------------------------------------------------------------
# write keys
# ----------------------------------------------------------------------------------------
LEAD_CREATE_KEYS = frozenset(
    {
        "name",
        "price",
        "status_id",
        "pipeline_id",
        "responsible_user_id",
        "created_at",
        "updated_at",
        "closed_at",
        "loss_reason_id",
        "custom_fields_values",
        "tags_to_add",
        "request_id",
        "_embedded",
    }
)
LEAD_PATCH_KEYS = frozenset(
    {
        "id",
        "request_id",
        "name",
        "price",
        "status_id",
        "pipeline_id",
        "responsible_user_id",
        "loss_reason_id",
        "closed_at",
        "custom_fields_values",
        "tags_to_add",
        "tags_to_delete",
        "_embedded",
    }
)
CONTACT_CREATE_KEYS = frozenset(
    {"name", "first_name", "last_name", "responsible_user_id", "custom_fields_values", "request_id"}
)
CONTACT_PATCH_KEYS = CONTACT_CREATE_KEYS | {"id"}
COMPLEX_CONTACT_KEYS = CONTACT_CREATE_KEYS - {"request_id"}

EDIT_LEAD_KEYS = frozenset(
    {"name", "price", "status_id", "pipeline_id", "responsible_user_id", "custom_fields_values", "tags"}
)

LEAD_OUT_KEYS = (
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
)
CONTACT_OUT_KEYS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "responsible_user_id",
    "group_id",
    "created_by",
    "updated_by",
    "created_at",
    "updated_at",
    "closest_task_at",
    "is_deleted",
    "is_unsorted",
    "custom_fields_values",
    "account_id",
)


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _setting_name(name: Any) -> str:
    """A pipeline's or status's name, as amoCRM's settings accept it."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a name must be a non-empty string")
    return name


def _check_timezone(name: Any) -> str:
    """An IANA time zone name, as the account settings take it."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("timezone must be an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_RFC3339_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _number_text(v: Any) -> str | None:
    """A numeric field's value as amoCRM reads it back (a decimal string); None if it is not a number."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        v = repr(v)
        if "e" in v or "E" in v:
            v = format(Decimal(v), "f")
    if not isinstance(v, str) or not _NUMBER_RE.match(v):
        return None
    text = format(Decimal(v).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _unix_time(v: Any) -> int | None:
    """A date field's value: a Unix time, or an RFC 3339 date-time string; None if neither."""
    if _is_int(v):
        return int(v)
    if not isinstance(v, str):
        return None
    m = _RFC3339_RE.match(v)
    if m is None:
        return None
    day, clock, _fraction, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return int(datetime.fromisoformat(f"{day}T{clock}{zone}").timestamp())
    except ValueError:
        return None


def _err(code: str, path: str, detail: str) -> dict[str, str]:
    return {"code": code, "path": path, "detail": detail}


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    payload = {"title": TITLES.get(status, "Error"), "type": f"https://httpstatus.es/{status}", "status": status}
    payload["detail"] = detail
    return Response.json(status, payload, {"Content-Type": PROBLEM, **(headers or {})})


def validation_failed(
    items: list[tuple[str, list[dict[str, str]]]], detail: str = "Request validation failed"
) -> Response:
    return Response.json(
        400,
        {
            "validation-errors": [{"request_id": rid, "errors": errs} for rid, errs in items],
            "title": "Bad Request",
            "type": "https://httpstatus.es/400",
            "status": 400,
            "detail": detail,
        },
        {"Content-Type": PROBLEM},
    )


def oauth_problem(status: int, hint: str) -> Response:
    """An error of the token endpoint, in amoCRM's wrapper around league/oauth2-server's hint."""
    payload = {"hint": hint, "title": OAUTH_TITLE, "type": OAUTH_PROBLEM_TYPE, "status": status, "detail": OAUTH_DETAIL}
    return Response.json(status, payload, {"Content-Type": PROBLEM})


def _oauth_params(req: Request) -> dict[str, Any] | None:
    """The token request's parameters: a form body when it says so, else a JSON object; None when neither."""
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ctype = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _hal(payload: Any, status: int = 200) -> Response:
    return Response.json(status, payload, {"Content-Type": HAL})


def _query_error(path: str, code: str, detail: str) -> ApiError:
    return ApiError(validation_failed([("0", [_err(code, path, detail)])]))


def _non_empty(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _new_account_id() -> int:
    while (n := 10_000_000 + secrets.randbelow(90_000_000)) in _ACCOUNT_IDS:
        pass
    _ACCOUNT_IDS.add(n)
    return n


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


class _Table:
    """Rows by id (kept in id order) plus a sorted (updated_at, id) index.

    A page of a list over 100 000 rows is a slice of one of the two orders, filtered lazily.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self._upd: list[tuple[int, int]] = []
        self._max_id = 0
        self._in_order = True

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, row_id: int) -> dict[str, Any] | None:
        return self.rows.get(row_id)

    def add(self, row: dict[str, Any]) -> None:
        self._note_id(row["id"])
        self.rows[row["id"]] = row
        bisect.insort(self._upd, (row["updated_at"], row["id"]))

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._note_id(row["id"])
            self.rows[row["id"]] = row
        self._upd.extend((r["updated_at"], r["id"]) for r in rows)
        self._upd.sort()

    def touch(self, row: dict[str, Any], updated_at: int) -> None:
        self._unindex(row)
        row["updated_at"] = updated_at
        bisect.insort(self._upd, (updated_at, row["id"]))

    def remove(self, row_id: int) -> dict[str, Any]:
        row = self.rows.pop(row_id)
        self._unindex(row)
        return row

    def _note_id(self, row_id: int) -> None:
        if row_id < self._max_id:
            self._in_order = False
        self._max_id = max(self._max_id, row_id)

    def _unindex(self, row: dict[str, Any]) -> None:
        key = (row["updated_at"], row["id"])
        i = bisect.bisect_left(self._upd, key)
        if i < len(self._upd) and self._upd[i] == key:
            del self._upd[i]

    def _ensure_order(self) -> None:
        if not self._in_order:
            self.rows = dict(sorted(self.rows.items()))
            self._in_order = True

    def select(
        self,
        *,
        ids: list[int] | None = None,
        updated: tuple[int, int] | None = None,
        order: str = "id",
        desc: bool = False,
        pred: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows matching, in order. ``updated`` is an inclusive (lo, hi) range."""
        self._ensure_order()
        it: Iterable[dict[str, Any]]
        if ids is not None:
            cand = [self.rows[i] for i in sorted(set(ids)) if i in self.rows]
            if updated is not None:
                lo, hi = updated
                cand = [r for r in cand if lo <= r["updated_at"] <= hi]
            cand.sort(key=lambda r: (r[order], r["id"]), reverse=desc)
            it = cand
        elif order == "updated_at" or (updated is not None and self._span(updated) * 2 < len(self.rows)):
            i, j = self._range(updated)
            idx = range(j - 1, i - 1, -1) if desc else range(i, j)
            upd, rows = self._upd, self.rows
            if order == "updated_at":
                it = (rows[upd[k][1]] for k in idx)
            else:
                cand = [rows[upd[k][1]] for k in idx]
                cand.sort(key=lambda r: (r[order], r["id"]), reverse=desc)
                it = cand
        else:
            values: Iterable[dict[str, Any]] = reversed(self.rows.values()) if desc else self.rows.values()
            if updated is not None:
                lo, hi = updated
                values = (r for r in values if lo <= r["updated_at"] <= hi)
            if order != "id":
                values = sorted(values, key=lambda r: (r[order], r["id"]), reverse=desc)
            it = values
        return filter(pred, it) if pred is not None else iter(it)

    def _range(self, updated: tuple[int, int] | None) -> tuple[int, int]:
        if updated is None:
            return 0, len(self._upd)
        lo, hi = updated
        if lo > hi:
            return 0, 0
        return bisect.bisect_left(self._upd, (lo, -1)), bisect.bisect_right(self._upd, (hi, float("inf")))

    def _span(self, updated: tuple[int, int]) -> int:
        i, j = self._range(updated)
        return j - i


@dataclass
class _ListQuery:
    page: int
    limit: int
    ids: list[int] | None
    updated: tuple[int, int] | None
    empty: bool  # the filters can match nothing (a lone updated_at bound)
    order: str
    desc: bool
    with_: set[str]
    filters: dict[str, list[tuple[str, list[str]]]]


# ----------------------------------------------------------------------------------------
# the emulator
# ----------------------------------------------------------------------------------------
class AmoCRMEmulator(Emulator):
    """amoCRM API v4 on loopback. See the module docstring for routes and control."""

    name = "amocrm"

    def __init__(
        self,
        token: str = "sandbox-token",
        latency: float = 0.0,
        rate_limit: int | None = 7,
        block_after: int | None = 20,
        block_seconds: float = 600,
        updated_at_inclusive: bool = True,
        max_batch_before_504: int | None = None,
        batch_504_applied: bool = False,
        account_id: int | None = None,
        subdomain: str = "sandbox",
        token_is_admin: bool = True,
        timezone: str = "Europe/Moscow",
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
    ) -> None:
        super().__init__(latency=latency)
        self.initial_token = token
        self.token = token
        self.rate_limit = rate_limit
        self.block_after = block_after
        self.block_seconds = block_seconds
        self.updated_at_inclusive = updated_at_inclusive
        self.max_batch_before_504 = max_batch_before_504
        # On a 504 the gateway gave up, but the backend may have finished the write anyway.
        self.batch_504_applied = batch_504_applied
        # None: every new emulator (and every reset) is another account, as a restarted sandbox is.
        self._fixed_account_id = account_id
        self.account_id = 0
        self.subdomain = subdomain
        # False: the token's user is not an administrator, so GET /api/v4/users answers 403.
        self.token_is_admin = bool(token_is_admin)
        self.timezone = _check_timezone(timezone)
        # gate state
        self.unpaid = False
        self._blocked_until = 0.0
        self._window: deque[float] = deque()
        self._recent_429: deque[float] = deque()
        self._rate_limited = 0
        self._max_in_1s = 0
        self._pages_past_end = 0  # list pages asked for past the last one (answered 204)
        self._blocked_requests = 0
        # OAuth: the integration (kept by reset), what it issued (dropped by reset), and counters
        default = OAuthIntegration.for_subdomain(subdomain, redirect_uri)
        self.oauth = OAuthIntegration(
            _non_empty("client_id", client_id if client_id is not None else default.client_id),
            _non_empty("client_secret", client_secret if client_secret is not None else default.client_secret),
            _non_empty("redirect_uri", redirect_uri),
        )
        self._oauth_code_exchanges = 0
        self._oauth_refreshes = 0
        self._oauth_failures = 0
        self._oauth_access_refused = 0
        self._clear_oauth()
        self._seed()

    # ------------------------------------------------------------------ seeding -------
    def _seed(self) -> None:
        self.account_id = self._fixed_account_id or _new_account_id()
        self.created_at = self.clock.now() - 86400 * 365
        self._next_pipeline_id = 7412301
        self._next_status_id = 61820001
        self._next_lead_id = 30000001
        self._next_contact_id = 50000001
        self._next_tag_id = 401001
        self._next_event = 1
        self._pipelines: dict[int, dict[str, Any]] = {}
        self._status_owner: dict[int, int] = {}
        self._tags: dict[int, dict[str, Any]] = {}
        self._tag_by_name: dict[str, int] = {}
        self._leads = _Table()
        self._deleted = _Table()
        self._contacts = _Table()
        self._events: list[dict[str, Any]] = []
        self._fields: dict[str, dict[int, _Field]] = {
            "leads": {f.id: f for f in SAMPLE_LEAD_FIELDS},
            "contacts": {f.id: f for f in SAMPLE_CONTACT_FIELDS},
        }
        self._next_field_id = FIRST_ADDED_FIELD_ID
        self._next_enum_id = FIRST_ADDED_ENUM_ID
        self._add_pipeline(
            "Воронка",
            ["Первичный контакт", "Переговоры", "Принимают решение", "Согласование договора"],
            is_main=True,
        )
        self._add_pipeline("Партнёры", ["Новая заявка", "Встреча назначена"], is_main=False)

    def _add_pipeline(self, name: str, statuses: list[str], is_main: bool) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a pipeline needs a name")
        if len(self._pipelines) >= MAX_PIPELINES:
            raise ValueError(f"at most {MAX_PIPELINES} pipelines")
        if len(statuses) + 3 > MAX_STATUSES:
            raise ValueError(f"at most {MAX_STATUSES} statuses in a pipeline")
        pid = self._next_pipeline_id
        self._next_pipeline_id += 3
        colors = ["#99ccff", "#ffff99", "#ffcc66", "#ffcccc", "#d6eaff", "#ccc8f9", "#deff81"]

        def status(sid: int, sname: str, sort: int, stype: int, color: str, editable: bool) -> dict[str, Any]:
            return {
                "id": sid,
                "name": sname,
                "sort": sort,
                "is_editable": editable,
                "pipeline_id": pid,
                "color": color,
                "type": stype,
                "account_id": self.account_id,
            }

        rows = [status(self._new_status_id(pid), "Неразобранное", 10, 1, "#c1c1c1", False)]
        for n, sname in enumerate(statuses):
            if not isinstance(sname, str) or not sname.strip():
                raise ValueError("status names must be non-empty strings")
            rows.append(status(self._new_status_id(pid), sname, 20 + n * 10, 0, colors[n % len(colors)], True))
        rows.append(status(WON, "Успешно реализовано", 10000, 0, "#CCFF66", False))
        rows.append(status(LOST, "Закрыто и не реализовано", 11000, 0, "#D5D8DB", False))
        if is_main:
            for p in self._pipelines.values():
                p["is_main"] = False
        pipeline = {
            "id": pid,
            "name": name,
            "sort": len(self._pipelines) + 1,
            "is_main": bool(is_main) or not self._pipelines,
            "is_unsorted_on": True,
            "is_archive": False,
            "account_id": self.account_id,
            "statuses": rows,
            "by_id": {s["id"]: s for s in rows},
        }
        self._pipelines[pid] = pipeline
        return pipeline

    def _new_status_id(self, pid: int) -> int:
        sid = self._next_status_id
        self._next_status_id += 3
        self._status_owner[sid] = pid
        return sid

    def _main(self) -> dict[str, Any]:
        return next(p for p in self._pipelines.values() if p["is_main"])

    @staticmethod
    def _first_open(pipeline: dict[str, Any]) -> int:
        return next(s["id"] for s in sorted(pipeline["statuses"], key=lambda s: s["sort"]) if s["type"] != 1)

    # ------------------------------------------------------------------ plumbing ------
    def route_name(self, path: str) -> str:
        return _ID_PATH.sub("/{id}", path)

    def fault_response(self, status: int, req: Request) -> Response:
        if status == 504:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        if status == 429:
            return problem(429, "Too many requests")
        return problem(
            status, {500: "Internal error", 502: "Bad gateway", 503: "Service temporarily unavailable"}[status]
        )

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return problem(status, message, headers)

    def echo_response(self, status: int, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        if status == 400:  # the first element of the request is named, its detail echoing the header
            errors = [{"code": "InvalidValue", "path": "name", "detail": f"for {auth}"}]
            return validation_failed([("0", errors)], f"Request validation failed for {auth}")
        return problem(status, f"Access denied for {auth}")

    def request_kind(self, key: str) -> str:
        """A token exchange is neither a read nor a write of the CRM: counted in ``requests`` and
        ``oauth_requests`` only, so "nothing was written" (``mutating == 0``) holds across a refresh."""
        return "oauth" if key.split(" ", 1)[-1] == OAUTH_PATH else super().request_kind(key)

    def extra_stats(self) -> dict[str, Any]:
        with self._count_lock:
            oauth_requests = sum(n for k, n in self._counts.items() if self.request_kind(k) == "oauth")
        with self.lock:
            return {
                "rate_limited": self._rate_limited,
                "max_requests_in_1s": self._max_in_1s,
                "pages_past_end": self._pages_past_end,
                "blocked_requests": self._blocked_requests,
                "blocked": self.clock.time() < self._blocked_until,
                "rate_limit": self.rate_limit,
                "oauth_requests": oauth_requests,
                "oauth_code_exchanges": self._oauth_code_exchanges,
                "oauth_refreshes": self._oauth_refreshes,
                "oauth_failures": self._oauth_failures,
                "oauth_access_refused": self._oauth_access_refused,
            }

    def reset_extra_stats(self) -> None:
        with self.lock:
            self._rate_limited = 0
            self._max_in_1s = 0
            self._pages_past_end = 0
            self._blocked_requests = 0
            self._oauth_code_exchanges = 0
            self._oauth_refreshes = 0
            self._oauth_failures = 0
            self._oauth_access_refused = 0

    def _base(self, req: Request | None) -> str:
        host = req.headers.get("host") if req is not None else None
        return f"http://{host}" if host else f"https://{self.subdomain}.amocrm.ru"

    def route(self, req: Request) -> Response:
        with self.lock:
            now = self.clock.time()
            if now < self._blocked_until:
                self._blocked_requests += 1
                return Response.html(403, BLOCKED_HTML)
            limited = self._rate_gate(now)
            if limited is not None:
                return limited
            if req.path == OAUTH_PATH:  # no bearer token, and not refused for an unpaid account
                return self._oauth_endpoint(req, now)
            auth = req.headers.get("authorization")
            if auth is None:
                return problem(401, "Authorization header is required")
            if not self._bearer_ok(auth, now):
                return problem(401, "Access token is invalid, expired or revoked")
            if self.unpaid:
                return problem(402, "Account is not paid")
            for pattern, methods in _ROUTES:
                m = pattern.fullmatch(req.path)
                if m is None:
                    continue
                handler = methods.get(req.method)
                if handler is None:
                    return problem(405, f"Method {req.method} is not allowed", {"Allow": ", ".join(methods)})
                args = [int(g) for g in m.groups()]
                return getattr(self, handler)(req, *args)
            return problem(404, f"Route {req.path} not found")

    def _bearer_ok(self, auth: str, now: float) -> bool:
        """The long-lived token, or an OAuth access token that is neither expired nor revoked."""
        if auth == f"Bearer {self.token}":
            return True
        grant = self._oauth_access.get(auth[len("Bearer ") :]) if auth.startswith("Bearer ") else None
        if grant is None:
            return False
        if not grant.live(now):
            self._oauth_access_refused += 1
            return False
        return True

    def _rate_gate(self, now: float) -> Response | None:
        """Count the request in the sliding second (always, for max_requests_in_1s); 429 beyond the limit."""
        window = self._window
        if window and window[-1] > now:  # the clock was set back: those requests are no longer "just now"
            window.clear()
            self._recent_429.clear()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if self.rate_limit is not None and len(window) >= self.rate_limit:
            self._rate_limited += 1
            recent = self._recent_429
            recent.append(now)
            while recent and recent[0] <= now - 60.0:
                recent.popleft()
            if self.block_after is not None and len(recent) >= self.block_after:
                self._blocked_until = now + self.block_seconds
                recent.clear()
            return problem(429, "Too many requests")
        window.append(now)
        self._max_in_1s = max(self._max_in_1s, len(window))
        return None

    # ------------------------------------------------------------------ parsing -------
    @staticmethod
    def _body_array(req: Request, max_len: int) -> list[Any]:
        data = AmoCRMEmulator._body(req)
        if not isinstance(data, list):
            raise ApiError(problem(400, "Request body must be a JSON array"))
        if not data:
            raise ApiError(problem(400, "Request body must not be an empty array"))
        if len(data) > max_len:
            raise ApiError(problem(400, f"Too many entities in one request: {len(data)}, at most {max_len}"))
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ApiError(
                    validation_failed([(str(i), [_err("InvalidType", "", "Each element must be an object")])])
                )
        return data

    @staticmethod
    def _body(req: Request) -> Any:
        if not req.body:
            raise ApiError(problem(400, "Request body is empty"))
        try:
            return json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(problem(400, "Request body is not valid JSON")) from None

    def _too_slow(self, n: int) -> bool:
        return self.max_batch_before_504 is not None and n > self.max_batch_before_504

    @staticmethod
    def _rid(item: dict[str, Any], index: int) -> str:
        rid = item.get("request_id")
        return rid if isinstance(rid, str) else str(index)

    def _parse_list(
        self,
        req: Request,
        *,
        max_limit: int = MAX_LIMIT,
        filters: frozenset[str],
        orders: tuple[str, ...],
        default_order: tuple[str, bool] = ("id", False),
    ) -> _ListQuery:
        limit_s = req.arg("limit")
        if limit_s is None:
            limit = min(50, max_limit)
        elif not _INT_RE.match(limit_s) or not 1 <= int(limit_s) <= max_limit:
            raise _query_error("limit", "InvalidType", f"limit must be an integer from 1 to {max_limit}")
        else:
            limit = int(limit_s)
        page_s = req.arg("page")
        if page_s is None:
            page = 1
        elif not _INT_RE.match(page_s) or int(page_s) < 1:
            raise _query_error("page", "InvalidType", "page must be a positive integer")
        else:
            page = int(page_s)
        with_ = {w.strip() for v in req.query.get("with", []) for w in v.split(",") if w.strip()}

        parsed: dict[str, list[tuple[str, list[str]]]] = {}
        order, desc = default_order
        order_seen = False
        for key, values in req.query.items():
            m = re.fullmatch(r"filter\[(\w+)\](.*)", key)
            if m:
                fname, suffix = m.groups()
                if fname not in filters:
                    raise _query_error(f"filter.{fname}", "NotSupportedChoice", f"filter[{fname}] is not emulated")
                parsed.setdefault(fname, []).append((suffix, values))
                continue
            m = re.fullmatch(r"order\[(\w+)\]", key)
            if m:
                field = m.group(1)
                direction = values[-1].lower()
                if field not in orders:
                    raise _query_error(f"order.{field}", "NotSupportedChoice", f"cannot order by {field}")
                if direction not in ("asc", "desc"):
                    raise _query_error(f"order.{field}", "NotSupportedChoice", "order must be asc or desc")
                if not order_seen:
                    order, desc, order_seen = field, direction == "desc", True
        ids = self._int_filter(parsed, "id") if "id" in parsed else None
        updated, empty = None, False
        if "updated_at" in parsed:
            updated, empty = self._range_filter(parsed["updated_at"], "updated_at", need_both=True)
        return _ListQuery(page, limit, ids, updated, empty, order, desc, with_, parsed)

    @staticmethod
    def _int_filter(parsed: dict[str, list[tuple[str, list[str]]]], name: str) -> list[int]:
        out: list[int] = []
        for suffix, values in parsed[name]:
            if not re.fullmatch(r"(\[\d*\])?", suffix):
                raise _query_error(f"filter.{name}", "NotSupportedChoice", f"bad filter[{name}] form")
            for v in values:
                if not _INT_RE.match(v.strip()):
                    raise _query_error(f"filter.{name}", "InvalidType", f"filter[{name}] takes integers")
                out.append(int(v))
        return out

    def _range_filter(
        self, entries: list[tuple[str, list[str]]], name: str, need_both: bool
    ) -> tuple[tuple[int, int] | None, bool]:
        bounds: dict[str, int] = {}
        for suffix, values in entries:
            key = {"[from]": "from", "[to]": "to", "": "eq"}.get(suffix)
            if key is None:
                raise _query_error(f"filter.{name}", "NotSupportedChoice", f"bad filter[{name}] form")
            v = values[-1].strip()
            if not _INT_RE.match(v):
                raise _query_error(f"filter.{name}", "InvalidType", f"filter[{name}] takes Unix seconds")
            bounds[key] = int(v)
        # A lone bound (or a bare value) has been seen to return nothing: make clients send both.
        if need_both and ("from" not in bounds or "to" not in bounds or "eq" in bounds):
            return None, True
        if "eq" in bounds:
            return (bounds["eq"], bounds["eq"]), False
        lo = bounds.get("from", -(2**62))
        hi = bounds.get("to", 2**62)
        if name == "updated_at" and not self.updated_at_inclusive:
            lo, hi = lo + 1, hi - 1
        return (lo, hi), False

    def _href(self, req: Request, page: int, limit: int) -> str:
        pairs = [(k, v) for k, vs in req.query.items() if k not in ("page", "limit") for v in vs]
        pairs += [("limit", str(limit)), ("page", str(page))]
        return f"{self._base(req)}{req.path}?{urlencode(pairs, safe='[]')}"

    def _page(
        self,
        req: Request,
        q: _ListQuery,
        rows: Iterator[Any],
        kind: str,
        out: Callable[[Any], dict[str, Any]],
        total: int | None = None,
    ) -> Response:
        """One page; ``total`` (for short in-memory lists) adds ``_total_items`` and ``_page_count``."""
        start = (q.page - 1) * q.limit
        chunk = list(itertools.islice(rows, start, start + q.limit))
        if not chunk:
            if q.page > 1:
                with self.lock:
                    self._pages_past_end += 1
            return Response.empty(204)
        links: dict[str, Any] = {"self": {"href": self._href(req, q.page, q.limit)}}
        if len(chunk) == q.limit:
            links["next"] = {"href": self._href(req, q.page + 1, q.limit)}
        if q.page > 1:
            links["prev"] = {"href": self._href(req, q.page - 1, q.limit)}
        payload: dict[str, Any] = {}
        if total is not None:
            payload["_total_items"] = total
        payload["_page"] = q.page
        if total is not None:
            payload["_page_count"] = max(1, -(-total // q.limit))
        payload["_links"] = links
        payload["_embedded"] = {kind: [out(r) for r in chunk]}
        return _hal(payload)

    # ------------------------------------------------------------------ output --------
    @staticmethod
    def _cf_out(cf: dict[int, list[dict[str, Any]]], fields: dict[int, _Field]) -> list[dict[str, Any]] | None:
        if not cf:
            return None
        out = []
        for fid in sorted(cf, key=lambda i: (fields[i].sort, i)):
            f = fields[fid]
            out.append(
                {
                    "field_id": f.id,
                    "field_name": f.name,
                    "field_code": f.code,
                    "field_type": f.type,
                    "values": [dict(v) for v in cf[fid]],
                }
            )
        return out

    def _lead_out(self, row: dict[str, Any], base: str, with_contacts: bool = False) -> dict[str, Any]:
        out = {k: row[k] for k in LEAD_OUT_KEYS}
        out["custom_fields_values"] = self._cf_out(row["_cf"], self._fields["leads"])
        out["_links"] = {"self": {"href": f"{base}/api/v4/leads/{row['id']}"}}
        emb: dict[str, Any] = {"tags": [dict(self._tags[t]) for t in row["_tags"]], "companies": []}
        if with_contacts:
            emb["contacts"] = [
                {
                    "id": cid,
                    "is_main": cid == row["_main"],
                    "_links": {"self": {"href": f"{base}/api/v4/contacts/{cid}"}},
                }
                for cid in row["_contacts"]
            ]
        out["_embedded"] = emb
        return out

    def _contact_out(self, row: dict[str, Any], base: str, with_leads: bool = False) -> dict[str, Any]:
        out = {k: row[k] for k in CONTACT_OUT_KEYS}
        out["custom_fields_values"] = self._cf_out(row["_cf"], self._fields["contacts"])
        out["_links"] = {"self": {"href": f"{base}/api/v4/contacts/{row['id']}"}}
        emb: dict[str, Any] = {"tags": [], "companies": []}
        if with_leads:
            emb["leads"] = [
                {"id": lid, "_links": {"self": {"href": f"{base}/api/v4/leads/{lid}"}}}
                for lid in row["_leads"]
                if lid in self._leads.rows
            ]
        out["_embedded"] = emb
        return out

    def _pipeline_out(self, p: dict[str, Any], base: str) -> dict[str, Any]:
        href = f"{base}/api/v4/leads/pipelines/{p['id']}"
        return {
            "id": p["id"],
            "name": p["name"],
            "sort": p["sort"],
            "is_main": p["is_main"],
            "is_unsorted_on": p["is_unsorted_on"],
            "is_archive": p["is_archive"],
            "account_id": p["account_id"],
            "_links": {"self": {"href": href}},
            "_embedded": {
                "statuses": [
                    {**s, "_links": {"self": {"href": f"{href}/statuses/{s['id']}"}}}
                    for s in sorted(p["statuses"], key=lambda s: s["sort"])
                ]
            },
        }

    # ------------------------------------------------------------------ validation ----
    def _check_cf(
        self, value: Any, entity: str, path: str, errs: list[dict[str, str]]
    ) -> dict[int, list[dict[str, Any]]] | None:
        """Validate a ``custom_fields_values`` write; {field id: new values} where [] clears the field."""
        if value is None:
            return None  # choice: null means "no change"
        if not isinstance(value, list):
            errs.append(_err("InvalidType", path, "custom_fields_values must be an array"))
            return None
        fields = self._fields[entity]
        codes = {f.code: f for f in fields.values() if f.code}
        noun = entity[:-1]
        out: dict[int, list[dict[str, Any]]] = {}
        for i, item in enumerate(value):
            p = f"{path}.{i}"
            if not isinstance(item, dict):
                errs.append(_err("InvalidType", p, "must be an object"))
                continue
            for k in item:
                # field_name and field_type, echoed from a read, are ignored as amoCRM ignores them
                if k not in ("field_id", "field_code", "values", "field_name", "field_type"):
                    errs.append(_err("FieldNotExpected", f"{p}.{k}", f"{k} is not expected here"))
            field: _Field | None = None
            fid, fcode = item.get("field_id"), item.get("field_code")
            if fid is not None:
                if not _is_int(fid):
                    errs.append(_err("InvalidType", f"{p}.field_id", "field_id must be an integer"))
                elif fid not in fields:
                    errs.append(_err("NotSupportedChoice", f"{p}.field_id", f"No {noun} custom field {fid}"))
                else:
                    field = fields[fid]
            if fcode is not None:
                if not isinstance(fcode, str):
                    errs.append(_err("InvalidType", f"{p}.field_code", "field_code must be a string"))
                elif fcode not in codes:
                    errs.append(_err("NotSupportedChoice", f"{p}.field_code", f"No {noun} custom field {fcode}"))
                elif field is not None and codes[fcode] is not field:
                    errs.append(_err("NotSupportedChoice", f"{p}.field_code", "field_code does not match field_id"))
                else:
                    field = codes[fcode]
            if fid is None and fcode is None:
                errs.append(_err("FieldMissing", f"{p}.field_id", "field_id or field_code is required"))
            if "values" not in item:
                errs.append(_err("FieldMissing", f"{p}.values", "values is required"))
                continue
            vals = item["values"]
            if vals is None:  # clears the field
                if field is not None:
                    out[field.id] = []
                continue
            if not isinstance(vals, list):
                errs.append(_err("InvalidType", f"{p}.values", "values must be an array"))
                continue
            if field is None:
                continue
            norm = self._check_values(field, vals, f"{p}.values", errs)
            if norm is not None:
                out[field.id] = norm
        return out

    @staticmethod
    def _check_values(
        field: _Field, vals: list[Any], path: str, errs: list[dict[str, str]]
    ) -> list[dict[str, Any]] | None:
        """The values of one field, by its type; None when they are refused."""
        ftype = field.type
        if ftype not in WRITABLE_TYPES:
            errs.append(_err("NotSupportedChoice", path, f"values of {ftype} fields are not emulated by the sandbox"))
            return None
        if ftype not in ("multiselect", "multitext") and len(vals) > 1:
            errs.append(_err("TooManyElements", path, f"{field.name} takes one value"))
            return None
        if ftype == "multitext":
            allowed: tuple[str, ...] = ("value", "enum_id", "enum_code")
        elif ftype in OPTION_TYPES:
            allowed = ("value", "enum_id")  # enum_code on a select is refused (Krukov/amocrm_api#68)
        else:
            allowed = ("value",)
        n_errs = len(errs)
        norm: list[dict[str, Any]] = []
        for j, v in enumerate(vals):
            pv = f"{path}.{j}"
            if not isinstance(v, dict):
                errs.append(_err("InvalidType", pv, "must be an object"))
                continue
            for k in v:
                if k not in allowed:
                    errs.append(_err("FieldNotExpected", f"{pv}.{k}", f"{k} is not expected here"))
            if ftype in OPTION_TYPES:
                option = AmoCRMEmulator._check_option(field, v, pv, errs)
                if option is not None and all(o["enum_id"] != option["enum_id"] for o in norm):
                    norm.append(option)
                continue
            if "value" not in v:
                errs.append(_err("FieldMissing", f"{pv}.value", "value is required"))
                continue
            val = v["value"]
            pval = f"{pv}.value"
            if ftype in TEXT_TYPES or ftype == "multitext":
                if not isinstance(val, str):
                    errs.append(_err("InvalidType", pval, "value must be a string"))
                elif not val.strip():
                    errs.append(_err("NotBlank", pval, "value must not be blank"))
                elif ftype in TEXT_TYPES:
                    norm.append({"value": val})
                else:
                    enum_id = AmoCRMEmulator._check_multitext_enum(field, v, pv, errs)
                    if enum_id is not None:
                        norm.append({"value": val, "enum_id": enum_id, "enum_code": field.enum_code(enum_id)})
            elif ftype in NUMBER_TYPES:
                text = _number_text(val)
                if text is None:
                    errs.append(_err("InvalidType", pval, "value must be a number or a string holding one"))
                else:
                    norm.append({"value": text})
            elif ftype == "checkbox":
                if not isinstance(val, bool):
                    errs.append(_err("InvalidType", pval, "value must be a boolean"))
                else:
                    norm.append({"value": val})
            elif ftype in DATE_TYPES:
                ts = _unix_time(val)
                if ts is None:
                    errs.append(_err("InvalidType", pval, "value must be a Unix time or an RFC 3339 date-time"))
                else:
                    norm.append({"value": ts})
            else:  # legal_entity
                if not isinstance(val, dict):
                    errs.append(_err("InvalidType", pval, "value must be an object"))
                    continue
                for k in val:
                    if k not in LEGAL_ENTITY_KEYS:
                        errs.append(_err("FieldNotExpected", f"{pval}.{k}", f"{k} is not expected here"))
                name = val.get("name")
                if not isinstance(name, str) or not name.strip():
                    errs.append(_err("FieldMissing", f"{pval}.name", "a legal entity needs a name"))
                    continue
                norm.append({"value": dict(val)})
        return norm if len(errs) == n_errs else None

    @staticmethod
    def _check_option(field: _Field, v: dict[str, Any], pv: str, errs: list[dict[str, str]]) -> dict[str, Any] | None:
        """One option of a select, radiobutton, category or multiselect: by enum_id or by its exact text."""
        enum_id: int | None = None
        if "enum_id" in v:
            eid = v["enum_id"]
            if not _is_int(eid) or field.enum_code(eid) is None:
                errs.append(_err("NotSupportedChoice", f"{pv}.enum_id", f"No option {eid!r} in {field.name}"))
                return None
            enum_id = eid
        if "value" in v:
            text = v["value"]
            if not isinstance(text, str):
                errs.append(_err("InvalidType", f"{pv}.value", "value must be a string"))
                return None
            by_text = field.enum_id(text)  # exactly as spelt: no trimming, no case folding
            if by_text is None:
                options = ", ".join(c for _, c in field.enums)
                detail = f"{text!r} is not an option of {field.name}: {options}"
                errs.append(_err("NotSupportedChoice", f"{pv}.value", detail))
                return None
            if enum_id is not None and enum_id != by_text:
                errs.append(_err("NotSupportedChoice", f"{pv}.value", "value does not match enum_id"))
                return None
            enum_id = by_text
        if enum_id is None:
            if set(v) <= {"value", "enum_id"}:  # other keys were refused already
                errs.append(_err("FieldMissing", f"{pv}.enum_id", "enum_id or value is required"))
            return None
        return {"value": field.enum_code(enum_id), "enum_id": enum_id}

    @staticmethod
    def _check_multitext_enum(field: _Field, v: dict[str, Any], pv: str, errs: list[dict[str, str]]) -> int | None:
        enum_id: int | None = None
        if "enum_id" in v:
            eid = v["enum_id"]
            if not _is_int(eid) or field.enum_code(eid) is None:
                errs.append(_err("NotSupportedChoice", f"{pv}.enum_id", f"No enum {eid!r} in {field.name}"))
                return None
            enum_id = eid
        if "enum_code" in v:
            ec = v["enum_code"]
            eid2 = field.enum_id(ec) if isinstance(ec, str) else None
            if eid2 is None:
                errs.append(_err("NotSupportedChoice", f"{pv}.enum_code", f"No enum {ec!r} in {field.name}"))
                return None
            if enum_id is not None and enum_id != eid2:
                errs.append(_err("NotSupportedChoice", f"{pv}.enum_code", "enum_code does not match enum_id"))
                return None
            enum_id = eid2
        if enum_id is None:  # the field's WORK enum, else its first
            enum_id = field.enum_id("WORK") or field.enums[0][0]
        return enum_id

    def _check_tags(self, value: Any, path: str, errs: list[dict[str, str]]) -> list[tuple[int | None, str | None]]:
        out: list[tuple[int | None, str | None]] = []
        if not isinstance(value, list):
            errs.append(_err("InvalidType", path, "must be an array"))
            return out
        for i, t in enumerate(value):
            p = f"{path}.{i}"
            if not isinstance(t, dict):
                errs.append(_err("InvalidType", p, "must be an object"))
                continue
            for k in t:
                if k not in ("id", "name"):
                    errs.append(_err("FieldNotExpected", f"{p}.{k}", f"{k} is not expected here"))
            tid, tname = t.get("id"), t.get("name")
            if tid is not None and tname is not None:
                # amoCRM has been seen to drop all tags then (amocrm-api-php#257): refused here instead
                errs.append(_err("FieldNotExpected", f"{p}.name", "send a tag's id or its name, not both"))
                continue
            if tid is not None:
                if not _is_int(tid) or tid not in self._tags:
                    errs.append(_err("NotSupportedChoice", f"{p}.id", f"No tag {tid!r}"))
                    continue
                out.append((tid, None))
            elif tname is not None:
                if not isinstance(tname, str) or not tname.strip():
                    errs.append(_err("InvalidType", f"{p}.name", "name must be a non-empty string"))
                    continue
                out.append((None, tname.strip()))
            else:
                errs.append(_err("FieldMissing", f"{p}.id", "id or name is required"))
        return out

    def _check_status(
        self, obj: dict[str, Any], existing: dict[str, Any] | None, errs: list[dict[str, str]]
    ) -> dict[str, Any]:
        pid = obj.get("pipeline_id", _MISSING)
        sid = obj.get("status_id", _MISSING)
        pipeline: dict[str, Any] | None = None
        if pid is not _MISSING:
            if not _is_int(pid):
                errs.append(_err("InvalidType", "pipeline_id", "pipeline_id must be an integer"))
                return {}
            pipeline = self._pipelines.get(pid)
            if pipeline is None:
                errs.append(_err("NotSupportedChoice", "pipeline_id", f"No pipeline {pid}"))
                return {}
        if sid is not _MISSING and not _is_int(sid):
            errs.append(_err("InvalidType", "status_id", "status_id must be an integer"))
            return {}
        if pipeline is None:
            if existing is not None:
                pipeline = self._pipelines.get(existing["pipeline_id"])
                if pipeline is None:  # a deal of a pipeline no longer listed: only its status may not change
                    if sid is not _MISSING:
                        errs.append(_err("NotSupportedChoice", "status_id", f"No status {sid}"))
                    return {}
            elif sid is not _MISSING:
                owner = self._main()["id"] if sid in CLOSED else self._status_owner.get(sid)
                if owner is None:
                    errs.append(_err("NotSupportedChoice", "status_id", f"No status {sid}"))
                    return {}
                pipeline = self._pipelines[owner]
            else:
                pipeline = self._main()
        if sid is not _MISSING:
            status = pipeline["by_id"].get(sid)
            if status is None:
                errs.append(
                    _err("NotSupportedChoice", "status_id", f"Status {sid} is not in pipeline {pipeline['id']}")
                )
                return {}
            if status["type"] == 1:
                errs.append(
                    _err("NotSupportedChoice", "status_id", "Leads cannot be put into the incoming (unsorted) status")
                )
                return {}
            return {"pipeline_id": pipeline["id"], "status_id": sid}
        if existing is not None and existing["pipeline_id"] == pipeline["id"]:
            return {}
        return {"pipeline_id": pipeline["id"], "status_id": self._first_open(pipeline)}

    def _check_str(self, obj: dict[str, Any], key: str, prefix: str, errs: list[dict[str, str]], ch: dict) -> None:
        if key not in obj:
            return
        v = obj[key]
        if not isinstance(v, str):
            errs.append(_err("InvalidType", prefix + key, f"{key} must be a string"))
        elif len(v) > 255:
            errs.append(_err("InvalidLength", prefix + key, f"{key} must be at most 255 characters"))
        else:
            ch[key] = v

    def _check_user(self, obj: dict[str, Any], key: str, prefix: str, errs: list[dict[str, str]], ch: dict) -> None:
        if key not in obj:
            return
        v = obj[key]
        if not _is_int(v):
            errs.append(_err("InvalidType", prefix + key, f"{key} must be an integer"))
        elif v not in USER_IDS:
            errs.append(_err("NotSupportedChoice", prefix + key, f"No user {v}"))
        else:
            ch[key] = v

    def _check_lead(
        self,
        obj: dict[str, Any],
        existing: dict[str, Any] | None,
        errs: list[dict[str, str]],
        complex_: bool = False,
    ) -> dict[str, Any]:
        """Validate one lead write; return the planned change (valid only when errs stays empty)."""
        allowed = LEAD_PATCH_KEYS if existing is not None else LEAD_CREATE_KEYS
        for k in obj:
            if k not in allowed:
                errs.append(_err("FieldNotExpected", k, f"{k} is not expected here"))
        ch: dict[str, Any] = {}
        if "request_id" in obj and not isinstance(obj["request_id"], str):
            errs.append(_err("InvalidType", "request_id", "request_id must be a string"))
        self._check_str(obj, "name", "", errs, ch)
        if "price" in obj:
            if _is_int(obj["price"]):
                ch["price"] = obj["price"]
            else:
                errs.append(_err("InvalidType", "price", "price must be an integer"))
        self._check_user(obj, "responsible_user_id", "", errs, ch)
        for key in ("created_at", "updated_at"):
            if key in obj and key in allowed:
                if _is_int(obj[key]) and obj[key] >= 0:
                    ch[key] = obj[key]
                else:
                    errs.append(_err("InvalidType", key, f"{key} must be a Unix timestamp"))
        if "closed_at" in obj:
            v = obj["closed_at"]
            if v is None or (_is_int(v) and v >= 0):
                ch["closed_at"] = v
            else:
                errs.append(_err("InvalidType", "closed_at", "closed_at must be a Unix timestamp or null"))
        if "loss_reason_id" in obj:
            v = obj["loss_reason_id"]
            if v is None:
                ch["loss_reason_id"] = None
            elif not _is_int(v):
                errs.append(_err("InvalidType", "loss_reason_id", "loss_reason_id must be an integer"))
            else:  # the sandbox account has no loss reasons
                errs.append(_err("NotSupportedChoice", "loss_reason_id", f"No loss reason {v}"))
        ch.update(self._check_status(obj, existing, errs))
        if "custom_fields_values" in obj:
            cf = self._check_cf(obj["custom_fields_values"], "leads", "custom_fields_values", errs)
            if cf is not None:
                ch["_cf"] = cf
        if not errs:
            self._check_required(existing, ch, errs)
        for key in ("tags_to_add", "tags_to_delete"):
            if key in obj and key in allowed:
                ch["_" + key] = self._check_tags(obj[key], key, errs)
        emb = obj.get("_embedded")
        if emb is not None or "_embedded" in obj:
            if not isinstance(emb, dict):
                errs.append(_err("InvalidType", "_embedded", "_embedded must be an object"))
            else:
                self._check_lead_embedded(emb, errs, ch, complex_)
        return ch

    def _check_required(self, existing: dict[str, Any] | None, ch: dict[str, Any], errs: list[dict[str, str]]) -> None:
        """A lead put into a status (created there or moved there) needs the fields required in it."""
        if "status_id" not in ch:
            return
        target = (ch["pipeline_id"], ch["status_id"])
        if existing is not None and (existing["pipeline_id"], existing["status_id"]) == target:
            return
        cf = ch.get("_cf", {})
        for f in sorted(self._fields["leads"].values(), key=lambda f: (f.sort, f.id)):
            if target not in f.required_statuses:
                continue
            values = cf[f.id] if f.id in cf else (existing["_cf"].get(f.id) if existing is not None else None)
            if not values:
                errs.append(
                    _err(
                        "FieldMissing",
                        "custom_fields_values",
                        f"Field {f.id} «{f.name}» is required in status {target[1]} of pipeline {target[0]}",
                    )
                )

    def _check_lead_embedded(self, emb: dict[str, Any], errs: list[dict[str, str]], ch: dict, complex_: bool) -> None:
        for k in emb:
            if k not in ("tags", "contacts", "companies"):
                errs.append(_err("FieldNotExpected", f"_embedded.{k}", f"{k} is not expected here"))
        if "tags" in emb:  # replaces the whole set; null clears it
            tags = emb["tags"]
            ch["_tags_set"] = [] if tags is None else self._check_tags(tags, "_embedded.tags", errs)
        if "companies" in emb and emb["companies"] not in ([], None):
            # Companies are not emulated; refusing is more honest than ignoring them.
            errs.append(_err("NotSupportedChoice", "_embedded.companies", "companies are not emulated by the sandbox"))
        if "contacts" not in emb:
            return
        contacts = emb["contacts"]
        if not isinstance(contacts, list):
            errs.append(_err("InvalidType", "_embedded.contacts", "must be an array"))
            return
        if complex_ and len(contacts) > 1:
            errs.append(_err("TooManyElements", "_embedded.contacts", "A complex lead takes at most one contact"))
            return
        links: list[tuple[int, bool]] = []
        for i, c in enumerate(contacts):
            p = f"_embedded.contacts.{i}"
            if not isinstance(c, dict):
                errs.append(_err("InvalidType", p, "must be an object"))
                continue
            if "id" in c:
                for k in c:
                    if k not in ("id", "is_main"):
                        errs.append(_err("FieldNotExpected", f"{p}.{k}", f"{k} is not expected with an existing id"))
                cid = c["id"]
                if not _is_int(cid) or cid not in self._contacts.rows:
                    errs.append(_err("NotSupportedChoice", f"{p}.id", f"No contact {cid!r}"))
                    continue
                is_main = c.get("is_main", False)
                if not isinstance(is_main, bool):
                    errs.append(_err("InvalidType", f"{p}.is_main", "is_main must be a boolean"))
                    continue
                links.append((cid, is_main))
            elif complex_:
                cch: dict[str, Any] = {}
                for k in c:
                    if k not in COMPLEX_CONTACT_KEYS:
                        errs.append(_err("FieldNotExpected", f"{p}.{k}", f"{k} is not expected here"))
                self._contact_fields(c, f"{p}.", errs, cch)
                ch["_new_contact"] = cch
            else:
                errs.append(_err("FieldMissing", f"{p}.id", "id of an existing contact is required"))
        ch["_links"] = links

    def _contact_fields(self, obj: dict[str, Any], prefix: str, errs: list[dict[str, str]], ch: dict) -> None:
        for key in ("name", "first_name", "last_name"):
            self._check_str(obj, key, prefix, errs, ch)
        self._check_user(obj, "responsible_user_id", prefix, errs, ch)
        if "custom_fields_values" in obj:
            cf = self._check_cf(obj["custom_fields_values"], "contacts", prefix + "custom_fields_values", errs)
            if cf is not None:
                ch["_cf"] = cf

    def _check_contact(
        self, obj: dict[str, Any], existing: dict[str, Any] | None, errs: list[dict[str, str]]
    ) -> dict[str, Any]:
        allowed = CONTACT_PATCH_KEYS if existing is not None else CONTACT_CREATE_KEYS
        for k in obj:
            if k not in allowed:
                errs.append(_err("FieldNotExpected", k, f"{k} is not expected here"))
        if "request_id" in obj and not isinstance(obj["request_id"], str):
            errs.append(_err("InvalidType", "request_id", "request_id must be a string"))
        ch: dict[str, Any] = {}
        self._contact_fields(obj, "", errs, ch)
        return ch

    # ------------------------------------------------------------------ mutation ------
    def _tag_id(self, tid: int | None, name: str | None) -> int:
        if tid is not None:
            return tid
        assert name is not None
        existing = self._tag_by_name.get(name.lower())
        if existing is not None:
            return existing
        tid = self._next_tag_id
        self._next_tag_id += 2
        self._tags[tid] = {"id": tid, "name": name, "color": None}
        self._tag_by_name[name.lower()] = tid
        return tid

    def _new_lead_row(self, now: int, user: int) -> dict[str, Any]:
        lid = self._next_lead_id
        self._next_lead_id += 1
        return {
            "id": lid,
            "name": f"Сделка #{lid}",
            "price": 0,
            "responsible_user_id": user,
            "group_id": 0,
            "status_id": 0,
            "pipeline_id": 0,
            "loss_reason_id": None,
            "created_by": user,
            "updated_by": user,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "closest_task_at": None,
            "is_deleted": False,
            "custom_fields_values": None,
            "score": None,
            "account_id": self.account_id,
            "labor_cost": None,
            "_cf": {},
            "_tags": [],
            "_contacts": [],
            "_main": None,
        }

    def _new_contact_row(self, now: int, user: int) -> dict[str, Any]:
        cid = self._next_contact_id
        self._next_contact_id += 1
        return {
            "id": cid,
            "name": "",
            "first_name": "",
            "last_name": "",
            "responsible_user_id": user,
            "group_id": 0,
            "created_by": user,
            "updated_by": user,
            "created_at": now,
            "updated_at": now,
            "closest_task_at": None,
            "is_deleted": False,
            "is_unsorted": False,
            "custom_fields_values": None,
            "account_id": self.account_id,
            "_cf": {},
            "_leads": [],
        }

    def _apply_lead(self, row: dict[str, Any], ch: dict[str, Any], now: int, user: int, creating: bool) -> None:
        old_status = None if creating else row["status_id"]
        for key in ("name", "price", "responsible_user_id", "loss_reason_id", "pipeline_id", "status_id", "created_at"):
            if key in ch:
                row[key] = ch[key]
        if "status_id" in ch and "closed_at" not in ch:
            if ch["status_id"] in CLOSED and (creating or old_status not in CLOSED):
                row["closed_at"] = now
            elif ch["status_id"] not in CLOSED:
                row["closed_at"] = None  # choice: reopening a closed lead clears closed_at
        if "closed_at" in ch:
            row["closed_at"] = ch["closed_at"]
        for fid, values in ch.get("_cf", {}).items():
            if values:
                row["_cf"][fid] = values
            else:
                row["_cf"].pop(fid, None)
        if "_tags_set" in ch:
            row["_tags"] = list(dict.fromkeys(self._tag_id(i, n) for i, n in ch["_tags_set"]))
        for i, n in ch.get("_tags_to_add", []):
            t = self._tag_id(i, n)
            if t not in row["_tags"]:
                row["_tags"].append(t)
        for i, n in ch.get("_tags_to_delete", []):
            gone = i if i is not None else self._tag_by_name.get((n or "").lower())
            if gone in row["_tags"]:
                row["_tags"].remove(gone)
        row["updated_by"] = user
        if creating:
            row["updated_at"] = ch.get("updated_at", now)
            self._leads.add(row)
        else:
            self._leads.touch(row, now)
        for cid, is_main in ch.get("_links", []):
            self._link(row, self._contacts.rows[cid], is_main)

    def _apply_contact(self, row: dict[str, Any], ch: dict[str, Any], now: int, user: int, creating: bool) -> None:
        for key in ("name", "first_name", "last_name", "responsible_user_id"):
            if key in ch:
                row[key] = ch[key]
        if creating and "name" not in ch:
            row["name"] = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
        for fid, values in ch.get("_cf", {}).items():
            if values:
                row["_cf"][fid] = values
            else:
                row["_cf"].pop(fid, None)
        row["updated_by"] = user
        if creating:
            self._contacts.add(row)
        else:
            self._contacts.touch(row, now)  # never touches the contact's leads

    def _link(self, lead: dict[str, Any], contact: dict[str, Any], is_main: bool) -> None:
        if contact["id"] not in lead["_contacts"]:
            lead["_contacts"].append(contact["id"])
        if lead["id"] not in contact["_leads"]:
            contact["_leads"].append(lead["id"])
        if lead["_main"] is None or is_main:
            lead["_main"] = contact["id"]

    # ------------------------------------------------------------------ API: account --
    def _get_account(self, req: Request) -> Response:
        base = self._base(req)
        with_ = self._with(req, ACCOUNT_WITH, frozenset({"datetime_settings"}))
        payload: dict[str, Any] = {
            "id": self.account_id,
            "name": "Sandbox account",
            "subdomain": self.subdomain,
            "created_at": self.created_at,
            "created_by": API_USER_ID,
            "updated_at": self.created_at,
            "updated_by": API_USER_ID,
            "current_user_id": API_USER_ID,
            "country": "RU",
            "currency": "RUB",
            "currency_symbol": "₽",
            "customers_mode": "disabled",
            "is_unsorted_on": True,
            "is_loss_reason_enabled": False,
            "is_helpbot_enabled": False,
            "is_technical_account": False,
            "contact_name_display_order": 1,
            "mobile_feature_version": 0,
            "_links": {"self": {"href": f"{base}/api/v4/account"}},
        }
        if "datetime_settings" in with_:
            payload["_embedded"] = {"datetime_settings": self._datetime_settings()}
        return _hal(payload)

    def _datetime_settings(self) -> dict[str, Any]:
        """As amoCRM's documentation example shows it, its ``date_formant`` spelling included."""
        offset = datetime.fromtimestamp(self.clock.now(), ZoneInfo(self.timezone)).strftime("%z")
        return {
            "date_pattern": "d.m.Y H:i",
            "short_date_pattern": "d.m.Y",
            "short_time_pattern": "H:i",
            "date_formant": "d.m.Y",
            "time_format": "H:i:s",
            "timezone": self.timezone,
            "timezone_offset": f"{offset[:3]}:{offset[3:]}",
        }

    @staticmethod
    def _with(req: Request, known: frozenset[str], emulated: frozenset[str]) -> set[str]:
        """``with=`` values: an unknown one, or a documented one not emulated, answers 400 (as filters do)."""
        with_ = {w.strip() for v in req.query.get("with", []) for w in v.split(",") if w.strip()}
        for w in sorted(with_):
            if w not in known:
                raise _query_error("with", "NotSupportedChoice", f"with={w} is not supported")
            if w not in emulated:
                raise _query_error("with", "NotSupportedChoice", f"with={w} is not emulated by the sandbox")
        return with_

    def _user_out(self, u: dict[str, Any], base: str) -> dict[str, Any]:
        is_admin = self.token_is_admin if u["id"] == API_USER_ID else False
        rights = {
            "leads": {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"},
            "contacts": {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"},
            "is_admin": is_admin,
            "is_free": False,
            "is_active": True,
            "group_id": None,
            "role_id": None,
        }
        return {**u, "rights": rights, "_links": {"self": {"href": f"{base}/api/v4/users/{u['id']}"}}}

    def _list_users(self, req: Request) -> Response:
        if not self.token_is_admin:
            return problem(403, "Access denied: only an account administrator may list users")
        q = self._parse_list(req, filters=frozenset(), orders=())
        self._with(req, frozenset({"role", "group", "uuid", "amojo_id", "user_rank", "phone_number"}), frozenset())
        base = self._base(req)
        return self._page(req, q, iter(USERS), "users", lambda u: self._user_out(u, base), total=len(USERS))

    def _list_pipelines(self, req: Request) -> Response:
        base = self._base(req)
        items = [self._pipeline_out(p, base) for p in sorted(self._pipelines.values(), key=lambda p: p["sort"])]
        return _hal(
            {
                "_total_items": len(items),
                "_links": {"self": {"href": f"{base}/api/v4/leads/pipelines"}},
                "_embedded": {"pipelines": items},
            }
        )

    def _get_pipeline(self, req: Request, pid: int) -> Response:
        p = self._pipelines.get(pid)
        if p is None:
            return problem(404, f"Pipeline {pid} not found")
        return _hal(self._pipeline_out(p, self._base(req)))

    def _custom_fields(self, req: Request, entity: str) -> Response:
        q = self._parse_list(req, filters=frozenset(), orders=())
        self._with(req, frozenset(), frozenset())
        base = self._base(req)
        fields = sorted(self._fields[entity].values(), key=lambda f: (f.sort, f.id))
        return self._page(
            req, q, iter(fields), "custom_fields", lambda f: f.definition(self.account_id, base), total=len(fields)
        )

    def _lead_fields(self, req: Request) -> Response:
        return self._custom_fields(req, "leads")

    def _contact_fields_route(self, req: Request) -> Response:
        return self._custom_fields(req, "contacts")

    def _custom_field(self, req: Request, entity: str, field_id: int) -> Response:
        f = self._fields[entity].get(field_id)
        if f is None:
            return problem(404, f"Custom field {field_id} not found")
        return _hal(f.definition(self.account_id, self._base(req)))

    def _lead_field(self, req: Request, field_id: int) -> Response:
        return self._custom_field(req, "leads", field_id)

    def _contact_field(self, req: Request, field_id: int) -> Response:
        return self._custom_field(req, "contacts", field_id)

    def _list_tags(self, req: Request) -> Response:
        q = self._parse_list(req, filters=frozenset({"id", "name"}), orders=())
        self._with(req, frozenset(), frozenset())
        tags: Iterable[dict[str, Any]] = (self._tags[t] for t in sorted(self._tags))
        if q.ids is not None:
            ids = set(q.ids)
            tags = (t for t in tags if t["id"] in ids)
        if "name" in q.filters:
            names = {v.strip().lower() for _, vs in q.filters["name"] for v in vs}
            tags = (t for t in tags if t["name"].lower() in names)
        query = (req.arg("query") or "").strip().lower()
        if query:
            tags = (t for t in tags if query in t["name"].lower())
        base = self._base(req)
        return self._page(
            req,
            q,
            iter(list(tags)),
            "tags",
            lambda t: {**t, "_links": {"self": {"href": f"{base}/api/v4/leads/tags/{t['id']}"}}},
        )

    # ------------------------------------------------------------------ API: leads ----
    @staticmethod
    def _search_pred(req: Request) -> Callable[[dict[str, Any]], bool] | None:
        query = req.arg("query")
        if query is None or not query.strip():
            return None
        needle = query.strip().lower()
        digits = _digits(needle)

        def match(row: dict[str, Any]) -> bool:
            if needle in row["name"].lower():
                return True
            for values in row["_cf"].values():
                for v in values:
                    text = str(v["value"]).lower()
                    if needle in text or (len(digits) >= 5 and digits in _digits(text)):
                        return True
            return False

        return match

    def _list_leads(self, req: Request) -> Response:
        q = self._parse_list(
            req,
            filters=frozenset({"id", "pipeline_id", "updated_at"}),
            orders=("id", "updated_at", "created_at"),
        )
        if q.empty:
            return Response.empty(204)
        preds = []
        if "pipeline_id" in q.filters:
            pids = set(self._int_filter(q.filters, "pipeline_id"))
            preds.append(lambda r: r["pipeline_id"] in pids)
        search = self._search_pred(req)
        if search is not None:
            preds.append(search)
        pred = preds[0] if len(preds) == 1 else None
        if len(preds) > 1:

            def pred(r: dict[str, Any]) -> bool:
                return all(p(r) for p in preds)

        table = self._deleted if "only_deleted" in q.with_ else self._leads
        rows = table.select(ids=q.ids, updated=q.updated, order=q.order, desc=q.desc, pred=pred)
        base = self._base(req)
        with_contacts = "contacts" in q.with_
        return self._page(req, q, rows, "leads", lambda r: self._lead_out(r, base, with_contacts))

    def _get_lead(self, req: Request, lead_id: int) -> Response:
        row = self._leads.get(lead_id)
        if row is None:
            return Response.empty(204)
        with_ = {w.strip() for v in req.query.get("with", []) for w in v.split(",")}
        return _hal(self._lead_out(row, self._base(req), "contacts" in with_))

    def _add_leads(self, req: Request) -> Response:
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, lambda obj, errs: self._check_lead(obj, None, errs))
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        now = self.clock.now()
        base = self._base(req)
        out = []
        for i, (obj, ch) in enumerate(zip(items, plans, strict=True)):
            row = self._new_lead_row(now, API_USER_ID)
            self._apply_lead(row, ch, now, API_USER_ID, creating=True)
            out.append(
                {"id": row["id"], "request_id": self._rid(obj, i), "_links": self._self(base, "leads", row["id"])}
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        return _hal({"_links": {"self": {"href": f"{base}/api/v4/leads"}}, "_embedded": {"leads": out}})

    @staticmethod
    def _self(base: str, kind: str, row_id: int) -> dict[str, Any]:
        return {"self": {"href": f"{base}/api/v4/{kind}/{row_id}"}}

    def _validate(self, items: list[dict[str, Any]], check: Callable[[dict, list], dict]) -> list[dict[str, Any]]:
        plans, failed = [], []
        for i, obj in enumerate(items):
            errs: list[dict[str, str]] = []
            plans.append(check(obj, errs))
            if errs:
                failed.append((self._rid(obj, i), errs))
        if failed:
            raise ApiError(validation_failed(failed))
        return plans

    def _check_patch_id(
        self, obj: dict[str, Any], table: _Table, errs: list[dict[str, str]], kind: str
    ) -> dict[str, Any] | None:
        if "id" not in obj:
            errs.append(_err("FieldMissing", "id", "id is required"))
            return None
        rid = obj["id"]
        if not _is_int(rid):
            errs.append(_err("InvalidType", "id", "id must be an integer"))
            return None
        row = table.get(rid)
        if row is None:
            errs.append(_err("NotSupportedChoice", "id", f"No {kind} {rid}"))
        return row

    def _check_lead_patch(self, obj: dict[str, Any], errs: list[dict[str, str]]) -> dict[str, Any]:
        row = self._check_patch_id(obj, self._leads, errs, "lead")
        if row is None:
            # still report the other problems of the element
            for k in obj:
                if k not in LEAD_PATCH_KEYS:
                    errs.append(_err("FieldNotExpected", k, f"{k} is not expected here"))
            return {}
        ch = self._check_lead(obj, row, errs)
        ch["_row"] = row
        return ch

    def _patch_leads(self, req: Request) -> Response:
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, self._check_lead_patch)
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        now = self.clock.now()
        base = self._base(req)
        out = []
        for i, (obj, ch) in enumerate(zip(items, plans, strict=True)):
            row = ch["_row"]
            self._apply_lead(row, ch, now, API_USER_ID, creating=False)
            out.append(
                {
                    "id": row["id"],
                    "updated_at": row["updated_at"],
                    "request_id": self._rid(obj, i),
                    "_links": self._self(base, "leads", row["id"]),
                }
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        return _hal({"_links": {"self": {"href": f"{base}/api/v4/leads"}}, "_embedded": {"leads": out}})

    def _patch_lead(self, req: Request, lead_id: int) -> Response:
        obj = self._body(req)
        if not isinstance(obj, dict):
            return problem(400, "Request body must be a JSON object")
        if "id" in obj and obj["id"] != lead_id:
            return validation_failed([("0", [_err("NotSupportedChoice", "id", "id does not match the URL")])])
        obj = {**obj, "id": lead_id}
        [ch] = self._validate([obj], self._check_lead_patch)
        now = self.clock.now()
        row = ch["_row"]
        self._apply_lead(row, ch, now, API_USER_ID, creating=False)
        base = self._base(req)
        return _hal({"id": row["id"], "updated_at": row["updated_at"], "_links": self._self(base, "leads", row["id"])})

    def _add_complex(self, req: Request) -> Response:
        items = self._body_array(req, MAX_COMPLEX)
        plans = self._validate(items, lambda obj, errs: self._check_lead(obj, None, errs, complex_=True))
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        now = self.clock.now()
        out = []
        for i, (obj, ch) in enumerate(zip(items, plans, strict=True)):
            row = self._new_lead_row(now, API_USER_ID)
            self._apply_lead(row, ch, now, API_USER_ID, creating=True)
            contact_id = row["_contacts"][0] if row["_contacts"] else None
            if "_new_contact" in ch:
                crow = self._new_contact_row(now, API_USER_ID)
                self._apply_contact(crow, ch["_new_contact"], now, API_USER_ID, creating=True)
                self._link(row, crow, True)
                contact_id = crow["id"]
            out.append(
                {
                    "id": row["id"],
                    "contact_id": contact_id,
                    "company_id": None,
                    "request_id": [self._rid(obj, i)],
                    "merged": False,
                }
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        return Response.json(200, out, {"Content-Type": HAL})

    # ------------------------------------------------------------------ API: links ----
    def _check_link(
        self, obj: dict[str, Any], errs: list[dict[str, str]], lead: dict[str, Any] | None
    ) -> dict[str, Any]:
        allowed = ("to_entity_id", "to_entity_type", "metadata") + (("entity_id",) if lead is None else ())
        for k in obj:
            if k not in allowed:
                errs.append(_err("FieldNotExpected", k, f"{k} is not expected here"))
        if lead is None:
            eid = obj.get("entity_id")
            if eid is None:
                errs.append(_err("FieldMissing", "entity_id", "entity_id is required"))
            elif not _is_int(eid) or eid not in self._leads.rows:
                errs.append(_err("NotSupportedChoice", "entity_id", f"No lead {eid!r}"))
            else:
                lead = self._leads.rows[eid]
        ttype = obj.get("to_entity_type")
        if ttype is None:
            errs.append(_err("FieldMissing", "to_entity_type", "to_entity_type is required"))
        elif ttype != "contacts":
            what = "is not emulated" if ttype in ("companies", "catalog_elements") else "is not supported"
            errs.append(_err("NotSupportedChoice", "to_entity_type", f"to_entity_type {ttype!r} {what}"))
        tid = obj.get("to_entity_id")
        contact = None
        if tid is None:
            errs.append(_err("FieldMissing", "to_entity_id", "to_entity_id is required"))
        elif not _is_int(tid):
            errs.append(_err("InvalidType", "to_entity_id", "to_entity_id must be an integer"))
        elif ttype == "contacts":
            contact = self._contacts.get(tid)
            if contact is None:
                errs.append(_err("NotSupportedChoice", "to_entity_id", f"No contact {tid}"))
        meta = obj.get("metadata")
        is_main = False
        if meta is not None:
            if not isinstance(meta, dict):
                errs.append(_err("InvalidType", "metadata", "metadata must be an object"))
            else:
                for k in meta:
                    if k not in ("is_main", "updated_by"):
                        errs.append(_err("FieldNotExpected", f"metadata.{k}", f"{k} is not expected here"))
                is_main = meta.get("is_main", False)
                if not isinstance(is_main, bool):
                    errs.append(_err("InvalidType", "metadata.is_main", "is_main must be a boolean"))
        return {"lead": lead, "contact": contact, "is_main": is_main, "metadata": meta}

    def _do_links(self, req: Request, items: list[dict[str, Any]], plans: list[dict[str, Any]]) -> Response:
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        out = []
        for plan in plans:
            lead, contact = plan["lead"], plan["contact"]
            self._link(lead, contact, plan["is_main"])  # linking changes no updated_at
            out.append(
                {
                    "entity_id": lead["id"],
                    "entity_type": "leads",
                    "to_entity_id": contact["id"],
                    "to_entity_type": "contacts",
                    "metadata": plan["metadata"],
                }
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        base = self._base(req)
        return _hal({"_links": {"self": {"href": f"{base}{req.path}"}}, "_embedded": {"links": out}})

    def _link_one(self, req: Request, lead_id: int) -> Response:
        lead = self._leads.get(lead_id)
        if lead is None:
            return problem(404, f"Lead {lead_id} not found")
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, lambda obj, errs: self._check_link(obj, errs, lead))
        return self._do_links(req, items, plans)

    def _link_bulk(self, req: Request) -> Response:
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, lambda obj, errs: self._check_link(obj, errs, None))
        return self._do_links(req, items, plans)

    def _get_links(self, req: Request, lead_id: int) -> Response:
        lead = self._leads.get(lead_id)
        if lead is None:
            return Response.empty(204)
        base = self._base(req)
        links = [
            {
                "to_entity_id": cid,
                "to_entity_type": "contacts",
                "metadata": {"main_contact": cid == lead["_main"]},
            }
            for cid in lead["_contacts"]
        ]
        if not links:
            return Response.empty(204)
        return _hal(
            {
                "_total_items": len(links),
                "_links": {"self": {"href": f"{base}{req.path}"}},
                "_embedded": {"links": links},
            }
        )

    # ------------------------------------------------------------------ API: contacts --
    def _list_contacts(self, req: Request) -> Response:
        q = self._parse_list(req, filters=frozenset({"id", "updated_at"}), orders=("id", "updated_at", "created_at"))
        if q.empty:
            return Response.empty(204)
        rows = self._contacts.select(
            ids=q.ids, updated=q.updated, order=q.order, desc=q.desc, pred=self._search_pred(req)
        )
        base = self._base(req)
        with_leads = "leads" in q.with_
        return self._page(req, q, rows, "contacts", lambda r: self._contact_out(r, base, with_leads))

    def _get_contact(self, req: Request, contact_id: int) -> Response:
        row = self._contacts.get(contact_id)
        if row is None:
            return Response.empty(204)
        with_ = {w.strip() for v in req.query.get("with", []) for w in v.split(",")}
        return _hal(self._contact_out(row, self._base(req), "leads" in with_))

    def _add_contacts(self, req: Request) -> Response:
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, lambda obj, errs: self._check_contact(obj, None, errs))
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        now = self.clock.now()
        base = self._base(req)
        out = []
        for i, (obj, ch) in enumerate(zip(items, plans, strict=True)):
            row = self._new_contact_row(now, API_USER_ID)
            self._apply_contact(row, ch, now, API_USER_ID, creating=True)
            out.append(
                {"id": row["id"], "request_id": self._rid(obj, i), "_links": self._self(base, "contacts", row["id"])}
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        return _hal({"_links": {"self": {"href": f"{base}/api/v4/contacts"}}, "_embedded": {"contacts": out}})

    def _check_contact_patch(self, obj: dict[str, Any], errs: list[dict[str, str]]) -> dict[str, Any]:
        row = self._check_patch_id(obj, self._contacts, errs, "contact")
        if row is None:
            for k in obj:
                if k not in CONTACT_PATCH_KEYS:
                    errs.append(_err("FieldNotExpected", k, f"{k} is not expected here"))
            return {}
        ch = self._check_contact(obj, row, errs)
        ch["_row"] = row
        return ch

    def _patch_contacts(self, req: Request) -> Response:
        items = self._body_array(req, MAX_BATCH)
        plans = self._validate(items, self._check_contact_patch)
        if self._too_slow(len(items)) and not self.batch_504_applied:
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        now = self.clock.now()
        base = self._base(req)
        out = []
        for i, (obj, ch) in enumerate(zip(items, plans, strict=True)):
            row = ch["_row"]
            self._apply_contact(row, ch, now, API_USER_ID, creating=False)
            out.append(
                {
                    "id": row["id"],
                    "name": row["name"],
                    "updated_at": row["updated_at"],
                    "request_id": self._rid(obj, i),
                    "_links": self._self(base, "contacts", row["id"]),
                }
            )
        if self._too_slow(len(items)):
            return Response.html(504, GATEWAY_TIMEOUT_HTML)
        return _hal({"_links": {"self": {"href": f"{base}/api/v4/contacts"}}, "_embedded": {"contacts": out}})

    def _patch_contact(self, req: Request, contact_id: int) -> Response:
        obj = self._body(req)
        if not isinstance(obj, dict):
            return problem(400, "Request body must be a JSON object")
        if "id" in obj and obj["id"] != contact_id:
            return validation_failed([("0", [_err("NotSupportedChoice", "id", "id does not match the URL")])])
        obj = {**obj, "id": contact_id}
        [ch] = self._validate([obj], self._check_contact_patch)
        row = ch["_row"]
        self._apply_contact(row, ch, self.clock.now(), API_USER_ID, creating=False)
        base = self._base(req)
        return _hal(
            {
                "id": row["id"],
                "name": row["name"],
                "updated_at": row["updated_at"],
                "_links": self._self(base, "contacts", row["id"]),
            }
        )

    # ------------------------------------------------------------------ API: events ---
    def _list_events(self, req: Request) -> Response:
        q = self._parse_list(
            req,
            max_limit=MAX_EVENTS_LIMIT,
            filters=frozenset({"id", "type", "entity", "entity_id", "created_at"}),
            orders=("created_at", "id"),
            default_order=("created_at", True),
        )
        preds: list[Callable[[dict[str, Any]], bool]] = []
        f = q.filters
        if "type" in f:
            types = {t.strip() for _, vs in f["type"] for v in vs for t in v.split(",") if t.strip()}
            preds.append(lambda e: e["type"] in types)
        if "entity" in f:
            ents = {t.strip() for _, vs in f["entity"] for v in vs for t in v.split(",") if t.strip()}
            preds.append(lambda e: e["entity_type"] in ents)
        if "entity_id" in f:
            eids = set(self._int_filter(f, "entity_id"))
            preds.append(lambda e: e["entity_id"] in eids)
        if "id" in f:
            ids = {v for _, vs in f["id"] for v in vs}
            preds.append(lambda e: e["id"] in ids)
        if "created_at" in f:
            # Unlike updated_at on leads, a lone bound of created_at is honoured here.
            span, _ = self._range_filter(f["created_at"], "created_at", need_both=False)
            assert span is not None
            lo, hi = span
            preds.append(lambda e: lo <= e["created_at"] <= hi)
        events = [e for e in self._events if all(p(e) for p in preds)]
        events.sort(key=lambda e: (e["created_at"], e["_seq"]), reverse=q.desc)
        base = self._base(req)

        def out(e: dict[str, Any]) -> dict[str, Any]:
            d = {k: v for k, v in e.items() if k != "_seq"}
            d["_links"] = {"self": {"href": f"{base}/api/v4/events/{e['id']}"}}
            return d

        return self._page(req, q, iter(events), "events", out)

    def _record_event(self, etype: str, entity_id: int, entity_type: str, user: int) -> None:
        n = self._next_event
        self._next_event += 1
        alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
        digits = []
        x = n * 7919 + 10**12
        while x:
            x, r = divmod(x, 32)
            digits.append(alphabet[r])
        eid = "01" + "".join(reversed(digits)).rjust(24, "0")
        self._events.append(
            {
                "id": eid,
                "type": etype,
                "entity_id": entity_id,
                "entity_type": entity_type,
                "created_by": user,
                "created_at": self.clock.now(),
                "value_after": [],
                "value_before": [],
                "account_id": self.account_id,
                "_seq": n,
            }
        )

    # ------------------------------------------------------------------ OAuth 2.0 -----
    def _oauth_endpoint(self, req: Request, now: float) -> Response:
        """``POST /oauth2/access_token``: an authorization code or a refresh token for a new pair."""
        if req.method != "POST":
            self._oauth_failures += 1
            return problem(405, f"Method {req.method} is not allowed", {"Allow": "POST"})
        try:
            pair = self._oauth_exchange(_oauth_params(req), now)
        except ApiError as e:
            self._oauth_failures += 1
            return e.response
        # league/oauth2-server's token answer is never to be cached
        return Response.json(200, pair, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _oauth_exchange(self, params: dict[str, Any] | None, now: float) -> dict[str, Any]:
        """league/oauth2-server's checks, in its order: grant type, client, (here: redirect URI), then the code
        or refresh token: unknown, expired, revoked. A body that is neither JSON nor a form has no grant type."""

        def fail(status: int, hint: str) -> ApiError:
            return ApiError(oauth_problem(status, hint))

        params = params or {}
        grant = params.get("grant_type")
        if not isinstance(grant, str) or grant not in OAUTH_GRANTS:
            raise fail(400, HINT_UNSUPPORTED_GRANT)
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if client_id is None:
            raise fail(400, "Check the `client_id` parameter")
        integration = self.oauth
        if not (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and hmac.compare_digest(client_id.encode(), integration.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), integration.client_secret.encode())
        ):
            raise fail(401, HINT_CLIENT)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            raise fail(400, "Check the `redirect_uri` parameter")
        if redirect_uri != integration.redirect_uri:
            raise fail(401, HINT_CLIENT)
        if grant == "authorization_code":
            code = params.get("code")
            if not isinstance(code, str):
                raise fail(400, "Check the `code` parameter")
            issued = self._oauth_codes.get(code)
            if issued is None:
                raise fail(400, HINT_CODE_UNKNOWN)
            if now > issued.expires_at:
                raise fail(400, HINT_CODE_EXPIRED)
            if issued.revoked:
                raise fail(400, HINT_CODE_REVOKED)
            issued.revoked = True
            # A person authorised the integration again: the grant it had before is replaced.
            for token in itertools.chain(self._oauth_access.values(), self._oauth_refresh.values()):
                token.revoked = True
            self._oauth_code_exchanges += 1
        else:
            refresh_token = params.get("refresh_token")
            if not isinstance(refresh_token, str):
                raise fail(400, "Check the `refresh_token` parameter")
            issued = self._oauth_refresh.get(refresh_token)
            if issued is None:
                raise fail(401, HINT_REFRESH_UNKNOWN)
            if now > issued.expires_at:
                raise fail(401, HINT_REFRESH_EXPIRED)
            if issued.revoked:
                raise fail(401, HINT_REFRESH_REVOKED)
            issued.revoked = True  # single use
            paired = self._oauth_access.get(issued.access_token or "")
            if paired is not None:  # as league does: the old pair's access token dies with it
                paired.revoked = True
            self._oauth_refreshes += 1
        return self._issue_pair(now)

    def _issue_pair(self, now: float) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
        self._oauth_access[access] = _Grant(now + OAUTH_ACCESS_SECONDS)
        self._oauth_refresh[refresh] = _Grant(now + OAUTH_REFRESH_SECONDS, access_token=access)
        return {
            "token_type": "Bearer",
            "expires_in": OAUTH_ACCESS_SECONDS,
            "access_token": access,
            "refresh_token": refresh,
        }

    def _clear_oauth(self) -> None:
        self._oauth_codes: dict[str, _Grant] = {}
        self._oauth_access: dict[str, _Grant] = {}
        self._oauth_refresh: dict[str, _Grant] = {}

    # ==================================================================================
    # control: Python API
    # ==================================================================================
    def pipelines(self) -> list[dict[str, Any]]:
        """All pipelines, shaped like ``GET /api/v4/leads/pipelines``' items."""
        with self.lock:
            return [
                self._pipeline_out(p, self._base(None))
                for p in sorted(self._pipelines.values(), key=lambda p: p["sort"])
            ]

    def main_pipeline(self) -> dict[str, Any]:
        with self.lock:
            return self._pipeline_out(self._main(), self._base(None))

    def add_pipeline(self, name: str, statuses: list[str], is_main: bool = False) -> dict[str, Any]:
        """A new pipeline: "Неразобранное", then ``statuses``, then 142 and 143."""
        with self.lock:
            return self._pipeline_out(self._add_pipeline(name, list(statuses), is_main), self._base(None))

    def find_status(self, name: str, pipeline_id: int | None = None) -> dict[str, Any]:
        """The status called ``name`` in ``pipeline_id`` (default: the main pipeline)."""
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            for s in p["statuses"]:
                if s["name"] == name:
                    return dict(s)
            raise UnknownEntity(f"no status {name!r} in pipeline {p['id']}")

    def rename_pipeline(self, pipeline_id: int, name: str) -> dict[str, Any]:
        """Rename a pipeline, as an administrator does in amoCRM's settings (its deals are not touched)."""
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            p["name"] = _setting_name(name)
            return self._pipeline_out(p, self._base(None))

    def add_status(self, name: str, pipeline_id: int | None = None) -> dict[str, Any]:
        """A new status in ``pipeline_id`` (default: the main pipeline), after its last open status, as an
        administrator adds one in amoCRM's settings; returns it."""
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            name = _setting_name(name)
            if any(s["name"] == name for s in p["statuses"]):
                raise ValueError(f"pipeline {p['id']} already has a status {name!r}")
            if len(p["statuses"]) >= MAX_STATUSES:
                raise ValueError(f"at most {MAX_STATUSES} statuses in a pipeline")
            last_open = max(s["sort"] for s in p["statuses"] if s["id"] not in (WON, LOST))
            status = {
                "id": self._new_status_id(p["id"]),
                "name": name,
                "sort": last_open + 10,
                "is_editable": True,
                "pipeline_id": p["id"],
                "color": "#99ccff",
                "type": 0,
                "account_id": self.account_id,
            }
            p["statuses"].append(status)
            p["by_id"][status["id"]] = status
            return dict(status)

    def rename_status(self, status_id: int, name: str, pipeline_id: int | None = None) -> dict[str, Any]:
        """Rename a status of ``pipeline_id`` (default: the main pipeline); its deals are not touched."""
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            status = p["by_id"].get(status_id)
            if status is None:
                raise UnknownEntity(f"no status {status_id} in pipeline {p['id']}")
            if not status["is_editable"]:
                raise ValueError(f"status {status_id} cannot be renamed")
            if any(s["name"] == name and s["id"] != status_id for s in p["statuses"]):
                raise ValueError(f"pipeline {p['id']} already has a status {name!r}")
            status["name"] = _setting_name(name)
            return self._pipeline_out(p, self._base(None))

    def unlist_pipeline(self, pipeline_id: int) -> None:
        """Take a pipeline off ``/leads/pipelines`` while its deals keep its ids.

        The API refuses to delete a pipeline that holds deals, yet a run can meet deals of a
        pipeline it does not list: the token's user may lose sight of it, or a deal may move to a
        pipeline made after the run read the list. Writes that name its statuses are refused.
        """
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            if p["is_main"]:
                raise ValueError("the main pipeline cannot be taken off the list")
            del self._pipelines[pipeline_id]
            for sid in p["by_id"]:
                if self._status_owner.get(sid) == pipeline_id:
                    del self._status_owner[sid]

    # ------------------------------------------------------------------ custom fields --
    def custom_fields(self, entity: str = "leads") -> list[dict[str, Any]]:
        """The definitions of ``entity``'s ("leads" or "contacts") custom fields, as the API lists them."""
        with self.lock:
            fields = self._entity_fields(entity)
            base = self._base(None)
            return [f.definition(self.account_id, base) for f in sorted(fields.values(), key=lambda f: (f.sort, f.id))]

    def find_field(self, name: str, entity: str = "leads") -> dict[str, Any]:
        """The one custom field of ``entity`` called ``name`` (exactly)."""
        found = [f for f in self.custom_fields(entity) if f["name"] == name]
        if not found:
            raise UnknownEntity(f"no {entity} custom field {name!r}")
        if len(found) > 1:
            raise ValueError(f"{len(found)} {entity} custom fields are called {name!r}")
        return found[0]

    def add_custom_field(
        self,
        entity: str,
        name: str,
        field_type: str,
        code: str | None = None,
        enums: list[str] | None = None,
        required_statuses: list[dict[str, int]] | None = None,
        is_api_only: bool = False,
    ) -> dict[str, Any]:
        """Add a custom field, as an administrator does in the account's settings; returns its definition.

        ``enums`` are the options of a select, radiobutton, category or multiselect (for a multitext:
        its enum codes) and are required for those types only. ``required_statuses`` (leads only) are
        ``{"pipeline_id", "status_id"}`` pairs in which the field must be filled. Names may repeat.
        """
        with self.lock:
            fields = self._entity_fields(entity)
            name = _setting_name(name)
            if field_type not in FIELD_TYPES:
                raise ValueError(f"unknown field type {field_type!r}; one of {', '.join(FIELD_TYPES)}")
            if code is not None:
                if not isinstance(code, str) or not code.strip():
                    raise ValueError("code must be a non-empty string")
                if any(f.code == code for f in fields.values()):
                    raise ValueError(f"{entity} already have a field with code {code!r}")
            options = list(enums or [])
            if field_type in ENUM_TYPES:
                if not options:
                    raise ValueError(f"a {field_type} field needs enums")
                if any(not isinstance(o, str) or not o.strip() for o in options) or len(set(options)) != len(options):
                    raise ValueError("enums must be distinct non-empty strings")
            elif options:
                raise ValueError(f"a {field_type} field takes no enums")
            required = self._required_pairs(entity, required_statuses)
            enum_pairs = []
            for o in options:
                enum_pairs.append((self._next_enum_id, o))
                self._next_enum_id += 2
            fid = self._next_field_id
            self._next_field_id += 2
            sort = max((f.sort for f in fields.values()), default=0) + 2
            field = _Field(
                fid,
                name,
                code,
                field_type,
                sort,
                tuple(enum_pairs),
                entity=entity,
                required_statuses=required,
                is_api_only=bool(is_api_only),
            )
            fields[fid] = field
            return field.definition(self.account_id, self._base(None))

    def set_required_statuses(self, field_id: int, required_statuses: list[dict[str, int]]) -> dict[str, Any]:
        """Make a lead field required in these statuses (``[]``: in none); returns its definition."""
        with self.lock:
            entity, field = self._field(field_id)
            new = replace(field, required_statuses=self._required_pairs(entity, required_statuses))
            self._fields[entity][field_id] = new
            return new.definition(self.account_id, self._base(None))

    def delete_custom_field(self, field_id: int) -> None:
        """Delete a custom field; its values go with it (no entity's updated_at changes)."""
        with self.lock:
            entity, field = self._field(field_id)
            if field.predefined:
                raise ValueError(f"field {field_id} is predefined and cannot be deleted")
            del self._fields[entity][field_id]
            tables = (self._leads, self._deleted) if entity == "leads" else (self._contacts,)
            for table in tables:
                for row in table.rows.values():
                    row["_cf"].pop(field_id, None)

    def _entity_fields(self, entity: str) -> dict[int, _Field]:
        if entity not in self._fields:
            raise ValueError(f"entity must be 'leads' or 'contacts', not {entity!r}")
        return self._fields[entity]

    def _field(self, field_id: int) -> tuple[str, _Field]:
        for entity, fields in self._fields.items():
            if field_id in fields:
                return entity, fields[field_id]
        raise UnknownEntity(f"no custom field {field_id}")

    def _required_pairs(self, entity: str, required: list[dict[str, int]] | None) -> tuple[tuple[int, int], ...]:
        if not required:
            return ()
        if entity != "leads":
            raise ValueError("required_statuses are for lead fields")
        out = []
        for r in required:
            if not isinstance(r, dict) or set(r) != {"pipeline_id", "status_id"}:
                raise ValueError("each required status is {'pipeline_id': …, 'status_id': …}")
            p = self._pipelines.get(r["pipeline_id"])
            if p is None or r["status_id"] not in p["by_id"]:
                raise ValueError(f"no status {r['status_id']} in pipeline {r['pipeline_id']}")
            out.append((r["pipeline_id"], r["status_id"]))
        return tuple(dict.fromkeys(out))

    def _control_cf(self, entity: str, value: Any) -> dict[int, list[dict[str, Any]]]:
        """``custom_fields_values`` in a control edit: the API's shape and validation; ValueError if refused."""
        errs: list[dict[str, str]] = []
        cf = self._check_cf(value, entity, "custom_fields_values", errs)
        if errs:
            raise ValueError("; ".join(f"{e['code']} at {e['path']}: {e['detail']}" for e in errs))
        return cf or {}

    def _pipeline_or_main(self, pipeline_id: int | None) -> dict[str, Any]:
        if pipeline_id is None:
            return self._main()
        p = self._pipelines.get(pipeline_id)
        if p is None:
            raise UnknownEntity(f"no pipeline {pipeline_id}")
        return p

    def _control_status(self, status_id: int | None, pipeline_id: int | None, current: dict | None) -> tuple[int, int]:
        """(pipeline_id, status_id) for a control-API write; the incoming status is allowed here."""
        if pipeline_id is not None:
            p = self._pipeline_or_main(pipeline_id)
        elif current is not None:
            p = self._pipelines[current["pipeline_id"]]
        elif status_id is not None:
            owner = self._main()["id"] if status_id in CLOSED else self._status_owner.get(status_id)
            if owner is None:
                raise ValueError(f"no status {status_id}")
            p = self._pipelines[owner]
        else:
            p = self._main()
        if status_id is None:
            if current is not None and current["pipeline_id"] == p["id"]:
                return p["id"], current["status_id"]
            return p["id"], self._first_open(p)
        if status_id not in p["by_id"]:
            raise ValueError(f"status {status_id} is not in pipeline {p['id']}")
        return p["id"], status_id

    @staticmethod
    def _cf_phone(phone: str, enum: str = "WORK") -> dict[str, Any]:
        return {"value": phone, "enum_id": PHONE_FIELD.enum_id(enum), "enum_code": enum}

    @staticmethod
    def _cf_email(email: str, enum: str = "WORK") -> dict[str, Any]:
        return {"value": email, "enum_id": EMAIL_FIELD.enum_id(enum), "enum_code": enum}

    def _make_contact(self, name: str, phone: str | None, email: str | None, now: int) -> dict[str, Any]:
        row = self._new_contact_row(now, MANAGER_USER_ID)
        parts = name.split(" ", 1)
        row["name"], row["first_name"] = name, parts[0]
        row["last_name"] = parts[1] if len(parts) > 1 else ""
        row["responsible_user_id"] = MANAGER_USER_ID
        if phone:
            row["_cf"][PHONE_FIELD.id] = [self._cf_phone(phone)]
        if email:
            row["_cf"][EMAIL_FIELD.id] = [self._cf_email(email)]
        self._contacts.add(row)
        return row

    def create_lead(
        self,
        name: str,
        price: int = 0,
        status_id: int | None = None,
        pipeline_id: int | None = None,
        phone: str | None = None,
        email: str | None = None,
        contact_name: str | None = None,
        with_contact: bool = True,
        custom_fields_values: list[dict[str, Any]] | None = None,
        tags: list[str] | None = None,
        responsible_user_id: int | None = None,
    ) -> dict[str, Any]:
        """A person in the CRM makes a lead (and its main contact, unless ``with_contact=False``).

        Unlike the API, the incoming status ("Неразобранное") is allowed: leads land there from forms.
        ``custom_fields_values`` take the API's write shape and validation, ``tags`` are names.
        Returns the lead as ``GET /api/v4/leads/{id}?with=contacts`` shows it.
        """
        with self.lock:
            row = self._create_lead_row(
                name,
                price,
                status_id,
                pipeline_id,
                phone,
                email,
                contact_name,
                with_contact,
                custom_fields_values,
                tags,
                responsible_user_id,
            )
            return self._lead_out(row, self._base(None), True)

    def _create_lead_row(
        self,
        name: str,
        price: int = 0,
        status_id: int | None = None,
        pipeline_id: int | None = None,
        phone: str | None = None,
        email: str | None = None,
        contact_name: str | None = None,
        with_contact: bool = True,
        custom_fields_values: list[dict[str, Any]] | None = None,
        tags: list[str] | None = None,
        responsible_user_id: int | None = None,
    ) -> dict[str, Any]:
        if not isinstance(name, str) or not _is_int(price):
            raise TypeError("name must be a string and price an integer")
        pid, sid = self._control_status(status_id, pipeline_id, None)
        cf = self._control_cf("leads", custom_fields_values)
        tag_names = self._control_tags(tags) if tags is not None else []
        user = self._control_user(responsible_user_id) if responsible_user_id is not None else MANAGER_USER_ID
        now = self.clock.now()
        row = self._new_lead_row(now, MANAGER_USER_ID)
        row.update(name=name, price=price, pipeline_id=pid, status_id=sid, responsible_user_id=user)
        row["_cf"] = {fid: v for fid, v in cf.items() if v}
        row["_tags"] = list(dict.fromkeys(self._tag_id(None, n) for n in tag_names))
        if sid in CLOSED:
            row["closed_at"] = now
        self._leads.add(row)
        if with_contact:
            contact = self._make_contact(contact_name or name, phone, email, now)
            self._link(row, contact, True)
        return row

    def create_contact(self, name: str, phone: str | None = None, email: str | None = None) -> dict[str, Any]:
        """A contact with no lead."""
        with self.lock:
            return self._contact_out(self._make_contact(name, phone, email, self.clock.now()), self._base(None), True)

    def link(self, lead_id: int, contact_id: int, is_main: bool = False) -> None:
        """Link a contact to a lead, as a person would (no updated_at changes)."""
        with self.lock:
            self._link(self._live_lead(lead_id), self._contact_row(contact_id), is_main)

    def _live_lead(self, lead_id: int) -> dict[str, Any]:
        row = self._leads.get(lead_id)
        if row is None:
            raise UnknownEntity(f"no live lead {lead_id}")
        return row

    def _contact_row(self, contact_id: int) -> dict[str, Any]:
        row = self._contacts.get(contact_id)
        if row is None:
            raise UnknownEntity(f"no contact {contact_id}")
        return row

    def edit_lead(self, lead_id: int, **fields: Any) -> dict[str, Any]:
        """Edit a lead as a person would; bumps updated_at.

        Takes ``name``, ``price``, ``status_id``, ``pipeline_id``, ``responsible_user_id``,
        ``custom_fields_values`` (the API's write shape and validation: ``values: null`` clears a
        field, a field left out is left alone) and ``tags`` (names; they replace the lead's set).
        Unlike the API, required fields (``required_statuses``) are not enforced here.
        """
        unknown = set(fields) - EDIT_LEAD_KEYS
        if unknown:
            raise TypeError(f"edit_lead cannot change {sorted(unknown)}")
        with self.lock:
            row = self._live_lead(lead_id)
            if "name" in fields and not isinstance(fields["name"], str):
                raise TypeError("name must be a string")
            if "price" in fields and not _is_int(fields["price"]):
                raise TypeError("price must be an integer")
            # everything is checked before anything changes
            cf = self._control_cf("leads", fields.get("custom_fields_values"))
            tag_names = self._control_tags(fields["tags"]) if "tags" in fields else None
            user = self._control_user(fields["responsible_user_id"]) if "responsible_user_id" in fields else None
            moved = "status_id" in fields or "pipeline_id" in fields
            if moved:
                pid, sid = self._control_status(fields.get("status_id"), fields.get("pipeline_id"), row)
            if user is not None:
                row["responsible_user_id"] = user
            for fid, values in cf.items():
                if values:
                    row["_cf"][fid] = values
                else:
                    row["_cf"].pop(fid, None)
            if tag_names is not None:
                row["_tags"] = list(dict.fromkeys(self._tag_id(None, n) for n in tag_names))
            old_status = row["status_id"]
            if moved:
                row["pipeline_id"], row["status_id"] = pid, sid
                if sid in CLOSED and old_status not in CLOSED:
                    row["closed_at"] = self.clock.now()
                elif sid not in CLOSED:
                    row["closed_at"] = None
            for key in ("name", "price"):
                if key in fields:
                    row[key] = fields[key]
            row["updated_by"] = MANAGER_USER_ID
            self._leads.touch(row, self.clock.now())
            return self._lead_out(row, self._base(None), True)

    @staticmethod
    def _control_tags(tags: Any) -> list[str]:
        if not isinstance(tags, list) or any(not isinstance(t, str) or not t.strip() for t in tags):
            raise ValueError("tags must be a list of non-empty names")
        return [t.strip() for t in tags]

    @staticmethod
    def _control_user(user_id: Any) -> int:
        if not _is_int(user_id) or user_id not in USER_IDS:
            raise ValueError(f"no user {user_id!r}")
        return int(user_id)

    def delete_lead(self, lead_id: int) -> None:
        """Delete a lead as a person would: it leaves the lists and a lead_deleted event is recorded."""
        with self.lock:
            self._live_lead(lead_id)
            row = self._leads.remove(lead_id)
            row["is_deleted"] = True
            row["updated_by"] = MANAGER_USER_ID
            row["updated_at"] = self.clock.now()
            self._deleted.add(row)
            self._record_event("lead_deleted", lead_id, "lead", MANAGER_USER_ID)

    def restore_lead(self, lead_id: int) -> None:
        """Restore a deleted lead, as from amoCRM's recycle bin: it is listed again and a lead_restored event
        is recorded. *Choice:* its ``updated_at`` is left as it was, so a client that polls ``updated_at``
        alone never sees it come back (the stricter case): the event is how it is known."""
        with self.lock:
            if self._deleted.get(lead_id) is None:
                raise UnknownEntity(f"no deleted lead {lead_id}")
            row = self._deleted.remove(lead_id)
            row["is_deleted"] = False
            self._leads.add(row)
            self._record_event("lead_restored", lead_id, "lead", MANAGER_USER_ID)

    def edit_contact(
        self,
        contact_id: int,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        custom_fields_values: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Edit a contact as a person would: ``phone``/``email`` replace the first value;
        ``custom_fields_values`` take the API's write shape and validation.

        Bumps only the contact's updated_at, never its leads'.
        """
        with self.lock:
            row = self._contact_row(contact_id)
            for fid, values in self._control_cf("contacts", custom_fields_values).items():
                if values:
                    row["_cf"][fid] = values
                else:
                    row["_cf"].pop(fid, None)
            if name is not None:
                row["name"] = name
            if phone is not None:
                old = row["_cf"].get(PHONE_FIELD.id, [])
                row["_cf"][PHONE_FIELD.id] = [self._cf_phone(phone, old[0]["enum_code"] if old else "WORK"), *old[1:]]
            if email is not None:
                old = row["_cf"].get(EMAIL_FIELD.id, [])
                row["_cf"][EMAIL_FIELD.id] = [self._cf_email(email, old[0]["enum_code"] if old else "WORK"), *old[1:]]
            row["updated_by"] = MANAGER_USER_ID
            self._contacts.touch(row, self.clock.now())
            return self._contact_out(row, self._base(None), True)

    def add_phone(self, contact_id: int, phone: str) -> dict[str, Any]:
        """Add another phone value (enum MOB) after the existing ones."""
        with self.lock:
            row = self._contact_row(contact_id)
            row["_cf"].setdefault(PHONE_FIELD.id, []).append(self._cf_phone(phone, "MOB"))
            row["updated_by"] = MANAGER_USER_ID
            self._contacts.touch(row, self.clock.now())
            return self._contact_out(row, self._base(None), True)

    def lead(self, lead_id: int) -> dict[str, Any]:
        """A lead, live or deleted (``is_deleted`` tells), with ``_embedded.contacts``."""
        with self.lock:
            row = self._leads.get(lead_id) or self._deleted.get(lead_id)
            if row is None:
                raise UnknownEntity(f"no lead {lead_id}")
            return self._lead_out(row, self._base(None), True)

    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            base = self._base(None)
            return [self._lead_out(r, base, True) for r in self._leads.select()]

    def deleted_leads(self) -> list[dict[str, Any]]:
        with self.lock:
            base = self._base(None)
            return [self._lead_out(r, base, True) for r in self._deleted.select()]

    def contact(self, contact_id: int) -> dict[str, Any]:
        with self.lock:
            return self._contact_out(self._contact_row(contact_id), self._base(None), True)

    def contacts(self) -> list[dict[str, Any]]:
        with self.lock:
            base = self._base(None)
            return [self._contact_out(r, base, True) for r in self._contacts.select()]

    def main_contact_of(self, lead_id: int) -> dict[str, Any] | None:
        with self.lock:
            row = self._leads.get(lead_id) or self._deleted.get(lead_id)
            if row is None:
                raise UnknownEntity(f"no lead {lead_id}")
            if row["_main"] is None:
                return None
            return self._contact_out(self._contacts.rows[row["_main"]], self._base(None), True)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{k: v for k, v in e.items() if k != "_seq"} for e in self._events]

    def seed_bulk(self, n: int, pipeline_id: int | None = None, with_contacts: bool = True) -> list[int]:
        """Insert ``n`` leads (each with a contact holding a phone and an email) fast; return their ids."""
        if not _is_int(n) or n < 0:
            raise ValueError("n must be a non-negative integer")
        with self.lock:
            p = self._pipeline_or_main(pipeline_id)
            statuses = [s["id"] for s in sorted(p["statuses"], key=lambda s: s["sort"]) if s["type"] != 1]
            now = self.clock.now()
            first_lead, first_contact = self._next_lead_id, self._next_contact_id
            self._next_lead_id += n
            if with_contacts:
                self._next_contact_id += n
            leads, contacts = [], []
            phone_enum, email_enum = PHONE_FIELD.enum_id("WORK"), EMAIL_FIELD.enum_id("WORK")
            for i in range(n):
                lid = first_lead + i
                sid = statuses[i % len(statuses)]
                cid = first_contact + i
                leads.append(
                    {
                        "id": lid,
                        "name": f"Сделка {i + 1}",
                        "price": (i * 1000) % 1_000_000,
                        "responsible_user_id": MANAGER_USER_ID,
                        "group_id": 0,
                        "status_id": sid,
                        "pipeline_id": p["id"],
                        "loss_reason_id": None,
                        "created_by": MANAGER_USER_ID,
                        "updated_by": MANAGER_USER_ID,
                        "created_at": now,
                        "updated_at": now,
                        "closed_at": now if sid in CLOSED else None,
                        "closest_task_at": None,
                        "is_deleted": False,
                        "custom_fields_values": None,
                        "score": None,
                        "account_id": self.account_id,
                        "labor_cost": None,
                        "_cf": {},
                        "_tags": [],
                        "_contacts": [cid] if with_contacts else [],
                        "_main": cid if with_contacts else None,
                    }
                )
                if with_contacts:
                    contacts.append(
                        {
                            "id": cid,
                            "name": f"Клиент {i + 1}",
                            "first_name": "Клиент",
                            "last_name": str(i + 1),
                            "responsible_user_id": MANAGER_USER_ID,
                            "group_id": 0,
                            "created_by": MANAGER_USER_ID,
                            "updated_by": MANAGER_USER_ID,
                            "created_at": now,
                            "updated_at": now,
                            "closest_task_at": None,
                            "is_deleted": False,
                            "is_unsorted": False,
                            "custom_fields_values": None,
                            "account_id": self.account_id,
                            "_cf": {
                                PHONE_FIELD.id: [
                                    {"value": f"+7 9{i % 10**9:09d}", "enum_id": phone_enum, "enum_code": "WORK"}
                                ],
                                EMAIL_FIELD.id: [
                                    {"value": f"client{i + 1}@example.com", "enum_id": email_enum, "enum_code": "WORK"}
                                ],
                            },
                            "_leads": [lid],
                        }
                    )
            self._leads.add_many(leads)
            if contacts:
                self._contacts.add_many(contacts)
            return list(range(first_lead, first_lead + n))

    def set_token(self, token: str) -> None:
        """The token the API accepts from now on (the old one answers 401, as a revoked token does)."""
        with self.lock:
            self.token = token

    def set_unpaid(self, flag: bool = True) -> None:
        with self.lock:
            self.unpaid = bool(flag)

    def block(self, seconds: float | None = None) -> None:
        """Block the "IP" now, for ``seconds`` (default ``block_seconds``) of the server clock."""
        with self.lock:
            self._blocked_until = self.clock.time() + (self.block_seconds if seconds is None else float(seconds))

    def unblock(self) -> None:
        with self.lock:
            self._blocked_until = 0.0
            self._recent_429.clear()

    def users(self) -> list[dict[str, Any]]:
        """The account's users (id, name, email, lang), whatever the token may list."""
        return [dict(u) for u in USERS]

    def set_token_is_admin(self, flag: bool = True) -> None:
        """Whether the token's user is an account administrator (if not, ``GET /api/v4/users`` answers 403)."""
        with self.lock:
            self.token_is_admin = bool(flag)

    def set_timezone(self, timezone: str) -> None:
        """The account's time zone (an IANA name), as ``with=datetime_settings`` reports it."""
        with self.lock:
            self.timezone = _check_timezone(timezone)

    def oauth_client(self) -> dict[str, str]:
        """The integration's keys: ``{"client_id", "client_secret", "redirect_uri"}``."""
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "redirect_uri": self.oauth.redirect_uri,
        }

    def oauth_code(self) -> str:
        """A person clicks "Allow" for the integration: a new authorization code (single use, 20 minutes)."""
        with self.lock:
            code = secrets.token_urlsafe(48)
            self._oauth_codes[code] = _Grant(self.clock.time() + OAUTH_CODE_SECONDS)
            return code

    def revoke_oauth(self) -> None:
        """A person disables the integration: every code and token it issued is revoked (a refresh then answers
        401 "Token has been revoked", an access token 401 on the API). A new code authorises it again."""
        with self.lock:
            for grant in itertools.chain(
                self._oauth_codes.values(), self._oauth_access.values(), self._oauth_refresh.values()
            ):
                grant.revoked = True

    def oauth_state(self) -> dict[str, Any]:
        """What ``GET /_sandbox/oauth`` answers: the integration's keys, the lifetimes, and how many codes were
        issued (since the last reset) and how many codes and tokens are alive now."""
        with self.lock:
            now = self.clock.time()
            return {
                **self.oauth_client(),
                "codes_issued": len(self._oauth_codes),
                "live_codes": sum(g.live(now) for g in self._oauth_codes.values()),
                "live_access_tokens": sum(g.live(now) for g in self._oauth_access.values()),
                "live_refresh_tokens": sum(g.live(now) for g in self._oauth_refresh.values()),
                "code_lifetime": OAUTH_CODE_SECONDS,
                "access_token_lifetime": OAUTH_ACCESS_SECONDS,
                "refresh_token_lifetime": OAUTH_REFRESH_SECONDS,
            }

    def oauth_token_state(self, token: str) -> str:
        """What became of a code or token the emulator issued: "live", "expired", "revoked" (spent, replaced or
        disabled), or "unknown" (never issued here, or dropped by a reset)."""
        with self.lock:
            now = self.clock.time()
            for store in (self._oauth_access, self._oauth_refresh, self._oauth_codes):
                grant = store.get(token)
                if grant is not None:
                    if now > grant.expires_at:
                        return "expired"
                    return "revoked" if grant.revoked else "live"
            return "unknown"

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change rate_limit, block_after, block_seconds, updated_at_inclusive, max_batch_before_504,
        batch_504_applied, token_is_admin, timezone; returns the resulting configuration."""
        keys = (
            "rate_limit",
            "block_after",
            "block_seconds",
            "updated_at_inclusive",
            "max_batch_before_504",
            "batch_504_applied",
            "token_is_admin",
            "timezone",
        )
        unknown = set(settings) - set(keys)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        if "token_is_admin" in settings and not isinstance(settings["token_is_admin"], bool):
            raise ValueError("token_is_admin must be a boolean")
        if "timezone" in settings:
            _check_timezone(settings["timezone"])
        with self.lock:
            for k, v in settings.items():
                setattr(self, k, v)
            return {k: getattr(self, k) for k in keys}

    def reset(self) -> None:
        """Back to the freshly seeded account: data, token, unpaid flag, block, rate window, and every OAuth
        code and token (the integration keeps its client id, secret and redirect URI).

        Counters (``reset_stats``), the clock, faults and latency are left alone.
        """
        with self.lock:
            self.token = self.initial_token
            self.unpaid = False
            self._blocked_until = 0.0
            self._window.clear()
            self._recent_429.clear()
            self._clear_oauth()
            self._seed()

    # ==================================================================================
    # control: HTTP
    # ==================================================================================
    def call_control(self, handler: Callable[..., Any], req: Request, body: ControlBody, params: dict[str, Any]) -> Any:
        try:
            with self.lock:
                return handler(req, body, **params)
        except UnknownEntity as e:
            return self.error_response(404, str(e.args[0]) if e.args else "unknown entity")

    # GET /_sandbox/ lists these routes, from the same table the router uses.
    @control_route("GET", "/config", "the emulator's settings (rate limit, blocking, batches, admin token, time zone)")
    def _c_config(self, req: Request, body: ControlBody) -> Any:
        return self.configure()

    @control_route(
        "POST",
        "/config",
        '{"rate_limit"?, "block_after"?, "block_seconds"?, "updated_at_inclusive"?, "max_batch_before_504"?, '
        '"batch_504_applied"?, "token_is_admin"?, "timezone"?}: change settings',
    )
    def _c_configure(self, req: Request, body: ControlBody) -> Any:
        return self.configure(**body)

    @control_route("GET", "/account", "the account, as GET /api/v4/account?with=datetime_settings answers")
    def _c_account(self, req: Request, body: ControlBody) -> Any:
        return json.loads(self._get_account(req).body)

    @control_route("GET", "/pipelines", "every listed pipeline with its statuses")
    def _c_pipelines(self, req: Request, body: ControlBody) -> Any:
        base = self._base(req)
        return [self._pipeline_out(p, base) for p in sorted(self._pipelines.values(), key=lambda p: p["sort"])]

    @control_route("POST", "/pipelines", '{"name", "statuses": ["…"], "is_main"?}: add a pipeline')
    def _c_add_pipeline(self, req: Request, body: ControlBody) -> Any:
        p = self._add_pipeline(body["name"], list(body.get("statuses", [])), bool(body.get("is_main", False)))
        return self._pipeline_out(p, self._base(req))

    @control_route("PATCH", "/pipelines/{pipeline_id:int}", '{"name"}: rename a pipeline')
    def _c_rename_pipeline(self, req: Request, body: ControlBody, pipeline_id: int) -> Any:
        return self.rename_pipeline(pipeline_id, body.get("name", ""))

    @control_route("DELETE", "/pipelines/{pipeline_id:int}", "take a pipeline off the list; its deals keep its ids")
    def _c_unlist_pipeline(self, req: Request, body: ControlBody, pipeline_id: int) -> Any:
        self.unlist_pipeline(pipeline_id)
        return {"ok": True, "id": pipeline_id}

    @control_route("POST", "/pipelines/{pipeline_id:int}/statuses", '{"name"}: add a status after the last open one')
    def _c_add_status(self, req: Request, body: ControlBody, pipeline_id: int) -> Any:
        return self.add_status(body.get("name", ""), pipeline_id)

    @control_route("PATCH", "/pipelines/{pipeline_id:int}/statuses/{status_id:int}", '{"name"}: rename a status')
    def _c_rename_status(self, req: Request, body: ControlBody, pipeline_id: int, status_id: int) -> Any:
        return self.rename_status(status_id, body.get("name", ""), pipeline_id)

    @control_route("GET", "/custom_fields", "the field definitions: {leads: […], contacts: […]}")
    def _c_fields(self, req: Request, body: ControlBody) -> Any:
        return {"leads": self.custom_fields("leads"), "contacts": self.custom_fields("contacts")}

    @control_route(
        "POST",
        "/custom_fields",
        '{"entity": "leads"|"contacts", "name", "type", "code"?, "enums"?: ["…"], "required_statuses"?, '
        '"is_api_only"?}: add a field → its definition',
    )
    def _c_add_field(self, req: Request, body: ControlBody) -> Any:
        unknown = set(body) - {"entity", "name", "type", "code", "enums", "required_statuses", "is_api_only"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        return self.add_custom_field(
            body["entity"],
            body["name"],
            body["type"],
            code=body.get("code"),
            enums=body.get("enums"),
            required_statuses=body.get("required_statuses"),
            is_api_only=bool(body.get("is_api_only", False)),
        )

    @control_route(
        "PATCH",
        "/custom_fields/{field_id:int}",
        '{"required_statuses": [{"pipeline_id", "status_id"}]}: where the field is required',
    )
    def _c_patch_field(self, req: Request, body: ControlBody, field_id: int) -> Any:
        if set(body) != {"required_statuses"}:
            raise ValueError("only required_statuses can be changed")
        return self.set_required_statuses(field_id, body["required_statuses"])

    @control_route("DELETE", "/custom_fields/{field_id:int}", "delete a field")
    def _c_delete_field(self, req: Request, body: ControlBody, field_id: int) -> Any:
        self.delete_custom_field(field_id)
        return {"ok": True, "id": field_id}

    @control_route("GET", "/leads", "every live deal, in the API's shape with _embedded.contacts")
    def _c_leads(self, req: Request, body: ControlBody) -> Any:
        return [self._lead_out(r, self._base(req), True) for r in self._leads.select()]

    @control_route("GET", "/leads/deleted", "every deleted deal")
    def _c_deleted_leads(self, req: Request, body: ControlBody) -> Any:
        return [self._lead_out(r, self._base(req), True) for r in self._deleted.select()]

    @control_route(
        "POST",
        "/leads",
        '{"name", "price"?, "status_id"?, "pipeline_id"?, "phone"?, "email"?, "contact_name"?, "with_contact"?, '
        '"custom_fields_values"?, "tags"?, "responsible_user_id"?}: a manager creates a deal',
    )
    def _c_add_lead(self, req: Request, body: ControlBody) -> Any:
        allowed = {
            "name",
            "price",
            "status_id",
            "pipeline_id",
            "phone",
            "email",
            "contact_name",
            "with_contact",
            "custom_fields_values",
            "tags",
            "responsible_user_id",
        }
        if set(body) - allowed:
            raise ValueError(f"unknown keys {sorted(set(body) - allowed)}")
        return self._lead_out(self._create_lead_row(**body), self._base(req), True)

    @control_route("GET", "/leads/{lead_id:int}", "one deal (also a deleted one)")
    def _c_lead(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        row = self._leads.get(lead_id) or self._deleted.get(lead_id)
        if row is None:
            raise UnknownEntity(f"no lead {lead_id}")
        return self._lead_out(row, self._base(req), True)

    @control_route(
        "PATCH",
        "/leads/{lead_id:int}",
        '{"name"?, "price"?, "status_id"?, "pipeline_id"?, "responsible_user_id"?, "custom_fields_values"?, '
        '"tags"?: ["…"]}: a manager edits a deal',
    )
    def _c_edit_lead(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        self.edit_lead(lead_id, **body)
        return self._lead_out(self._leads.rows[lead_id], self._base(req), True)

    @control_route("DELETE", "/leads/{lead_id:int}", "delete a deal (records a lead_deleted event)")
    def _c_delete_lead(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        self.delete_lead(lead_id)
        return {"ok": True, "id": lead_id}

    @control_route("POST", "/leads/{lead_id:int}/restore", "restore a deleted deal (records a lead_restored event)")
    def _c_restore_lead(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        self.restore_lead(lead_id)
        return {"ok": True, "id": lead_id}

    @control_route("GET", "/leads/{lead_id:int}/main_contact", "a deal's main contact ({} when it has none)")
    def _c_main_contact(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        row = self._leads.get(lead_id) or self._deleted.get(lead_id)
        if row is None:
            raise UnknownEntity(f"no lead {lead_id}")
        main = row["_main"]
        return self._contact_out(self._contacts.rows[main], self._base(req), True) if main else {}

    @control_route("POST", "/leads/{lead_id:int}/link", '{"contact_id", "is_main"?}: link a contact to a deal')
    def _c_link(self, req: Request, body: ControlBody, lead_id: int) -> Any:
        self.link(lead_id, int(body["contact_id"]), bool(body.get("is_main", False)))
        return self._lead_out(self._leads.rows[lead_id], self._base(req), True)

    @control_route("GET", "/contacts", "every contact")
    def _c_contacts(self, req: Request, body: ControlBody) -> Any:
        return [self._contact_out(r, self._base(req), True) for r in self._contacts.select()]

    @control_route("POST", "/contacts", '{"name", "phone"?, "email"?}: a manager creates a contact')
    def _c_add_contact(self, req: Request, body: ControlBody) -> Any:
        row = self._make_contact(body["name"], body.get("phone"), body.get("email"), self.clock.now())
        return self._contact_out(row, self._base(req), True)

    @control_route("GET", "/contacts/{contact_id:int}", "one contact")
    def _c_contact(self, req: Request, body: ControlBody, contact_id: int) -> Any:
        return self._contact_out(self._contact_row(contact_id), self._base(req), True)

    @control_route(
        "PATCH",
        "/contacts/{contact_id:int}",
        '{"name"?, "phone"?, "email"?, "custom_fields_values"?}: a manager edits a contact',
    )
    def _c_edit_contact(self, req: Request, body: ControlBody, contact_id: int) -> Any:
        unknown = set(body) - {"name", "phone", "email", "custom_fields_values"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        self.edit_contact(contact_id, **body)
        return self._contact_out(self._contacts.rows[contact_id], self._base(req), True)

    @control_route("POST", "/contacts/{contact_id:int}/phones", '{"phone"}: add a second phone to a contact')
    def _c_add_phone(self, req: Request, body: ControlBody, contact_id: int) -> Any:
        self.add_phone(contact_id, str(body["phone"]))
        return self._contact_out(self._contacts.rows[contact_id], self._base(req), True)

    @control_route("GET", "/events", "the events log, newest first")
    def _c_events(self, req: Request, body: ControlBody) -> Any:
        return self.events()

    @control_route("POST", "/token", '{"token"}: the token now accepted (the old one answers 401)')
    def _c_token(self, req: Request, body: ControlBody) -> Any:
        self.set_token(str(body["token"]))
        return {"ok": True}

    @control_route(
        "GET", "/oauth", "the OAuth integration (client_id, client_secret, redirect_uri), codes, live tokens"
    )
    def _c_oauth(self, req: Request, body: ControlBody) -> Any:
        return self.oauth_state()

    @control_route("POST", "/oauth/code", 'a person allows the integration → {"code", "expires_in": 1200} (single use)')
    def _c_oauth_code(self, req: Request, body: ControlBody) -> Any:
        if body:
            raise ValueError(f"unknown keys {sorted(body)}")
        return {"code": self.oauth_code(), "expires_in": OAUTH_CODE_SECONDS}

    @control_route("POST", "/oauth/revoke", "a person disables the integration: every code and token is revoked")
    def _c_oauth_revoke(self, req: Request, body: ControlBody) -> Any:
        self.revoke_oauth()
        return {"ok": True}

    @control_route("POST", "/unpaid", '{"unpaid": bool}: the account unpaid (every API request answers 402)')
    def _c_unpaid(self, req: Request, body: ControlBody) -> Any:
        self.set_unpaid(bool(body.get("unpaid", body.get("flag", True))))
        return {"ok": True, "unpaid": self.unpaid}

    @control_route("POST", "/block", '{"seconds"?}: block the "IP" (every API request answers 403 with HTML)')
    def _c_block(self, req: Request, body: ControlBody) -> Any:
        self.block(body.get("seconds"))
        return {"ok": True, "blocked_until": self._blocked_until}

    @control_route("POST", "/unblock", "lift the block")
    def _c_unblock(self, req: Request, body: ControlBody) -> Any:
        self.unblock()
        return {"ok": True}

    @control_route("POST", "/reset", "back to a freshly seeded account with a new account id (stats and clock stay)")
    def _c_reset(self, req: Request, body: ControlBody) -> Any:
        self.reset()
        return {"ok": True}

    @control_route(
        "POST",
        "/seed_bulk",
        '{"n", "pipeline_id"?, "with_contacts"?: true}: add n deals at once → {created, first_id, last_id}',
    )
    def _c_seed_bulk(self, req: Request, body: ControlBody) -> Any:
        ids = self.seed_bulk(int(body["n"]), body.get("pipeline_id"), bool(body.get("with_contacts", True)))
        return {"created": len(ids), "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(p), methods)
    for p, methods in (
        (r"/api/v4/account", {"GET": "_get_account"}),
        (r"/api/v4/users", {"GET": "_list_users"}),
        (r"/api/v4/leads", {"GET": "_list_leads", "POST": "_add_leads", "PATCH": "_patch_leads"}),
        (r"/api/v4/leads/(\d+)", {"GET": "_get_lead", "PATCH": "_patch_lead"}),
        (r"/api/v4/leads/complex", {"POST": "_add_complex"}),
        (r"/api/v4/leads/link", {"POST": "_link_bulk"}),
        (r"/api/v4/leads/(\d+)/link", {"POST": "_link_one"}),
        (r"/api/v4/leads/(\d+)/links", {"GET": "_get_links"}),
        (r"/api/v4/leads/pipelines", {"GET": "_list_pipelines"}),
        (r"/api/v4/leads/pipelines/(\d+)", {"GET": "_get_pipeline"}),
        (r"/api/v4/leads/custom_fields", {"GET": "_lead_fields"}),
        (r"/api/v4/leads/custom_fields/(\d+)", {"GET": "_lead_field"}),
        (r"/api/v4/leads/tags", {"GET": "_list_tags"}),
        (r"/api/v4/contacts", {"GET": "_list_contacts", "POST": "_add_contacts", "PATCH": "_patch_contacts"}),
        (r"/api/v4/contacts/(\d+)", {"GET": "_get_contact", "PATCH": "_patch_contact"}),
        (r"/api/v4/contacts/custom_fields", {"GET": "_contact_fields_route"}),
        (r"/api/v4/contacts/custom_fields/(\d+)", {"GET": "_contact_field"}),
        (r"/api/v4/events", {"GET": "_list_events"}),
    )
]
