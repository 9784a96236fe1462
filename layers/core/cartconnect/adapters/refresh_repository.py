"""Token lifecycle writes on the connection item: the refresh lease, new tokens, failures, test results.

Every write here is conditional and starts with attribute_exists(pk): an UpdateItem without it would
create the item, so a connection deleted mid-refresh would come back. Writes that carry the outcome
of a refresh are fenced on the token version read under the lease AND on still holding the lease:
if either moved, the newer state wins and nothing is overwritten. None of them bump `revision` (the
management API's optimistic lock), so a refresh never makes a concurrent PATCH or DELETE fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cartconnect import aws
from cartconnect.adapters import table
from cartconnect.adapters.connection_repository import (
    from_item,
    item_key,
    status_pk,
    token_pair_update,
)
from cartconnect.clock import to_iso
from cartconnect.domain.connection import Connection, ConnectionStatus, LastTest
from cartconnect.domain.tokens import TokenPair

LEASE_ATTRIBUTES = "lease_owner, lease_expires_at"
_OWNED = "attribute_exists(pk) AND lease_owner = :owner"
_FENCED = "attribute_exists(pk) AND token_version = :version AND lease_owner = :owner"
# last_error.code when the store's API rejects a token the store has just refreshed.
API_TOKEN_REJECTED = "api_token_rejected"


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class LeaseAttempt:
    """`connection` is the item as it stands (None: it does not exist); `acquired` says whether it is
    ours. When acquired, `connection` (and `sealed_tokens`) is the item read back by the lease write
    itself (strongly consistent): the re-read of the pipeline costs no extra request."""

    connection: Connection | None
    acquired: bool
    sealed_tokens: bytes | None = field(default=None, repr=False)


def _sealed(item: table.Item) -> bytes | None:
    value = item.get("sealed_tokens")
    return bytes(value) if value is not None else None


def read_with_tokens(tenant: str, connection_id: str) -> tuple[Connection, bytes | None] | None:
    """The connection and its sealed tokens (strongly consistent), or None if it does not exist."""
    with aws.translated():
        response = table.client().get_item(
            TableName=table.table_name(), Key=item_key(tenant, connection_id), ConsistentRead=True
        )
    raw = response.get("Item")
    if not raw:
        return None
    item = table.unmarshal(raw)
    return from_item(item), _sealed(item)


def acquire_lease(
    tenant: str, connection_id: str, *, owner: str, now: datetime, seconds: float
) -> LeaseAttempt:
    """Take the refresh lease if nobody holds it or the holder's lease has expired."""
    now_ms = epoch_ms(now)
    response, current = table.conditional_or_current(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(tenant, connection_id),
        UpdateExpression="SET lease_owner = :owner, lease_expires_at = :expires",
        ConditionExpression=(
            "attribute_exists(pk) AND (attribute_not_exists(lease_owner) OR lease_expires_at < :now)"
        ),
        ExpressionAttributeValues=table.marshal(
            {":owner": owner, ":expires": now_ms + int(seconds * 1000), ":now": now_ms}
        ),
        ReturnValues="ALL_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    if response is None:
        return LeaseAttempt(from_item(current) if current else None, acquired=False)
    item = table.unmarshal(response["Attributes"])
    return LeaseAttempt(from_item(item), acquired=True, sealed_tokens=_sealed(item))


def release_lease(tenant: str, connection_id: str, *, owner: str) -> bool:
    """Give the lease back, only if it is still ours (False: it expired and someone else took it, or
    the connection is gone)."""
    released = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(tenant, connection_id),
        UpdateExpression=f"REMOVE {LEASE_ATTRIBUTES}",
        ConditionExpression=_OWNED,
        ExpressionAttributeValues=table.marshal({":owner": owner}),
    )
    return released is not None


def _fenced_update(
    connection: Connection,
    *,
    owner: str,
    assignments: list[str],
    removals: list[str],
    values: dict[str, Any],
    names: dict[str, str] | None = None,
) -> Connection | None:
    """One fenced UpdateItem that also releases the lease. None when the fence refused it; other
    failures (throttling, a network failure) raise AwsCallFailed so the caller can retry."""
    values = {**values, ":version": connection.token_version, ":owner": owner}
    expression = f"SET {', '.join(assignments)} REMOVE {', '.join([*removals, LEASE_ATTRIBUTES])}"
    request: dict[str, Any] = {
        "TableName": table.table_name(),
        "Key": item_key(connection.tenant, connection.id),
        "UpdateExpression": expression,
        "ConditionExpression": _FENCED,
        "ExpressionAttributeValues": table.marshal(values),
        "ReturnValues": "ALL_NEW",
    }
    if names:
        request["ExpressionAttributeNames"] = names
    response = table.conditional(table.client().update_item, **request)
    return from_item(table.unmarshal(response["Attributes"])) if response is not None else None


