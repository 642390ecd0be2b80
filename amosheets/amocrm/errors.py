"""What can go wrong talking to amoCRM, in words that say what to do."""

from __future__ import annotations

from dataclasses import dataclass

from amosheets.errors import AuthError, ServiceError
from amosheets.i18n import _


class AmoError(ServiceError):
    """amoCRM answered with an error, or not at all, after the retries."""


class AmoAuthError(AuthError):
    def __init__(self, message: str, hint: str | None = None, status: int = 401) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class OAuthRefused(AmoAuthError):
    """amoCRM's token endpoint refused a code or a refresh token; ``reason`` is its answer's hint, in English."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(
            _("amoCRM refused the token request ({status}): {reason}").format(status=status, reason=reason),
            status=status,
        )
        self.reason = reason


class AmoBlockedError(ServiceError):
    """403 with an HTML page: the IP is blocked. Retrying makes it worse, so the run stops."""


@dataclass
class ItemError:
    index: int  # position in the request's array, when amoCRM names it by position
    request_id: str  # what amoCRM said: the position, or the element's own request_id
    path: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.code}" + (f" ({self.detail})" if self.detail else "")


class AmoValidationError(AmoError):
    def __init__(self, message: str, items: list[ItemError]) -> None:
        super().__init__(message)
        self.items = items


class UncertainWrite(AmoError):
    """A create was sent and no answer came back: amoCRM may or may not have made the leads."""


class TooLarge(AmoError):
    """504: too much in one request; send fewer."""
