"""Values that must never be shown: the amoCRM tokens, OAuth client secrets."""

from __future__ import annotations

from collections.abc import Iterable


class Secret:
    """A value that never shows itself in output, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it replaced by ``***`` (values too short to be secrets are left)."""
    for s in secrets:
        if s and len(s) >= 4 and s in text:  # a text with no secret is given back as it is (a ``Said`` stays one)
            text = text.replace(s, "***")
    return text
