"""`amosheets check`: every setting, credential and access, one verdict each, with the fix.

Each check runs only when the ones it depends on passed (no sheet access without a key),
and the first failure decides the exit status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amosheets.amocrm.connect import amo_client
from amosheets.amocrm.mapping import catalog_from
from amosheets.config import AMOCRM, GOOGLE, PairConfig, Settings
from amosheets.engine.reading import read_account
from amosheets.errors import AmosheetsError, ExitStatus
from amosheets.gspread_transport import RequestHook
from amosheets.i18n import _, plural
from amosheets.sheet import Sheet, describe_key, read_key_file
from amosheets.sync.catalog import field_set, header_notices
from amosheets.sync.fields import (
    BUILT_IN_FIELDS,
    BUILT_INS,
    SYNC_HEADERS,
    Cell,
    FieldSet,
    HeaderError,
    Key,
    header_of,
    match_headers,
    suggestions,
    text,
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    status: ExitStatus = ExitStatus.OK
    warning: bool = False  # passed, but something deserves a look (does not change the exit status)


def run_checks(
    settings: Settings,
    on_request: Callable[[str], RequestHook | None] = lambda _: None,
    pair: PairConfig | None = None,
) -> list[Check]:
    """The environment's pair's checks, or ``pair``'s (of amosheets.toml, which was read without a problem).

    ``on_request(service)`` gives that service's client a hook for each request it sends (--debug)."""
    results: list[Check] = []

    def fail(name: str, e: AmosheetsError) -> None:
        results.append(Check(name, False, e.message, e.hint, e.exit_status))

    google_ok = amo_ok = True
    if pair is None:
        labels = ((GOOGLE, _("Google settings")), (AMOCRM, _("amoCRM settings")), ("other", _("other settings")))
        for service, label in labels:
            problems = settings.problems.get(service, [])
            if problems:
                for p in problems:
                    results.append(Check(label, False, p, None, ExitStatus.CONFIG))
            elif service != "other":
                results.append(Check(label, True, _("present and well-formed")))
        google_ok = not settings.problems[GOOGLE]
        amo_ok = not settings.problems[AMOCRM]
        pair = settings.pair()

    values = _check_google(pair, results, fail, on_request("Sheets")) if google_ok else None
    fields = _check_amocrm(pair, results, fail, on_request("amoCRM")) if amo_ok else None
    if values is not None:
        _check_headers(values, fields, results)
    return results


def _check_google(
    pair: PairConfig,
    results: list[Check],
    fail: Callable[[str, AmosheetsError], None],
    on_request: RequestHook | None,
) -> list[list[Cell]] | None:
    """The tab's values, once the key, the spreadsheet and the tab passed."""
    tab_config = pair.tab
    if tab_config.credentials is not None:
        try:
            info = read_key_file(tab_config.credentials)
        except AmosheetsError as e:
            fail(_("Google key file"), e)
            return None
        # How Google is authorized: a service account, or a person's sign-in (and how long that lasts).
        results.append(Check(_("Google key file"), True, describe_key(info, tab_config.credentials)))
    else:
        detail = _("none: anonymous access to {url} (a local emulator)").format(url=tab_config.sheets_api_url)
        results.append(Check(_("Google key file"), True, detail))
    try:
        sheet = Sheet(tab_config, secrets=pair.account.secrets(), on_request=on_request)
        tab = sheet.open()
    except AmosheetsError as e:
        fail(_("spreadsheet"), e)
        return None
    detail = plural(
        tab.rows,
        "{spreadsheet}, tab {tab} ({n} row)",
        "{spreadsheet}, tab {tab} ({n} rows)",
        spreadsheet=repr(tab.spreadsheet_title),
        tab=repr(tab.title),
    )
    results.append(Check(_("spreadsheet"), True, detail))
    try:
        return sheet.read_values()
    except AmosheetsError as e:
        fail(_("header row"), e)
        return None


