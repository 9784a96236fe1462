"""The sparse, sharded `due_for_refresh` index: which connections are due, without a Scan.

The index projects keys only (pk, sk, due_pk, due_sk), so a page of due keys is followed by one
BatchGetItem for what a refresh message carries (the token version) and to drop entries the
eventually consistent index still shows after a refresh moved them on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cartconnect import aws
from cartconnect.adapters import table
from cartconnect.adapters.connection_repository import SK_PREFIX
from cartconnect.clock import from_iso
from cartconnect.refresh_schedule import DUE_INDEX, due_bound, due_partition

# The keys one read takes in a request: the scheduler pools due keys into batches of this many.
BATCH_GET_LIMIT = table.BATCH_GET_LIMIT


@dataclass(frozen=True)
class DueConnection:
    tenant: str
    connection_id: str
    token_version: int
    status: str
    refresh_due_at: datetime | None


def query_page(
    shard: int, *, now: datetime, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of due keys of one shard (oldest due first), and where the next page starts."""
    request: dict[str, Any] = {
        "TableName": table.table_name(),
        "IndexName": DUE_INDEX,
        "KeyConditionExpression": "due_pk = :pk AND due_sk < :bound",
        "ExpressionAttributeValues": {":pk": {"S": due_partition(shard)}, ":bound": {"S": due_bound(now)}},
        "Limit": limit,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    with aws.translated():
        response = table.client().query(**request)
    keys = [{"pk": raw["pk"], "sk": raw["sk"]} for raw in response.get("Items", [])]
    return keys, response.get("LastEvaluatedKey") or None


def read(keys: list[dict[str, Any]]) -> list[DueConnection]:
    """The due fields of these connections (eventually consistent reads: the worker re-reads under
    its lease). Connections deleted since are skipped."""
    found: list[DueConnection] = []
    items = table.batch_get(
        keys,
        partial=True,  # a connection left out is still due at the next tick
        ProjectionExpression="pk, sk, token_version, #status, refresh_due_at",
        ExpressionAttributeNames={"#status": "status"},
    )
    for item in items:
        if not str(item.get("sk", "")).startswith(SK_PREFIX) or "status" not in item:
            continue
        due = item.get("refresh_due_at")
        found.append(
            DueConnection(
                tenant=table.tenant_of(str(item["pk"])),
                connection_id=str(item["sk"]).removeprefix(SK_PREFIX),
                token_version=int(item.get("token_version", 0)),
                status=str(item.get("status", "")),
                refresh_due_at=from_iso(due) if due else None,
            )
        )
    return found
