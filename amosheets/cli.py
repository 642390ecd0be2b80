"""The command line: a thin layer over the library. Each command's docstring is its --help.

``main`` is the one place where exceptions become messages and exit statuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer._click.core import Command
from typer._click.exceptions import ClickException  # typer's own click: tests/test_language.py runs through it
from typer.core import TyperCommand, TyperGroup, TyperOption

from amosheets import __version__, click_words, i18n
from amosheets.deadline import Deadline
from amosheets.errors import AmosheetsError, ConfigError, ExitStatus, Interrupted, UsageError
from amosheets.i18n import N_, _, pgettext, plural
from amosheets.sync.merge import ConflictPolicy

# Only what building the command line needs is imported above; the rest is imported by the command that uses
# it. `amosheets --version` and `--help` then cost Python and typer alone, and `status` does not load the Google
# and HTTP libraries (gspread with google-auth and requests: over 100 ms). tests/test_cli.py checks which modules
# `--version` and `status` load; `python -m benchmarks --startup` measures it.
if TYPE_CHECKING:
    from typer._click.core import Context
    from typer._click.formatting import HelpFormatter

    from amosheets.amocrm.auth import OAuthIntegration
    from amosheets.amocrm.client import AmoClient
    from amosheets.config import AccountConfig, PairConfig, Settings
    from amosheets.engine import Options
    from amosheets.gspread_transport import RequestHook
    from amosheets.output import Output
    from amosheets.sheet import Sheet
    from amosheets.sync.catalog import Account
    from amosheets.sync.fields import FieldSet
    from amosheets.sync.model import Catalog

T = TypeVar("T")


class _InItsLanguage(Command):
    """A command's usage line ("Usage: amosheets sync [OPTIONS]") and help option ("Show this message and exit.")
    in the language in use: click writes them in English (amosheets.click_words). Mixed into the group and into
    every command (``cls=_Command``); tests/test_language.py reads every command's help in Russian."""

    def format_usage(self, ctx: Context, formatter: HelpFormatter) -> None:
        click_words.usage_line(self, ctx, formatter)

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        return click_words.help_option(super().get_help_option(ctx))


class _Command(_InItsLanguage, TyperCommand):
    pass


class _Group(_InItsLanguage, TyperGroup):
    """Ctrl-C becomes a message and exit status 130 in ``main``, like every other way a command stops.

    (typer alone turns it into a silent exit 130.) The usage line and the help option speak the language in use."""

    # typer.Context is what reaches here; the base class names typer's vendored click Context, a private module.
    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            what = f"amosheets {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "amosheets"
            raise Interrupted(
                _(
                    "`{command}` was interrupted (Ctrl-C). What it finished is kept; the next run goes on from there."
                ).format(command=what)
            ) from None


def _exit_codes() -> str:
    """The exit-code table of `amosheets --help`, from ``ExitStatus`` (a \\b paragraph: kept as written)."""
    return "\b\nExit status:\n" + "\n".join(f"  {int(s):<4} {s.meaning}" for s in ExitStatus)


