"""Tokens on demand for the platform: POST /v1/connections/{id}/token, /refresh and /test.

The token answer is the only place a token ever leaves cartconnect. A due token is refreshed first,
under the same lease as the scheduled refresh: concurrent callers wait for the lease holder (polling
the item until the lease is gone or the version moves) and all receive the same fresh token, so a
burst of callers costs one store call. This module pulls in the provider client: the management
function imports it lazily, inside the routes that need it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from cartconnect import clock, hosts, store_probes
from cartconnect.adapters import connection_repository, refresh_repository, token_vault
from cartconnect.domain.connection import Connection, ConnectionStatus, LastTest
from cartconnect.errors import AuthorizationRequired, RefreshFailed, TryLater
from cartconnect.observability import add_metric, logger
from cartconnect.provider.americommerce import AmeriCommerceClient
from cartconnect.provider.errors import AccessTokenRejected, ProviderError, RateLimited, RequestRejected
from cartconnect.refresh_schedule import needs_refresh
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_refresh
from cartconnect.usecases.authorization import links as authorize_links
from cartconnect.usecases.authorization.flow import LINK_LIFETIME_SECONDS
from cartconnect.usecases.token_refresh import Outcome, RefreshResult

# Waiting for another caller's refresh: poll the item this often, for at most this many rounds.
POLL_SECONDS = 0.05
MAX_ROUNDS = 8
# A token this close to expiry is not handed out as a fallback when a refresh failed.
FALLBACK_MIN_VALIDITY = timedelta(seconds=5)
poll_sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_at: datetime | None
    token_version: int


def _authorization_required(connection: Connection, origin: str) -> AuthorizationRequired:
    url = authorize_links.answer_link(connection, origin=origin)
    if connection.status is ConnectionStatus.PENDING_AUTHORIZATION:
        detail = (
            "This connection has not been authorized yet: a store admin must open authorize_url "
            "(one-time, valid 10 minutes) and approve the app; then ask again."
        )
    else:
        reason = f" ({connection.last_error.message})" if connection.last_error else ""
        detail = (
            f"The store no longer accepts this connection's grant{reason}. A store admin must authorize "
            "it again: open authorize_url (one-time, valid 10 minutes) and approve the app; then ask again."
        )
    return AuthorizationRequired(
        detail,
        status=connection.status.value,
        authorize_url=url,
        expires_in=LINK_LIFETIME_SECONDS,
    )


def _read(tenant: str, connection_id: str) -> tuple[Connection, bytes | None]:
    found = refresh_repository.read_with_tokens(tenant, connection_id)
    if found is None:
        raise connection_repository.not_found(connection_id)
    return found


def _require_active(connection: Connection, origin: str) -> None:
    if connection.status is not ConnectionStatus.ACTIVE:
        raise _authorization_required(connection, origin)


def _issued(connection: Connection, blob: bytes | None) -> IssuedToken:
    if blob is None:  # an active connection always has tokens; never hand out nothing
        raise TryLater("the connection's tokens are being replaced; retry", retry_after_seconds=1)
    tokens = token_vault.unseal(connection.tenant, connection.id, blob)
    return IssuedToken(tokens.access_token, connection.expires_at, connection.token_version)


def _still_valid(connection: Connection) -> bool:
    """Whether the current token may be handed out although its refresh failed."""
    if connection.expires_at is None:
        # Never expires (no refresh scheduled), or its lifetime is unknown (refreshed on an assumed
        # one, docs/lifecycle.md): an unknown lifetime may have run out, so it is not a fallback.
        return connection.refresh_due_at is None
    return connection.expires_at - FALLBACK_MIN_VALIDITY > clock.utc_now()


def _failed(result: RefreshResult) -> Exception:
    if result.outcome is Outcome.DEFERRED:
        return TryLater(
            "the store's call budget is spent for now; retry shortly",
            retry_after_seconds=result.retry_after_seconds or 1,
        )
    return RefreshFailed(
        f"the store did not refresh the token: {result.detail or result.reason}",
        code=result.reason,
        retry_after_seconds=result.retry_after_seconds,
    )


def _wait_for_holder(connection: Connection, deadline: float) -> Connection | None:
    """Poll until the lease holder is done (lease released or expired, version moved, status
    changed) or the deadline passes. Returns the connection as it then stands (None: deleted)."""
    latest: Connection | None = connection
    while token_refresh.monotonic() < deadline:
        poll_sleep(POLL_SECONDS)
        latest = connection_repository.get(connection.tenant, connection.id)
        if latest is None or latest.token_version != connection.token_version:
            return latest
        if latest.status is not ConnectionStatus.ACTIVE or latest.lease_owner is None:
            return latest
        if latest.lease_expires_at is not None and latest.lease_expires_at < refresh_repository.epoch_ms(
            clock.utc_now()
        ):
            return latest
    return latest


def _holder_failed(latest: Connection, since: datetime) -> Exception | None:
    """The lease holder's refresh failed after we started waiting: share its outcome instead of
    calling the store again."""
    error = latest.last_error
    if latest.status is not ConnectionStatus.ACTIVE or error is None or error.at < since:
        return None
    retry = (latest.refresh_due_at - clock.utc_now()).total_seconds() if latest.refresh_due_at else None
    return RefreshFailed(
        f"the store did not refresh the token: {error.message}",
        code=error.code,
        retry_after_seconds=max(retry, 1.0) if retry is not None else None,
    )


def get_token(tenant: str, connection_id: str, *, origin: str, deadline: float) -> IssuedToken:
    """A valid access token, refreshed first when due. `deadline` is a monotonic time."""
    started = clock.utc_now()
    due_version: int | None = None
    for _ in range(MAX_ROUNDS):
        connection, blob = _read(tenant, connection_id)
        _require_active(connection, origin)
        # A token refreshed since this call found it due is as fresh as it gets: hand it out.
        refreshed_meanwhile = due_version is not None and connection.token_version != due_version
        if refreshed_meanwhile or not needs_refresh(
            refresh_due_at=connection.refresh_due_at,
            expires_at=connection.expires_at,
            now=clock.utc_now(),
            min_validity=token_refresh.MIN_VALIDITY,
        ):
            return _issued(connection, blob)
        due_version = connection.token_version
        result = token_refresh.refresh(
            tenant, connection_id, expected_version=connection.token_version, deadline=deadline
        )
        if result.outcome is Outcome.REFRESHED and result.tokens and result.connection:
            stored = result.connection
            return IssuedToken(result.tokens.access_token, stored.expires_at, stored.token_version)
        if result.outcome is Outcome.GONE:
            raise connection_repository.not_found(connection_id)
        if result.outcome in (Outcome.FAILED, Outcome.DEFERRED):
            if _still_valid(connection):
                return _issued(connection, blob)  # the current token still works: hand it out
            raise _failed(result)
        if result.outcome is Outcome.BUSY:
            latest = _wait_for_holder(connection, deadline)
            if latest is None:
                raise connection_repository.not_found(connection_id)
            failure = _holder_failed(latest, started)
            if failure is not None:
                if _still_valid(latest):
                    return _issued(connection, blob)
                raise failure
        # NOT_NEEDED, SUPERSEDED, INACTIVE, NEEDS_REAUTHORIZATION, or the holder finished: read again.
        if token_refresh.monotonic() >= deadline:
            break
    raise TryLater("the token is being refreshed by another request; retry", retry_after_seconds=1)


def refresh_now(tenant: str, connection_id: str, *, origin: str, deadline: float) -> Connection:
    """Refresh now, whether due or not; concurrent callers share one refresh."""
    started = clock.utc_now()
    connection, _ = _read(tenant, connection_id)
    _require_active(connection, origin)
    version = connection.token_version
    for _ in range(MAX_ROUNDS):
        result = token_refresh.refresh(
            tenant, connection_id, expected_version=version, force=True, deadline=deadline
        )
        if result.outcome is Outcome.REFRESHED and result.connection:
            return result.connection
        if result.outcome is Outcome.GONE:
            raise connection_repository.not_found(connection_id)
        if result.outcome in (Outcome.FAILED, Outcome.DEFERRED):
            raise _failed(result)
        if result.outcome in (Outcome.INACTIVE, Outcome.NEEDS_REAUTHORIZATION) and result.connection:
            raise _authorization_required(result.connection, origin)
        if result.outcome is Outcome.BUSY and result.connection:
            latest = _wait_for_holder(result.connection, deadline)
            if latest is None:
                raise connection_repository.not_found(connection_id)
            failure = _holder_failed(latest, started)
            if failure is not None:
                raise failure
            if latest.token_version != version:
                return latest  # the holder refreshed it just now
        elif result.outcome in (Outcome.NOT_NEEDED, Outcome.SUPERSEDED):
            latest, _ = _read(tenant, connection_id)
            _require_active(latest, origin)
            if latest.token_version != version:
                return latest
        if token_refresh.monotonic() >= deadline:
            break
    raise TryLater("the token is being refreshed by another request; retry", retry_after_seconds=1)


# -- test connection -------------------------------------------------------------------------------


def _probe(connection: Connection, access_token: str, deadline: float) -> LastTest:
    """The read the granted scopes allow (store_probes.py) with the token, within the store's budget."""
    now = clock.utc_now()
    try:
        base_url = hosts.safe_store_base_url(connection.subdomain, get_settings())
    except hosts.UnsafeStoreHost as error:
        return LastTest(False, now, None, f"the store host is refused: {error.message}")
    wait = store_budget.spend(
        connection.subdomain,
        deadline=deadline,
        attempt_budget_seconds=token_refresh.ATTEMPT_BUDGET_SECONDS,
        sleep=token_refresh.sleep,
        monotonic=token_refresh.monotonic,
    )
    if wait is not None:
        raise TryLater("the store's call budget is spent for now; retry shortly", retry_after_seconds=wait)
    probe = store_probes.probe_for(connection.scopes)
    client = AmeriCommerceClient(
        timeout=token_refresh.store_timeout, on_answer=store_budget.learning(connection.subdomain)
    )
    started = token_refresh.monotonic()
    try:
        answer = client.probe(base_url, access_token, probe.path)
    except AccessTokenRejected:
        raise
    except ProviderError as error:
        detail = error.detail
        if isinstance(error, RequestRejected) and error.status_code == 403:
            detail = store_probes.refused_because(probe) + (
                f" (the store said: {error.provider_message})" if error.provider_message else ""
            )
        if isinstance(error, RateLimited) and error.retry_after_seconds is not None:
            detail += f"; retry after {error.retry_after_seconds:.0f} s"
        return LastTest(False, clock.utc_now(), error.status_code, detail)
    finally:
        add_metric("StoreCallLatency", MetricUnit.Milliseconds, (token_refresh.monotonic() - started) * 1000)
    return LastTest(
        True,
        clock.utc_now(),
        answer.status_code,
        f"{probe.label} answered {answer.status_code} with the access token",
        answer.store_name,
    )


