"""The command line: a thin layer over the library. Each command's docstring is its --help.

``main`` is the one place where exceptions become messages and exit statuses.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from amosheets import __version__
from amosheets.config import Settings, load_settings
from amosheets.engine import Options, parse_since
from amosheets.errors import AmosheetsError, ExitStatus, UsageError
from amosheets.output import Output
from amosheets.sync.merge import DEFAULT_POLICY, ConflictPolicy
from amosheets.sync.plan import Direction

app = typer.Typer(
    name="amosheets",
    help="Keeps a Google Sheet and the deals of an amoCRM / Kommo account in step, both ways.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


class AppState:
    """What the global options decide, handed to every command."""

    def __init__(self, env_file: Path | None, output: Output) -> None:
        self.env_file = env_file
        self.output = output
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.env_file)
            self.output.secrets.extend(self._settings.secrets())
        return self._settings


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
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="More detail.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and every request.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    global _state
    output = Output(verbosity=-1 if quiet else (1 if verbose else 0), debug=debug)
    _state = AppState(env_file, output)
    ctx.obj = _state


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Plan and print what would change; send no change to either service.")
]
Conflict = Annotated[
    ConflictPolicy,
    typer.Option("--conflict", help="Which side wins a field changed on both sides since the last sync."),
]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
Force = Annotated[bool, typer.Option("--force", help="Go on even when a guard rail would stop the run.")]


def _sync(ctx: typer.Context, direction: Direction, options: Options, as_json: bool) -> None:
    from amosheets.engine import Engine
    from amosheets.report import print_outcome

    st = state(ctx)
    outcome = Engine(st.settings, options).run()
    print_outcome(st.output, direction.value, outcome, as_json)
    raise typer.Exit(int(outcome.exit_status))


@app.command()
def push(
    ctx: typer.Context,
    dry_run: DryRun = False,
    conflict: Conflict = DEFAULT_POLICY,
    as_json: Json = False,
) -> None:
    """Sheet → amoCRM: rows without a lead_id become deals; edited rows update theirs.

    A new deal gets a contact holding the row's phone and e-mail, and its ID is written
    into the row's lead_id cell in the same run.

    Example:

        amosheets push --dry-run
    """
    _sync(ctx, Direction.PUSH, Options(Direction.PUSH, dry_run, conflict), as_json)


@app.command()
def pull(
    ctx: typer.Context,
    dry_run: DryRun = False,
    all_: Annotated[bool, typer.Option("--all", help="Bring in every deal of the pipeline, not only changes.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Take changes made since this time (2026-11-01 or 2026-11-01T09:30).")
    ] = None,
    conflict: Conflict = DEFAULT_POLICY,
    as_json: Json = False,
) -> None:
    """amoCRM → sheet: deals changed since the last sync update their rows; new deals are added.

    Example:

        amosheets pull --all          # the first time, to bring in existing deals
        amosheets pull --since 2026-11-01
    """
    if all_ and since:
        raise UsageError("--all and --since do not go together: --all already takes every deal.")
    when = parse_since(since) if since else None
    _sync(ctx, Direction.PULL, Options(Direction.PULL, dry_run, conflict, backfill=all_, since=when), as_json)


@app.command()
def sync(
    ctx: typer.Context,
    dry_run: DryRun = False,
    conflict: Conflict = DEFAULT_POLICY,
    as_json: Json = False,
) -> None:
    """Both directions in one run, each side read once. This is what cron runs.

    Example (crontab, every five minutes):

        */5 * * * * cd /srv/amosheets && .venv/bin/amosheets sync >> sync.log 2>&1
    """
    _sync(ctx, Direction.BOTH, Options(Direction.BOTH, dry_run, conflict), as_json)


@app.command()
def demo(ctx: typer.Context) -> None:
    """Show amosheets at work on local emulators: no account, no key needed.

    Starts the sandbox, seeds a sheet and some deals, shows a dry run, syncs both ways,
    edits a deal "in amoCRM" and a cell "in the sheet", syncs again and shows the result.

    Example:

        amosheets demo
    """
    from amosheets.demo import run_demo

    raise typer.Exit(run_demo(state(ctx).output))


@app.command()
def sandbox(
    ctx: typer.Context,
    amocrm_port: Annotated[int, typer.Option(help="Port of the amoCRM emulator.")] = 8081,
    sheets_port: Annotated[int, typer.Option(help="Port of the Google Sheets emulator.")] = 8082,
    latency: Annotated[float, typer.Option(help="Seconds each amoCRM request takes.")] = 0.0,
    leads: Annotated[int, typer.Option(help="How many sample deals to seed.")] = 5,
) -> None:
    """Run local emulators of amoCRM and Google Sheets, with a sample sheet and deals.

    Prints the .env lines that point amosheets at them; stops on Ctrl-C.

    Example:

        amosheets sandbox --amocrm-port 8081 --sheets-port 8082
    """
    from amosheets.sandbox import Sandbox

    out = state(ctx).output
    with Sandbox(amocrm_port=amocrm_port, sheets_port=sheets_port, amocrm_latency=latency) as sb:
        sb.seed_sample(leads=leads)
        out.info(f"amoCRM emulator:  {sb.amocrm_url}   (control: {sb.amocrm_url}/_sandbox/)")
        out.info(f"Sheets emulator:  {sb.sheets_url}   (control: {sb.sheets_url}/_sandbox/)")
        out.info("Put these lines in a .env file (or pass them with --env-file):\n")
        out.out.print("\n".join(sb.env_lines()), highlight=False, markup=False)
        out.info("\nPress Ctrl-C to stop.")
        sb.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Commands end with ``typer.Exit(status)``; errors become a message and a status here."""
    try:
        app(args=argv, prog_name="amosheets")  # exits by itself when nothing goes wrong
    except AmosheetsError as e:
        out = _output()
        out.error(str(e))
        if out.debug:
            out.err.print(out.redact(traceback.format_exc()), markup=False)
        sys.exit(int(e.exit_status))
    except KeyboardInterrupt:
        _output().error("interrupted.")
        sys.exit(int(ExitStatus.INTERRUPTED))
    except Exception as e:
        out = _output()
        if out.debug:
            out.err.print(out.redact(traceback.format_exc()), markup=False)
        out.error(out.redact(f"internal error: {type(e).__name__}: {e}"))
        if not out.debug:
            out.info("This is a bug in amosheets. Run again with --debug to see where it happened, and report it.")
        sys.exit(int(ExitStatus.ERROR))


def _output() -> Output:
    return _state.output if _state is not None else Output()
