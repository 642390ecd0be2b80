"""Where text goes: stderr for people, stdout for data, nothing secret anywhere."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from rich.console import Console


@dataclass
class Output:
    """Consoles for one run. Diagnostics go to stderr, data (``--json``, tables asked for) to stdout."""

    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    debug: bool = False
    secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        no_color = bool(os.environ.get("NO_COLOR"))
        self.err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            if s and len(s) >= 4:
                text = text.replace(s, "***")
        return text

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/] {_escape(self.redact(text))}")

    def warn(self, text: str) -> None:
        if self.verbosity >= 0:
            self.err.print(f"[yellow]warning:[/] {_escape(self.redact(text))}")

    def info(self, text: str) -> None:
        if self.verbosity >= 0:
            self.err.print(_escape(self.redact(text)))

    def detail(self, text: str) -> None:
        if self.verbosity >= 1 or self.debug:
            self.err.print(_escape(self.redact(text)), style="dim")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def is_terminal() -> bool:
    return sys.stderr.isatty()
