"""Exit statuses and the errors that carry them.

Every failure the user can act on is an ``AmosheetsError`` with a plain-words message and,
where there is one, a fix. ``amosheets.cli`` is the one place that turns them into a message
on stderr and an exit status; nothing else calls ``sys.exit``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The process exit codes. Users' crontabs depend on these: only ever add to them."""

    OK = 0
    ERROR = 1  # the run stopped: a service failed after retries, or an internal error
    CONFIG = 2  # configuration or usage error (also what click uses for bad options)
    PARTIAL = 3  # some rows failed, the rest went through
    AUTH = 4  # authentication or permission refused by amoCRM or Google
    LOCKED = 5  # another run holds the lock
    NEEDS_FORCE = 6  # a guard rail stopped the run; re-run with --force if it is intended
    INTERRUPTED = 130  # Ctrl-C


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
            message = "Configuration problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
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
        return "a file is in the way where a directory should be"
    return e.strerror or str(e)
