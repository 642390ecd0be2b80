"""How the client proves to amoCRM who it is.

The client asks its ``Authorization`` for the access token before each request and tells it about
every 401; whether a 401 can be cured (a long-lived token cannot, OAuth tokens can be renewed) is the
Authorization's business, so the client knows nothing of token files or locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from amosheets.amocrm.errors import AmoAuthError
from amosheets.secret import Secret

if TYPE_CHECKING:
    from amosheets.amocrm.client import AmoClient


class Authorization(Protocol):
    def access_token(self, client: AmoClient) -> str:
        """The token to send now."""
        ...

    def rejected(self, client: AmoClient, sent: str) -> bool:
        """amoCRM answered 401 to ``sent``: True when another token is worth one more try."""
        ...

    def refused(self, host: str) -> AmoAuthError:
        """What to tell the user when amoCRM refuses us for good."""
        ...

    def secrets(self) -> list[str]:
        """Every value that must never be shown."""
        ...


@dataclass(frozen=True)
class LongLivedToken:
    """A private integration's long-lived token (AMOCRM_INTEGRATION_TOKEN): nothing to renew."""

    token: Secret

    def access_token(self, client: AmoClient) -> str:
        return self.token.reveal()

    def rejected(self, client: AmoClient, sent: str) -> bool:
        return False

    def refused(self, host: str) -> AmoAuthError:
        return AmoAuthError(
            f"amoCRM ({host}) refused the token (401): it is wrong, expired or revoked.",
            hint="In amoCRM open Settings → Integrations → your private integration → Keys and scopes, "
            "make a new long-lived token and put it in AMOCRM_INTEGRATION_TOKEN.",
        )

    def secrets(self) -> list[str]:
        return [s for s in (self.token.reveal(),) if s]
