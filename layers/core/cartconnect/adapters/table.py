"""The single DynamoDB table: key layout, attribute marshalling and transaction error decoding.

Key layout (see docs/data-model.md):
  iClient          pk=T#{tenant}  sk=ICLIENT#{id}
  connection       pk=T#{tenant}  sk=CONN#{id}     status_pk=T#{tenant}#S#{status}  (by_status: sorted by created_at)
  connection name  pk=T#{tenant}  sk=CONNAME#{casefolded name}   (uniqueness guard)
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from cartconnect import aws
from cartconnect.errors import InvalidField
from cartconnect.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def table_name() -> str:
    return get_settings().table_name


def client() -> DynamoDBClient:
    return aws.dynamodb()


def tenant_pk(tenant: str) -> str:
    return f"T#{tenant}"


def tenant_of(pk: str) -> str:
    """The tenant a partition key belongs to (items do not repeat it in an attribute)."""
    return pk.removeprefix("T#")


def marshal(item: Item) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def unmarshal(raw: dict[str, Any]) -> Item:
    return {key: _deserializer.deserialize(value) for key, value in raw.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancellation_codes(error: ClientError) -> list[str]:
    """Per-item reason codes of a cancelled transaction, in request order ("None" where it passed)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, pk: str, pk_attribute: str = "pk") -> dict[str, Any] | None:
    """Turn an opaque cursor back into an ExclusiveStartKey, refusing one from another tenant or list."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("cursor", "is not a cursor this API returned") from None
    if (
        not isinstance(plain, dict)
        or plain.get(pk_attribute) != pk
        or not all(isinstance(value, str) for value in plain.values())
        or len(plain) > 4
    ):
        raise InvalidField("cursor", "is not a cursor this API returned")
    return {name: {"S": value} for name, value in plain.items()}