app = typer.Typer(
    cls=_Group,
    name="amosheets",
    help="Keeps a Google Sheet and the deals of an amoCRM / Kommo account in step, both ways.\n\n" + _exit_codes(),
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


class AppState:
    """What the global options decide, handed to every command."""

    def __init__(
        self, env_file: Path | None, output: Output, deadline: float | None = None, config: Path | None = None
    ) -> None:
        self.env_file = env_file
        self.config = config  # --config; None: ./amosheets.toml if there is one
        self.output = output
        self.deadline = deadline  # --deadline, which wins over AMOSHEETS_DEADLINE
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from amosheets.config import load_settings

            self._settings = load_settings(self.env_file)
            self.output.secrets.extend(self._settings.secrets())
            if self.deadline is not None:
                self._settings.deadline, self._settings.deadline_setting = self.deadline, "--deadline"
        return self._settings

    def chosen(self, names: list[str] | None) -> Chosen | None:
        """The pairs of amosheets.toml to act on (those named with --pair, in the file's order), or None:
        there is no file, and the environment makes the one pair."""
        from amosheets.config_file import CONFIG_FILE, find_config, load_pairs

        path = find_config(self.config)
        if path is None:
            if names:
                raise UsageError(
                    _("--pair names a pair of {file}, and there is no {file} here ({directory}).").format(
                        file=CONFIG_FILE, directory=Path.cwd()
                    ),
                    hint=_("Run in the directory of {file}, give its path with --config, or leave out --pair.").format(
                        file=CONFIG_FILE
                    ),
                )
            return None
        configured = load_pairs(path, self.settings)
        for p in configured:
            self.output.secrets.extend(p.account.secrets())
        known = [p.name for p in configured]
        unknown = [n for n in dict.fromkeys(names or []) if n not in known]
        if unknown:
            raise UsageError(
                _("--pair {names}: {path} has no such pair.").format(names=", ".join(unknown), path=path),
                hint=_("Its pairs are: {names}.").format(names=", ".join(known)),
            )
        return Chosen([p for p in configured if not names or p.name in names], configured)

    def deadline_of_run(self) -> Deadline:
        s = self.settings
        return Deadline(s.deadline, s.deadline_setting)

    def on_request(self, service: str) -> RequestHook | None:
        """A client's request hook that prints one line per request with --debug (None without)."""
        from amosheets.engine import request_line

        return request_line(service, self.output.trace if self.output.debug else None)


@dataclass
class Chosen:
    pairs: list[PairConfig]  # to act on
    configured: list[PairConfig]  # every pair of the file


_state: AppState | None = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"amosheets {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="Read settings from this file instead of ./.env.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="Sync the pairs this file lists instead of ./amosheets.toml "
            "(without either: the environment's one pair).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="More detail.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and every request.")] = False,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="Also append everything said to this file (rotated at 1 MB).")
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            min=0,
            metavar="SECONDS",
            help="Stop a push/pull/sync run cleanly after this long (default AMOSHEETS_DEADLINE or 240; 0 = never).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    from amosheets.output import Output

    global _state
    output = Output(verbosity=-1 if quiet else (1 if verbose else 0), debug=debug, log_file=log_file)
    _state = AppState(env_file, output, deadline, config)
    ctx.obj = _state


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the plan, what would change, on stdout; send no change to either service."),
]
Conflict = Annotated[
    ConflictPolicy | None,
    typer.Option(
        "--conflict",
        help="Which side wins a field changed on both sides since the last sync (default: the pair's "
        "conflict setting in amosheets.toml, else crm).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
RunJson = Annotated[
    bool, typer.Option("--json", help="Print a machine-readable summary on stdout; with --dry-run, the plan in it.")
]
Force = Annotated[bool, typer.Option("--force", help="Go on even when a guard rail would stop the run.")]
Pairs = Annotated[
    list[str] | None,
    typer.Option("--pair", metavar="NAME", help="Only this pair of amosheets.toml (repeat for more); default: all."),
]


def _sync(ctx: typer.Context, options: Options, as_json: bool, names: list[str] | None) -> None:
    from amosheets.engine import Engine
    from amosheets.report import print_outcome

    st = state(ctx)
    o = st.output
    chosen = st.chosen(names)
    if chosen is not None:
        _sync_pairs(st, chosen, options, as_json)
    with o.progress() as progress:
        engine = Engine.from_settings(
            st.settings, options, progress=progress, detail=o.detail, trace=o.trace if o.debug else None
        )
        outcome = engine.run()
    print_outcome(st.output, options.direction.value, outcome, as_json)
    raise typer.Exit(int(outcome.exit_status))


def _sync_pairs(st: AppState, chosen: Chosen, options: Options, as_json: bool) -> None:
    from amosheets.engine.pairs import exit_status, run_pairs
    from amosheets.report import print_results

    o = st.output
    with o.progress() as progress:
        results = run_pairs(
            chosen.pairs,
            options,
            st.deadline_of_run(),
            configured=chosen.configured,
            progress=progress,
            detail=o.detail,
            trace=o.trace if o.debug else None,
        )
    print_results(o, options.direction.value, results, as_json, lambda e: error_text(o, e))
    raise typer.Exit(int(exit_status(results)))


@app.command(cls=_Command)
def push(
    ctx: typer.Context,
    dry_run: DryRun = False,
    conflict: Conflict = None,
    force: Force = False,
    as_json: RunJson = False,
    pair: Pairs = None,
) -> None:
    """Sheet → amoCRM: rows without a lead_id become deals; edited rows update theirs.

    A new deal gets a contact holding the row's phone and e-mail, and its ID is written
    into the row's lead_id cell in the same run.

    Example:

    \b
        amosheets push --dry-run
    """
    from amosheets.engine import Options
    from amosheets.sync.plan import Direction

    _sync(ctx, Options(Direction.PUSH, dry_run, conflict, force=force), as_json, pair)


@app.command(cls=_Command)
def pull(
    ctx: typer.Context,
    dry_run: DryRun = False,
    all_: Annotated[bool, typer.Option("--all", help="Bring in every deal of the pipeline, not only changes.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Take changes made since this time (2026-11-01 or 2026-11-01T09:30).")
    ] = None,
    conflict: Conflict = None,
    force: Force = False,
    as_json: RunJson = False,
    pair: Pairs = None,
) -> None:
    """amoCRM → sheet: deals changed since the last sync update their rows; new deals are added.

    Examples:

    \b
        amosheets pull --all          # the first time, to bring in existing deals
        amosheets pull --since 2026-11-01
    """
    from amosheets.engine import Options, parse_since
    from amosheets.sync.plan import Direction

    if all_ and since:
        raise UsageError(_("--all and --since do not go together: --all already takes every deal."))
    when = parse_since(since) if since else None
    _sync(ctx, Options(Direction.PULL, dry_run, conflict, backfill=all_, since=when, force=force), as_json, pair)


@app.command(cls=_Command)
def sync(
    ctx: typer.Context,
    dry_run: DryRun = False,
    conflict: Conflict = None,
    force: Force = False,
    as_json: RunJson = False,
    pair: Pairs = None,
) -> None:
    """Both directions in one run, each side read once. This is what cron runs.

    Example (crontab, every five minutes):

    \b
        */5 * * * * cd /srv/amosheets && .venv/bin/amosheets sync >> sync.log 2>&1
    """
    from amosheets.engine import Options
    from amosheets.sync.plan import Direction

    _sync(ctx, Options(Direction.BOTH, dry_run, conflict, force=force), as_json, pair)


@app.command(cls=_Command)
def demo(ctx: typer.Context) -> None:
    """Show amosheets at work on local emulators: no account, no key needed.

    Starts the sandbox, seeds a sheet and some deals, shows a dry run, syncs both ways,
    edits a deal "in amoCRM" and a cell "in the sheet", syncs again and shows the result.

    Example:

    \b
        amosheets demo
    """
    from amosheets.demo import run_demo

    raise typer.Exit(run_demo(state(ctx).output))


@app.command(cls=_Command)
def check(ctx: typer.Context, pair: Pairs = None) -> None:
    """Check settings, credentials, access to both services and the sheet's headers.

    One line per check; each failure says how to fix it. Touches nothing. With amosheets.toml,
    each pair is checked (or those named with --pair).

    Example:

    \b
        amosheets check
    """
    from amosheets.checks import Check, exit_status, run_checks
    from amosheets.errors import most_severe
    from amosheets.report import pair_heading

    st = state(ctx)
    o = st.output
    chosen = st.chosen(pair)
    groups: list[tuple[PairConfig | None, list[Check]]]
    if chosen is None:
        groups = [(None, run_checks(st.settings, st.on_request))]
    else:
        groups = [(p, run_checks(st.settings, st.on_request, p)) for p in chosen.pairs]
    failed: list[str] = []
    for p, results in groups:
        if p is not None:
            o.result(pair_heading(p))
        # One line per check is what `check` was asked for: stdout. The verdict is a message: stderr.
        for r in results:
            fix = f"\n    → {r.fix}" if r.fix else ""
            if not r.ok:
                o.result(f"✗ {r.name}: {r.detail}{fix}", "bold red")
            elif o.verbosity < 0:  # -q: only what failed
                continue
            elif r.warning:  # passed, with something worth a look
                o.result(f"! {r.name}: {r.detail}{fix}", "yellow")
            else:
                o.result(f"✓ {r.name}: {r.detail}", "green")
        failed += [
            r.name if p is None else _("{check} (pair «{name}»)").format(check=r.name, name=p.name)
            for r in results
            if not r.ok
        ]
    status = most_severe(exit_status(results) for _pair, results in groups)
    if failed:
        o.error(
            # i18n: {names} are the failed checks' names: "amoCRM token, header row"
            plural(
                len(failed),
                "{n} check failed: {names}. Each ✗ line says what is wrong and how to fix it.",
                "{n} checks failed: {names}. Each ✗ line says what is wrong and how to fix it.",
                names=", ".join(dict.fromkeys(failed)),
            )
        )
    else:
        o.info(_("All good: `amosheets sync --dry-run` shows what the first run will do."))
    raise typer.Exit(int(status))


@app.command(cls=_Command)
def fields(ctx: typer.Context, as_json: Json = False) -> None:
    """List the account's deal and contact custom fields: what a column header may name.

    A header binds to a deal field by its name, as `cf:ID`, or by its code; to a field of the
    deal's main contact as `Контакт: NAME` (or `Contact: NAME`).

    Examples:

    \b
        amosheets fields
        amosheets fields --json
    """
    from amosheets.sync.catalog import custom_spec

    st = state(ctx)
    account, host = _read_account(st)
    tz = account.tz()
    listed: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str, str, str]] = []
    for cf in account.custom_fields:
        spec = custom_spec(cf, tz)
        built_in = {"PHONE": "Телефон", "EMAIL": "Email"}.get(cf.code or "")  # the column that writes it
        writable = spec.writable and built_in is None
        options = [text for _id, text in cf.enums] if spec.kind.type_name in ("option", "options") else []
        entity = "lead" if cf.entity == "leads" else "contact"
        listed.append(
            {
                "entity": entity,
                "id": cf.id,
                "name": cf.name,
                "code": cf.code,
                "type": cf.type,
                "header": spec.header,
                "writable": writable,
                "options": options,
            }
        )
        if built_in:
            note = " " + _("(the {header} column)").format(header=built_in)
        else:
            note = "" if writable else " " + _("(read-only)")
        rows.append((spec.header, str(cf.id), cf.code or "", cf.type + note, ", ".join(options)))
    if as_json:
        st.output.out.print_json(json.dumps({"timezone": account.timezone, "fields": listed}, ensure_ascii=False))
        return
    st.output.table(
        _("Custom fields of {host} (time zone {timezone})").format(host=host, timezone=account.timezone),
        # A field's options: a command's are the other "Options" (the help's heading), translated apart.
        (_("Header"), "ID", _("Code"), _("Type"), pgettext("custom field", "Options")),
        rows,
        True,
    )


