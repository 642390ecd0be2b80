"""Exit statuses and the errors that carry them.

Every failure the user can act on is an ``AmosheetsError`` with a plain-words message and,
where there is one, a fix. ``amosheets.cli`` is the one place that turns them into a message
on stderr and an exit status; nothing else calls ``sys.exit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from amosheets.i18n import N_, _


class ExitStatus(IntEnum):
    """The process exit codes. Users' crontabs depend on these: only ever add to them.

    Each code carries what it means, said once: ``meaning`` for `amosheets --help` (and the
    README's table, which a test holds to these codes), ``word`` for the Result column of
    `amosheets status`.
    """

    word: str
    meaning: str

    # The defaults are for mypy, which takes `ExitStatus(3)` (a lookup by value) for a call of this.
    def __new__(cls, code: int, word: str = "", meaning: str = "") -> ExitStatus:
        member = int.__new__(cls, code)
        member._value_ = code
        member.word = word
        member.meaning = meaning
        return member

    # The words and meanings are translated where they are shown (`amosheets status`, `amosheets --help`).
    OK = 0, N_("ok"), N_("done, nothing left undone (also when there was nothing to do)")
    ERROR = (
        1,
        N_("stopped by an error"),
        N_("stopped: a service failed after retries, the deadline passed, or a bug"),
    )
    CONFIG = 2, N_("configuration error"), N_("configuration or usage error (also click's code for a bad option)")
    PARTIAL = 3, N_("some rows failed"), N_("some rows failed (each one is named), the rest went through")
    AUTH = 4, N_("access refused"), N_("amoCRM or Google refused the credentials or the access")
    LOCKED = 5, N_("another run held the lock"), N_("another run holds the lock; this one changed nothing")
    NEEDS_FORCE = (
        6,
        N_("stopped by a guard rail (needs --force)"),
        N_("a guard rail stopped the run; --force if it is intended"),
    )
    INTERRUPTED = 130, N_("interrupted"), N_("interrupted (Ctrl-C); what was done is kept")


# Most severe first: what a run of several pairs exits with when they ended differently. What a person
# must fix before any later run can help comes first; what the next run may clear by itself comes later.
SEVERITY = (
    ExitStatus.INTERRUPTED,
    ExitStatus.CONFIG,
    ExitStatus.AUTH,
    ExitStatus.ERROR,
    ExitStatus.NEEDS_FORCE,
    ExitStatus.PARTIAL,
    ExitStatus.LOCKED,
    ExitStatus.OK,
)


def most_severe(statuses: Iterable[ExitStatus]) -> ExitStatus:
    return min(statuses, key=SEVERITY.index, default=ExitStatus.OK)


class AmosheetsError(Exception):
    """An error with a message meant for the user and an exit status."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"


class ConfigError(AmosheetsError):
    """One or more settings are missing or malformed; each problem names its variable."""

    exit_status = ExitStatus.CONFIG

    def __init__(self, problems: list[str] | str, hint: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = _("Configuration problems:") + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, hint)


class UsageError(AmosheetsError):
    exit_status = ExitStatus.CONFIG


class AuthError(AmosheetsError):
    """A service refused our credentials or our access."""

    exit_status = ExitStatus.AUTH


class ServiceError(AmosheetsError):
    """A service failed in a way retrying did not cure (or must not cure, like an IP block)."""

    exit_status = ExitStatus.ERROR


class LockedError(AmosheetsError):
    exit_status = ExitStatus.LOCKED


class DeadlineReached(AmosheetsError):
    """The run used up its time: it stops between requests, keeping what it finished."""

    exit_status = ExitStatus.ERROR


class Interrupted(AmosheetsError):
    """Ctrl-C (SIGINT): the command stops where it is."""

    exit_status = ExitStatus.INTERRUPTED


def os_reason(e: OSError) -> str:
    """Why a file or directory could not be made, in words (mkdir says "File exists" for a file in the way)."""
    if isinstance(e, FileExistsError | NotADirectoryError):
        return _("a file is in the way where a directory should be")
    return e.strerror or str(e)