def test_connection(tenant: str, connection_id: str, *, origin: str, deadline: float) -> LastTest:
    """Call the store's API with the access token; on a 401 refresh once and try again. The outcome
    is kept on the connection (GET shows it as last_test)."""
    token = get_token(tenant, connection_id, origin=origin, deadline=deadline)
    connection, _ = _read(tenant, connection_id)
    try:
        outcome = _probe(connection, token.access_token, deadline)
    except AccessTokenRejected as rejected:
        outcome = _after_rejection(tenant, connection_id, token, rejected, origin=origin, deadline=deadline)
    if not refresh_repository.record_test(tenant, connection_id, outcome):
        raise connection_repository.not_found(connection_id)
    logger.info(
        "connection tested",
        extra={"connection_id": connection_id, "online": outcome.online, "http_status": outcome.http_status},
    )
    return outcome


def _after_rejection(
    tenant: str,
    connection_id: str,
    token: IssuedToken,
    rejected: AccessTokenRejected,
    *,
    origin: str,
    deadline: float,
) -> LastTest:
    result = token_refresh.refresh(
        tenant, connection_id, expected_version=token.token_version, force=True, deadline=deadline
    )
    if result.outcome is Outcome.REFRESHED and result.tokens and result.connection:
        access_token = result.tokens.access_token
    elif result.outcome in (Outcome.BUSY, Outcome.NOT_NEEDED, Outcome.SUPERSEDED):
        if result.outcome is Outcome.BUSY and result.connection:
            _wait_for_holder(result.connection, deadline)
        try:
            access_token = get_token(tenant, connection_id, origin=origin, deadline=deadline).access_token
        except (RefreshFailed, TryLater, AuthorizationRequired) as error:
            return LastTest(
                False, clock.utc_now(), rejected.status_code, f"{rejected.detail}; {error.detail}"
            )
    elif result.outcome is Outcome.GONE:
        raise connection_repository.not_found(connection_id)
    else:
        why = result.detail or result.reason
        return LastTest(
            False, clock.utc_now(), rejected.status_code, f"{rejected.detail}; the refresh failed: {why}"
        )
    connection, _ = _read(tenant, connection_id)
    try:
        return _probe(connection, access_token, deadline)
    except AccessTokenRejected as again:
        return LastTest(False, clock.utc_now(), again.status_code, f"{again.detail} (also after a refresh)")
