"""Use cases for iClients: the store app's App ID and App secret, the secret sealed on the item."""

from __future__ import annotations

from cartconnect.adapters import iclient_repository, iclient_secret
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.iclient import IClient
from cartconnect.ids import new_id
from cartconnect.observability import logger


def create(tenant: str, *, name: str, client_id: str, client_secret: str) -> IClient:
    iclient_id = new_id("icl")
    now = utc_now()
    iclient = IClient(
        tenant=tenant,
        id=iclient_id,
        name=name,
        client_id=client_id,
        sealed_secret=iclient_secret.seal(tenant, iclient_id, client_secret),
        connection_count=0,
        created_at=now,
        updated_at=now,
    )
    iclient_repository.insert(iclient)
    logger.info("iclient created", extra={"iclient_id": iclient_id})
    return iclient


def get(tenant: str, iclient_id: str) -> IClient:
    iclient = iclient_repository.get(tenant, iclient_id)
    if iclient is None:
        raise iclient_repository.not_found(iclient_id)
    return iclient


def list_page(tenant: str, *, limit: int, cursor: str | None) -> tuple[list[IClient], str | None]:
    return iclient_repository.list_page(tenant, limit=limit, cursor=cursor)


def update(
    tenant: str,
    iclient_id: str,
    *,
    name: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> IClient:
    current = get(tenant, iclient_id)
    changes: dict[str, str | bytes] = {
        key: value for key, value in (("name", name), ("client_id", client_id)) if value is not None
    }
    if not changes and client_secret is None:
        return current
    changed_fields = sorted([*changes, *(["client_secret"] if client_secret is not None else [])])
    if client_secret is not None:
        changes["sealed_secret"] = iclient_secret.seal(tenant, iclient_id, client_secret)
    changes["updated_at"] = to_iso(utc_now())
    updated = iclient_repository.update(tenant, iclient_id, changes)
    logger.info("iclient updated", extra={"iclient_id": iclient_id, "fields": changed_fields})
    return updated


def delete(tenant: str, iclient_id: str) -> None:
    # The sealed secret goes with the item (point-in-time recovery keeps it, sealed, for 35 days).
    iclient_repository.delete_unused(tenant, iclient_id)
    logger.info("iclient deleted", extra={"iclient_id": iclient_id})
