"""What is stored when a store hands out a new token pair: at the callback's exchange and at every
refresh, the same sealed pair, expiry and next refresh time."""

from __future__ import annotations

from datetime import datetime

from cartconnect.adapters import token_vault
from cartconnect.adapters.connection_repository import TokenPair
from cartconnect.domain.connection import Connection
from cartconnect.provider.americommerce import TokenSet
from cartconnect.refresh_schedule import refresh_due_at
from cartconnect.settings import get_settings


def to_store(connection: Connection, tokens: TokenSet, issued_at: datetime) -> TokenPair:
    sealed = token_vault.seal(
        connection.tenant, connection.id, token_vault.Tokens(tokens.access_token, tokens.refresh_token)
    )
    due = refresh_due_at(issued_at=issued_at, expires_at=tokens.expires_at, lead=get_settings().refresh_lead)
    return TokenPair(sealed_tokens=sealed, expires_at=tokens.expires_at, refresh_due_at=due)