@app.command(cls=_Command)
def pipelines(ctx: typer.Context, as_json: Json = False) -> None:
    """List the account's pipelines and their statuses with IDs (for AMOCRM_PIPELINE_ID / AMOCRM_STATUS_ID).

    Examples:

    \b
        amosheets pipelines
        amosheets pipelines --json
    """
    from amosheets.amocrm.connect import amo_client
    from amosheets.config import AMOCRM

    st = state(ctx)
    settings = st.settings.require(AMOCRM)
    amo = amo_client(settings.account(), on_request=st.on_request("amoCRM"))
    try:
        data = amo.pipelines()
    finally:
        amo.close()
    if as_json:
        simple = [
            {
                "id": p["id"],
                "name": p["name"],
                "is_main": bool(p.get("is_main")),
                "statuses": [
                    {"id": s["id"], "name": s["name"], "type": s.get("type", 0)}
                    for s in (p.get("_embedded") or {}).get("statuses") or []
                ],
            }
            for p in data
        ]
        st.output.out.print_json(json.dumps(simple, ensure_ascii=False))
        return
    rows = []
    for p in data:
        for s in sorted((p.get("_embedded") or {}).get("statuses") or [], key=lambda s: s.get("sort", 0)):
            rows.append(
                (
                    _("{pipeline} (main)").format(pipeline=p["name"]) if p.get("is_main") else p["name"],
                    str(p["id"]),
                    s["name"],
                    str(s["id"]),
                    _status_note(s),
                )
            )
    st.output.table(
        _("Pipelines of {host}").format(host=amo.host),
        (_("Pipeline"), _("Pipeline ID"), _("Status"), _("Status ID"), _("Note")),
        rows,
        True,
    )


