"""What is stored when a store hands out a new token pair: at the callback's exchange and at every
refresh, the same sealed pair, expiry and next refresh time."""

from __future__ import annotations

from datetime import datetime

from cartconnect.adapters import token_vault
from cartconnect.domain.connection import Connection
from cartconnect.domain.tokens import TokenPair, TokenSet
from cartconnect.observability import logger
from cartconnect.refresh_schedule import refresh_due_at
from cartconnect.settings import get_settings


def to_store(connection: Connection, tokens: TokenSet, issued_at: datetime) -> TokenPair:
    """The stored pair. A token whose lifetime is unknown (no or an unreadable `expires`) keeps
    `expires_at` None, as the store did not say, and, when it can be refreshed, is refreshed on
    DEFAULT_TOKEN_LIFETIME_MINUTES instead of never (docs/lifecycle.md)."""
    settings = get_settings()
    sealed = token_vault.seal(
        connection.tenant, connection.id, token_vault.Tokens(tokens.access_token, tokens.refresh_token)
    )
    if tokens.warning is not None:
        # The reason only (e.g. "expires is not an ISO 8601 date-time"), never the value.
        logger.warning(
            "token expiry unreadable, lifetime assumed",
            extra={"connection_id": connection.id, "reason": tokens.warning},
        )
    assumed = settings.default_token_lifetime if tokens.expiry_unknown and tokens.refresh_token else None
    due = refresh_due_at(
        issued_at=issued_at,
        expires_at=tokens.expires_at,
        lead=settings.refresh_lead,
        assumed_lifetime=assumed,
    )
    return TokenPair(sealed_tokens=sealed, expires_at=tokens.expires_at, refresh_due_at=due)
