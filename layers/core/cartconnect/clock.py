"""Time in one place: aware UTC datetimes, serialized as ISO 8601 with a Z."""

from __future__ import annotations

from datetime import UTC, datetime

from cartconnect import runtime


def utc_now() -> datetime:
    """Now (the runtime's), truncated to the millisecond that storage keeps, so a written value
    reads back equal."""
    now = runtime.current().now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def epoch_seconds() -> int:
    return int(utc_now().timestamp())


def to_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)
