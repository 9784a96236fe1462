"""An OAuth client of a store app ("iClient"): the App ID plus a secret kept in Secrets Manager."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PROVIDER = "americommerce"


@dataclass(frozen=True, slots=True)
class IClient:
    tenant: str
    id: str
    name: str
    client_id: str
    secret_ref: str  # Secrets Manager ARN; the secret itself never leaves Secrets Manager but to sign
    connection_count: int
    created_at: datetime
    updated_at: datetime
    provider: str = PROVIDER