def _check_headers(values: list[list[Cell]], fields: FieldSet | None, results: list[Check]) -> None:
    """Row 1 against the account's fields (the built-ins alone when amoCRM could not be asked)."""
    header = values[0] if values else []
    fields = fields or BUILT_IN_FIELDS
    try:
        headers = match_headers(header, fields)
    except HeaderError as e:
        fix = _("Run `amosheets init` to write the header row.") if not any(text(c) for c in header) else None
        results.append(Check(_("header row"), False, str(e), fix, ExitStatus.CONFIG))
        return
    found = ", ".join(text(header[i]) for i in sorted([headers.lead_id, *headers.columns.values()]))
    missing = [s.header for s in BUILT_INS if s.key not in headers.columns]
    # i18n: the detail of the header row's check: this, then each of the parts below after "; ".
    detail = _("synced columns: {columns}").format(columns=found)
    if missing:
        detail += "; " + _("not synced (no such column): {columns}").format(columns=", ".join(missing))
    if headers.sync is not None:
        detail += "; " + _("each row's outcome goes into {header}").format(header=repr(text(header[headers.sync])))
    else:
        detail += "; " + _("no {header} / {other} column (add one to see each row's outcome in the sheet)").format(
            header=SYNC_HEADERS[0], other=SYNC_HEADERS[1]
        )
    plain = [h for h in headers.unknown if not suggestions(h, fields)]
    if plain:
        detail += "; " + _("left alone: {columns}").format(columns=", ".join(plain))
    results.append(Check(_("header row"), True, detail))
    row_1 = _("Row 1: {problem}").format(problem="")  # how the notices start, in the language in use
    for n in header_notices(headers, fields):
        # The check line names the header row already: the notice's text without its "Row 1: ".
        results.append(Check(_("header row"), True, n.message.removeprefix(row_1), warning=True))
    if Key.NAME not in headers.columns:
        results.append(
            Check(
                _("header row"),
                True,
                _("there is no {header} column: deals made from new rows will have no name").format(
                    header=header_of(Key.NAME)
                ),
                _("Add a column headed {header} (or Name).").format(header=header_of(Key.NAME)),
                warning=True,
            )
        )


def _check_amocrm(
    pair: PairConfig,
    results: list[Check],
    fail: Callable[[str, AmosheetsError], None],
    on_request: RequestHook | None,
) -> FieldSet | None:
    """The account's fields, once the token and the pipeline passed."""
    amo = amo_client(pair.account, attempts=2, on_request=on_request)
    try:
        try:
            account = amo.account()
        except AmosheetsError as e:
            fail(_("amoCRM token"), e)
            return None
        signed_in = amo.auth.describe(amo)
        # i18n: {signed_in} says how the token was given (the amoCRM client's words).
        detail = _("account {name} at {host}; {signed_in}").format(
            name=repr(account.get("name", "?")), host=amo.host, signed_in=signed_in
        )
        results.append(Check(_("amoCRM token"), True, detail))
        try:
            catalog = catalog_from(amo.pipelines(), pair.pipeline, pair.status, names=pair.names)
        except AmosheetsError as e:
            fail(_("pipeline and status"), e)
            return None
        p = catalog.pipelines[catalog.new_deal_pipeline_id]
        s = p.status(catalog.default_status_id)
        detail = _("new deals go to {pipeline} ({pipeline_id}), status {status} ({status_id})").format(
            pipeline=repr(p.name),
            pipeline_id=p.id,
            status=repr(s.name if s else "?"),
            status_id=catalog.default_status_id,
        )
        if len(catalog.followed) > 1:
            # i18n: added after "new deals go to …"; Воронка is the column's header (data).
            detail += "; " + _(
                "the tab follows every pipeline (a new row's {header} cell says where its deal goes)"
            ).format(header="Воронка")
        results.append(Check(_("pipeline and status"), True, detail))
        try:
            fields_of = read_account(amo)
        except AmosheetsError as e:
            fail(_("custom fields"), e)
            return None
        leads = sum(1 for f in fields_of.custom_fields if f.entity == "leads")
        contacts = len(fields_of.custom_fields) - leads
        # i18n: {deal_fields} is "{n} deal custom fields", {contact_fields} "{n} contact custom fields" (below).
        detail = _("{deal_fields} and {contact_fields} (`amosheets fields` lists them); time zone {timezone}").format(
            deal_fields=plural(leads, "{n} deal custom field", "{n} deal custom fields"),
            contact_fields=plural(contacts, "{n} contact custom field", "{n} contact custom fields"),
            timezone=fields_of.timezone,
        )
        results.append(Check(_("custom fields"), True, detail))
        if fields_of.users is None:
            results.append(
                Check(
                    _("users"),
                    True,
                    _(
                        "this token may not list users (amoCRM allows that to administrators only): an "
                        "{header} / {other} column shows user ids and is read-only"
                    ).format(header="Ответственный", other="Responsible"),
                    _("To show names and change the responsible user from the sheet, use an administrator's token."),
                    warning=True,
                )
            )
        return field_set(fields_of)
    finally:
        amo.close()


def exit_status(results: list[Check]) -> ExitStatus:
    return next((r.status for r in results if not r.ok), ExitStatus.OK)
