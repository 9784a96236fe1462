"""A per-store call budget shared by every Lambda: one item per store host in the table.

A store allows its custom apps 5, 10, 20 or 50 calls per 10 seconds, by plan, and says which on
every answer (`X-AC-Call-Limit: used/allowed`). The item keeps what was learned and what is spent:

    pk = RATE#{host}, sk = BUDGET
    window, calls    the current 10-second window (floor(epoch / 10)) and the calls spent in it
    allowed, budget  the store's limit as last seen on an answer, and half of it per window
    learned_at       when `allowed` was last changed (epoch ms)
    blocked_until    nobody calls before this (epoch ms): a 429's Retry-After plus a margin
    last_rate_limited_at   the last 429 (epoch ms)

A window's budget is half the limit: any 10 seconds overlap at most two windows, so no 10-second span
carries more than the limit of our calls, however concurrent workers, the management API and tenants
interleave (docs/decisions/0005). Until a store's limit is known, the smallest plan's is assumed; the
deployment's STORE_CALL_LIMIT caps whatever is learned. Every spend is one conditional update.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from cartconnect import aws
from cartconnect.adapters import table
from cartconnect.domain.store_limits import StoreLimits
from cartconnect.settings import get_settings

WINDOW_SECONDS = 10
# The smallest plan's limit: what is assumed of a store that has not said its own yet.
UNKNOWN_LIMIT = 5
# A store's Retry-After is "when the counter resets"; a client found that retrying at exactly that
# time still fails, so nobody calls before it plus this.
RETRY_AFTER_MARGIN_SECONDS = 1.0
# Without a Retry-After, a 429 blocks the store for one window.
DEFAULT_BLOCK_SECONDS = float(WINDOW_SECONDS)
# A store nobody called for this long is forgotten (TTL), learned limit included.
_FORGET_AFTER_SECONDS = 30 * 24 * 3600
SK = "BUDGET"
_TRIES = 3


def window_budget(limit: int) -> int:
    return max(1, limit // 2)


# The limit each host was last seen with in this process: an answer's X-AC-Call-Limit is written to
# the item only when it differs, so learning costs a write only when a store's plan changes.
_known: dict[str, int] = {}
_known_lock = threading.Lock()


def _key(host: str) -> dict[str, dict[str, str]]:
    return table.key(f"RATE#{host.lower()}", SK)


def _cap() -> int:
    return get_settings().store_call_limit


def try_acquire(host: str, *, now: float) -> float | None:
    """Spend one call of `host`'s budget at epoch seconds `now`: None when granted, else the seconds
    until a call may be tried again (the next window, or the end of a 429's block)."""
    window = math.floor(now / WINDOW_SECONDS)
    now_ms = int(now * 1000)
    for _ in range(_TRIES):
        granted, item = _spend_in_window(host, window, now, now_ms)
        if granted:
            return None
        blocked_until = int(item.get("blocked_until", 0))
        if blocked_until > now_ms:
            return (blocked_until - now_ms) / 1000
        current = int(item.get("window", -1))
        if current > window:
            # Another Lambda's clock is ahead of ours: spend in its window, never reopen an old one.
            window = current
            continue
        if current == window:
            return max((window + 1) * WINDOW_SECONDS - now, 0.001)
        if _open_window(host, window, now, now_ms):
            return None
        # Another caller opened this window first: spend in it.
    return max((window + 1) * WINDOW_SECONDS - now, 0.001)


def _not_blocked() -> str:
    return "(attribute_not_exists(blocked_until) OR blocked_until <= :now_ms)"


def _spend_in_window(host: str, window: int, now: float, now_ms: int) -> tuple[bool, dict[str, Any]]:
    cap_budget = window_budget(_cap())
    response, current = table.conditional_or_current(
        table.client().update_item,
        TableName=table.table_name(),
        Key=_key(host),
        UpdateExpression="ADD calls :one SET #ttl = :ttl",
        ConditionExpression=(
            f"#window = :window AND {_not_blocked()} AND calls < :cap_budget AND "
            "((attribute_exists(budget) AND calls < budget) OR "
            "(attribute_not_exists(budget) AND calls < :unknown_budget))"
        ),
        ExpressionAttributeNames={"#window": "window", "#ttl": "ttl"},
        ExpressionAttributeValues=table.marshal(
            {
                ":one": 1,
                ":window": window,
                ":now_ms": now_ms,
                ":cap_budget": cap_budget,
                ":unknown_budget": window_budget(min(UNKNOWN_LIMIT, _cap())),
                ":ttl": int(now) + _FORGET_AFTER_SECONDS,
            }
        ),
        ReturnValues="ALL_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    if response is None:
        return False, current or {}
    _remember(host, table.unmarshal(response["Attributes"]))
    return True, {}


def _open_window(host: str, window: int, now: float, now_ms: int) -> bool:
    """Start `window` with this call, unless someone already did (or a 429 blocks the store)."""
    response = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=_key(host),
        UpdateExpression="SET #window = :window, calls = :one, #ttl = :ttl",
        ConditionExpression=f"(attribute_not_exists(#window) OR #window < :window) AND {_not_blocked()}",
        ExpressionAttributeNames={"#window": "window", "#ttl": "ttl"},
        ExpressionAttributeValues=table.marshal(
            {":one": 1, ":window": window, ":now_ms": now_ms, ":ttl": int(now) + _FORGET_AFTER_SECONDS}
        ),
        ReturnValues="ALL_NEW",
    )
    if response is None:
        return False
    _remember(host, table.unmarshal(response["Attributes"]))
    return True


def _remember(host: str, item: dict[str, Any]) -> None:
    allowed = item.get("allowed")
    if allowed is not None:
        with _known_lock:
            _known[host.lower()] = int(allowed)


def learn_limit(host: str, allowed: int, *, now: float) -> None:
    """A store answered with `X-AC-Call-Limit: used/allowed`: keep `allowed` for every Lambda."""
    if allowed < 1:
        return
    with _known_lock:
        if _known.get(host.lower()) == allowed:
            return
    # A refused condition: already known, nothing to change.
    table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=_key(host),
        UpdateExpression="SET allowed = :allowed, budget = :budget, learned_at = :now_ms, #ttl = :ttl",
        ConditionExpression="attribute_not_exists(allowed) OR allowed <> :allowed",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues=table.marshal(
            {
                ":allowed": allowed,
                ":budget": window_budget(allowed),
                ":now_ms": int(now * 1000),
                ":ttl": int(now) + _FORGET_AFTER_SECONDS,
            }
        ),
    )
    with _known_lock:
        _known[host.lower()] = allowed


