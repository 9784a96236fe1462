"""Use cases for iClients: the store app's App ID and App secret, with the secret in Secrets Manager."""

from __future__ import annotations

from cartconnect.adapters import iclient_repository, secrets
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.iclient import IClient
from cartconnect.ids import new_id
from cartconnect.observability import logger


def create(tenant: str, *, name: str, client_id: str, client_secret: str) -> IClient:
    iclient_id = new_id("icl")
    secret_ref = secrets.create(tenant, iclient_id, client_secret)
    now = utc_now()
    iclient = IClient(
        tenant=tenant,
        id=iclient_id,
        name=name,
        client_id=client_id,
        secret_ref=secret_ref,
        connection_count=0,
        created_at=now,
        updated_at=now,
    )
    try:
        iclient_repository.insert(iclient)
    except Exception:
        # Nothing half-written: the secret was never referenced, so it goes at once.
        secrets.delete(secret_ref, force=True)
        raise
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
    changes = {key: value for key, value in (("name", name), ("client_id", client_id)) if value is not None}
    if not changes and client_secret is None:
        return current
    if client_secret is not None:
        secrets.replace(current.secret_ref, client_secret)
    changed_fields = sorted([*changes, *(["client_secret"] if client_secret is not None else [])])
    changes["updated_at"] = to_iso(utc_now())
    updated = iclient_repository.update(tenant, iclient_id, changes)
    logger.info("iclient updated", extra={"iclient_id": iclient_id, "fields": changed_fields})
    return updated


def delete(tenant: str, iclient_id: str) -> None:
    deleted = iclient_repository.delete_unused(tenant, iclient_id)
    secrets.delete(deleted.secret_ref)
    logger.info("iclient deleted", extra={"iclient_id": iclient_id})