@app.command(cls=_Command)
def init(
    ctx: typer.Context,
    english: Annotated[
        bool, typer.Option("--english", help="Write English headers (lead_id, Name, Phone, …).")
    ] = False,
    all_fields: Annotated[
        bool,
        typer.Option("--all-fields", help="Also add a column for every deal custom field amoCRM lets the tool write."),
    ] = False,
    format_: Annotated[
        bool,
        typer.Option(
            "--format",
            help="Format the synced columns, also on a tab that already has its header row: drop-downs of the "
            "statuses, pipelines and field options, checkboxes, date and plain-text (Телефон) formats, a frozen "
            "bold header row and a warning on editing lead_id. Safe to run again: it sets, never adds twice.",
        ),
    ] = False,
    pair: Annotated[
        str | None,
        typer.Option(
            "--pair", metavar="NAME", help="The tab of this pair of amosheets.toml (default: GOOGLE_WORKSHEET's)."
        ),
    ] = None,
) -> None:
    """Write the header row into an empty tab and format it; add the sync column to a tab that lacks one.

    On a tab that already has its header row, init adds only the Синхронизация (Sync) column,
    in the first column right of the headers that is empty all the way down; with --format it
    formats the tab too. A tab whose row 1 is not a header row is refused. Formatting needs the
    amoCRM settings too (it reads the pipelines and fields); re-run `init --format` after adding
    a status or an option.

    Examples:

    \b
        amosheets init
        amosheets init --all-fields
        amosheets init --format
        amosheets init --pair partners --format
    """
    from amosheets.config import AMOCRM, GOOGLE
    from amosheets.sheet import Sheet
    from amosheets.sync.fields import (
        BUILT_IN_FIELDS,
        BUILT_INS,
        DEFAULT_HEADER_ROW,
        LEAD_ID,
        SYNC_HEADERS,
        HeaderError,
        column_letter,
        match_headers,
        sync_header_for,
    )

    st = state(ctx)
    chosen = st.chosen([pair]) if pair is not None else None
    if chosen is not None:
        target = chosen.pairs[0]  # amosheets.toml was read whole: both services' settings are in order
        amo_problems: list[str] = []
    else:
        settings = st.settings.require(GOOGLE, *((AMOCRM,) if format_ or all_fields else ()))
        target, amo_problems = settings.pair(), settings.problems.get(AMOCRM, [])
    sheet = Sheet(target.tab, secrets=target.account.secrets(), on_request=st.on_request("Sheets"))
    tab = sheet.open()
    values = sheet.read_values()
    used = sum(1 for r in values if any(str(c).strip() for c in r if c is not None))
    if used:
        try:
            has_sync = match_headers(values[0] if values else [], BUILT_IN_FIELDS).sync is not None
        except HeaderError as e:
            raise UsageError(
                plural(
                    used,
                    "The tab {tab} already holds data ({n} row), and its row 1 is not a header row: {error}",
                    "The tab {tab} already holds data ({n} rows), and its row 1 is not a header row: {error}",
                    tab=repr(tab.title),
                    error=e,
                ),
                hint=_(
                    "Add the columns you need to row 1 by hand (see README), or point GOOGLE_WORKSHEET at an empty "
                    "tab. `amosheets check` says which headers are missing."
                ),
            ) from None
        if english or all_fields:
            st.output.warn(_("--english and --all-fields choose the headers of an empty tab; this tab's are kept."))
        header_row: list[Any] = list(values[0])
        if not has_sync:
            col, name = sync_header_for(header_row, values[1:])
            sheet.write_header([name], col)
            header_row += [""] * (col - len(header_row)) + [name]
            st.output.success(
                _(
                    "Added the column {header} ({column}) to {spreadsheet} / {tab}: each row the tool acts on says "
                    "there what became of it."
                ).format(
                    header=repr(name),
                    column=column_letter(col),
                    spreadsheet=repr(tab.spreadsheet_title),
                    tab=repr(tab.title),
                )
            )
        elif not format_:
            st.output.info(
                _(
                    "The tab {tab} already has its header row and a sync column: nothing to add. "
                    "(`amosheets init --format` formats it.)"
                ).format(tab=repr(tab.title))
            )
            return
        if not format_:
            return
    catalog = _read_catalog(st, target) if all_fields else None
    if not used:
        header_row = [LEAD_ID, *(s.headers[1] for s in BUILT_INS)] if english else list(DEFAULT_HEADER_ROW)
        if catalog is not None:
            header_row += _custom_headers(catalog.fields)
        header_row.append(SYNC_HEADERS[1] if english else SYNC_HEADERS[0])
        sheet.write_header([str(h) for h in header_row])
        st.output.success(
            _("Wrote the header row into {spreadsheet} / {tab}: {headers}").format(
                spreadsheet=repr(tab.spreadsheet_title), tab=repr(tab.title), headers=" | ".join(map(str, header_row))
            )
        )
    if catalog is None:
        if amo_problems:  # plain init needs only Google's settings: the headers are in
            st.output.warn(
                _(
                    "The tab is not formatted: that needs the amoCRM settings too ({problems}). Once they are set, "
                    "run `amosheets init --format`."
                ).format(problems="; ".join(amo_problems))
            )
            return
        catalog = _read_catalog(st, target)
    _format_tab(st, sheet, header_row, catalog)