def store_refreshed(
    connection: Connection,
    *,
    owner: str,
    pair: TokenPair,
    now: datetime,
) -> Connection | None:
    """The new token pair: token_version + 1, failures cleared, next due time, lease released."""
    assignments, removals, values = token_pair_update(connection.id, pair, now)
    return _fenced_update(connection, owner=owner, assignments=assignments, removals=removals, values=values)


def record_failure(
    connection: Connection,
    *,
    owner: str,
    code: str,
    message: str,
    now: datetime,
    next_attempt_at: datetime,
    due_keys: dict[str, str],
) -> Connection | None:
    """A transient failure: the connection stays active, with last_error, one more consecutive
    failure, failing_since kept from the first failure of the run, and the next attempt as its due time."""
    return _fenced_update(
        connection,
        owner=owner,
        assignments=[
            "last_error = :error",
            "consecutive_failures = if_not_exists(consecutive_failures, :zero) + :one",
            "failing_since = if_not_exists(failing_since, :now)",
            "refresh_due_at = :next",
            "due_pk = :due_pk",
            "due_sk = :due_sk",
        ],
        removals=[],
        values={
            ":error": {"code": code, "message": message, "at": to_iso(now)},
            ":zero": 0,
            ":one": 1,
            ":now": to_iso(now),
            ":next": to_iso(next_attempt_at),
            ":due_pk": due_keys["due_pk"],
            ":due_sk": due_keys["due_sk"],
        },
    )


def mark_needs_reauthorization(
    connection: Connection, *, owner: str, code: str, message: str, now: datetime
) -> Connection | None:
    """A permanent failure: status needs_reauthorization, no longer scheduled, tokens dropped (the
    store refused them). A new authorization (the callback) makes it active again."""
    return _fenced_update(
        connection,
        owner=owner,
        assignments=[
            "#status = :status",
            "status_pk = :status_pk",
            "last_error = :error",
            "updated_at = :now",
            "consecutive_failures = if_not_exists(consecutive_failures, :zero) + :one",
            "failing_since = if_not_exists(failing_since, :now)",
        ],
        removals=["sealed_tokens", "refresh_due_at", "due_pk", "due_sk"],
        values={
            ":status": ConnectionStatus.NEEDS_REAUTHORIZATION.value,
            ":status_pk": status_pk(connection.tenant, ConnectionStatus.NEEDS_REAUTHORIZATION),
            ":error": {"code": code, "message": message, "at": to_iso(now)},
            ":now": to_iso(now),
            ":zero": 0,
            ":one": 1,
        },
        names={"#status": "status"},
    )


def record_test(tenant: str, connection_id: str, result: LastTest) -> bool:
    """Keep the outcome of a connection test on the item (False if the connection is gone)."""
    value: dict[str, Any] = {
        "online": result.online,
        "checked_at": to_iso(result.checked_at),
        "http_status": result.http_status,
        "detail": result.detail,
        "store_name": result.store_name,
    }
    return _set_if(
        tenant,
        connection_id,
        "SET last_test = :test",
        "attribute_exists(pk)",
        {":test": {k: v for k, v in value.items() if v is not None}},
    )


def record_api_rejection(
    tenant: str, connection_id: str, *, token_version: int, message: str, now: datetime
) -> bool:
    """Keep on the item that the store's API rejected the token of `token_version`, even just after a
    refresh (the proxy's last 401): last_error, status unchanged. Fenced on the version: a token
    refreshed since is not the rejected one. False when the connection is gone or moved on."""
    return _set_if(
        tenant,
        connection_id,
        "SET last_error = :error",
        "attribute_exists(pk) AND token_version = :version",
        {
            ":error": {"code": API_TOKEN_REJECTED, "message": message, "at": to_iso(now)},
            ":version": token_version,
        },
    )


def clear_api_rejection(tenant: str, connection_id: str, *, token_version: int) -> bool:
    """Forget record_api_rejection's last_error once the store has taken that same token after all.
    Fenced on the version and the error: anything recorded since, or a newer token, stays."""
    return _set_if(
        tenant,
        connection_id,
        "REMOVE last_error",
        "token_version = :version AND last_error.code = :code",
        {":version": token_version, ":code": API_TOKEN_REJECTED},
    )


def _set_if(tenant: str, connection_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
    """One conditional update of the connection item; False when its condition failed."""
    recorded = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(tenant, connection_id),
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeValues=table.marshal(values),
    )
    return recorded is not None
