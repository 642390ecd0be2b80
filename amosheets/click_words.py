"""The command-line library's own words (typer's, and those of the click it carries) in the language in use.

typer (0.29) carries its own copy of click, ``typer._click``, whose texts are written in English where they are
said: the usage line ("Usage: amosheets sync [OPTIONS]"), the help option's help, the usage errors ("Error: No
such option: --x", "Try 'amosheets sync -h' for help."), and the messages of pydantic, with which typer checks a
value ("Input should be a valid integer, …"). typer.core passes a few more through the standard library's
gettext: the help's headings ("Options"), "[default: …]", "[required]", "No such command …".

Each reaches ``amosheets.i18n._``, the one catalog, in the narrowest way the library leaves:

- typer.core's gettext texts: its module's ``_`` is pointed at ours (``route_typer``);
- the help's other words: the CLI's command classes say the usage line and the help option's help through
  ``usage_line`` and ``help_option``, and ``translate_value_type`` puts the type shown after an option
  (``<int>``) into its metavar;
- the errors: the CLI runs click with ``standalone_mode=False``, so that they reach ``amosheets.cli.main``, which
  says them with ``show`` as click's own ``show`` would, each message matched against click's texts below
  (``said``) and said in the language in use.

Every text is here as the library writes it, with N_ so that tools/catalog.py extracts it, and is translated in
the .po like the tool's own. English is said as the library says it; tests/test_language.py checks that, and
that a Russian run leaves none of these texts in English: an upgrade of typer that changes one fails there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer
import typer.core
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperOption

from amosheets.i18n import N_, _

if TYPE_CHECKING:
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter

# typer.core's texts that it says through gettext (``_("Options")``…), as typer writes them.
TYPER_TEXTS = (
    N_("Options"),
    N_("Arguments"),
    N_("Commands"),
    # i18n: after an option's help, in brackets: "[default: 10]"
    N_("default: {default}"),
    # i18n: after an option's help, in brackets: "[required]"
    N_("required"),
    # i18n: after an option's help, in brackets: the environment variable it is read from
    N_("env var: {var}"),
    # i18n: a default computed when the command runs
    N_("(dynamic)"),
    N_("No such command {name!r}."),
    N_("Missing command."),
    N_("Aborted!"),
)

# The help's words that click writes in: the usage line's start and its placeholders, the help option's help.
USAGE = N_("Usage: ")
USAGE_PIECES = (N_("[OPTIONS]"), N_("COMMAND [ARGS]..."))
HELP_OPTION = N_("Show this message and exit.")
# The type of the value an option takes, as typer shows it after the option's name (`--last <int>`).
VALUE_TYPES = (N_("<int>"), N_("<int range>"), N_("<float>"), N_("<float range>"), N_("<str>"), N_("<path>"))

# click's report of an error: its usage error adds the usage line (``usage_line``) and where the help is.
ERROR = N_("Error: {message}")
TRY_HELP = N_("Try '{command} {option}' for help.")

# The messages of click's errors, with what fills them in as placeholders; ``said`` takes the first that a
# message is, so one made of others comes before them. A ``{message}`` is itself one of these, said in turn. What
# click quotes (its {name!r}) is a plain {name} here that holds the quotes: it is put back as it was.
MESSAGES = (
    # i18n: "No such option: --dry (Possible options: --dry-run)"
    N_("{message} (Possible options: {possibilities})"),
    # i18n: "No such command 'snyc'. Did you mean 'sync'?"
    N_("{message}. Did you mean {suggestions}?"),
    N_("No such option: {name}"),
    # i18n: {name} is quoted: "Option '-n' requires an argument."
    N_("Option {name} requires an argument."),
    # i18n: {name} is quoted: "Option '--dry-run' does not take a value."
    N_("Option {name} does not take a value."),
    N_("Got unexpected extra argument(s) ({args})"),
    # i18n: click writes "Missing {param_type}{param_hint}." with the type "option" or "argument"
    N_("Missing option {param_hint}."),
    N_("Missing argument {param_hint}."),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    # i18n: pydantic's start of an error the check of a value raised; {message} is the error
    N_("Value error, {message}"),
    # i18n: a value that is not one of an option's choices: "'x' is not one of 'crm', 'sheet'."
    N_("{value} is not one of {choices}."),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid integer, got a number with a fractional part"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be greater than or equal to {ge}"),
    N_("Input should be less than or equal to {le}"),
)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _pattern(text: str) -> re.Pattern[str]:
    """What ``text`` says once its placeholders are filled in: each placeholder matches anything."""
    parts = _PLACEHOLDER.split(text)  # literal, name, literal, name, …, literal
    return re.compile(
        "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)), re.S
    )


_PATTERNS = [(text, _pattern(text)) for text in MESSAGES]


def said(message: str) -> str:
    """``message``, one of click's, in the language in use: the translation of the first of ``MESSAGES`` it is,
    filled in with what filled that in, as it was. Any other text as it is."""
    found = next(((text, m) for text, pattern in _PATTERNS if (m := pattern.fullmatch(message))), None)
    if found is None:
        return message
    text, match = found
    values = {name: said(value) if name == "message" else value for name, value in match.groupdict().items()}
    return _(text).format(**values)


def route_typer() -> None:
    """typer.core's gettext texts through our catalog: the module says ``_(…)`` with the standard library's
    ``gettext.gettext`` as ``_`` (``from gettext import gettext as _``), and here its ``_`` becomes ours.

    The other way gettext offers, binding its global domain, would take the language from the environment
    (LANGUAGE, LC_ALL…) instead of AMOSHEETS_LANG and .env, and would change it for every library in the process.
    Setting a library's module attribute is a patch: tests/test_language.py fails if a typer that no longer looks
    ``_`` up there leaves "[default: …]" or "Options" in English."""
    typer.core._ = _  # type: ignore[assignment]


def usage_line(command: Command, ctx: Context, formatter: HelpFormatter) -> None:
    """click's ``Command.format_usage`` (the usage line of the help and of a usage error) in the language in
    use: "Usage: amosheets sync [OPTIONS]"."""
    pieces = [_(piece) if piece in USAGE_PIECES else piece for piece in command.collect_usage_pieces(ctx)]
    formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=_(USAGE))


def help_option(option: Any) -> Any:
    """The help option click makes (``-h, --help``), with its help in the language in use."""
    if option is not None:
        option.help = _(HELP_OPTION)
    return option


def translate_value_type(param: Any) -> None:
    """The type typer shows after an option that takes a value (`--last <int>`), in the language in use: it
    becomes the option's metavar, what typer shows instead when there is one. Only where the language's word
    differs: an English run's options stay as typer made them."""
    if not isinstance(param, TyperOption) or param.is_flag or param.count or param.metavar or param.nargs != 1:
        return  # a flag shows no type; a metavar of the tool's own (PATH, NAME) stays
    shown = param.display_type(None)  # type: ignore[arg-type]  # the context only rewrites choices: <crm|sheet> stays
    if _(shown) != shown:
        param.metavar = _(shown)


def show(e: ClickException) -> None:
    """What click's ``e.show()`` prints on stderr, in the language in use: for a usage error, the command's usage
    line and where its help is, then the error."""
    if isinstance(e, NoArgsIsHelpError):  # a group run without a command: its help, which is in the language
        e.show()
        return
    color = e.show_color
    if isinstance(e, UsageError):
        color = None
        ctx = e.ctx
        if ctx is not None:
            color = ctx.color
            hint = ""
            if ctx.command.get_help_option(ctx) is not None:
                hint = _(TRY_HELP).format(command=ctx.command_path, option=ctx.help_option_names[0]) + "\n"
            typer.echo(f"{ctx.get_usage()}\n{hint}", err=True, color=color)
    typer.echo(_(ERROR).format(message=said(e.format_message())), err=True, color=color)


def abort() -> None:
    """What typer says when a prompt is cut short (Ctrl-D): "Aborted!"."""
    typer.echo(_("Aborted!"), err=True)
