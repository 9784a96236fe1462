"""Connection items, their per-tenant unique-name guards and the iClient usage counters.

Every multi-item change is one conditional transaction, so a clash never leaves half a write behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cartconnect import aws
from cartconnect.adapters import iclient_repository, table
from cartconnect.clock import from_iso, to_iso
from cartconnect.domain.connection import Connection, ConnectionStatus, LastError, LastTest
from cartconnect.domain.tokens import TokenPair
from cartconnect.errors import Conflict, InvalidField, NotFound
from cartconnect.refresh_schedule import due_keys

SK_PREFIX = "CONN#"
NAME_PREFIX = "CONNAME#"
STATUS_INDEX = "by_status"
# Token and lifecycle attributes that lose their meaning once the authorization is void.
TOKEN_ATTRIBUTES = (
    "sealed_tokens",
    "expires_at",
    "refresh_due_at",
    "due_pk",
    "due_sk",
    "failing_since",
    "last_test",
)


def _sk(connection_id: str) -> str:
    return f"{SK_PREFIX}{connection_id}"


def name_key(name: str) -> str:
    return f"{NAME_PREFIX}{name.casefold()}"


def status_pk(tenant: str, status: ConnectionStatus) -> str:
    return f"{table.tenant_pk(tenant)}#S#{status.value}"


def item_key(tenant: str, connection_id: str) -> dict[str, Any]:
    return table.key(table.tenant_pk(tenant), _sk(connection_id))


def not_found(connection_id: str) -> NotFound:
    return NotFound(f"connection {connection_id} does not exist")


def _to_item(connection: Connection) -> table.Item:
    # Every byte counts: an item over 1 KB costs two write units on each of a refresh's writes, so
    # nothing the keys already say (tenant, id, kind) is stored twice, and zeros are left out.
    return {
        "pk": table.tenant_pk(connection.tenant),
        "sk": _sk(connection.id),
        "name": connection.name,
        "subdomain": connection.subdomain,
        "iclient_id": connection.iclient_id,
        "callback_url": connection.callback_url,
        "scopes": list(connection.scopes),
        "status": connection.status.value,
        # by_status index: partition status_pk, sorted by created_at.
        "status_pk": status_pk(connection.tenant, connection.status),
        "token_version": connection.token_version,
        "consecutive_failures": connection.consecutive_failures or None,
        "revision": connection.revision,
        "auth_generation": connection.auth_generation,
        "link_generation": connection.link_generation,
        "created_at": to_iso(connection.created_at),
        "updated_at": to_iso(connection.updated_at),
    }


def _optional_time(item: table.Item, name: str) -> Any:
    value = item.get(name)
    return from_iso(value) if value else None


def _last_test(raw: Any) -> LastTest | None:
    if not raw:
        return None
    status = raw.get("http_status")
    return LastTest(
        online=bool(raw["online"]),
        checked_at=from_iso(raw["checked_at"]),
        http_status=int(status) if status is not None else None,
        detail=str(raw.get("detail", "")),
        store_name=raw.get("store_name"),
    )


def from_item(item: table.Item) -> Connection:
    error = item.get("last_error")
    lease_expires_at = item.get("lease_expires_at")
    return Connection(
        tenant=table.tenant_of(item["pk"]),
        id=str(item["sk"]).removeprefix(SK_PREFIX),
        name=item["name"],
        subdomain=item["subdomain"],
        iclient_id=item["iclient_id"],
        callback_url=item["callback_url"],
        scopes=tuple(item["scopes"]),
        status=ConnectionStatus(item["status"]),
        created_at=from_iso(item["created_at"]),
        updated_at=from_iso(item["updated_at"]),
        last_error=LastError(error["code"], error["message"], from_iso(error["at"])) if error else None,
        token_version=int(item.get("token_version", 0)),
        expires_at=_optional_time(item, "expires_at"),
        refresh_due_at=_optional_time(item, "refresh_due_at"),
        last_refreshed_at=_optional_time(item, "last_refreshed_at"),
        consecutive_failures=int(item.get("consecutive_failures", 0)),
        failing_since=_optional_time(item, "failing_since"),
        last_test=_last_test(item.get("last_test")),
        lease_owner=item.get("lease_owner"),
        lease_expires_at=int(lease_expires_at) if lease_expires_at is not None else None,
        revision=int(item.get("revision", 0)),
        auth_generation=int(item.get("auth_generation", 0)),
        link_generation=int(item.get("link_generation", 0)),
        api_link_generation=int(item.get("api_link_generation", 0)),
    )


def _name_guard(connection: Connection) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table.table_name(),
            "Item": table.marshal(
                {
                    "pk": table.tenant_pk(connection.tenant),
                    "sk": name_key(connection.name),
                    "type": "connection_name",
                    "connection_id": connection.id,
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _name_release(connection: Connection) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": table.table_name(),
            "Key": table.key(table.tenant_pk(connection.tenant), name_key(connection.name)),
            "ConditionExpression": "connection_id = :id",
            "ExpressionAttributeValues": {":id": {"S": connection.id}},
        }
    }


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a connection named {name!r} already exists (names are unique, ignoring case)", "name")


def insert(connection: Connection) -> None:
    items = [
        {
            "Put": {
                "TableName": table.table_name(),
                "Item": table.marshal(_to_item(connection)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        _name_guard(connection),
        iclient_repository.usage_change(connection.tenant, connection.iclient_id, +1),
    ]

    def explain(codes: list[str]) -> Exception:
        if codes[1] == "ConditionalCheckFailed":
            return _name_taken(connection.name)
        if codes[2] == "ConditionalCheckFailed":
            return InvalidField("iclient_id", f"iClient {connection.iclient_id} does not exist")
        return Conflict("the connection could not be created; retry")

    table.transact(items, explain)


def get(tenant: str, connection_id: str) -> Connection | None:
    with aws.translated():
        response = table.client().get_item(
            TableName=table.table_name(), Key=item_key(tenant, connection_id), ConsistentRead=True
        )
    raw = response.get("Item")
    return from_item(table.unmarshal(raw)) if raw else None


def list_page(
    tenant: str, *, status: ConnectionStatus | None, limit: int, cursor: str | None
) -> tuple[list[Connection], str | None]:
    if status is None:
        pk = table.tenant_pk(tenant)
        request: dict[str, Any] = {
            "TableName": table.table_name(),
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": SK_PREFIX}},
            "Limit": limit,
        }
        start = table.decode_cursor(cursor, pk=pk, sk_prefix=SK_PREFIX)
    else:
        partition = status_pk(tenant, status)
        request = {
            "TableName": table.table_name(),
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "status_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "Limit": limit,
        }
        start = table.decode_cursor(
            cursor, pk=partition, sk_prefix=SK_PREFIX, pk_attribute="status_pk", index_sort="created_at"
        )
    if start:
        request["ExclusiveStartKey"] = start
    with aws.translated():
        response = table.client().query(**request)
    raw_items = response.get("Items", [])
    if status is None:
        items = [from_item(table.unmarshal(raw)) for raw in raw_items]
    else:
        keys = [{"pk": raw["pk"], "sk": raw["sk"]} for raw in raw_items]
        items = [from_item(item) for item in table.batch_get(keys, ConsistentRead=True)]
        # The index is eventually consistent: drop items whose status moved on since.
        items = [item for item in items if item.status is status]
    return items, table.encode_cursor(response.get("LastEvaluatedKey"))


def replace(current: Connection, updated: Connection, *, reset_authorization: bool) -> Connection:
    """Write a PATCH: conditioned on the revision read, moving the name guard and usage counters with it."""
    items: list[dict[str, Any]] = []
    renamed = current.name.casefold() != updated.name.casefold()
    if renamed:
        items += [_name_release(current), _name_guard(updated)]
    if current.iclient_id != updated.iclient_id:
        items += [
            iclient_repository.usage_change(current.tenant, current.iclient_id, -1),
            iclient_repository.usage_change(updated.tenant, updated.iclient_id, +1),
        ]
    new_item = _to_item(updated)
    fields = (
        "name",
        "subdomain",
        "iclient_id",
        "callback_url",
        "scopes",
        "status",
        "status_pk",
        "updated_at",
    )
    names = {f"#{field}": field for field in fields}
    values = {f":{field}": new_item[field] for field in fields}
    update = "SET " + ", ".join(f"#{field} = :{field}" for field in fields)
    update += ", #revision = #revision + :one"
    names["#revision"] = "revision"
    values[":one"] = 1
    values[":rev"] = current.revision
    if reset_authorization:
        # A new store, app, scope or callback voids the grant; bumping the token version fences
        # any refresh still in flight for the old grant.
        update += ", token_version = token_version + :one, auth_generation = auth_generation + :one"
        update += " REMOVE " + ", ".join(TOKEN_ATTRIBUTES)
    items.append(
        {
            "Update": {
                "TableName": table.table_name(),
                "Key": item_key(current.tenant, current.id),
                "UpdateExpression": update,
                "ConditionExpression": "#revision = :rev",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": table.marshal(values),
            }
        }
    )
    update_index = len(items) - 1

    def explain(codes: list[str]) -> Exception:
        if codes[update_index] == "ConditionalCheckFailed":
            return Conflict("the connection changed while this request ran; read it again and retry")
        if renamed and codes[1] == "ConditionalCheckFailed":
            return _name_taken(updated.name)
        return InvalidField("iclient_id", f"iClient {updated.iclient_id} does not exist")

    table.transact(items, explain)
    stored = get(current.tenant, current.id)
    if stored is None:
        raise not_found(current.id)
    return stored


def delete(current: Connection) -> None:
    """Remove the connection, its name guard and its share of the iClient's usage counter at once."""
    items = [
        {
            "Delete": {
                "TableName": table.table_name(),
                "Key": item_key(current.tenant, current.id),
                "ConditionExpression": "#revision = :rev",
                "ExpressionAttributeNames": {"#revision": "revision"},
                "ExpressionAttributeValues": {":rev": {"N": str(current.revision)}},
            }
        },
        _name_release(current),
        iclient_repository.usage_change(current.tenant, current.iclient_id, -1),
    ]
    table.transact(items, lambda codes: Conflict("the connection changed while this request ran; retry"))


