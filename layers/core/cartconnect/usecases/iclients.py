"""Use cases for iClients: the store app's App ID, and its App secret in Secrets Manager (one secret
per iClient; the item keeps the secret's ARN and the current value's VersionId, docs/decisions/0009).

Nothing is left half-written: a create whose item write fails deletes its new secret at once; a
failed Secrets Manager call writes nothing; a delete schedules the secret's deletion (7-day recovery
window) before the item goes, and restores it if the item turns out to be in use.
"""

from __future__ import annotations

from cartconnect.adapters import iclient_repository, iclient_secret
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.iclient import IClient
from cartconnect.errors import Conflict, NotFound
from cartconnect.ids import new_id
from cartconnect.observability import logger


def create(tenant: str, *, name: str, client_id: str, client_secret: str) -> IClient:
    iclient_id = new_id("icl")
    secret = iclient_secret.create(tenant, iclient_id, client_secret)
    now = utc_now()
    iclient = IClient(
        tenant=tenant,
        id=iclient_id,
        name=name,
        client_id=client_id,
        secret=secret,
        connection_count=0,
        created_at=now,
        updated_at=now,
    )
    try:
        iclient_repository.insert(iclient)
    except Exception:
        # No item will ever point at this secret: it goes at once, without a recovery window.
        try:
            iclient_secret.delete_now(secret.arn)
        except Exception:
            logger.exception("orphaned iclient secret left behind", extra={"secret_arn": secret.arn})
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
    changed_fields = sorted([*changes, *(["client_secret"] if client_secret is not None else [])])
    secret_version_was = None
    if client_secret is not None:
        # A new version first, then the item moved to it: the next refresh anywhere signs with it.
        changes["secret_version"] = iclient_secret.put_version(current.secret.arn, client_secret).version_id
        secret_version_was = current.secret.version_id
    changes["updated_at"] = to_iso(utc_now())
    updated = iclient_repository.update(tenant, iclient_id, changes, secret_version_was=secret_version_was)
    if updated is None:
        raise Conflict(
            f"the secret of iClient {iclient_id} was changed at the same time; read it and try again",
            field="client_secret",
        )
    logger.info("iclient updated", extra={"iclient_id": iclient_id, "fields": changed_fields})
    return updated


def delete(tenant: str, iclient_id: str) -> None:
    current = get(tenant, iclient_id)
    if current.connection_count:
        raise iclient_repository.in_use(current)
    iclient_secret.schedule_deletion(current.secret.arn)
    try:
        iclient_repository.delete_unused(tenant, iclient_id)
    except NotFound:
        raise  # a concurrent delete won: the secret's deletion is what it scheduled too
    except Exception:
        # A connection took the iClient meanwhile (or the table failed): its secret must stay.
        try:
            iclient_secret.restore(current.secret.arn)
        except Exception:
            logger.exception(
                "iclient secret left scheduled for deletion: restore it (docs/operations.md)",
                extra={"iclient_id": iclient_id, "secret_arn": current.secret.arn},
            )
        raise
    logger.info("iclient deleted", extra={"iclient_id": iclient_id})