def _format_tab(st: AppState, sheet: Sheet, header_row: list[Any], catalog: Catalog) -> None:
    """The tab's synced columns formatted as the catalog says, in one batchUpdate (what it needs of the tab's
    layout came with the metadata ``Sheet.open`` read)."""
    from amosheets.sheet_format import format_plan
    from amosheets.sync.fields import HeaderError, match_headers

    try:
        headers = match_headers(header_row, catalog.fields)
    except HeaderError as e:
        raise ConfigError(_("The header row cannot be formatted: {error}").format(error=e)) from None
    assert sheet.tab is not None
    plan = format_plan(headers, catalog, sheet.layout())
    sheet.apply(plan.requests)
    st.output.success(
        _("Formatted {spreadsheet} / {tab}:").format(
            spreadsheet=repr(sheet.tab.spreadsheet_title), tab=repr(sheet.tab.title)
        )
    )
    for line in plan.said:
        st.output.info(f"  {line}")


def _read_account(st: AppState) -> tuple[Account, str]:
    """The account's fields, users and time zone, read anew (and the host that said so)."""
    from amosheets.engine.reading import read_account

    return _with_amo(st, read_account)


def _read_catalog(st: AppState, pair: PairConfig | None = None) -> Catalog:
    """The account's pipelines (with the pair's pipeline and status checked) and fields, read anew; of the
    environment's pair unless ``pair`` is given."""
    from amosheets.amocrm.mapping import catalog_from
    from amosheets.engine.reading import read_account

    pair = pair or st.settings.pair()

    def read(amo: AmoClient) -> Catalog:
        account = read_account(amo)
        return catalog_from(amo.pipelines(), pair.pipeline, pair.status, account, pair.names)

    return _with_amo(st, read, pair.account)[0]


def _with_amo(st: AppState, read: Callable[[AmoClient], T], account: AccountConfig | None = None) -> tuple[T, str]:
    """What ``read`` makes of a client of ``account`` (default: the environment's), and that account's host."""
    from amosheets.amocrm.connect import amo_client
    from amosheets.config import AMOCRM

    amo = amo_client(account or st.settings.require(AMOCRM).account(), on_request=st.on_request("amoCRM"))
    try:
        return read(amo), amo.host
    finally:
        amo.close()


def _custom_headers(fields: FieldSet) -> list[str]:
    """A header for each writable deal custom field: its name, or `cf:ID` where two fields share the name."""
    aliases = fields.aliases
    out = []
    for spec in fields.specs:
        if spec.cf_id is None or spec.key.startswith("contact_") or not spec.writable:
            continue
        out.append(spec.header if aliases.get(spec.header.casefold()) == spec.key else f"cf:{spec.cf_id}")
    return out


