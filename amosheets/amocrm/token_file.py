"""Where an account's OAuth tokens are kept: one file, owner-only, replaced durably.

amoCRM's refresh token is single-use: once a refresh has been answered, only the new pair works. So
the new pair is on disk (written, fsynced, renamed into place) before anything uses it, and a crash at
any point leaves either the old pair (the refresh never reached amoCRM) or the new one. Two files
beside it make that checkable afterwards:

- ``….json.new`` is the next pair being written. It exists only once amoCRM has answered; a complete
  one found at start is a pair the crash kept from being renamed into place, and is taken.
- ``….refreshing`` notes that a refresh was sent and its answer not yet kept. If the stored refresh
  token is then refused as used, that note says why: the answer was lost (nothing can get those tokens
  back; a person must authorize again).

A lock file beside them lets one process refresh at a time: pairs of one account and overlapping runs
share the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from amosheets.errors import ConfigError
from amosheets.i18n import _
from amosheets.secret import Secret

FORMAT = 1


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token issued with it; times are amoCRM's clock (Unix seconds)."""

    base_url: str
    client_id: str
    access: Secret
    refresh: Secret
    access_until: int
    refresh_until: int  # amoCRM does not say: 3 months from the answer that issued it
    issued_at: int  # the Date of that answer
    clock_offset: float  # amoCRM's clock minus this machine's then: a guess at amoCRM's time before it answers

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(format=FORMAT, access=self.access.reveal(), refresh=self.refresh.reveal())
        return data

    @classmethod
    def from_json(cls, data: Any) -> TokenPair | None:
        """The pair, or None when ``data`` is not a whole one (a file cut short, another program's)."""
        try:
            if data["format"] != FORMAT:
                return None
            return cls(
                str(data["base_url"]),
                str(data["client_id"]),
                Secret(str(data["access"])),
                Secret(str(data["refresh"])),
                int(data["access_until"]),
                int(data["refresh_until"]),
                int(data["issued_at"]),
                float(data["clock_offset"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def fingerprint(token: Secret) -> str:
    """Enough of a token's hash to tell tokens apart in the refresh note, nothing that would let one be used."""
    return hashlib.sha256(token.reveal().encode()).hexdigest()[:16]


class TokenFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._new = path.with_name(path.name + ".new")
        self._note = path.with_name(path.name + ".refreshing")
        self.lock = FileLock(str(path.with_suffix(".lock")), mode=0o600)

    def load(self, recover: bool = True) -> TokenPair | None:
        """The newest pair kept; None when there is none. ``recover``: take one a crash left unrenamed first,
        which only a holder of ``lock`` may do."""
        if recover and self._new.exists():
            pair = TokenPair.from_json(_read(self._new))
            if pair is not None:
                os.replace(self._new, self.path)
                _sync_dir(self.path.parent)
            else:  # cut short: its answer never counted (the refresh note says so)
                _remove(self._new)
        if not self.path.exists():
            return None
        data = _read(self.path)
        pair = TokenPair.from_json(data)
        if pair is None:
            raise ConfigError(
                _("{path} is not a token file amosheets can read.").format(path=self.path),
                hint=_("Delete it and run `amosheets auth amocrm --code CODE` with a new authorization code."),
            )
        return pair

    def save(self, pair: TokenPair) -> None:
        _write_durably(self.path, self._new, json.dumps(pair.to_json()))

    def begin_refresh(self, spent: Secret, started: str) -> None:
        """Note, before sending it, that a refresh with ``spent`` is under way."""
        note = {"refresh": fingerprint(spent), "started": started}
        _write_durably(self._note, self._note.with_name(self._note.name + ".new"), json.dumps(note))

    def refresh_note(self, refresh: Secret) -> str | None:
        """When a refresh with ``refresh`` was sent and its answer never kept; None if there was none."""
        data = _read(self._note) if self._note.exists() else None
        if isinstance(data, dict) and data.get("refresh") == fingerprint(refresh):
            return str(data.get("started", "?"))
        return None

    def end_refresh(self) -> None:
        _remove(self._note)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _write_durably(path: Path, tmp: Path, text: str) -> None:
    """``path`` holds ``text`` or what it held before, whatever happens: write aside, fsync, rename."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an older file of that name may have had other permissions
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; Windows has no directory handles to fsync)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
