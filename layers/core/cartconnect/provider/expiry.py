"""Parsing of the token response's `expires` field (ISO 8601, with or without a zone)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from cartconnect.provider.errors import ProviderResponseError

NO_EXPIRY_SCOPE = "no_expiry"

# A naive value carries no zone. Local wall-clock time exists from UTC-12 to UTC+14; the same wall
# clock read in UTC+14 is the EARLIEST instant it can denote. Without knowing when the answer
# arrived, that reading is the one that never believes a token valid past its real expiry.
# Knowing when it arrived, the earliest whole-hour reading still in the future is as safe for a
# store in a whole-hour zone (the real instant is one of the readings, in the future for a fresh
# token) and at most an hour early instead of up to 26 hours, which would make every short-lived
# token look expired on arrival. For a half- or quarter-hour zone it is still never late once the
# token lives an hour or more; a shorter one may be read up to 45 minutes late, and the API's 401
# (refresh on 401) covers that.
NAIVE_ASSUMED_OFFSET = timedelta(hours=14)
_NAIVE_OFFSETS = [timedelta(hours=hours) for hours in range(-12, 15)]

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,7}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)

_ENDPOINT = "expires"


def _scope_names(scopes: str | Iterable[str]) -> set[str]:
    if isinstance(scopes, str):
        return {name for name in re.split(r"[,\s]+", scopes) if name}
    return set(scopes)


def is_no_expiry(scopes: str | Iterable[str]) -> bool:
    """Whether the grant holds the `no_expiry` scope (its token never expires, needs no refresh)."""
    return NO_EXPIRY_SCOPE in _scope_names(scopes)


def _zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 14 or minutes > 59 or (hours == 14 and minutes):
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _naive_instant(wall: datetime, received_at: datetime | None) -> datetime:
    if received_at is None:
        return (wall - NAIVE_ASSUMED_OFFSET).replace(tzinfo=UTC)
    readings = sorted((wall - offset).replace(tzinfo=UTC) for offset in _NAIVE_OFFSETS)
    future = [reading for reading in readings if reading > received_at]
    return future[0] if future else readings[-1]


def parse_expires(
    value: str | None, *, scopes: str | Iterable[str], received_at: datetime | None = None
) -> datetime | None:
    """The instant a token expires, as an aware UTC datetime; None when it never expires.

    None when `value` is None (the field was absent) or the grant holds the `no_expiry` scope.
    `scopes` is the granted scope list or the exact scope string (comma-separated).
    Raises ProviderResponseError for anything that is not an ISO 8601 date-time of the documented
    forms (`2014-05-12T00:00:00.0Z`, `2014-05-13T06:00:00.000-06:00`, naive
    `2014-05-12T14:51:02.206277`; 0-7 fractional digits). The value itself is never echoed.
    `received_at` (aware UTC), when given, narrows a naive value to its earliest future reading.
    The client does not let that error fail a token answer (see AmeriCommerceClient._token_set).
    """
    if is_no_expiry(scopes):
        return None
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProviderResponseError(_ENDPOINT, "expires is not a string")
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ProviderResponseError(_ENDPOINT, "expires is not an ISO 8601 date-time")
    # Fractions beyond microseconds are truncated: truncation only moves the instant earlier.
    micros = int((match["frac"] or "0").ljust(6, "0")[:6])
    try:
        year, month, day = (int(part) for part in match["date"].split("-"))
        wall = datetime(year, month, day, int(match["h"]), int(match["m"]), int(match["s"]), micros)
        zone_text = match["zone"]
        if zone_text is None:
            return _naive_instant(wall, received_at)
        return wall.replace(tzinfo=_zone(zone_text)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ProviderResponseError(_ENDPOINT, "expires is not a valid date-time") from None
