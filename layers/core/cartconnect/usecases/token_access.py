"""Tokens on demand for the platform: POST /v1/connections/{id}/token and /refresh (and the
tokens of /test, usecases/connection_test).

The token answer is the only place a token ever leaves cartconnect. A due token is refreshed first,
under the same lease as the scheduled refresh: concurrent callers wait for the lease holder (polling
the item until the lease is gone or the version moves) and all receive the same fresh token, so a
burst of callers costs one store call. This module pulls in the provider client: the management
function imports it lazily, inside the routes that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cartconnect import clock, runtime
from cartconnect.adapters import connection_repository, refresh_repository, token_vault
from cartconnect.domain.connection import Connection, ConnectionStatus
from cartconnect.errors import AuthorizationRequired, RefreshFailed, TryLater
from cartconnect.refresh_schedule import needs_refresh
from cartconnect.usecases import token_refresh
from cartconnect.usecases.authorization import links as authorize_links
from cartconnect.usecases.authorization.flow import LINK_LIFETIME_SECONDS
from cartconnect.usecases.token_refresh import Outcome, RefreshResult

# Waiting for another caller's refresh: poll the item this often, for at most this many rounds.
POLL_SECONDS = 0.05
MAX_ROUNDS = 8
# A token this close to expiry is not handed out as a fallback when a refresh failed.
FALLBACK_MIN_VALIDITY = timedelta(seconds=5)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_at: datetime | None
    token_version: int
    # The connection as read with the token (its store host, scopes): no second read for the caller.
    connection: Connection = field(repr=False, compare=False)


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


def read(tenant: str, connection_id: str) -> tuple[Connection, bytes | None]:
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
    return _refreshed(token_vault.unseal(connection.tenant, connection.id, blob).access_token, connection)


def _refreshed(access_token: str, connection: Connection) -> IssuedToken:
    """`access_token` as issued with the connection it was read or stored with."""
    return IssuedToken(access_token, connection.expires_at, connection.token_version, connection)


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


def wait_for_holder(connection: Connection, deadline: float) -> Connection | None:
    """Poll until the lease holder is done (lease released or expired, version moved, status
    changed) or the deadline passes. Returns the connection as it then stands (None: deleted)."""
    latest: Connection | None = connection
    while runtime.current().monotonic() < deadline:
        runtime.current().poll(POLL_SECONDS)
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
    if error.code == refresh_repository.API_TOKEN_REJECTED:  # a proxied call's 401, no refresh failure
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
        connection, blob = read(tenant, connection_id)
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
            return _refreshed(result.tokens.access_token, result.connection)
        if result.outcome is Outcome.GONE:
            raise connection_repository.not_found(connection_id)
        if result.outcome in (Outcome.FAILED, Outcome.DEFERRED):
            if _still_valid(connection):
                return _issued(connection, blob)  # the current token still works: hand it out
            raise _failed(result)
        if result.outcome is Outcome.BUSY:
            latest = wait_for_holder(connection, deadline)
            if latest is None:
                raise connection_repository.not_found(connection_id)
            failure = _holder_failed(latest, started)
            if failure is not None:
                if _still_valid(latest):
                    return _issued(connection, blob)
                raise failure
        # NOT_NEEDED, SUPERSEDED, INACTIVE, NEEDS_REAUTHORIZATION, or the holder finished: read again.
        if runtime.current().monotonic() >= deadline:
            break
    raise TryLater("the token is being refreshed by another request; retry", retry_after_seconds=1)


def refresh_now(tenant: str, connection_id: str, *, origin: str, deadline: float) -> Connection:
    """Refresh now, whether due or not; concurrent callers share one refresh."""
    started = clock.utc_now()
    connection, _ = read(tenant, connection_id)
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
            latest = wait_for_holder(result.connection, deadline)
            if latest is None:
                raise connection_repository.not_found(connection_id)
            failure = _holder_failed(latest, started)
            if failure is not None:
                raise failure
            if latest.token_version != version:
                return latest  # the holder refreshed it just now
        elif result.outcome in (Outcome.NOT_NEEDED, Outcome.SUPERSEDED):
            latest, _ = read(tenant, connection_id)
            _require_active(latest, origin)
            if latest.token_version != version:
                return latest
        if runtime.current().monotonic() >= deadline:
            break
    raise TryLater("the token is being refreshed by another request; retry", retry_after_seconds=1)


def after_rejection(
    tenant: str, connection_id: str, rejected: IssuedToken, *, origin: str, deadline: float
) -> IssuedToken:
    """A token to try again with after the store's API rejected `rejected` (a 401): refreshed once
    under the lease, whether due or not. Every concurrent caller whose token was rejected shares that
    one refresh: a caller that finds the lease held waits for its holder, one that finds the version
    moved takes the newer token. Raises as get_token does (RefreshFailed, TryLater,
    AuthorizationRequired, NotFound) when no newer token comes of it."""
    result = token_refresh.refresh(
        tenant, connection_id, expected_version=rejected.token_version, force=True, deadline=deadline
    )
    if result.outcome is Outcome.REFRESHED and result.tokens and result.connection:
        return _refreshed(result.tokens.access_token, result.connection)
    if result.outcome is Outcome.GONE:
        raise connection_repository.not_found(connection_id)
    if result.outcome in (Outcome.BUSY, Outcome.NOT_NEEDED, Outcome.SUPERSEDED):
        if result.outcome is Outcome.BUSY and result.connection:
            wait_for_holder(result.connection, deadline)
        return get_token(tenant, connection_id, origin=origin, deadline=deadline)
    if result.outcome in (Outcome.INACTIVE, Outcome.NEEDS_REAUTHORIZATION) and result.connection:
        raise _authorization_required(result.connection, origin)
    raise _failed(result)
