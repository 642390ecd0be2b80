"""The account's fields as specs: what its custom fields, users and time zone let a header name.

Built from plain definitions (the amoCRM adapter reads them), so the planner's tests can make
any account they need without a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from amosheets.i18n import _
from amosheets.sync.fields import (
    BUILT_INS,
    CF_PREFIX,
    CONTACT_CF_PREFIX,
    FieldSet,
    FieldSpec,
    HeaderMap,
    Key,
    Side,
    suggestions,
)
from amosheets.sync.kinds import Cell, Moment, Option, Options, Tags, User, kind_for, text
from amosheets.sync.model import Catalog, Names, Notice
from amosheets.sync.planner import header_signature

# Contact fields the built-in Телефон and Email columns already cover.
_BUILT_IN_CODES = frozenset({"PHONE", "EMAIL"})
CONTACT_PREFIXES = ("Контакт:", "Contact:")


@dataclass(frozen=True)
class CustomField:
    """One custom field as the account defines it."""

    id: int
    name: str
    type: str
    entity: str  # "leads" or "contacts"
    code: str | None = None
    enums: tuple[tuple[int, str], ...] = ()
    is_api_only: bool = False


@dataclass(frozen=True)
class Account:
    """What the catalog of fields is made of, as amoCRM said it (and the state caches it)."""

    custom_fields: tuple[CustomField, ...] = ()
    users: Mapping[int, str] | None = None  # None: the token may not list users (not an admin)
    timezone: str = "UTC"

    def tz(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return timezone.utc


def special_specs(account: Account) -> tuple[FieldSpec, ...]:
    """The columns every account has besides the first wave's six: tags, responsible, dates, link."""
    tz = account.tz()
    moment = Moment(tz)
    return (
        FieldSpec(Key.TAGS, ("Теги", "Tags"), Tags()),
        FieldSpec(Key.RESPONSIBLE, ("Ответственный", "Responsible"), User(account.users)),
        FieldSpec(Key.CREATED, ("Создана", "Created"), moment, Side.NONE),
        FieldSpec(Key.UPDATED, ("Изменена", "Updated"), moment, Side.NONE),
        FieldSpec(Key.CLOSED, ("Закрыта", "Closed"), moment, Side.NONE),
        FieldSpec(Key.LINK, ("Ссылка", "Link"), kind_for("url", (), tz), Side.NONE),
    )


def custom_spec(cf: CustomField, tz: tzinfo) -> FieldSpec:
    kind = kind_for(cf.type, cf.enums, tz)
    if cf.entity == "contacts":
        headers = (*tuple(f"{p} {cf.name}" for p in CONTACT_PREFIXES), f"{CONTACT_PREFIXES[0]} cf:{cf.id}")
        return FieldSpec(CONTACT_CF_PREFIX + str(cf.id), headers, kind, Side.CONTACT, cf.id)
    # The field's name, then `cf:ID`, then its code: each binds a header to it.
    headers = (cf.name, f"cf:{cf.id}", *((cf.code,) if cf.code else ()))
    return FieldSpec(CF_PREFIX + str(cf.id), headers, kind, Side.LEAD, cf.id)


def field_set(account: Account) -> FieldSet:
    """Every field of the account a header may name: built-ins, special columns, custom fields."""
    tz = account.tz()
    specs = [*BUILT_INS, *special_specs(account)]
    specs += [custom_spec(cf, tz) for cf in account.custom_fields if cf.code not in _BUILT_IN_CODES]
    return FieldSet(tuple(specs))


# A cached catalog older than this is read again when the sheet or a deal names an option it lacks:
# an option added in amoCRM is taken up within the hour, and a typo in the sheet costs one read an hour.
RECHECK_NAMES = 3600
TTL = 24 * 3600  # …and read again after this long whatever happens


