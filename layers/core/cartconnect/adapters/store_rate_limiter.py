"""A per-store call budget shared by every Lambda: fixed-window counters in the table.

The store allows `limit` calls per 10 seconds (STORE_CALL_LIMIT, 50 at most). Each 10-second window
of a store host has one counter item, incremented by a conditional update that fails once the
window's budget is spent. A window's budget is half the limit: any 10 seconds overlap at most two
windows, so no 10-second span ever carries more than `limit` of our calls, however the calls of
concurrent workers, the management API and different tenants interleave. See
docs/decisions/0005-store-rate-limiter.md.
"""

from __future__ import annotations

import math

from botocore.exceptions import ClientError

from cartconnect.adapters import table
from cartconnect.settings import get_settings

WINDOW_SECONDS = 10
# Counter items tidy themselves up (TTL) a while after their window.
_TTL_SLACK_SECONDS = 120


def window_budget(limit: int) -> int:
    return max(1, limit // 2)


def _key(host: str, window: int) -> dict[str, dict[str, str]]:
    return table.key(f"RATE#{host.lower()}", f"W#{window}")


def try_acquire(host: str, *, now: float) -> float | None:
    """Spend one call of `host`'s budget at epoch seconds `now`: None when granted, else the seconds
    until the next window opens."""
    window = math.floor(now / WINDOW_SECONDS)
    budget = window_budget(get_settings().store_call_limit)
    try:
        table.client().update_item(
            TableName=table.table_name(),
            Key=_key(host, window),
            UpdateExpression="ADD calls :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(calls) OR calls < :budget",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=table.marshal(
                {
                    ":one": 1,
                    ":budget": budget,
                    ":ttl": (window + 1) * WINDOW_SECONDS + _TTL_SLACK_SECONDS,
                }
            ),
        )
    except ClientError as error:
        if table.is_conditional_failure(error):
            return max((window + 1) * WINDOW_SECONDS - now, 0.001)
        raise
    return None
