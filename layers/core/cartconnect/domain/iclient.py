"""An OAuth client of a store app ("iClient"): the App ID plus its App secret, sealed (never in clear at rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PROVIDER = "americommerce"


@dataclass(frozen=True, slots=True)
class IClient:
    tenant: str
    id: str
    name: str
    client_id: str
    # The App secret sealed with KMS (adapters/iclient_secret.py): opened only to sign a store request.
    sealed_secret: bytes = field(repr=False)
    connection_count: int
    created_at: datetime
    updated_at: datetime
    provider: str = PROVIDER
