"""iClient items in the table. Every write is conditional; deletes are fenced on the usage counter."""

from __future__ import annotations

from typing import Any

from cartconnect import aws
from cartconnect.adapters import table
from cartconnect.clock import from_iso, to_iso
from cartconnect.domain.iclient import IClient, SecretVersion
from cartconnect.errors import Conflict, NotFound

SK_PREFIX = "ICLIENT#"


def _sk(iclient_id: str) -> str:
    return f"{SK_PREFIX}{iclient_id}"


def item_key(tenant: str, iclient_id: str) -> dict[str, Any]:
    return table.key(table.tenant_pk(tenant), _sk(iclient_id))


def _to_item(iclient: IClient) -> table.Item:
    return {
        "pk": table.tenant_pk(iclient.tenant),
        "sk": _sk(iclient.id),
        "type": "iclient",
        "tenant": iclient.tenant,
        "id": iclient.id,
        "name": iclient.name,
        "provider": iclient.provider,
        "client_id": iclient.client_id,
        "secret_arn": iclient.secret.arn,
        "secret_version": iclient.secret.version_id,
        "connection_count": iclient.connection_count,
        "created_at": to_iso(iclient.created_at),
        "updated_at": to_iso(iclient.updated_at),
    }


def _from_item(item: table.Item) -> IClient:
    return IClient(
        tenant=item["tenant"],
        id=item["id"],
        name=item["name"],
        provider=item["provider"],
        client_id=item["client_id"],
        secret=SecretVersion(item["secret_arn"], item["secret_version"]),
        connection_count=int(item["connection_count"]),
        created_at=from_iso(item["created_at"]),
        updated_at=from_iso(item["updated_at"]),
    )


def not_found(iclient_id: str) -> NotFound:
    return NotFound(f"iClient {iclient_id} does not exist")


def insert(iclient: IClient) -> None:
    with aws.translated():
        table.client().put_item(
            TableName=table.table_name(),
            Item=table.marshal(_to_item(iclient)),
            ConditionExpression="attribute_not_exists(pk)",
        )


def get(tenant: str, iclient_id: str) -> IClient | None:
    with aws.translated():
        response = table.client().get_item(
            TableName=table.table_name(), Key=item_key(tenant, iclient_id), ConsistentRead=True
        )
    raw = response.get("Item")
    return _from_item(table.unmarshal(raw)) if raw else None


def list_page(tenant: str, *, limit: int, cursor: str | None) -> tuple[list[IClient], str | None]:
    pk = table.tenant_pk(tenant)
    request: dict[str, Any] = {
        "TableName": table.table_name(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": SK_PREFIX}},
        "Limit": limit,
    }
    start = table.decode_cursor(cursor, pk=pk, sk_prefix=SK_PREFIX)
    if start:
        request["ExclusiveStartKey"] = start
    with aws.translated():
        response = table.client().query(**request)
    items = [_from_item(table.unmarshal(raw)) for raw in response.get("Items", [])]
    return items, table.encode_cursor(response.get("LastEvaluatedKey"))


def update(
    tenant: str, iclient_id: str, changes: dict[str, str], *, secret_version_was: str | None = None
) -> IClient | None:
    """Apply attribute changes (name, client_id, secret_version, updated_at) to an existing iClient.
    With `secret_version_was`, only while the item still points at that secret version: None when it
    moved (a concurrent change of the secret won)."""
    names = {f"#f{index}": field for index, field in enumerate(changes)}
    values = table.marshal({f":v{index}": value for index, value in enumerate(changes.values())})
    assignments = ", ".join(f"#f{index} = :v{index}" for index in range(len(changes)))
    condition = "attribute_exists(pk)"
    if secret_version_was is not None:
        condition += " AND secret_version = :secret_version_was"
        values[":secret_version_was"] = {"S": secret_version_was}
    response = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=item_key(tenant, iclient_id),
        UpdateExpression=f"SET {assignments}",
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    if response is None:
        if secret_version_was is not None and get(tenant, iclient_id) is not None:
            return None
        raise not_found(iclient_id)
    return _from_item(table.unmarshal(response["Attributes"]))


def delete_unused(tenant: str, iclient_id: str) -> IClient:
    """Delete only while no connection uses it; the counter is kept by the connection transactions."""
    response = table.conditional(
        table.client().delete_item,
        TableName=table.table_name(),
        Key=item_key(tenant, iclient_id),
        ConditionExpression="attribute_exists(pk) AND connection_count = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
        ReturnValues="ALL_OLD",
    )
    if response is None:
        current = get(tenant, iclient_id)
        if current is None:
            raise not_found(iclient_id)
        raise in_use(current)
    return _from_item(table.unmarshal(response["Attributes"]))


def in_use(iclient: IClient) -> Conflict:
    return Conflict(
        f"iClient {iclient.id} is used by {iclient.connection_count} connection(s); "
        "delete them or move them to another iClient first"
    )


def usage_change(tenant: str, iclient_id: str, delta: int) -> dict[str, Any]:
    """A transaction item that moves the usage counter and requires the iClient to exist."""
    return {
        "Update": {
            "TableName": table.table_name(),
            "Key": item_key(tenant, iclient_id),
            "UpdateExpression": "ADD connection_count :delta",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
    }