auth_app = typer.Typer(
    cls=_Group,
    help="Sign in once, without a long-lived token or a service account; runs then keep the sign-in fresh."
    "\n\nExamples:\n\n\b\n    amosheets auth amocrm --code def50200a1b2c3…"
    "\n    amosheets auth google --client-secrets client_secret.json",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(auth_app, name="auth")


@auth_app.command("amocrm", cls=_Command)
def auth_amocrm(
    ctx: typer.Context,
    code: Annotated[
        str,
        typer.Option(
            "--code",
            help="The authorization code (or the whole address amoCRM sent the browser to, with ?code=…).",
        ),
    ],
    account: Annotated[
        str | None,
        typer.Option("--account", help="An [account.NAME] of amosheets.toml (default: the environment's account)."),
    ] = None,
) -> None:
    """Exchange an amoCRM authorization code for tokens, kept (owner-only) in the state directory.

    For an external integration: set AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URI
    (amoCRM: Settings → Integrations → your integration → Keys and scopes), copy the authorization
    code from the same page and run this at once: a code lasts 20 minutes and works once. Every run
    then renews the tokens itself (the refresh token lasts 3 months unused; `amosheets check` shows
    what is left). AMOCRM_INTEGRATION_TOKEN, when set, still wins.

    An account of amosheets.toml signs in the same way when its section has client_id,
    client_secret_env and redirect_uri: name it with --account.

    Examples:

    \b
        amosheets auth amocrm --code def50200a1b2c3…
        amosheets auth amocrm --account agency --code def50200d4e5f6…
    """
    from amosheets.amocrm.oauth import authorize, span

    st = state(ctx)
    target, integration = _oauth_account(st, account)
    got = authorize(target, code, st.on_request("amoCRM"))
    o = st.output
    o.success(
        _("Signed in to amoCRM account «{account}» ({host}) as integration {client_id}.").format(
            account=got.account_name, host=got.host, client_id=integration.client_id
        )
    )
    o.info(
        _(
            "The tokens are kept in {path} (only you can read it). The access token lasts {access}, the refresh "
            "token {refresh} unused; every run renews them."
        ).format(
            path=got.path,
            access=span(got.tokens.access_until - got.tokens.issued_at),
            refresh=span(got.tokens.refresh_until - got.tokens.issued_at),
        )
    )
    if account is None and st.settings.amocrm_token:
        o.warn(_("AMOCRM_INTEGRATION_TOKEN is set too, and wins: remove it from .env to use these tokens."))


@auth_app.command("google", cls=_Command)
def auth_google(
    ctx: typer.Context,
    client_secrets: Annotated[
        Path,
        typer.Option(
            "--client-secrets",
            metavar="FILE",
            help="The OAuth client's JSON (Google Cloud console → APIs & Services → Credentials → "
            "OAuth client ID → Desktop app → Download JSON).",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Where to write the sign-in (default: credentials/google-authorized-user.json here). An earlier "
            "sign-in there is replaced; any other file is left alone unless --force.",
            show_default=False,
        ),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser; only print the address to open.")
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            metavar="N",
            help="The port on localhost where Google sends the browser back (0: any free port).",
        ),
    ] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace --out even if it is not an earlier sign-in.")] = False,
) -> None:
    """Sign in to Google as a person, once; runs then use that person's access instead of a service account's.

    Opens Google's sign-in page in a browser (or prints its address); once you allow access, writes the
    sign-in (an authorized_user file, readable by you only) and prints the line for .env:
    GOOGLE_APPLICATION_CREDENTIALS=PATH. Sign in as a Google account that may edit the sheet.

    The browser must run on this machine. For a server without one, run this on a laptop and copy the
    file to the server (README: «Google от имени человека»).

    Example:

    \b
        amosheets auth google --client-secrets client_secret.json
        amosheets auth google --client-secrets client_secret.json --no-browser --out /srv/amosheets/google.json
    """
    from amosheets import google_signin

    google_signin.run(state(ctx).output, client_secrets, out, port=port, open_browser=not no_browser, force=force)


def _oauth_account(st: AppState, name: str | None) -> tuple[AccountConfig, OAuthIntegration]:
    """The account `auth amocrm` signs in (the environment's, or amosheets.toml's [account.NAME]), and its keys."""
    from dataclasses import replace

    from amosheets.amocrm.auth import OAuthIntegration
    from amosheets.config import AMOCRM

    if name is None:
        settings = st.settings.require(AMOCRM)  # the account's address, and what is wrong with the OAuth keys
        if settings.amocrm_oauth is None:
            raise ConfigError(
                _(
                    "AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URI are not set: `auth amocrm` signs "
                    "in an external integration with them."
                ),
                hint=_(
                    "Copy them from amoCRM: Settings → Integrations → your integration → Keys and scopes, into .env."
                ),
            )
        return replace(settings.account(), auth=settings.amocrm_oauth), settings.amocrm_oauth
    chosen = st.chosen(None)
    if chosen is None:
        raise UsageError(_("--account names an [account.NAME] of amosheets.toml, and there is none here."))
    accounts = {p.account.name: p.account for p in chosen.configured}
    if name not in accounts:
        raise UsageError(_("--account {name}: no pair of amosheets.toml uses such an account.").format(name=name))
    auth = accounts[name].auth
    if not isinstance(auth, OAuthIntegration):
        raise ConfigError(
            _("[account.{name}] signs in with a long-lived token (token_env), not through OAuth.").format(name=name),
            hint=_("For OAuth, give it client_id, client_secret_env and redirect_uri instead of token_env."),
        )
    return accounts[name], auth


@app.command(cls=_Command)
def status(
    ctx: typer.Context,
    last: Annotated[int, typer.Option("--last", "-n", help="How many runs to show.")] = 10,
    as_json: Json = False,
    pair: Pairs = None,
) -> None:
    """Show the last runs: when, which command, what changed, which rows failed and why.

    Reads only the local state; sends no request. What to look at when a cron mail arrives.
    With amosheets.toml, each pair's runs (or those named with --pair).

    Examples:

    \b
        amosheets status
        amosheets status --last 50 --json
    """
    from amosheets.config import AMOCRM, GOOGLE
    from amosheets.report import pair_heading

    st = state(ctx)
    chosen = st.chosen(pair)
    if chosen is None:
        _status_of(st, st.settings.require(GOOGLE, AMOCRM).pair(), last, as_json, None)
        return
    runs: dict[str, Any] = {}
    for p in chosen.pairs:
        if not as_json:
            st.output.result(pair_heading(p))
        _status_of(st, p, last, as_json, runs)
    if as_json:
        st.output.out.print_json(json.dumps({"pairs": runs}, ensure_ascii=False, default=str))


