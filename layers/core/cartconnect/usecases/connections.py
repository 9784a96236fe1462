"""Use cases for connections: validate everything, then write once, conditionally."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from cartconnect import hosts
from cartconnect.adapters import connection_repository, events, store_rate_limiter
from cartconnect.clock import utc_now
from cartconnect.domain.connection import AUTHORIZATION_FIELDS, Connection, ConnectionStatus
from cartconnect.domain.store_limits import StoreLimits
from cartconnect.errors import InvalidField
from cartconnect.ids import new_id
from cartconnect.observability import logger
from cartconnect.scopes import canonical_scopes
from cartconnect.settings import get_settings

CALLBACK_PATH = "/oauth2/callback"


def default_callback_url(origin: str) -> str:
    return f"{origin.rstrip('/')}{CALLBACK_PATH}"


def resolve_callback_url(requested: str | None, *, origin: str) -> str:
    """The deployment's own callback unless another allowed https callback is asked for explicitly."""
    default = default_callback_url(origin)
    if requested is None or requested == default:
        return default
    allowed = get_settings().allowed_callback_urls
    # https, or this deployment's own origin (always https on API Gateway; plain http only on the
    # local stack, where its own callback may still be allowed with a query of its own).
    own_origin = urlsplit(requested)[:2] == urlsplit(default)[:2]
    if not requested.startswith("https://") and not own_origin:
        raise InvalidField("callback_url", "must be an https URL")
    if requested not in allowed:
        raise InvalidField(
            "callback_url",
            f"must be this deployment's callback URL ({default}) or one of its allowed callback URLs",
        )
    return requested


def normalize_subdomain(raw: str) -> str:
    settings = get_settings()
    return hosts.normalize_store_host(
        raw,
        allowed_suffixes=settings.allowed_store_suffixes,
        allow_custom_domains=settings.allow_custom_store_domains,
        insecure_hosts=settings.insecure_store_hosts,
    )


def create(
    tenant: str,
    *,
    name: str,
    subdomain: str,
    iclient_id: str,
    scopes: list[str],
    callback_url: str | None,
    origin: str,
) -> Connection:
    now = utc_now()
    connection = Connection(
        tenant=tenant,
        id=new_id("con"),
        name=name,
        subdomain=normalize_subdomain(subdomain),
        iclient_id=iclient_id,
        callback_url=resolve_callback_url(callback_url, origin=origin),
        scopes=canonical_scopes(scopes),
        status=ConnectionStatus.PENDING_AUTHORIZATION,
        created_at=now,
        updated_at=now,
        link_generation=1,
    )
    connection_repository.insert(connection)
    logger.info("connection created", extra={"connection_id": connection.id, "iclient_id": iclient_id})
    return connection


def get(tenant: str, connection_id: str) -> Connection:
    connection = connection_repository.get(tenant, connection_id)
    if connection is None:
        raise connection_repository.not_found(connection_id)
    return connection


def get_with_store_limits(tenant: str, connection_id: str) -> tuple[Connection, StoreLimits]:
    """The connection, and what is known of its store's rate limit (shared by every connection to it)."""
    connection = get(tenant, connection_id)
    return connection, store_rate_limiter.limits(connection.subdomain)


def list_page(
    tenant: str, *, status: ConnectionStatus | None, limit: int, cursor: str | None
) -> tuple[list[Connection], str | None]:
    return connection_repository.list_page(tenant, status=status, limit=limit, cursor=cursor)


def update(tenant: str, connection_id: str, changes: dict[str, Any], *, origin: str) -> Connection:
    """Apply a PATCH. Changing where or how the connection authorizes sends it back to pending."""
    current = get(tenant, connection_id)
    normalized: dict[str, Any] = {}
    if "name" in changes:
        normalized["name"] = changes["name"]
    if "subdomain" in changes:
        normalized["subdomain"] = normalize_subdomain(changes["subdomain"])
    if "iclient_id" in changes:
        normalized["iclient_id"] = changes["iclient_id"]
    if "scopes" in changes:
        normalized["scopes"] = canonical_scopes(changes["scopes"])
    if "callback_url" in changes:
        normalized["callback_url"] = resolve_callback_url(changes["callback_url"], origin=origin)
    updated = dataclasses.replace(current, **normalized)
    if updated == current:
        return current
    reset = any(getattr(updated, field) != getattr(current, field) for field in AUTHORIZATION_FIELDS)
    if reset:
        updated = dataclasses.replace(updated, status=ConnectionStatus.PENDING_AUTHORIZATION)
    updated = dataclasses.replace(updated, updated_at=utc_now())
    stored = connection_repository.replace(current, updated, reset_authorization=reset)
    logger.info(
        "connection updated",
        extra={"connection_id": connection_id, "fields": sorted(normalized), "reauthorize": reset},
    )
    return stored


def delete(tenant: str, connection_id: str) -> None:
    """Delete it (a refresh in flight never brings it back: its writes need the item to exist)."""
    connection = get(tenant, connection_id)
    connection_repository.delete(connection)
    events.publish(
        "connection.deleted",
        tenant=tenant,
        connection_id=connection_id,
        status=connection.status.value,
        iclient_id=connection.iclient_id,
    )
    logger.info("connection deleted", extra={"connection_id": connection_id})
