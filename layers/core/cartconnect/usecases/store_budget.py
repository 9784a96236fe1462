"""Calling a store within its call budget, shared by every Lambda (adapters/store_rate_limiter.py):
`spend` before each call, and `learning` as the client's answer hook, so every answer teaches the
budget the store's limit (X-AC-Call-Limit) and every 429 blocks the store for its Retry-After."""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from cartconnect import clock
from cartconnect.adapters import store_rate_limiter
from cartconnect.observability import logger
from cartconnect.provider.americommerce import StoreAnswer
from cartconnect.refresh_policy import wait_fits

# Waiting for the store's call budget: at most this many windows.
BUDGET_WAITS = 3


def spend(
    host: str,
    *,
    deadline: float,
    attempt_budget_seconds: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> float | None:
    """None once a call to `host` fits the store's budget (waiting for it while a whole attempt
    still fits before `deadline`), else the seconds until it would."""
    wait: float | None = None
    for _ in range(BUDGET_WAITS):
        wait = store_rate_limiter.try_acquire(host, now=clock.utc_now().timestamp())
        if wait is None:
            return None
        if not wait_fits(
            wait, remaining_seconds=deadline - monotonic(), attempt_budget_seconds=attempt_budget_seconds
        ):
            break
        sleep(wait)
    return wait


def learning(host: str) -> Callable[[StoreAnswer], None]:
    """The answer hook for calls to `host`. A failure to record is logged, never the call's failure."""

    def heard(answer: StoreAnswer) -> None:
        now = clock.utc_now().timestamp()
        try:
            if answer.call_limit is not None:
                store_rate_limiter.learn_limit(host, answer.call_limit.allowed, now=now)
            if answer.status_code == 429:
                store_rate_limiter.block(host, retry_after_seconds=answer.retry_after_seconds, now=now)
        except (ClientError, BotoCoreError):
            logger.warning("the store's call budget was not updated", extra={"store_host": host})

    return heard
