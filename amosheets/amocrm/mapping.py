"""amoCRM's JSON ↔ the planner's values, in both directions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amosheets.errors import ConfigError
from amosheets.sync.fields import Field
from amosheets.sync.model import INCOMING_STATUS_TYPE, Catalog, CrmContact, CrmLead, Pipeline, Status, Values

PHONE, EMAIL = "PHONE", "EMAIL"


def catalog_from(pipelines: list[dict[str, Any]], pipeline_id: int | None, status_id: int | None) -> Catalog:
    """The account's pipelines, with the configured (or default) pipeline and status checked."""
    by_id: dict[int, Pipeline] = {}
    for p in pipelines:
        statuses = tuple(
            Status(int(s["id"]), str(s.get("name", "")), int(s.get("sort") or 0), int(s.get("type") or 0))
            for s in (p.get("_embedded") or {}).get("statuses") or []
        )
        by_id[int(p["id"])] = Pipeline(int(p["id"]), str(p.get("name", "")), bool(p.get("is_main")), statuses)
    if not by_id:
        raise ConfigError("amoCRM returned no pipelines for this account.", hint="Check the integration's access.")
    if pipeline_id is None:
        pipeline = next((p for p in by_id.values() if p.is_main), next(iter(by_id.values())))
    elif pipeline_id in by_id:
        pipeline = by_id[pipeline_id]
    else:
        raise ConfigError(
            f"AMOCRM_PIPELINE_ID is {pipeline_id}, but the account has no such pipeline.",
            hint="Run `amosheets pipelines` and copy the ID of the pipeline new deals should go to.",
        )
    if status_id is None:
        status = pipeline.first_settable_status()
    else:
        found = pipeline.status(status_id)
        if found is None:
            raise ConfigError(
                f"AMOCRM_STATUS_ID is {status_id}, but pipeline {pipeline.name!r} ({pipeline.id}) has no such status.",
                hint="Run `amosheets pipelines` and copy a status ID of that pipeline.",
            )
        if found.type == INCOMING_STATUS_TYPE:
            raise ConfigError(
                f"AMOCRM_STATUS_ID is {status_id}, the incoming-leads status {found.name!r}; amoCRM does not let "
                "the API put deals there.",
                hint="Use the next status of the pipeline, or leave AMOCRM_STATUS_ID empty for that default.",
            )
        status = found
    return Catalog(by_id, pipeline.id, status.id)


def main_contact_id(lead: Mapping[str, Any]) -> int | None:
    contacts = (lead.get("_embedded") or {}).get("contacts") or []
    main = next((c for c in contacts if c.get("is_main")), contacts[0] if contacts else None)
    return int(main["id"]) if main else None


def multitext(contact: Mapping[str, Any] | None, code: str) -> tuple[str, ...]:
    """The values of the contact's PHONE or EMAIL field, in order."""
    if not contact:
        return ()
    for f in contact.get("custom_fields_values") or []:
        if f.get("field_code") == code:
            return tuple(
                str(v.get("value", "")).strip() for v in f.get("values") or [] if v.get("value") not in (None, "")
            )
    return ()


def lead_from(lead: Mapping[str, Any], contacts: Mapping[int, Mapping[str, Any]]) -> CrmLead:
    cid = main_contact_id(lead)
    contact = contacts.get(cid) if cid is not None else None
    return CrmLead(
        id=int(lead["id"]),
        name=str(lead.get("name") or "").strip(),
        price=int(lead.get("price") or 0),
        status_id=int(lead["status_id"]),
        pipeline_id=int(lead["pipeline_id"]),
        updated_at=int(lead.get("updated_at") or 0),
        contact_id=cid,
        phones=multitext(contact, PHONE),
        emails=multitext(contact, EMAIL),
    )


def contact_from(contact: Mapping[str, Any]) -> CrmContact:
    links = (contact.get("_embedded") or {}).get("leads") or []
    return CrmContact(
        int(contact["id"]),
        multitext(contact, PHONE),
        multitext(contact, EMAIL),
        tuple(int(link["id"]) for link in links),
    )


def field_value(code: str, values: list[str]) -> dict[str, Any]:
    return {"field_code": code, "values": [{"value": v, "enum_code": "WORK"} for v in values]}


def complex_item(values: Values, request_id: str) -> dict[str, Any]:
    """A POST /leads/complex element: the lead and, when the row has a phone or e-mail, its contact."""
    item: dict[str, Any] = {
        "name": values[Field.NAME],
        "price": int(values[Field.PRICE]),
        "pipeline_id": int(values[Field.PIPELINE]),
        "status_id": int(values[Field.STATUS]),
        "request_id": request_id,
    }
    phone, email = values.get(Field.PHONE) or "", values.get(Field.EMAIL) or ""
    if phone or email:
        fields = [field_value(code, [v]) for code, v in ((PHONE, phone), (EMAIL, email)) if v]
        item["_embedded"] = {
            "contacts": [{"first_name": values[Field.NAME] or phone or email, "custom_fields_values": fields}]
        }
    return item


def lead_patch(lead_id: int, final: Values, fields: set[Field]) -> dict[str, Any]:
    patch: dict[str, Any] = {"id": lead_id}
    if Field.NAME in fields:
        patch["name"] = final[Field.NAME]
    if Field.PRICE in fields:
        patch["price"] = int(final[Field.PRICE])
    if Field.PIPELINE in fields:
        patch["pipeline_id"] = int(final[Field.PIPELINE])
    if Field.STATUS in fields or Field.PIPELINE in fields:
        patch["status_id"] = int(final[Field.STATUS])
    return patch