def _status_of(st: AppState, pair: PairConfig, last: int, as_json: bool, into: dict[str, Any] | None) -> None:
    """One pair's last runs: a table, or with ``as_json`` JSON (put ``into`` a document of pairs, if given)."""
    from amosheets.state import StateStore, state_path

    path = state_path(pair.state_dir, pair.scope)
    if not path.exists():
        if into is not None:
            into[pair.name] = []
        if not as_json or into is None:
            st.output.info(_("No runs recorded yet for this sheet and account (state file {path}).").format(path=path))
        return
    store = StateStore.open(pair.state_dir, pair.scope)
    try:
        runs = store.runs(last)
        cursor = store.cursor
    finally:
        store.close()
    if as_json:
        listed = [{**r.__dict__, "result": _result_word(r.exit_status, translated=False)} for r in runs]
        if into is not None:
            into[pair.name] = listed
        else:
            st.output.out.print_json(json.dumps(listed, ensure_ascii=False, default=str))
        return
    rows = []
    for r in runs:
        s = r.summary
        rows.append(
            (
                _when(r.started_at),
                r.command,
                _("{seconds:.1f}s").format(seconds=r.finished_at - r.started_at) if r.finished_at else "—",
                _result_word(r.exit_status),
                str(s.get("created", 0)),
                str(s.get("leads_updated", 0) + s.get("contacts_updated", 0)),
                str(s.get("cells_written", 0)),
                str(s.get("rows_appended", 0)),
                str(s.get("conflicts", 0)),
                str(len(r.problems)),
            )
        )
    st.output.table(
        _("Last runs (state: {path})").format(path=path),
        (
            _("Started"),
            _("Command"),
            _("Took"),
            _("Result"),
            _("Created"),
            _("Updated"),
            _("Cells"),
            _("Rows added"),
            _("Conflicts"),
            _("Failed"),
        ),
        rows,
        True,
    )
    if runs:
        r = runs[0]
        word = _result_word(r.exit_status)
        st.output.info(
            _("Last run: {started} {command} — {result}.").format(
                started=_when(r.started_at), command=r.command, result=word
            )
        )
        for p in r.problems:
            st.output.info(f"  {p}")
    if cursor:
        st.output.info(_("Changes in amoCRM are taken in up to {time} (amoCRM's clock).").format(time=_when(cursor)))


def _status_note(s: dict) -> str:
    if s.get("type") == 1:
        return _("incoming leads: the API cannot put deals here")
    if s["id"] == 142:
        return _("closed, won")
    if s["id"] == 143:
        return _("closed, lost")
    return ""


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _result_word(code: int | None, translated: bool = True) -> str:
    """How a run ended, in words: in the user's language, or (``translated=False``, for --json) in English."""
    tr = _ if translated else str
    if code is None:
        return tr(N_("did not finish (killed, or still running)"))
    try:
        return tr(ExitStatus(code).word)
    except ValueError:
        return tr(N_("exit status {code}")).format(code=code)


SANDBOX_PORTS = {"amocrm": 8081, "sheets": 8082}


