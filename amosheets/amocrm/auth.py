"""How the client proves to amoCRM who it is.

The client asks its ``Authorization`` for the access token before each request and tells it about
every 401; whether a 401 can be cured (a long-lived token cannot, OAuth tokens can be renewed) is the
Authorization's business, so the client knows nothing of token files or locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from amosheets.amocrm.errors import AmoAuthError
from amosheets.i18n import _
from amosheets.secret import Secret

if TYPE_CHECKING:
    from amosheets.amocrm.client import AmoClient


class Authorization(Protocol):
    def access_token(self, client: AmoClient) -> str:
        """The token to send now."""
        ...

    def answered(self, client: AmoClient) -> None:
        """amoCRM answered a request (``client.amocrm_now()`` has its clock): renew now if that clock says so."""
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

    def describe(self, client: AmoClient) -> str:
        """How the client is signed in, and for how long, in words (for `check`)."""
        ...


@dataclass(frozen=True)
class LongLivedToken:
    """A private integration's long-lived token (AMOCRM_INTEGRATION_TOKEN): nothing to renew."""

    token: Secret

    def access_token(self, client: AmoClient) -> str:
        return self.token.reveal()

    def answered(self, client: AmoClient) -> None:
        pass

    def rejected(self, client: AmoClient, sent: str) -> bool:
        return False

    def refused(self, host: str) -> AmoAuthError:
        return AmoAuthError(
            _("amoCRM ({host}) refused the token (401): it is wrong, expired or revoked.").format(host=host),
            hint=_(
                "In amoCRM open Settings → Integrations → your private integration → Keys and scopes, "
                "make a new long-lived token and put it in AMOCRM_INTEGRATION_TOKEN."
            ),
        )

    def secrets(self) -> list[str]:
        return [s for s in (self.token.reveal(),) if s]

    def describe(self, client: AmoClient) -> str:
        return _("signed in with a long-lived token (AMOCRM_INTEGRATION_TOKEN), which amoCRM does not let renew")


@dataclass(frozen=True)
class OAuthIntegration:
    """An external integration's keys (AMOCRM_CLIENT_ID, …) and the file its tokens are kept in.

    Settings only: ``amosheets.amocrm.oauth.OAuthTokens`` signs in with them.
    """

    client_id: str
    client_secret: Secret
    redirect_uri: str
    tokens: Path

    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret.reveal(),) if s]


def token_path(state_dir: Path, base_url: str) -> Path:
    """The account's token file: one per account, whichever pairs and runs use it."""
    parts = urlsplit(base_url)
    name = (parts.hostname or "amocrm") + (f"_{parts.port}" if parts.port else "")
    return state_dir / f"amocrm-tokens-{name}.json"


# How an account's settings say it signs in.
SignIn = LongLivedToken | OAuthIntegration