def stale_reason(
    account: Account,
    age: float,
    header_row: Sequence[Cell],
    headers_then: str,
    rows: Iterable[Sequence[Cell]],
    refs: Iterable[tuple[int, tuple[int, ...]]],
) -> str | None:
    """Why the cached catalog must be read again before this run, or None.

    ``age`` is how long ago it was read (this machine's clock: set back counts as stale);
    ``headers_then`` the signature of row 1 when it was; ``rows`` the sheet's other rows; ``refs``
    the (field id, enum ids) that the deals amoCRM listed carry.
    """
    if not 0 <= age < TTL:
        return _("it is a day old")
    fields = field_set(account)
    aliases = fields.aliases
    if header_signature(header_row) != headers_then and any(
        t and t.casefold() not in aliases for t in (text(c) for c in header_row)
    ):
        return _("row 1 has a header it cannot bind")
    options = {s.cf_id: s.kind for s in fields.specs if isinstance(s.kind, Option)}
    known = {s.cf_id for s in fields.specs if s.cf_id is not None}
    for fid, enum_ids in refs:
        if fid not in known:
            return _("a deal carries custom field {field_id}").format(field_id=fid)
        kind = options.get(fid)
        if kind is not None and any(i not in kind.text_of for i in enum_ids) and age >= RECHECK_NAMES:
            return _("a deal carries an option of field {field_id} it lacks").format(field_id=fid)
    if age < RECHECK_NAMES:
        return None
    bound = [(i, aliases.get(text(h).casefold())) for i, h in enumerate(header_row)]
    columns = [
        (i, options[fields[k].cf_id])
        for i, k in bound
        if isinstance(k, str) and k in fields.by_key and fields[k].cf_id in options
    ]
    for row in rows:
        for i, kind in columns:
            if i < len(row) and any(p.strip().casefold() not in kind.by_text for p in _choices(row[i], kind)):
                return _("the sheet names an option it lacks")
    return None


def pipelines_stale_reason(
    catalog: Catalog,
    age: float,
    listed: Iterable[tuple[int, int]],
    headers: HeaderMap,
    rows: Iterable[Sequence[Cell]],
    names: Names,
) -> str | None:
    """Why the state's copy of the pipelines must be read again before this run, or None.

    ``age`` as in ``stale_reason``; ``listed`` the (pipeline id, status id) of the deals amoCRM listed;
    ``rows`` the sheet's rows under ``headers``; ``names`` every name the pipelines and statuses have had.
    """
    if not 0 <= age < TTL:
        return _("it is a day old")
    for pipeline_id, status_id in listed:
        p = catalog.pipeline(pipeline_id)
        if p is None:
            return _("a deal is in pipeline {pipeline_id}").format(pipeline_id=pipeline_id)
        if p.status(status_id) is None:
            return _("a deal is in status {status_id}").format(status_id=status_id)
    # Unlike an option's name, one the copy lacks has it read again at once: it is one request, not four, and
    # a status added (or renamed) in amoCRM must be usable in the sheet at the next run; a typo left in the
    # sheet costs that request each run, while its row fails anyway.
    statuses = {n for by_name in names.statuses.values() for n in by_name}
    columns = [
        (col, known, what)
        for col, known, what in (
            (headers.columns.get(Key.PIPELINE), names.pipelines, _("the sheet names a pipeline it lacks")),
            (headers.columns.get(Key.STATUS), statuses, _("the sheet names a status it lacks")),
        )
        if col is not None
    ]
    rows = list(rows)
    for col, known, what in columns:
        # Each distinct cell once: a tab of 100,000 rows holds a few dozen names.
        for cell in {row[col] for row in rows if col < len(row)}:
            t = text(cell).strip().casefold()
            if t and not t.isdigit() and t not in known:
                return what
    return None


def _choices(cell: Cell, kind: Option) -> list[str]:
    t = text(cell)
    if not t:
        return []
    return [p for p in re.split(r"[,;\n]", t) if p.strip()] if isinstance(kind, Options) else [t]


def header_notices(headers: HeaderMap, fields: FieldSet) -> list[Notice]:
    """What the run says about row 1: headers two custom fields share, and near misses of a field's name."""
    out = [Notice(None, _("Row 1: {problem}").format(problem=p)) for p in headers.problems]
    for h in headers.unknown:
        close = suggestions(h, fields)
        if close:
            out.append(
                Notice(
                    None,
                    _(
                        "Row 1: the column {header!r} binds to no field, so it is not synced; did you mean "
                        "{suggestions}? (`amosheets fields` lists what a header may name)"
                    ).format(header=h, suggestions=_or([repr(c) for c in close])),
                )
            )
    return out


def _or(items: list[str]) -> str:
    said = items[0]
    for item in items[1:]:
        # i18n: headers a header may have meant: "'Сумма' or 'Сума'"
        said = _("{first} or {second}").format(first=said, second=item)
    return said
