"""The connection the use-case tests start from, at a fixed noon (the runtime's clock in them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from cartconnect.domain.connection import Connection, ConnectionStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def connection(**changes) -> Connection:
    """An active connection at token version 3, its token valid for an hour, changed by `changes`."""
    base = Connection(
        tenant="acme",
        id="con_1",
        name="Shop",
        subdomain="shop.example.com",
        iclient_id="icl_1",
        callback_url="https://app.example.com/cb",
        scopes=("read_orders",),
        status=ConnectionStatus.ACTIVE,
        created_at=NOW,
        updated_at=NOW,
        token_version=3,
        expires_at=NOW + timedelta(hours=1),
        refresh_due_at=NOW + timedelta(minutes=45),
    )
    return dataclasses.replace(base, **changes)
