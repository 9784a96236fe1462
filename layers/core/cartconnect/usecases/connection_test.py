"""POST /v1/connections/{id}/test: call the store's API with the connection's access token, on a
read its granted scopes allow (store_probes), within the store's call budget; on a 401, refresh
once under the lease and try again. The outcome is kept on the connection (GET shows last_test)."""

from __future__ import annotations

from cartconnect import clock, hosts, store_probes
from cartconnect.adapters import connection_repository, refresh_repository
from cartconnect.domain.connection import Connection, LastTest
from cartconnect.errors import AuthorizationRequired, RefreshFailed, TryLater
from cartconnect.observability import logger
from cartconnect.provider.errors import AccessTokenRejected, ProviderError, RateLimited, RequestRejected
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_access
from cartconnect.usecases.token_access import IssuedToken


def _probe(connection: Connection, access_token: str, deadline: float) -> LastTest:
    """The read the granted scopes allow (store_probes.py) with the token, within the store's budget."""
    now = clock.utc_now()
    try:
        base_url = hosts.safe_store_base_url(connection.subdomain, get_settings())
    except hosts.UnsafeStoreHost as error:
        return LastTest(False, now, None, f"the store host is refused: {error.message}")
    wait = store_budget.spend(connection.subdomain, deadline=deadline)
    if wait is not None:
        raise TryLater("the store's call budget is spent for now; retry shortly", retry_after_seconds=wait)
    probe = store_probes.probe_for(connection.scopes)
    try:
        with store_budget.timed():
            answer = store_budget.client(connection.subdomain).probe(base_url, access_token, probe.path)
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
    token = token_access.get_token(tenant, connection_id, origin=origin, deadline=deadline)
    try:
        outcome = _probe(token.connection, token.access_token, deadline)
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
    try:
        retry_with = token_access.after_rejection(
            tenant, connection_id, token, origin=origin, deadline=deadline
        )
    except (RefreshFailed, TryLater, AuthorizationRequired) as error:
        return LastTest(False, clock.utc_now(), rejected.status_code, f"{rejected.detail}; {error.detail}")
    try:
        return _probe(retry_with.connection, retry_with.access_token, deadline)
    except AccessTokenRejected as again:
        return LastTest(False, clock.utc_now(), again.status_code, f"{again.detail} (also after a refresh)")
