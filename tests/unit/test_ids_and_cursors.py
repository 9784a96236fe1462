import base64
import json

import pytest

from cartconnect.adapters.table import decode_cursor, encode_cursor
from cartconnect.errors import InvalidField
from cartconnect.ids import is_id, new_id


def test_ids_are_prefixed_unique_and_time_ordered():
    ids = [new_id("con") for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(is_id(value, "con") for value in ids)
    assert [value[:14] for value in ids] == sorted(value[:14] for value in ids)
    assert not is_id("icl_" + ids[0][4:], "con")


def test_cursor_round_trip():
    key = {"pk": {"S": "T#acme"}, "sk": {"S": "CONN#con_1"}}
    assert decode_cursor(encode_cursor(key), pk="T#acme", sk_prefix="CONN#") == key
    assert encode_cursor(None) is None and decode_cursor(None, pk="T#acme", sk_prefix="CONN#") is None
    by_status = {
        "status_pk": {"S": "T#acme#S#active"},
        "created_at": {"S": "2026-12-01T00:00:00.000Z"},
        **key,
    }
    assert (
        decode_cursor(
            encode_cursor(by_status),
            pk="T#acme#S#active",
            sk_prefix="CONN#",
            pk_attribute="status_pk",
            index_sort="created_at",
        )
        == by_status
    )


def _forged(plain: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        _forged({"pk": "T#other", "sk": "CONN#x"}),
        _forged({"pk": "T#acme", "sk": 5}),
        _forged({"pk": "T#acme", "sk": "ICLIENT#x"}),  # another list's key
        _forged({"pk": "T#acme", "sk": "CONN#x", "lease_owner": "me"}),  # a foreign attribute
        _forged({"pk": "T#acme"}),
        _forged({"pk": "T#acme", "sk": ""}),
        _forged([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
        "A" * 5000,
    ],
)
def test_foreign_or_forged_cursors_are_refused(cursor):
    with pytest.raises(InvalidField) as raised:
        decode_cursor(cursor, pk="T#acme", sk_prefix="CONN#")
    assert raised.value.field == "cursor"


def test_a_status_cursor_must_belong_to_the_same_tenant_and_status():
    forged = _forged({"status_pk": "T#acme#S#active", "created_at": "x", "pk": "T#other", "sk": "CONN#con_1"})
    with pytest.raises(InvalidField):
        decode_cursor(
            forged, pk="T#acme#S#active", sk_prefix="CONN#", pk_attribute="status_pk", index_sort="created_at"
        )
