"""The one place an amoCRM client is built from an account's settings."""

from __future__ import annotations

from typing import Any

from amosheets.amocrm.auth import Authorization, OAuthIntegration
from amosheets.amocrm.client import AmoClient
from amosheets.config import AccountConfig


def amo_client(account: AccountConfig, **kw: Any) -> AmoClient:
    """A client of ``account``, signed in the way its settings say, at its rate."""
    return AmoClient(account.base_url, authorization(account), rate=account.rate, **kw)


def authorization(account: AccountConfig) -> Authorization:
    """What signs the account's requests: its long-lived token, or OAuth tokens that renew themselves."""
    if isinstance(account.auth, OAuthIntegration):
        from amosheets.amocrm.oauth import OAuthTokens

        return OAuthTokens(account.auth, account.base_url)
    return account.auth
