"""The single DynamoDB table: key layout, attribute marshalling and transaction error decoding.

Key layout (every item kind, its attributes and the indexes: docs/data-model.md):
  iClient          pk=T#{tenant}  sk=ICLIENT#{id}
  connection       pk=T#{tenant}  sk=CONN#{id}     status_pk=T#{tenant}#S#{status}  (by_status: sorted by created_at)
  connection name  pk=T#{tenant}  sk=CONNAME#{casefolded name}   (uniqueness guard)
  link ticket      pk=TICKET#{sha256(ticket)}  sk=TICKET
  OAuth state      pk=STATE#{sha256(state)}    sk=STATE
  call budget      pk=RATE#{store host}        sk=BUDGET
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from botocore.exceptions import ClientError

from cartconnect import aws, runtime
from cartconnect.errors import AwsCallFailed, InvalidField
from cartconnect.observability import logger
from cartconnect.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")

# BatchGetItem takes at most this many keys; unprocessed ones are asked for again this many times.
BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 8
TRANSACTION_CONFLICT_ATTEMPTS = 5


def table_name() -> str:
    return get_settings().table_name


def client() -> DynamoDBClient:
    with aws.translated():  # creating the client can fail too (a missing region)
        return aws.dynamodb()


def tenant_pk(tenant: str) -> str:
    return f"T#{tenant}"


def tenant_of(pk: str) -> str:
    """The tenant a partition key belongs to (items do not repeat it in an attribute)."""
    return pk.removeprefix("T#")


def marshal(item: Item) -> dict[str, Any]:
    return {key: serialize(value) for key, value in item.items() if value is not None}


def unmarshal(raw: dict[str, Any]) -> Item:
    return {key: deserialize(value) for key, value in raw.items()}


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


def conditional(call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R | None:
    """A conditional write (`call` is the client's put_item, update_item or delete_item): its
    response, or None when its condition failed. Any other failure is AwsCallFailed."""
    response, _ = conditional_or_current(call, *args, **kwargs)
    return response


def conditional_or_current(
    call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> tuple[R | None, Item | None]:
    """`conditional`, and when the condition failed, the item as it stood (for a request with
    ReturnValuesOnConditionCheckFailure=ALL_OLD; None when there was no item): (response, None)
    or (None, item)."""
    with aws.translated():
        try:
            return call(*args, **kwargs), None
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            failed: dict[str, Any] = dict(error.response)
            old: dict[str, Any] | None = failed.get("Item")
            return None, unmarshal(old) if old else None


def batch_get(keys: Sequence[dict[str, Any]], *, partial: bool = False, **options: Any) -> list[Item]:
    """The items of `keys` (BatchGetItem, 100 keys a request), in the order of `keys`; missing items
    are skipped. `options` go with each request's keys (ConsistentRead, ProjectionExpression,
    which must keep pk and sk, ExpressionAttributeNames). Unprocessed keys (the table throttled
    them) are asked for again with a capped backoff, BATCH_GET_ATTEMPTS times in all. Any still
    unprocessed then raise AwsCallFailed (throttled): a caller would take them for missing items.
    With `partial`, for a caller that finds what it misses again later, they are left out instead."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    left_out = 0
    for offset in range(0, len(keys), BATCH_GET_LIMIT):
        pending: list[Any] = list(keys[offset : offset + BATCH_GET_LIMIT])
        for attempt in range(BATCH_GET_ATTEMPTS):
            request: Any = {"Keys": pending, **options}
            with aws.translated():
                response = client().batch_get_item(RequestItems={table_name(): request})
            for raw in response.get("Responses", {}).get(table_name(), []):
                found[(raw["pk"]["S"], raw["sk"]["S"])] = raw
            unprocessed: dict[str, Any] = dict(response.get("UnprocessedKeys") or {})
            pending = list(unprocessed.get(table_name(), {}).get("Keys", []))
            if not pending or attempt + 1 == BATCH_GET_ATTEMPTS:
                break
            runtime.current().sleep(min(0.05 * 2**attempt, 1.0))
        if pending and not partial:
            raise AwsCallFailed("UnprocessedKeys", throttled=True)
        left_out += len(pending)
    if left_out:
        logger.warning("BatchGetItem left keys unprocessed", extra={"count": left_out})
    ordered = (found.get((wanted["pk"]["S"], wanted["sk"]["S"])) for wanted in keys)
    return [unmarshal(raw) for raw in ordered if raw is not None]


def transact(items: list[dict[str, Any]], explain: Callable[[list[str]], Exception]) -> None:
    """One TransactWriteItems: a failed condition raises explain(the per-item codes, in request
    order), a transaction conflict is retried; any other failure is AwsCallFailed."""
    for attempt in range(TRANSACTION_CONFLICT_ATTEMPTS):
        with aws.translated():
            try:
                client().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                return
            except ClientError as error:
                codes = cancellation_codes(error)
                if "ConditionalCheckFailed" in codes:
                    raise explain(codes) from None
                if "TransactionConflict" not in codes or attempt + 1 == TRANSACTION_CONFLICT_ATTEMPTS:
                    raise
        runtime.current().sleep(0.02 * 2**attempt)


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


