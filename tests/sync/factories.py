"""Small builders for planner tests: a catalog like the sandbox's default account, rows, state."""

from __future__ import annotations

from amosheets.sync.fields import DEFAULT_HEADER_ROW, match_headers
from amosheets.sync.model import Catalog, CrmLead, Known, Pipeline, SheetRow, Status

MAIN, PARTNERS = 7000001, 7000002
INCOMING, FIRST, TALKS, DECIDING, CONTRACT = 61000001, 61000002, 61000003, 61000004, 61000005
P_INCOMING, P_NEW, P_ACTIVE = 61000011, 61000012, 61000013


def catalog() -> Catalog:
    main = Pipeline(
        MAIN,
        "Воронка",
        True,
        (
            Status(INCOMING, "Неразобранное", 10, 1),
            Status(FIRST, "Первичный контакт", 20),
            Status(TALKS, "Переговоры", 30),
            Status(DECIDING, "Принимают решение", 40),
            Status(CONTRACT, "Согласование договора", 50),
            Status(142, "Успешно реализовано", 10000),
            Status(143, "Закрыто и не реализовано", 11000),
        ),
    )
    partners = Pipeline(
        PARTNERS,
        "Партнёры",
        False,
        (
            Status(P_INCOMING, "Неразобранное", 10, 1),
            Status(P_NEW, "Новый партнёр", 20),
            Status(P_ACTIVE, "Активный", 30),
            Status(142, "Успешно реализовано", 10000),
            Status(143, "Закрыто и не реализовано", 11000),
        ),
    )
    return Catalog({MAIN: main, PARTNERS: partners}, MAIN, FIRST)


HEADERS = match_headers(list(DEFAULT_HEADER_ROW))


def row(number: int, lead_id="", name="", phone="", email="", price="", status="", pipeline="") -> SheetRow:
    return SheetRow(number, (lead_id, name, phone, email, price, status, pipeline))


def lead(lid: int, name="Иван", price=1000, status=FIRST, pipeline=MAIN, phones=("+7 999",), emails=(), contact=1):
    return CrmLead.of(lid, name, price, status, pipeline, 0, contact, tuple(phones), tuple(emails))


def synced(crm: CrmLead) -> Known:
    """A lead whose row matched amoCRM at the last sync."""
    return Known(crm.id, crm=crm, base=crm.values(), has_row=True)


def values_of(crm: CrmLead) -> dict[str, object]:
    return crm.values()
