"""Pure rules of the token refresh: what a failure means, how long to wait, when to give up.

No I/O here: the refresh pipeline (usecases/token_refresh.py) applies these rules, and unit tests
check them directly (tests/unit/test_refresh_policy.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# A delay rides on the refresh message's visibility: no longer than the queue can keep one hidden.
from cartconnect.adapters.refresh_queue import MAX_VISIBILITY_SECONDS
from cartconnect.errors import AwsCallFailed, ServiceUnavailable
from cartconnect.hosts import UnsafeStoreHost
from cartconnect.provider.errors import (
    GrantRefused,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)

# Calls to the store within one lease: at most this many, with capped, jittered backoff between them.
STORE_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 4.0
# Between leases (the message back on the queue, the next due time): 30 s, 1 min, 2 min, ... 30 min.
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 30 * 60.0

Random = Callable[[], float]


class FailureKind(StrEnum):
    # The store refused the grant or the signature: only a new authorization helps. No retry.
    PERMANENT = "permanent"
    # 5xx, timeouts, connection errors, garbage answers: retry with backoff.
    TRANSIENT = "transient"
    # 429: retry after the store's Retry-After.
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Failure:
    """A classified refresh failure. `code` is a stable, low-cardinality name (events, metrics,
    last_error.code); `detail` is safe to store, log and publish (never a token or secret)."""

    kind: FailureKind
    code: str
    detail: str
    status_code: int | None = None
    retry_after_seconds: float | None = None
    # Whether another call within the same lease can help (a 404 from the token endpoint will not).
    retry_now: bool = True

    @property
    def permanent(self) -> bool:
        return self.kind is FailureKind.PERMANENT


def classify(error: Exception) -> Failure | None:
    """The failure an exception stands for, or None when it is not a refresh failure (a bug: let it
    propagate). AWS errors around the store call (DynamoDB, KMS, Secrets Manager: the adapters'
    AwsCallFailed and ServiceUnavailable) are transient."""
    if isinstance(error, ProviderError):
        return _classify_provider(error)
    if isinstance(error, UnsafeStoreHost):
        # Settings or DNS changed since the connection was made. Transient: DNS may come back, and a
        # connection failing for longer than the failure window needs re-authorization anyway.
        return Failure(FailureKind.TRANSIENT, "unsafe_store_host", error.detail, retry_now=False)
    if isinstance(error, ServiceUnavailable | AwsCallFailed):
        # The secret store (ServiceUnavailable), the table, KMS (AwsCallFailed): throttled, unreachable.
        return Failure(FailureKind.TRANSIENT, "aws_error", error.detail)
    return None


def _classify_provider(error: ProviderError) -> Failure:
    status = error.status_code
    if isinstance(error, GrantRefused):
        return Failure(FailureKind.PERMANENT, "grant_refused", error.detail, status, retry_now=False)
    if isinstance(error, RateLimited):
        return Failure(
            FailureKind.RATE_LIMITED,
            "rate_limited",
            error.detail,
            status,
            retry_after_seconds=error.retry_after_seconds,
        )
    if isinstance(error, ProviderUnavailable):
        code = "store_unavailable" if status is not None else "store_unreachable"
        return Failure(
            FailureKind.TRANSIENT, code, error.detail, status, retry_after_seconds=error.retry_after_seconds
        )
    if isinstance(error, ProviderResponseError):
        return Failure(FailureKind.TRANSIENT, "bad_store_response", error.detail, status)
    if isinstance(error, RequestRejected):
        # 404/405/409 from the token endpoint: the request is wrong for this store right now.
        return Failure(FailureKind.TRANSIENT, "request_rejected", error.detail, status, retry_now=False)
    return Failure(FailureKind.TRANSIENT, "store_error", error.detail, status)


def backoff_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rand: Random = random.random,
) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): "full jitter", uniformly in
    [0, min(cap, base * 2**(attempt-1))], so workers that failed together do not retry together."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(rand() * ceiling)


def retry_delay(
    consecutive_failures: int,
    *,
    base: float = RETRY_BASE_SECONDS,
    cap: float = RETRY_CAP_SECONDS,
    rand: Random = random.random,
) -> float:
    """Seconds until the next refresh of a connection that has failed `consecutive_failures` times in
    a row: exponential, capped, "equal jitter" (at least half the step, so a retry is never immediate)."""
    step = min(cap, base * 2 ** max(consecutive_failures - 1, 0))
    return float(step / 2 + rand() * step / 2)


def next_attempt_delay(failure: Failure, consecutive_failures: int, *, rand: Random = random.random) -> float:
    """When to try again after `failure`: the store's Retry-After when it asks for longer."""
    delay = retry_delay(consecutive_failures, rand=rand)
    if failure.retry_after_seconds is not None:
        delay = max(delay, failure.retry_after_seconds)
    return min(delay, float(MAX_VISIBILITY_SECONDS))


def wait_fits(wait_seconds: float, *, remaining_seconds: float, attempt_budget_seconds: float) -> bool:
    """Whether waiting `wait_seconds` still leaves a whole attempt inside the time that remains."""
    return wait_seconds >= 0 and remaining_seconds - wait_seconds >= attempt_budget_seconds


def failing_too_long(failing_since: datetime | None, now: datetime, window: timedelta) -> bool:
    """A connection whose refreshes have failed without a break for longer than `window`."""
    return failing_since is not None and now - failing_since >= window