def _updated(response: Any) -> Connection:
    return from_item(table.unmarshal(response["Attributes"]))


def next_link_generation(tenant: str, connection_id: str) -> Connection:
    """Start a new authorize link: earlier links' tickets no longer match and will not open."""
    return _bump(tenant, connection_id, "link_generation")


def next_api_link_generation(tenant: str, connection_id: str) -> Connection:
    """Start a new link for a 409 answer: the previous one of those no longer opens; the admin's
    link of the current link generation still does."""
    return _bump(tenant, connection_id, "api_link_generation")


def _bump(tenant: str, connection_id: str, counter: str) -> Connection:
    response = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(tenant, connection_id),
        UpdateExpression=f"ADD {counter} :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    if response is None:
        raise not_found(connection_id)
    return _updated(response)


def token_pair_update(
    connection_id: str, pair: TokenPair, now: datetime
) -> tuple[list[str], list[str], dict[str, Any]]:
    """SET and REMOVE clauses (and their values) that store a new token pair: token_version + 1,
    failures cleared, the next due time in the sparse due index (none for a token that never expires)."""
    values: dict[str, Any] = {":sealed": pair.sealed_tokens, ":now": to_iso(now), ":one": 1}
    assignments = [
        "sealed_tokens = :sealed",
        "token_version = token_version + :one",
        "last_refreshed_at = :now",
    ]
    removals = ["last_error", "failing_since", "consecutive_failures"]
    for name, value in (("expires_at", pair.expires_at), ("refresh_due_at", pair.refresh_due_at)):
        if value is None:
            removals.append(name)
        else:
            assignments.append(f"{name} = :{name}")
            values[f":{name}"] = to_iso(value)
    if pair.refresh_due_at is None:
        removals += ["due_pk", "due_sk"]
    else:
        keys = due_keys(connection_id, pair.refresh_due_at)
        assignments += ["due_pk = :due_pk", "due_sk = :due_sk"]
        values.update({":due_pk": keys["due_pk"], ":due_sk": keys["due_sk"]})
    return assignments, removals, values


