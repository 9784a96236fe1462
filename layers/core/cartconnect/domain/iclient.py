"""An OAuth client of a store app ("iClient"): the App ID, and where its App secret is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PROVIDER = "americommerce"


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """Where an iClient's current App secret is: its Secrets Manager secret's ARN and the VersionId of
    the current value (adapters/iclient_secret.py). Neither is secret; the value is never on the item."""

    arn: str
    version_id: str


@dataclass(frozen=True, slots=True)
class IClient:
    tenant: str
    id: str
    name: str
    client_id: str
    secret: SecretVersion
    connection_count: int
    created_at: datetime
    updated_at: datetime
    provider: str = PROVIDER
