"""adapters/table.py ports boto3's TypeSerializer/TypeDeserializer (to keep boto3 out of the cold
start): every value must convert exactly as boto3's does, errors included."""

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary as Boto3Binary
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from cartconnect.adapters import table

SERIALIZABLE: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    10**37,
    Decimal("1.50"),
    Decimal("-0.000001"),
    Decimal("1E+100"),
    "",
    "connection",
    b"\x00\xff",
    bytearray(b"abc"),
    set(),
    {1, 2, Decimal("3.5")},
    {True},
    {"a", "b"},
    frozenset({"x"}),
    {b"a", b"b"},
    {"k": 1, "nested": {"list": [1, "two", None, {"b": False}]}},
    [],
    (1, "two"),
    {"tenant": "acme", "token_version": 3, "scopes": ["read_orders", "system"]},
]

UNSERIALIZABLE: list[Any] = [
    1.5,
    {1.5},
    {1, "a"},
    {"a": 1.0},
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("1.0000000000000000000000000000000000000001"),
    Decimal("1E+200"),
    object(),
    {None},
    [1, 2.5],
]

DESERIALIZABLE: list[dict[str, Any]] = [
    {"NULL": True},
    {"BOOL": False},
    {"N": "12"},
    {"N": "-0.5"},
    {"N": "1E+10"},
    {"S": "x"},
    {"B": b"\x01"},
    {"NS": ["1", "2.5"]},
    {"SS": ["a", "b"]},
    {"BS": [b"a", b"b"]},
    {"L": [{"S": "a"}, {"N": "1"}, {"M": {"k": {"NULL": True}}}]},
    {"M": {"a": {"L": []}, "b": {"BOOL": True}}},
    {"s": "lowercase type names are accepted too"},
]

UNDESERIALIZABLE: list[Any] = [{}, {"X": 1}, {"N": "1.0000000000000000000000000000000000000001"}]


def _outcome(call: Any, value: Any) -> Any:
    try:
        return ("ok", call(value))
    except Exception as error:  # the same exception type and message
        return ("error", type(error), str(error))


@pytest.mark.parametrize("value", SERIALIZABLE + UNSERIALIZABLE, ids=repr)
def test_serialize_matches_boto3(value: Any) -> None:
    assert _outcome(table.serialize, value) == _outcome(TypeSerializer().serialize, value)


@pytest.mark.parametrize("value", DESERIALIZABLE + UNDESERIALIZABLE, ids=repr)
def test_deserialize_matches_boto3(value: Any) -> None:
    ours, theirs = _outcome(table.deserialize, value), _outcome(TypeDeserializer().deserialize, value)
    assert ours == theirs
    if ours[0] == "ok":
        assert type(ours[1]) is type(theirs[1]) or isinstance(ours[1], table.Binary)


def test_binary_behaves_like_boto3s() -> None:
    ours, theirs = table.Binary(b"ab"), Boto3Binary(b"ab")
    assert ours == b"ab" and ours == theirs and ours != b"ba"
    assert hash(ours) == hash(theirs) and repr(ours) == repr(theirs) and bytes(ours) == b"ab"
    with pytest.raises(TypeError) as raised:
        table.Binary("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError) as expected:
        Boto3Binary("text")
    assert str(raised.value) == str(expected.value)


def test_binary_serializes_as_its_bytes() -> None:
    assert table.serialize(table.Binary(b"xyz")) == TypeSerializer().serialize(Boto3Binary(b"xyz"))
    assert table.serialize({table.Binary(b"x")}) == {"BS": [b"x"]}


def test_marshal_round_trip() -> None:
    item = {"pk": "T#acme", "count": 2, "gone": None, "flags": {"a", "b"}}
    raw = table.marshal(item)
    assert "gone" not in raw
    assert table.unmarshal(raw) == {"pk": "T#acme", "count": Decimal(2), "flags": {"a", "b"}}
