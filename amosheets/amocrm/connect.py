"""The one place an amoCRM client is built from an account's settings."""

from __future__ import annotations

from typing import Any

from amosheets.amocrm.client import AmoClient
from amosheets.config import AccountConfig


def amo_client(account: AccountConfig, **kw: Any) -> AmoClient:
    """A client of ``account``, signed in the way its settings say, at its rate."""
    return AmoClient(account.base_url, account.auth, rate=account.rate, **kw)