@app.command(cls=_Command)
def sandbox(
    ctx: typer.Context,
    amocrm_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            show_default=False,
            help="Port of the amoCRM emulator; 0: any free port. Without it: 8081, or a free port if 8081 is in use.",
        ),
    ] = None,
    sheets_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            show_default=False,
            help="Port of the Google Sheets emulator; 0: any free port. Without it: 8082, or a free port if 8082 "
            "is in use.",
        ),
    ] = None,
    latency: Annotated[float, typer.Option(help="Seconds each amoCRM request takes.")] = 0.0,
    leads: Annotated[int, typer.Option(help="How many sample deals to seed.")] = 5,
    accounts: Annotated[
        int,
        typer.Option(
            min=1,
            max=20,
            help="How many amoCRM accounts to emulate. Beyond the first, each listens on a free port of its own, "
            "with its own token, deals and a tab of its own; the command prints an amosheets.toml with one pair "
            "per account.",
        ),
    ] = 1,
) -> None:
    """Run local emulators of amoCRM and Google Sheets, with a sample sheet and deals.

    Prints the .env lines that point amosheets at them; stops on Ctrl-C. A port given with an option
    is used or the command stops (exit status 2); a port left out that is in use (say, by another
    sandbox) is replaced by a free one, and the command says so. GET /_sandbox/ on each emulator lists
    its control endpoints.

    Example:

    \b
        amosheets sandbox --amocrm-port 8081 --sheets-port 8082
        amosheets sandbox --accounts 3
    """
    import errno

    from amosheets.sandbox import PortUnavailable, Sandbox

    out = state(ctx).output
    given = {"amocrm": amocrm_port, "sheets": sheets_port}
    ports = {name: SANDBOX_PORTS[name] if port is None else port for name, port in given.items()}
    flexible = frozenset(name for name, port in given.items() if port is None)
    labels = {"amocrm": ("amoCRM", "--amocrm-port"), "sheets": ("Sheets", "--sheets-port")}
    sb = Sandbox(
        amocrm_port=ports["amocrm"],
        sheets_port=ports["sheets"],
        amocrm_latency=latency,
        any_port_if_taken=flexible,
        accounts=accounts,
    )
    try:
        try:
            sb.start()
        except PortUnavailable as e:
            label, option = labels[e.service]
            if e.errno == errno.EADDRINUSE:
                problem = _("port {port} is in use; use {option} with another port (0: any free port).").format(
                    port=e.port, option=option
                )
                hint = _(
                    "Perhaps another `amosheets sandbox` holds it. Without {option}, the {label} emulator takes port "
                    "{default} or, when that is in use, a free one."
                )
            else:
                problem = _(
                    "port {port} cannot be used ({reason}); use {option} with another port (0: any free port)."
                ).format(port=e.port, reason=e.strerror, option=option)
                hint = _(
                    "Without {option}, the {label} emulator takes port {default} or, when that is in use, a free one."
                )
            raise UsageError(
                problem, hint=hint.format(option=option, label=label, default=SANDBOX_PORTS[e.service])
            ) from None
        for name, port in sb.moved.items():
            label, option = labels[name]
            url = sb.amocrm_url if name == "amocrm" else sb.sheets_url
            out.warn(
                _(
                    "port {port} is in use (perhaps by another `amosheets sandbox`): the {label} emulator listens on "
                    "{url} instead. Give {option} to insist on a port."
                ).format(port=port, label=label, url=url, option=option)
            )
        sb.seed_sample(leads=leads)
        out.info(_("amoCRM emulator:  {url}   (control: {url}/_sandbox/)").format(url=sb.amocrm_url))
        out.info(_("Sheets emulator:  {url}   (control: {url}/_sandbox/)").format(url=sb.sheets_url))
        for i in range(1, accounts):
            url = sb.account_url(i)
            out.info(
                _("amoCRM account {name}: {url}   (control: {url}/_sandbox/)").format(name=sb.account_name(i), url=url)
            )
        out.info(_("Put these lines in a .env file (or pass them with --env-file):") + "\n")
        env_lines = [*sb.env_lines(), *(f"{k}={v}" for k, v in sb.account_env().items())]
        out.out.print("\n".join(env_lines), highlight=False, markup=False)
        if accounts > 1:
            # On stderr: `amosheets sandbox --accounts 3 > .env` must leave a .env file that is only that.
            out.info("\n" + _("And this in amosheets.toml (one pair per account, each with a tab of its own):") + "\n")
            out.err.print(sb.config_sample().rstrip("\n"), highlight=False, markup=False)
        out.info("\n" + _("Press Ctrl-C to stop."))
        sb.wait()
    except KeyboardInterrupt:
        out.info(_("Stopped."))  # Ctrl-C is how this command is meant to end: no error to report
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    finally:
        sb.close()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Commands end with ``typer.Exit(status)``; errors become a message and a status here."""
    args = sys.argv[1:] if argv is None else argv
    i18n.use(i18n.language(_language_settings(args)))
    click_words.route_typer()
    try:
        command = typer.main.get_command(app)
        translate_help(command)
        # Not standalone: click's usage errors (a bad option, an unknown command) come here to be said in the
        # user's language; click would print them itself, in English. It returns the status a command exits with.
        status = command.main(args=args, prog_name="amosheets", standalone_mode=False)
    except ClickException as e:
        click_words.show(e)
        sys.exit(e.exit_code)
    except typer.Abort:
        click_words.abort()
        sys.exit(1)
    except AmosheetsError as e:
        out = _output()
        out.error(str(e))
        if out.debug:
            out.err.print(out.redact(traceback.format_exc()), markup=False)
        sys.exit(int(e.exit_status))
    except KeyboardInterrupt:
        _output().error(_("interrupted."))
        sys.exit(int(ExitStatus.INTERRUPTED))
    except Exception as e:
        out = _output()
        out.error(error_text(out, e))
        sys.exit(int(ExitStatus.ERROR))
    sys.exit(status if isinstance(status, int) else 0)  # a command that returns (None) ends well


def _language_settings(args: list[str]) -> dict[str, str]:
    """What decides the language: the environment, and AMOSHEETS_LANG in the .env file (--env-file's or
    ./.env) when the environment does not set it. Read before anything is said, --help included."""
    env = dict(os.environ)
    if i18n.SETTING in env:
        return env
    path = Path(".env")
    for i, arg in enumerate(args):
        if arg == "--env-file" and i + 1 < len(args):
            path = Path(args[i + 1])
        elif arg.startswith("--env-file="):
            path = Path(arg.split("=", 1)[1])
    if path.is_file():
        from dotenv import dotenv_values

        with contextlib.suppress(OSError, UnicodeDecodeError):
            value = dotenv_values(path).get(i18n.SETTING)
            if value:
                env[i18n.SETTING] = value
    return env


def translate_help(command: Any) -> None:
    """Every help text of ``command`` and its subcommands (the docstrings and the options' help) in the
    language in use; the catalog has them because tools/catalog.py extracts them from this same tree. The type
    shown after an option (`<int>`) too (amosheets.click_words)."""
    if command.help:
        command.help = i18n._(command.help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = i18n._(param.help)
        click_words.translate_value_type(param)
    for sub in getattr(command, "commands", {}).values():
        translate_help(sub)


def error_text(out: Output, e: BaseException) -> str:
    """What the user is told of an error that stopped a run (or one pair of it); with --debug, the
    traceback is printed first."""
    if out.debug:
        out.err.print(out.redact("".join(traceback.format_exception(e))), markup=False)
    if isinstance(e, AmosheetsError):
        return str(e)
    said = out.redact(_("internal error: {kind}: {error}").format(kind=type(e).__name__, error=e))
    if not out.debug:
        said += "\n" + _("This is a bug in amosheets. Run again with --debug to see where it happened, and report it.")
    return said


def _output() -> Output:
    from amosheets.output import Output

    return _state.output if _state is not None else Output()