# A cursor is never longer than a page's last key needs (two or four keys of bounded length).
MAX_CURSOR_CHARS = 2048


def decode_cursor(
    cursor: str | None, *, pk: str, sk_prefix: str, pk_attribute: str = "pk", index_sort: str | None = None
) -> dict[str, Any] | None:
    """Turn an opaque cursor back into an ExclusiveStartKey, refusing one from another tenant or list,
    and any key but exactly the list's own (a DynamoDB request never carries attributes a caller chose)."""
    if not cursor:
        return None
    refused = InvalidField("cursor", "is not a cursor this API returned")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise refused from None
    expected = {"pk", "sk"} | ({pk_attribute, index_sort} - {None})
    if (
        not isinstance(plain, dict)
        or set(plain) != expected
        or not all(isinstance(value, str) and value for value in plain.values())
        or plain.get(pk_attribute) != pk
        or not str(plain["sk"]).startswith(sk_prefix)
        or (pk_attribute != "pk" and plain["pk"] != pk.rsplit("#S#", 1)[0])
    ):
        raise refused
    return {name: {"S": value} for name, value in plain.items()}


# ---- attribute values -------------------------------------------------------------------------
# boto3.dynamodb.types' TypeSerializer and TypeDeserializer, ported: importing that module runs
# boto3/__init__, which imports s3transfer (~90 ms of every cold start), and nothing else here needs
# boto3 (the clients come from botocore). Same conversions, same order of checks, same errors;
# tests/unit/adapters/test_table.py holds them against boto3's.

_DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


class Binary:
    """A B attribute read back (boto3's Binary): wraps bytes, equal to the same bytes."""

    def __init__(self, value: bytes | bytearray) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("Value must be of the following types: <class 'bytearray'>, <class 'bytes'>")
        self.value = value

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, Binary) else other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"Binary({self.value!r})"

    def __bytes__(self) -> bytes:
        return bytes(self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_binary(value: Any) -> bool:
    return isinstance(value, Binary | bytearray | bytes)


def _is_set_of(value: Any, member: Callable[[Any], bool]) -> bool:
    return isinstance(value, AbstractSet) and all(map(member, value))


def _number(value: Any) -> str:
    number = str(_DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _binary(value: Any) -> Any:
    return value.value if isinstance(value, Binary) else value


def _kind(value: Any) -> str:
    # In boto3's order: bool before the numbers (a bool is an int), a set is the first of NS, SS, BS
    # that all its members fit (so the empty set is NS).
    if value is None:
        kind = "NULL"
    elif isinstance(value, bool):
        kind = "BOOL"
    elif _is_number(value):
        kind = "N"
    elif _is_string(value):
        kind = "S"
    elif _is_binary(value):
        kind = "B"
    elif _is_set_of(value, _is_number):
        kind = "NS"
    elif _is_set_of(value, _is_string):
        kind = "SS"
    elif _is_set_of(value, _is_binary):
        kind = "BS"
    elif isinstance(value, Mapping):
        kind = "M"
    elif isinstance(value, list | tuple):
        kind = "L"
    else:
        raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')
    return kind


_WRITERS: dict[str, Callable[[Any], Any]] = {
    "NULL": lambda value: True,
    "BOOL": lambda value: value,
    "N": _number,
    "S": lambda value: value,
    "B": _binary,
    "NS": lambda value: [_number(member) for member in value],
    "SS": list,
    "BS": lambda value: [_binary(member) for member in value],
    "M": lambda value: {k: serialize(v) for k, v in value.items()},
    "L": lambda value: [serialize(v) for v in value],
}

_READERS: dict[str, Callable[[Any], Any]] = {
    "null": lambda data: None,
    "bool": lambda data: data,
    "n": _DYNAMODB_CONTEXT.create_decimal,
    "s": lambda data: data,
    "b": Binary,
    "ns": lambda data: {_DYNAMODB_CONTEXT.create_decimal(member) for member in data},
    "ss": set,
    "bs": lambda data: {Binary(member) for member in data},
    "l": lambda data: [deserialize(v) for v in data],
    "m": lambda data: {k: deserialize(v) for k, v in data.items()},
}


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (int/Decimal as N; float is refused)."""
    kind = _kind(value)
    return {kind: _WRITERS[kind](value)}


def deserialize(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as Python (N as Decimal, B as Binary, sets as sets)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind = next(iter(value))
    reader = _READERS.get(f"{kind}".lower())  # boto3 finds its method by the lowercased name
    if reader is None:
        raise TypeError(f"Dynamodb type {kind} is not supported")
    return reader(value[kind])
