"""Reading `expires` (provider/expiry.py): every documented form, naive values, garbage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartconnect.provider.errors import ProviderResponseError
from cartconnect.provider.expiry import parse_expires


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2014-05-12T00:00:00.0Z", datetime(2014, 5, 12, tzinfo=UTC)),
        ("2014-05-13T06:00:00.000-06:00", datetime(2014, 5, 13, 12, tzinfo=UTC)),
        ("2026-11-28T10:00:00.0000000Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00.5+00:00", datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-28T10:00:00.1234567Z", datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T15:30:00+05:30", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T15:30:00+0530", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-29T00:00:00+14:00", datetime(2026, 11, 28, 10, tzinfo=UTC)),
    ],
)
def test_parse_expires_zoned_forms(value: str, expected: datetime) -> None:
    got = parse_expires(value, scopes=("system",))
    assert got == expected
    assert got is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "wall"),
    [
        ("2014-05-12T14:51:02.206277", datetime(2014, 5, 12, 14, 51, 2, 206277)),
        ("2014-05-12T14:51:02", datetime(2014, 5, 12, 14, 51, 2)),
        ("2014-05-12T14:51:02.2", datetime(2014, 5, 12, 14, 51, 2, 200000)),
        ("2014-05-12T14:51:02.2062779", datetime(2014, 5, 12, 14, 51, 2, 206277)),
    ],
)
def test_parse_expires_naive_is_read_in_the_easternmost_zone(value: str, wall: datetime) -> None:
    got = parse_expires(value, scopes="system")
    assert got == wall.replace(tzinfo=UTC) - timedelta(hours=14)
    # Never later than the instant the wall clock denotes in ANY real zone (UTC-12 .. UTC+14).
    for quarter_hours in range(-12 * 4, 14 * 4 + 1):
        zone = timezone(timedelta(minutes=15 * quarter_hours))
        assert got is not None and got <= wall.replace(tzinfo=zone)


def test_parse_expires_absent_or_no_expiry_means_never() -> None:
    assert parse_expires(None, scopes=("system",)) is None
    assert parse_expires("2014-05-12T00:00:00.0Z", scopes=("system", "no_expiry")) is None
    assert parse_expires("2014-05-12T00:00:00.0Z", scopes="system,no_expiry") is None
    assert parse_expires("garbage", scopes="no_expiry") is None
    # A scope that merely contains the word is not no_expiry.
    assert parse_expires("2014-05-12T00:00:00Z", scopes="system,not_no_expiry") is not None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "tomorrow",
        "2014-05-12",
        "2014-05-12 00:00:00Z",
        "2014-05-12T00:00Z",
        "2014-13-01T00:00:00Z",
        "2014-02-30T00:00:00Z",
        "2014-05-12T25:00:00Z",
        "2014-05-12T00:00:00.12345678Z",
        "2014-05-12T00:00:00.Z",
        "2014-05-12T00:00:00+15:00",
        "2014-05-12T00:00:00+14:30",
        "2014-05-12T00:00:00+05:75",
        "2014-05-12T00:00:00Z trailing",
        "0001-01-01T00:00:00",
        "1400000000",
        "<html><body>oops</body></html>",
    ],
)
def test_parse_expires_garbage_raises_without_echoing_the_value(value: str) -> None:
    with pytest.raises(ProviderResponseError) as info:
        parse_expires(value, scopes=("system",))
    if value.strip():
        assert value.strip() not in str(info.value)


def test_parse_expires_rejects_non_strings() -> None:
    with pytest.raises(ProviderResponseError):
        parse_expires(1400000000, scopes=())  # type: ignore[arg-type]


def test_naive_expiry_with_arrival_time_is_the_earliest_future_reading():
    from datetime import UTC, datetime, timedelta

    from cartconnect.provider.expiry import parse_expires

    received = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    # A store in UTC-6 writing a token that really expires at 03:00 UTC, as naive local time.
    expires = parse_expires("2026-11-27T21:00:00.000", scopes="read_orders", received_at=received)
    assert expires == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    # Whatever the store's zone, the reading is never later than the real instant.
    for offset_hours in range(-12, 15):
        real = received + timedelta(hours=1)
        wall = (real + timedelta(hours=offset_hours)).replace(tzinfo=None).isoformat()
        parsed = parse_expires(wall, scopes="read_orders", received_at=received)
        assert received < parsed <= real