def block(host: str, *, retry_after_seconds: float | None, now: float) -> None:
    """A 429 from the store: nobody calls it before its Retry-After has passed, plus a margin."""
    wait = retry_after_seconds if retry_after_seconds is not None else DEFAULT_BLOCK_SECONDS
    until_ms = int((now + wait + RETRY_AFTER_MARGIN_SECONDS) * 1000)
    blocked = table.conditional(
        table.client().update_item,
        TableName=table.table_name(),
        Key=_key(host),
        UpdateExpression="SET blocked_until = :until, last_rate_limited_at = :now_ms, #ttl = :ttl",
        ConditionExpression="attribute_not_exists(blocked_until) OR blocked_until < :until",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues=table.marshal(
            {":until": until_ms, ":now_ms": int(now * 1000), ":ttl": int(now) + _FORGET_AFTER_SECONDS}
        ),
    )
    if blocked is None:
        # A later block is already in place: keep it, and note this 429 all the same (429s are rare).
        with aws.translated():
            table.client().update_item(
                TableName=table.table_name(),
                Key=_key(host),
                UpdateExpression="SET last_rate_limited_at = :now_ms",
                ExpressionAttributeValues=table.marshal({":now_ms": int(now * 1000)}),
            )


def limits(host: str) -> StoreLimits:
    with aws.translated():
        response = table.client().get_item(TableName=table.table_name(), Key=_key(host))
    item = table.unmarshal(response.get("Item") or {})

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value) if value is not None else None

    return StoreLimits(
        calls_per_10_seconds=number("allowed"),
        learned_at_ms=number("learned_at"),
        last_rate_limited_at_ms=number("last_rate_limited_at"),
        blocked_until_ms=number("blocked_until"),
    )


def forget_known_limits() -> None:
    """Drop what this process knows of stores' limits, as a new Lambda environment starts (tests)."""
    with _known_lock:
        _known.clear()
