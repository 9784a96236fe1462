"""When a token is refreshed, and how due connections are spread over the sparse, sharded GSI."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from cartconnect.clock import to_iso

DUE_INDEX = "due_for_refresh"
# 8 partitions, all queried at once by a tick. At 1,000,000 connections refreshed hourly each takes
# ~70 index writes a second, 1/14 of a partition's limit (docs/scaling.md); every tick pays one
# query per shard, found or not. Changing it moves every index entry: a migration, not a setting.
DUE_SHARDS = 8
DEFAULT_LEAD = timedelta(minutes=15)


def refresh_due_at(
    *,
    issued_at: datetime,
    expires_at: datetime | None,
    lead: timedelta = DEFAULT_LEAD,
    assumed_lifetime: timedelta | None = None,
) -> datetime | None:
    """Expiry minus the lead time, but never earlier than halfway through a short token's life.

    Without `expires_at`: None (never) for a token that never expires; for one whose lifetime is
    unknown the caller passes `assumed_lifetime` and the expiry is taken as issued_at + that, the
    due time never before issued_at.
    """
    if expires_at is None:
        if assumed_lifetime is None:
            return None
        assumed = issued_at + assumed_lifetime
        return max(issued_at, assumed - min(lead, max(assumed_lifetime, timedelta(0)) / 2))
    lifetime = expires_at - issued_at
    return expires_at - min(lead, max(lifetime, timedelta(0)) / 2)


def spread_delay(*, due_at: datetime, now: datetime, tick: timedelta, spread: timedelta) -> int:
    """Whole seconds to hold back the refresh of a connection a tick found due, so that a tick's
    refreshes run over `spread` at an even rate instead of all at once.

    What came due just now waits the whole spread, what came due a tick ago (or earlier) not at all,
    in proportion between: in steady state each refresh then runs between `spread` and `tick` after
    its due time, and the due times, spread like the refreshes that set them, stay spread. Without
    it the 5-minute ticks would re-bunch every refresh into a burst (capacity sized to the peak)."""
    if spread <= timedelta(0) or tick <= timedelta(0):
        return 0
    age = min(max(now - due_at, timedelta(0)), tick)
    return round(spread.total_seconds() * (1 - age / tick))


def due_bound(now: datetime) -> str:
    """The exclusive upper bound of `due_sk` for "due at or before now": every ISO time <= now sorts
    below `{iso(now)}$` (a string sorts below any longer one it starts), and ISO strings of one width
    sort by time."""
    return f"{to_iso(now)}$"


def needs_refresh(
    *,
    refresh_due_at: datetime | None,
    expires_at: datetime | None,
    now: datetime,
    min_validity: timedelta = timedelta(0),
) -> bool:
    """Due (the scheduled time has come) or about to expire; never for a token that never expires."""
    if refresh_due_at is None and expires_at is None:
        return False
    if refresh_due_at is not None and refresh_due_at <= now:
        return True
    return expires_at is not None and expires_at - min_validity <= now


def shard_of(connection_id: str) -> int:
    return int.from_bytes(hashlib.sha256(connection_id.encode()).digest()[:4], "big") % DUE_SHARDS


def due_partition(shard: int) -> str:
    return f"DUE#{shard:02d}"


def due_keys(connection_id: str, due_at: datetime) -> dict[str, str]:
    # Index keys need not be unique: the due time alone sorts the shard (the item's own keys come
    # with every index entry), and each byte saved is saved on every refresh's item write.
    return {"due_pk": due_partition(shard_of(connection_id)), "due_sk": to_iso(due_at)}
