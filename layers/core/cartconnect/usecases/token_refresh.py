"""Refreshing one connection's tokens under a lease: the pipeline the refresh worker and the
on-demand API (POST /v1/connections/{id}/token, /refresh, /test) share.

    1. lease    take the lease with a conditional update; the write returns the item (the re-read)
    2. check    the token version moved, the token is no longer due, or the connection is not
                active: someone else did it, or there is nothing to do. Release and stop.
    3. call     the store's refresh endpoint, on the host recorded on the connection, within the
                store's call budget, with at most 3 attempts (capped, jittered backoff, Retry-After)
                inside the lease
    4. persist  the new sealed token pair, fenced on the token version AND the lease; a transient
                DynamoDB error is retried (the store has rotated the tokens: they must not be lost),
                a refused fence means newer state exists and wins
    5. release  the persist (or failure) write releases the lease; otherwise release it if still ours

Failures (refresh_policy.classify): a refused grant makes the connection needs_reauthorization at
once; anything transient is recorded (last_error, consecutive_failures, failing_since, next attempt)
and retried later, until the failure window turns it into needs_reauthorization too.
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from cartconnect import clock, hosts, runtime
from cartconnect.adapters import (
    events,
    iclient_repository,
    iclient_secret,
    refresh_repository,
    token_vault,
)
from cartconnect.domain.connection import Connection, ConnectionStatus
from cartconnect.domain.tokens import TokenSet
from cartconnect.errors import AwsCallFailed
from cartconnect.observability import count, logger, refresh_outcomes
from cartconnect.provider.errors import ProviderError
from cartconnect.refresh_policy import (
    STORE_ATTEMPTS,
    Failure,
    FailureKind,
    backoff_delay,
    classify,
    failing_too_long,
    next_attempt_delay,
    wait_fits,
)
from cartconnect.refresh_schedule import due_keys, needs_refresh
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_pair
from cartconnect.usecases.store_budget import ATTEMPT_BUDGET_SECONDS

# The lease outlives a whole refresh: 3 store calls (connect 3 s + read 10 s each) and the waits between.
LEASE_SECONDS = 60.0
# Stop starting store calls this long before the lease ends: nothing is ever sent under a lease that
# another worker may already hold.
LEASE_MARGIN_SECONDS = 5.0
# Writing the rotated tokens: attempts after a transient DynamoDB/KMS error (the SDK retries too).
PERSIST_ATTEMPTS = 6
# An access token closer than this to its expiry is refreshed before it is handed out.
MIN_VALIDITY = timedelta(seconds=60)

T = TypeVar("T")


class Outcome(StrEnum):
    REFRESHED = "refreshed"
    # The version moved or the token is not due: another worker or caller refreshed it.
    NOT_NEEDED = "not_needed"
    # Someone else holds the lease right now.
    BUSY = "busy"
    # Deleted.
    GONE = "gone"
    # Pending authorization or needing re-authorization: nothing to refresh.
    INACTIVE = "inactive"
    # The store answered, but the lease was lost or the connection changed before the write: the
    # newer state won and was kept.
    SUPERSEDED = "superseded"
    NEEDS_REAUTHORIZATION = "needs_reauthorization"
    # Transient failure, recorded on the connection; try again after `retry_after_seconds`.
    FAILED = "failed"
    # Not attempted: the store's call budget (or the time left) ran out. Nothing recorded.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class RefreshResult:
    outcome: Outcome
    connection: Connection | None
    reason: str = "none"
    detail: str | None = None
    retry_after_seconds: float | None = None
    attempts: int = 0
    # Only for REFRESHED: the new tokens, in memory, for the caller that asked on demand.
    tokens: TokenSet | None = field(default=None, repr=False)


@dataclass
class _Lease:
    owner: str
    connection: Connection
    sealed_tokens: bytes | None = field(default=None, repr=False)
    released: bool = False


class _StoreFailed(Exception):
    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(failure.code)
        self.failure = failure
        self.attempts = attempts


class _Deferred(Exception):
    def __init__(self, reason: str, retry_after_seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds


# Routine outcomes are counted by the Refreshes metric and visible on the connection
# (last_refreshed_at); a line each would be most of the log bill at scale (docs/benchmarks.md).
_LOG_BY_OUTCOME = {
    Outcome.REFRESHED: logger.debug,
    Outcome.NOT_NEEDED: logger.debug,
    Outcome.BUSY: logger.debug,
    Outcome.FAILED: logger.warning,
    Outcome.NEEDS_REAUTHORIZATION: logger.warning,
}


def _finish(result: RefreshResult) -> RefreshResult:
    refresh_outcomes.add(result.outcome.value, result.reason)
    log = _LOG_BY_OUTCOME.get(result.outcome, logger.info)
    log(
        "token refresh",
        extra={
            "connection_id": result.connection.id if result.connection else None,
            "outcome": result.outcome.value,
            "reason": result.reason,
            "attempts": result.attempts,
            "token_version": result.connection.token_version if result.connection else None,
        },
    )
    return result


def refresh(
    tenant: str,
    connection_id: str,
    *,
    expected_version: int | None = None,
    force: bool = False,
    deadline: float | None = None,
) -> RefreshResult:
    """Refresh the connection's tokens if it is (still) due, under the lease.

    `expected_version`: the token version the caller saw; if it moved, someone else refreshed.
    `force`: refresh even if not due (POST /refresh, a 401 from the store's API).
    `deadline`: monotonic() time by which no new store call starts (the Lambda's remaining time).
    """
    # 64 random bits tell concurrent lease holders apart; the lease lives on the item, kept small.
    owner = random_secrets.token_hex(8)
    attempt = refresh_repository.acquire_lease(
        tenant, connection_id, owner=owner, now=clock.utc_now(), seconds=LEASE_SECONDS
    )
    if attempt.connection is None:
        return _finish(RefreshResult(Outcome.GONE, None, reason="deleted"))
    if not attempt.acquired:
        return _finish(RefreshResult(Outcome.BUSY, attempt.connection, reason="leased"))
    lease_deadline = runtime.current().monotonic() + LEASE_SECONDS - LEASE_MARGIN_SECONDS
    lease = _Lease(owner, attempt.connection, attempt.sealed_tokens)
    try:
        return _finish(
            _refresh_leased(
                lease,
                expected_version,
                force,
                lease_deadline if deadline is None else min(deadline, lease_deadline),
            )
        )
    finally:
        if not lease.released:
            try:
                refresh_repository.release_lease(tenant, connection_id, owner=owner)
            except AwsCallFailed:
                # It expires by itself within LEASE_SECONDS.
                logger.warning("lease release failed", extra={"connection_id": connection_id})


def _refresh_leased(
    lease: _Lease, expected_version: int | None, force: bool, deadline: float
) -> RefreshResult:
    connection = lease.connection
    if expected_version is not None and connection.token_version != expected_version:
        return RefreshResult(Outcome.NOT_NEEDED, connection, reason="version_moved")
    if connection.status is not ConnectionStatus.ACTIVE:
        return RefreshResult(Outcome.INACTIVE, connection, reason=connection.status.value)
    if not force and not needs_refresh(
        refresh_due_at=connection.refresh_due_at,
        expires_at=connection.expires_at,
        now=clock.utc_now(),
        min_validity=MIN_VALIDITY,
    ):
        return RefreshResult(Outcome.NOT_NEEDED, connection, reason="not_due")
    issued_at = clock.utc_now()
    try:
        tokens, attempts = _call_store(connection, lease.sealed_tokens, deadline)
    except _Deferred as deferred:
        return RefreshResult(
            Outcome.DEFERRED,
            connection,
            reason=deferred.reason,
            retry_after_seconds=deferred.retry_after_seconds,
        )
    except _StoreFailed as failed:
        return _record_failure(lease, failed.failure, failed.attempts)
    return _persist(lease, tokens, issued_at, attempts)


# -- 3. the store call ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _StoreCall:
    """Everything one refresh request needs; repr hides the secrets."""

    base_url: str
    host: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    scopes: tuple[str, ...] = ()


def _permanent(code: str, detail: str) -> _StoreFailed:
    return _StoreFailed(Failure(FailureKind.PERMANENT, code, detail), 0)


def _classified(error: Exception) -> Exception:
    """A failure around the store call as the policy sees it; what it does not know goes on as is."""
    failure = classify(error)
    return error if failure is None else _StoreFailed(failure, 0)


def _prepare_call(connection: Connection, blob: bytes | None) -> _StoreCall:
    """Open the tokens, find the app and its secret, re-check the host. Failures are classified."""
    try:
        if blob is None:
            raise token_vault.SealedTokenError("no sealed tokens on this connection")
        sealed = token_vault.unseal(connection.tenant, connection.id, blob)
    except token_vault.SealedTokenError:
        raise _permanent("tokens_unreadable", "the stored tokens cannot be opened") from None
    except Exception as error:  # KMS throttled or unreachable: the tokens are fine, try again later
        raise _classified(error) from None
    if not sealed.refresh_token:
        raise _permanent("no_refresh_token", "the store gave no refresh token")
    iclient = iclient_repository.get(connection.tenant, connection.iclient_id)
    if iclient is None:
        raise _permanent("iclient_missing", "the connection's iClient no longer exists")
    try:
        base_url = hosts.safe_store_base_url(connection.subdomain, get_settings())
        client_secret = iclient_secret.read(iclient.secret)
    except iclient_secret.SecretGone:
        raise _permanent(
            "iclient_secret_unreadable", "the iClient's secret is gone from the secret store: set it again"
        ) from None
    except Exception as error:
        raise _classified(error) from None
    return _StoreCall(
        base_url=base_url,
        host=connection.subdomain,
        client_id=iclient.client_id,
        client_secret=client_secret,
        refresh_token=sealed.refresh_token,
        scopes=connection.scopes,
    )


def _call_store(connection: Connection, blob: bytes | None, deadline: float) -> tuple[TokenSet, int]:
    """At most STORE_ATTEMPTS calls, each within the store's call budget and the lease."""
    call = _prepare_call(connection, blob)
    client = store_budget.client(call.host)
    last: Failure | None = None
    for attempt in range(1, STORE_ATTEMPTS + 1):
        _before_attempt(call.host, deadline, last, attempt)
        try:
            with store_budget.timed():
                return client.refresh(
                    call.base_url,
                    client_id=call.client_id,
                    client_secret=call.client_secret,
                    refresh_token=call.refresh_token,
                    scope=call.scopes,
                ), attempt
        except ProviderError as error:
            last = classify(error) or Failure(FailureKind.TRANSIENT, "store_error", error.detail)
        if last.permanent or not last.retry_now or attempt == STORE_ATTEMPTS:
            raise _StoreFailed(last, attempt)
        pause = backoff_delay(attempt, rand=runtime.current().random)
        if last.retry_after_seconds is not None:
            pause = max(pause, last.retry_after_seconds)
        remaining = deadline - runtime.current().monotonic()
        if not wait_fits(pause, remaining_seconds=remaining, attempt_budget_seconds=ATTEMPT_BUDGET_SECONDS):
            raise _StoreFailed(last, attempt)
        runtime.current().sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def _before_attempt(host: str, deadline: float, last: Failure | None, attempt: int) -> None:
    """A store call starts only with a whole attempt's time left and within the store's budget.
    Before the first call, running out of either defers the refresh; after a failure, it ends it."""
    wait: float | None
    if deadline - runtime.current().monotonic() < ATTEMPT_BUDGET_SECONDS:
        reason, wait = "no_time_left", 1.0
    else:
        reason, wait = "store_call_budget", store_budget.spend(host, deadline=deadline)
        if wait is None:
            return
    if last is None:
        raise _Deferred(reason, wait)
    raise _StoreFailed(last, attempt - 1)


# -- 4. persist ------------------------------------------------------------------------------------


def _retrying_write(what: str, connection_id: str, write: Callable[[], T]) -> T:
    """Run a fenced write, retrying any failed AWS call (AwsCallFailed) with backoff (a refused fence
    is a result, not an error: the write returns None)."""
    for attempt in range(1, PERSIST_ATTEMPTS + 1):
        try:
            return write()
        except AwsCallFailed as error:
            code = error.code
            if attempt == PERSIST_ATTEMPTS:
                logger.error(
                    f"{what} failed after {attempt} attempts",
                    extra={"connection_id": connection_id, "error_code": code},
                )
                raise
            logger.warning(
                f"{what} failed; retrying",
                extra={"connection_id": connection_id, "error_code": code, "attempt": attempt},
            )
            runtime.current().sleep(backoff_delay(attempt, base=0.2, cap=2.0, rand=runtime.current().random))
    raise AssertionError("unreachable")  # pragma: no cover


def _persist(lease: _Lease, tokens: TokenSet, issued_at: datetime, attempts: int) -> RefreshResult:
    connection = lease.connection

    def write() -> Connection | None:
        return refresh_repository.store_refreshed(
            connection,
            owner=lease.owner,
            pair=token_pair.to_store(connection, tokens, issued_at),
            now=clock.utc_now(),
        )

    try:
        stored = _retrying_write("storing refreshed tokens", connection.id, write)
    except AwsCallFailed:
        count("RefreshedTokensNotStored")
        raise
    if stored is None:
        # Deleted, re-authorized, or our lease expired and another refresh got there first.
        return RefreshResult(Outcome.SUPERSEDED, connection, reason="fence_refused", attempts=attempts)
    lease.released = True
    if connection.consecutive_failures > 0:
        events.publish(
            "connection.recovered",
            tenant=stored.tenant,
            connection_id=stored.id,
            token_version=stored.token_version,
            failures=connection.consecutive_failures,
            failing_since=clock.to_iso(connection.failing_since) if connection.failing_since else None,
        )
    return RefreshResult(Outcome.REFRESHED, stored, reason="none", attempts=attempts, tokens=tokens)


# -- failures --------------------------------------------------------------------------------------


def _record_failure(lease: _Lease, failure: Failure, attempts: int) -> RefreshResult:
    connection = lease.connection
    now = clock.utc_now()
    window = get_settings().refresh_failure_window
    if failure.permanent or failing_too_long(connection.failing_since, now, window):
        return _needs_reauthorization(lease, failure, attempts, now)
    failures = connection.consecutive_failures + 1
    delay = next_attempt_delay(failure, failures, rand=runtime.current().random)
    next_attempt_at = now + timedelta(seconds=delay)
    stored = _retrying_write(
        "recording a refresh failure",
        connection.id,
        lambda: refresh_repository.record_failure(
            connection,
            owner=lease.owner,
            code=failure.code,
            message=failure.detail,
            now=now,
            next_attempt_at=next_attempt_at,
            due_keys=due_keys(connection.id, next_attempt_at),
        ),
    )
    if stored is None:
        return RefreshResult(Outcome.SUPERSEDED, connection, reason="fence_refused", attempts=attempts)
    lease.released = True
    events.publish(
        "connection.refresh_failed",
        tenant=stored.tenant,
        connection_id=stored.id,
        code=failure.code,
        detail=failure.detail,
        transient=True,
        http_status=failure.status_code,
        attempts=attempts,
        consecutive_failures=stored.consecutive_failures,
        failing_since=clock.to_iso(stored.failing_since) if stored.failing_since else None,
        next_attempt_at=clock.to_iso(next_attempt_at),
    )
    return RefreshResult(
        Outcome.FAILED,
        stored,
        reason=failure.code,
        detail=failure.detail,
        retry_after_seconds=delay,
        attempts=attempts,
    )


def _needs_reauthorization(lease: _Lease, failure: Failure, attempts: int, now: datetime) -> RefreshResult:
    connection = lease.connection
    if failure.permanent:
        code, detail = failure.code, failure.detail
    else:
        window = get_settings().refresh_failure_window
        code = "failing_too_long"
        detail = f"refreshes kept failing for more than {window} (last: {failure.detail})"
    stored = _retrying_write(
        "marking needs_reauthorization",
        connection.id,
        lambda: refresh_repository.mark_needs_reauthorization(
            connection, owner=lease.owner, code=code, message=detail, now=now
        ),
    )
    if stored is None:
        return RefreshResult(Outcome.SUPERSEDED, connection, reason="fence_refused", attempts=attempts)
    lease.released = True
    count("NeedsReauthorization")
    events.publish(
        "connection.needs_reauthorization",
        tenant=stored.tenant,
        connection_id=stored.id,
        code=code,
        detail=detail,
        http_status=failure.status_code,
        consecutive_failures=stored.consecutive_failures,
        failing_since=clock.to_iso(stored.failing_since) if stored.failing_since else None,
    )
    return RefreshResult(Outcome.NEEDS_REAUTHORIZATION, stored, reason=code, detail=detail, attempts=attempts)
