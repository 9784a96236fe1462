"""Calling a store within its call budget, shared by every Lambda (adapters/store_rate_limiter.py).

One way to call a store, for the refresh pipeline and the connection test alike: `spend` before
each call, `client` for the call (its answer hook teaches the budget the store's limit from
X-AC-Call-Limit and blocks the store for a 429's Retry-After), `timed` around it for the latency
metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cartconnect import clock, runtime
from cartconnect.adapters import store_rate_limiter
from cartconnect.errors import AwsCallFailed
from cartconnect.observability import logger, milliseconds
from cartconnect.provider.americommerce import DEFAULT_TIMEOUT, AmeriCommerceClient, StoreAnswer
from cartconnect.refresh_policy import wait_fits

# Waiting for the store's call budget: at most this many waits, each followed by one more try.
BUDGET_WAITS = 3
# What one store call may take, with the AWS calls around it.
ATTEMPT_BUDGET_SECONDS = 15.0


def spend(
    host: str,
    *,
    deadline: float,
    max_wait_seconds: float | None = None,
    attempt_budget_seconds: float = ATTEMPT_BUDGET_SECONDS,
    on_wait: Callable[[float], None] | None = None,
) -> float | None:
    """None once a call to `host` fits the store's budget, else the seconds until it would. It waits
    for the budget while a whole attempt still fits before `deadline` (a monotonic time) and each
    wait is at most `max_wait_seconds`; `on_wait` hears of each wait before it starts."""
    wait: float | None = None
    for waited in range(BUDGET_WAITS + 1):
        wait = store_rate_limiter.try_acquire(host, now=clock.utc_now().timestamp())
        if wait is None:
            return None
        if waited == BUDGET_WAITS:  # asked again after the last wait: no more waiting
            break
        if max_wait_seconds is not None and wait > max_wait_seconds:
            break
        remaining = deadline - runtime.current().monotonic()
        if not wait_fits(wait, remaining_seconds=remaining, attempt_budget_seconds=attempt_budget_seconds):
            break
        if on_wait is not None:
            on_wait(wait)
        runtime.current().sleep(wait)
    return wait


def client(host: str) -> AmeriCommerceClient:
    """The provider client for calls to `host`: the runtime's store timeout, the learning hook."""
    return AmeriCommerceClient(
        timeout=runtime.current().store_timeout or DEFAULT_TIMEOUT, on_answer=learning(host)
    )


@contextmanager
def timed(metric: str = "StoreCallLatency") -> Iterator[None]:
    """Around one store call: its latency as the milliseconds metric `metric`, whatever its outcome."""
    monotonic = runtime.current().monotonic
    started = monotonic()
    try:
        yield
    finally:
        milliseconds(metric, monotonic() - started)


def learning(host: str) -> Callable[[StoreAnswer], None]:
    """The answer hook for calls to `host`. A failure to record is logged, never the call's failure."""

    def heard(answer: StoreAnswer) -> None:
        now = clock.utc_now().timestamp()
        try:
            if answer.call_limit is not None:
                store_rate_limiter.learn_limit(host, answer.call_limit.allowed, now=now)
            if answer.status_code == 429:
                store_rate_limiter.block(host, retry_after_seconds=answer.retry_after_seconds, now=now)
        except AwsCallFailed:
            logger.warning("the store's call budget was not updated", extra={"store_host": host})

    return heard
