"""amoCRM's JSON ↔ the planner's values, in both directions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from amosheets.config import ENV_NAMES, EVERY_PIPELINE, Ref, SettingNames
from amosheets.errors import ConfigError
from amosheets.i18n import _
from amosheets.sync.catalog import Account, CustomField, field_set
from amosheets.sync.fields import BUILT_IN_FIELDS, CF_PREFIX, CONTACT_CF_PREFIX, FieldSet, Key, Side
from amosheets.sync.kinds import Moment, tag_set
from amosheets.sync.model import INCOMING_STATUS_TYPE, Catalog, CrmContact, CrmLead, Pipeline, Status, Values

PHONE, EMAIL = "PHONE", "EMAIL"


def custom_field_from(d: Mapping[str, Any], entity: str) -> CustomField:
    enums = tuple((int(e["id"]), str(e.get("value", ""))) for e in d.get("enums") or [])
    return CustomField(
        int(d["id"]),
        str(d.get("name") or ""),
        str(d.get("type") or "text"),
        entity,
        d.get("code") or None,
        enums,
        bool(d.get("is_api_only")),
    )


def account_from(
    lead_fields: list[dict[str, Any]],
    contact_fields: list[dict[str, Any]],
    users: list[dict[str, Any]] | None,
    account: Mapping[str, Any],
) -> Account:
    """The fields' catalog from amoCRM's answers (users None: the token may not list them)."""
    tz = ((account.get("_embedded") or {}).get("datetime_settings") or {}).get("timezone") or "UTC"
    cfs = tuple(custom_field_from(d, "leads") for d in lead_fields) + tuple(
        custom_field_from(d, "contacts") for d in contact_fields
    )
    names = None if users is None else {int(u["id"]): str(u.get("name") or u["id"]) for u in users}
    return Account(cfs, names, str(tz))


def catalog_from(
    pipelines: list[dict[str, Any]],
    pipeline: Ref,
    status: Ref,
    account: Account | None = None,
    names: SettingNames = ENV_NAMES,
) -> Catalog:
    """The account's pipelines, with the configured (or default) pipeline and status checked.

    ``pipeline`` and ``status`` are ids or names; ``names`` says where they were set, for the messages.
    """
    by_id: dict[int, Pipeline] = {}
    for p in pipelines:
        statuses = tuple(
            Status(int(s["id"]), str(s.get("name", "")), int(s.get("sort") or 0), int(s.get("type") or 0))
            for s in (p.get("_embedded") or {}).get("statuses") or []
        )
        by_id[int(p["id"])] = Pipeline(int(p["id"]), str(p.get("name", "")), bool(p.get("is_main")), statuses)
    if not by_id:
        raise ConfigError(
            _("amoCRM returned no pipelines for this account."), hint=_("Check the integration's access.")
        )
    main = next((p for p in by_id.values() if p.is_main), next(iter(by_id.values())))
    every = pipeline == EVERY_PIPELINE
    chosen = main if pipeline is None or every else _pipeline(by_id, pipeline, names.pipeline)
    fields = field_set(account) if account is not None else BUILT_IN_FIELDS
    followed = frozenset(by_id) if every else frozenset({chosen.id})
    return Catalog(by_id, chosen.id, _status(chosen, status, names.status).id, fields, followed=followed)


def _pipeline(by_id: Mapping[int, Pipeline], ref: int | str, setting: str) -> Pipeline:
    found = by_id.get(ref) if isinstance(ref, int) else next((p for p in by_id.values() if _same(p.name, ref)), None)
    if found is None:
        listed = ", ".join(f"{p.name!r} ({p.id})" for p in by_id.values())
        raise ConfigError(
            _("{setting} is {ref}, but the account has no such pipeline (it has {listed}).").format(
                setting=setting, ref=repr(ref), listed=listed
            ),
            hint=_("Run `amosheets pipelines` and copy the ID or name of the pipeline new deals should go to."),
        )
    return found


def _status(pipeline: Pipeline, ref: Ref, setting: str) -> Status:
    if ref is None:
        return pipeline.first_settable_status()
    if isinstance(ref, int):
        found = pipeline.status(ref)
    else:
        found = next((s for s in pipeline.statuses if _same(s.name, ref)), None)
    if found is None:
        raise ConfigError(
            _("{setting} is {ref}, but pipeline {pipeline} ({pipeline_id}) has no such status.").format(
                setting=setting, ref=repr(ref), pipeline=repr(pipeline.name), pipeline_id=pipeline.id
            ),
            hint=_("Run `amosheets pipelines` and copy a status ID (or name) of that pipeline."),
        )
    if found.type == INCOMING_STATUS_TYPE:
        raise ConfigError(
            _(
                "{setting} is {ref}, the incoming-leads status {status}; amoCRM does not let the API put deals there."
            ).format(setting=setting, ref=repr(ref), status=repr(found.name)),
            hint=_("Use the next status of the pipeline, or leave {setting} empty for that default.").format(
                setting=setting
            ),
        )
    return found


def _same(name: str, typed: str) -> bool:
    return name.strip().casefold() == typed.strip().casefold()


# What the tool reads of a lead or a contact amoCRM lists: a page's entities are cut down to this as
# they arrive, so that a pull --all of 100,000 deals does not hold every key amoCRM sends for each.
_LEAD_KEYS = (
    "id",
    "name",
    "price",
    "status_id",
    "pipeline_id",
    "responsible_user_id",
    "created_at",
    "updated_at",
    "closed_at",
    "account_id",
)
_CONTACT_KEYS = ("id", "name", "updated_at", "account_id")


def lead_kept(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a listed lead the tool reads: its fields, custom fields, link, contacts and tags."""
    out = {k: lead[k] for k in _LEAD_KEYS if k in lead}
    if cfs := lead.get("custom_fields_values"):
        out["custom_fields_values"] = [_field_kept(f) for f in cfs]
    if href := ((lead.get("_links") or {}).get("self") or {}).get("href"):
        out["_links"] = {"self": {"href": href}}
    embedded = lead.get("_embedded") or {}
    out["_embedded"] = {
        "contacts": [{"id": c["id"], "is_main": c.get("is_main")} for c in embedded.get("contacts") or []],
        "tags": [{"name": t.get("name")} for t in embedded.get("tags") or []],
    }
    return out


