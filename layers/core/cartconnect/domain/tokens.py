"""A store's token answer, and the pair as cartconnect stores it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class TokenSet:
    """A token answer. `expires_at` is aware UTC, or None: the token never expires (`no_expiry`), or
    `expiry_unknown` is set because the answer had no `expires` or one that could not be read.
    `warning` says which of the latter (a reason, never the value) so the caller can log it."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    expiry_unknown: bool = False
    warning: str | None = None


@dataclass(frozen=True)
class TokenPair:
    """A new token pair as stored: sealed, with its expiry and when to refresh it (None: never)."""

    sealed_tokens: bytes = field(repr=False)
    expires_at: datetime | None
    refresh_due_at: datetime | None
