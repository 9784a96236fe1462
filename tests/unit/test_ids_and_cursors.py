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
    assert decode_cursor(encode_cursor(key), pk="T#acme") == key
    assert encode_cursor(None) is None and decode_cursor(None, pk="T#acme") is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"pk": "T#other", "sk": "CONN#x"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"pk": "T#acme", "sk": 5}).encode()).decode(),
    ],
)
def test_foreign_or_forged_cursors_are_refused(cursor):
    with pytest.raises(InvalidField) as raised:
        decode_cursor(cursor, pk="T#acme")
    assert raised.value.field == "cursor"
