"""Where text goes: stderr for people, stdout for data, an optional log file; nothing secret anywhere.

In a terminal: colour, rich tables and progress bars. Anywhere else (cron, Task Scheduler,
a pipe): plain lines, each with a timestamp, so a cron mail or a log reads on its own.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from amosheets.errors import UsageError, os_reason
from amosheets.i18n import _, heard
from amosheets.secret import redact

if TYPE_CHECKING:
    from rich.progress import TaskID

LOG_BYTES = 1_000_000
LOG_BACKUPS = 5

Progressor = Callable[[str, int, int | None], None]


@dataclass
class Output:
    """Consoles for one run. Diagnostics go to stderr, data (``--json``, asked-for tables) to stdout."""

    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    debug: bool = False
    secrets: list[str] = field(default_factory=list)
    log_file: Path | None = None

    def __post_init__(self) -> None:
        no_color = bool(os.environ.get("NO_COLOR"))
        self.err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=True)
        self._log: logging.Logger | None = None
        if self.log_file is not None:
            self._log = _file_logger(self.log_file)

    @property
    def terminal(self) -> bool:
        return self.err.is_terminal

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _emit(self, level: int, text: str, style: str | None = None, prefix: str = "") -> None:
        heard("stderr", prefix + text)
        text = self.redact(text)
        if self._log is not None:
            self._log.log(level, (prefix + text).strip("\n"))
        threshold = {logging.DEBUG: 1, logging.INFO: 0, logging.WARNING: 0, logging.ERROR: -1}[level]
        if self.verbosity < threshold and not (level == logging.DEBUG and self.debug):
            return
        if self.terminal:
            label = f"[{style}]{prefix}[/]" if prefix and style else prefix
            self.err.print(label + escape(text), style=None if prefix else style)
        else:
            stamp = datetime.now().isoformat(timespec="seconds")
            for line in (prefix + text).split("\n"):
                self.err.print(f"{stamp} {line}" if line.strip() else "", markup=False)

    def error(self, text: str) -> None:
        self._emit(logging.ERROR, text, "bold red", _("error: "))

    def warn(self, text: str) -> None:
        self._emit(logging.WARNING, text, "yellow", _("warning: "))

    def info(self, text: str) -> None:
        self._emit(logging.INFO, text)

    def success(self, text: str) -> None:
        self._emit(logging.INFO, text, "green")

    def detail(self, text: str) -> None:
        """What a phase found or did: shown with -v (and --debug)."""
        self._emit(logging.DEBUG, text, "dim")

    def trace(self, text: str) -> None:
        """One request: shown (and logged) only with --debug."""
        if self.debug:
            self._emit(logging.DEBUG, text, "dim")

    def result(self, text: str, style: str | None = None) -> None:
        """A line of what the command was asked for (not a message about it): stdout, without a
        timestamp, so that `amosheets … > file` keeps it; in the log file too."""
        heard("stdout", text)
        text = self.redact(text)
        if self._log is not None:
            self._log.info(text)
        self.out.print(text, style=style if self.out.is_terminal else None, markup=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], to_stdout: bool = False) -> None:
        """A rich table in a terminal; plain `a | b | c` lines elsewhere (and in the log)."""
        console = self.out if to_stdout else self.err
        heard("table", title)
        for cell in (*columns, *(c for r in rows for c in r)):
            heard("table", cell, data=True)  # a header or a cell may be the sheet's, or the tool's words
        if self._log is not None:
            self._log.info(self.redact(title))
            for r in rows:
                self._log.info(self.redact("  " + " | ".join(r)))
        if self.verbosity < 0 and not to_stdout:
            return
        if console.is_terminal:
            from rich.table import Table  # imported here: only a terminal shows tables (~5 ms at start-up)

            t = Table(title=title or None, title_justify="left")
            for c in columns:
                t.add_column(c, overflow="fold")
            for r in rows:
                t.add_row(*[escape(self.redact(str(x))) for x in r])
            console.print(t)
        else:
            if title:
                console.print(self.redact(title), markup=False)
            console.print("  " + " | ".join(columns), markup=False)
            for r in rows:
                console.print(self.redact("  " + " | ".join(str(x) for x in r)), markup=False)

    @contextmanager
    def progress(self) -> Iterator[Progressor | None]:
        """A progress bar with counts and ETA, in a terminal only (never in cron mail or a log)."""
        if not self.terminal or self.verbosity < 0:
            yield None
            return
        # Imported here: only a terminal shows progress bars (with rich.table, ~8 ms at start-up; cron never does).
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            # i18n: the label before the estimated time left, in a progress bar
            TextColumn(_("eta")),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        with bar:
            yield update


def _file_logger(path: Path) -> logging.Logger:
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(
            _("--log-file {path} is a directory.").format(path=path),
            hint=_("Name a file in it, e.g. --log-file {file}.").format(file=path / "amosheets.log"),
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _PrivateRotatingHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as e:
        raise UsageError(
            _("--log-file {path} cannot be written: {reason}.").format(path=path, reason=os_reason(e)),
            hint=_("Name a file in a directory this user can write to."),
        ) from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    logger = logging.getLogger(f"amosheets.file.{path}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens (the first and each after a rotation) is readable by its owner only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        return io.TextIOWrapper(os.fdopen(fd, "ab"), encoding=self.encoding, errors=self.errors)