def contact_kept(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a listed contact the tool reads: phones, e-mails, custom fields and its leads."""
    out = {k: contact[k] for k in _CONTACT_KEYS if k in contact}
    if cfs := contact.get("custom_fields_values"):
        out["custom_fields_values"] = [_field_kept(f) for f in cfs]
    if "_embedded" in contact:
        out["_embedded"] = {"leads": [{"id": x["id"]} for x in (contact["_embedded"] or {}).get("leads") or []]}
    return out


def _field_kept(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"field_id": f.get("field_id"), "field_code": f.get("field_code"), "values": f.get("values") or []}


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


def lead_from(lead: Mapping[str, Any], contacts: Mapping[int, Mapping[str, Any]], fields: FieldSet) -> CrmLead:
    cid = main_contact_id(lead)
    contact = contacts.get(cid) if cid is not None else None
    return CrmLead(
        id=int(lead["id"]),
        fields=lead_fields(lead, fields),
        updated_at=int(lead.get("updated_at") or 0),
        contact_id=cid,
        phones=multitext(contact, PHONE),
        emails=multitext(contact, EMAIL),
        contact_fields=custom_values(contact, fields, CONTACT_CF_PREFIX) if contact else {},
    )


def lead_fields(lead: Mapping[str, Any], fields: FieldSet) -> dict[str, Any]:
    """The lead's own fields by key, canonical: built-ins, tags, responsible, dates, link, custom fields."""
    out: dict[str, Any] = {
        Key.NAME: str(lead.get("name") or "").strip(),
        Key.PRICE: int(lead.get("price") or 0),
        Key.STATUS: int(lead["status_id"]),
        Key.PIPELINE: int(lead["pipeline_id"]),
    }
    if Key.TAGS in fields.by_key:
        out[Key.TAGS] = tag_set(t.get("name", "") for t in (lead.get("_embedded") or {}).get("tags") or [])
        out[Key.RESPONSIBLE] = lead.get("responsible_user_id")
        moment = fields[Key.CREATED].kind
        assert isinstance(moment, Moment)
        for key, raw in ((Key.CREATED, "created_at"), (Key.UPDATED, "updated_at"), (Key.CLOSED, "closed_at")):
            out[key] = moment.of_unix(int(lead.get(raw) or 0))
        href = str(((lead.get("_links") or {}).get("self") or {}).get("href") or "")
        out[Key.LINK] = href.split("?")[0].replace("/api/v4/leads/", "/leads/detail/") if href else ""
    out.update(custom_values(lead, fields, CF_PREFIX))
    return out


def custom_values(entity: Mapping[str, Any], fields: FieldSet, prefix: str) -> dict[str, Any]:
    """The custom fields' values of a lead or contact that the catalog knows, canonical, by key."""
    out: dict[str, Any] = {}
    for f in entity.get("custom_fields_values") or []:
        spec = fields.get(prefix + str(f.get("field_id")))
        if spec is not None:
            out[spec.key] = spec.kind.from_amo(f.get("values") or [])
    return out


def custom_field_refs(leads: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(field id, its values' enum ids) of every custom field value the leads carry."""
    for lead in leads:
        for f in lead.get("custom_fields_values") or []:
            enum_ids = tuple(int(v["enum_id"]) for v in f.get("values") or [] if v.get("enum_id") is not None)
            yield int(f.get("field_id") or 0), enum_ids


def contact_from(contact: Mapping[str, Any], fields: FieldSet) -> CrmContact:
    links = (contact.get("_embedded") or {}).get("leads") or []
    return CrmContact(
        int(contact["id"]),
        multitext(contact, PHONE),
        multitext(contact, EMAIL),
        tuple(int(link["id"]) for link in links),
        custom_values(contact, fields, CONTACT_CF_PREFIX),
    )


def field_value(code: str, values: list[str]) -> dict[str, Any]:
    return {"field_code": code, "values": [{"value": v, "enum_code": "WORK"} for v in values]}


def custom_fields_values(values: Values, keys: Any, fields: FieldSet, side: Side) -> list[dict[str, Any]]:
    """``custom_fields_values`` setting these fields (of one side) to these canonical values."""
    out = []
    for key in keys:
        spec = fields.get(key)
        if spec is None or spec.cf_id is None or spec.side is not side or not spec.writable:
            continue
        out.append({"field_id": spec.cf_id, "values": spec.kind.to_amo(values.get(key))})
    return out


def complex_item(values: Values, request_id: str, fields: FieldSet) -> dict[str, Any]:
    """A POST /leads/complex element: the lead and, when the row has a phone, e-mail or contact field, its contact."""
    item: dict[str, Any] = {
        "name": values[Key.NAME],
        "price": int(values[Key.PRICE]),
        "pipeline_id": int(values[Key.PIPELINE]),
        "status_id": int(values[Key.STATUS]),
        "request_id": request_id,
    }
    given = [k for k, v in values.items() if k in fields.by_key and not fields[k].kind.is_empty(v)]
    if lead_cfs := custom_fields_values(values, [k for k in given if k.startswith(CF_PREFIX)], fields, Side.LEAD):
        item["custom_fields_values"] = lead_cfs
    if values.get(Key.RESPONSIBLE) is not None and fields[Key.RESPONSIBLE].writable:
        item["responsible_user_id"] = int(values[Key.RESPONSIBLE])
    embedded: dict[str, Any] = {}
    if values.get(Key.TAGS):
        embedded["tags"] = [{"name": t} for t in values[Key.TAGS]]
    phone, email = values.get(Key.PHONE) or "", values.get(Key.EMAIL) or ""
    contact_cfs = custom_fields_values(
        values, [k for k in given if k.startswith(CONTACT_CF_PREFIX)], fields, Side.CONTACT
    )
    if phone or email or contact_cfs:
        cfs = [field_value(code, [v]) for code, v in ((PHONE, phone), (EMAIL, email)) if v] + contact_cfs
        embedded["contacts"] = [{"first_name": values[Key.NAME] or phone or email, "custom_fields_values": cfs}]
    if embedded:
        item["_embedded"] = embedded
    return item


def lead_patch(lead_id: int, final: Values, keys: set[str], fields: FieldSet) -> dict[str, Any]:
    patch: dict[str, Any] = {"id": lead_id}
    if Key.NAME in keys:
        patch["name"] = final[Key.NAME]
    if Key.PRICE in keys:
        patch["price"] = int(final[Key.PRICE])
    if Key.PIPELINE in keys:
        patch["pipeline_id"] = int(final[Key.PIPELINE])
    if Key.STATUS in keys or Key.PIPELINE in keys:
        patch["status_id"] = int(final[Key.STATUS])
    if Key.RESPONSIBLE in keys and final.get(Key.RESPONSIBLE) is not None:
        patch["responsible_user_id"] = int(final[Key.RESPONSIBLE])
    if Key.TAGS in keys:
        # amoCRM replaces the whole set: the full set is sent (null detaches every tag).
        patch["_embedded"] = {"tags": [{"name": t} for t in final[Key.TAGS]] or None}
    if cfs := custom_fields_values(final, sorted(keys), fields, Side.LEAD):
        patch["custom_fields_values"] = cfs
    return patch


def contact_custom_fields(
    lists: Mapping[str, list[str]], values: Values, keys: set[str], fields: FieldSet
) -> list[dict[str, Any]]:
    """A contact's ``custom_fields_values``: the phone and e-mail ``lists`` given, and its custom fields of ``keys``."""
    cfs = [field_value(code, lists[key]) for key, code in ((Key.PHONE, PHONE), (Key.EMAIL, EMAIL)) if key in lists]
    return cfs + custom_fields_values(values, sorted(keys), fields, Side.CONTACT)