def store_authorization(
    connection: Connection,
    *,
    auth_generation: int,
    pair: TokenPair,
    now: datetime,
) -> Connection | None:
    """Activate with new tokens, unless the authorization was voided or the connection deleted since.

    Bumping token_version fences any refresh in flight for the previous tokens.
    """
    assignments, removals, values = token_pair_update(connection.id, pair, now)
    assignments += [
        "#status = :active",
        "status_pk = :status_pk",
        "updated_at = :now",
    ]
    values.update(
        {
            ":active": ConnectionStatus.ACTIVE.value,
            ":status_pk": status_pk(connection.tenant, ConnectionStatus.ACTIVE),
            ":gen": auth_generation,
        }
    )
    response = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(connection.tenant, connection.id),
        UpdateExpression=f"SET {', '.join(assignments)} REMOVE {', '.join(removals)}",
        ConditionExpression="attribute_exists(pk) AND auth_generation = :gen",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=table.marshal(values),
        ReturnValues="ALL_NEW",
    )
    return _updated(response) if response is not None else None


def record_error(connection: Connection, *, auth_generation: int, code: str, message: str, now: str) -> None:
    """Note a failed authorization on the connection; skipped if the attempt was voided meanwhile."""
    table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(connection.tenant, connection.id),
        UpdateExpression="SET last_error = :error, updated_at = :now",
        ConditionExpression="attribute_exists(pk) AND auth_generation = :gen",
        ExpressionAttributeValues=table.marshal(
            {
                ":error": {"code": code, "message": message, "at": now},
                ":now": now,
                ":gen": auth_generation,
            }
        ),
    )
