"""The OAuth callback: the last step of the authorization flow (see authorize_redirect for the first).

`complete`: refuse anything off before calling the store, spend the state, exchange the code
(signed, against the host recorded with the state), seal and store the tokens, activate.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from cartconnect import credentials, hosts
from cartconnect.adapters import (
    authorization_repository,
    connection_repository,
    events,
    iclient_repository,
    iclient_secret,
)
from cartconnect.adapters.authorization_repository import State
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.connection import Connection
from cartconnect.observability import logger
from cartconnect.provider.americommerce import AmeriCommerceClient
from cartconnect.provider.errors import GrantRefused, ProviderError
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_pair
from cartconnect.usecases.authorize_links import now_epoch as _now
from cartconnect.usecases.authorize_redirect import STATE_IN_REDIRECT, FlowRefused, cookie_name

MAX_CALLBACK_VALUE = 1024


@dataclass(frozen=True)
class Authorized:
    connection: Connection


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name) or []
    if len(set(values)) > 1:
        raise FlowRefused(
            400, "This authorization answer is not valid", f"It carries conflicting {name} values."
        )
    return values[0] if values else None


def _clean(value: str | None, limit: int = 300) -> str | None:
    """Free text from the store's query, stripped of control characters and shortened."""
    if value is None:
        return None
    cleaned = "".join(char for char in value if unicodedata.category(char) not in {"Cc", "Cf"}).strip()
    return cleaned[:limit] or None


def _spend_state(query: dict[str, list[str]], cookies: dict[str, str]) -> State:
    """Every check that needs no call to the store; the state is spent only if they all pass."""
    states = set(query.get("state", [])) | set(query.get(STATE_IN_REDIRECT, []))
    if not states:
        raise FlowRefused(400, "This authorization answer is not valid", "It carries no state. Start again.")
    if len(states) > 1:
        raise FlowRefused(400, "This authorization answer is not valid", "Its state values do not match.")
    state = states.pop()
    if not credentials.is_well_formed(state):
        raise FlowRefused(400, "This authorization answer is not valid", "Its state is malformed.")
    recorded = authorization_repository.read_state(state)
    if recorded is None:
        raise FlowRefused(400, "This authorization was already completed", "Or it never started here.")
    if recorded.expires_at < _now():
        authorization_repository.consume_state(state)
        raise FlowRefused(410, "This authorization has expired", "Ask for a new authorization link.")
    cookie = cookies.get(cookie_name(state))
    if cookie is None or not credentials.same(cookie, credentials.binding(recorded.binding_key, state)):
        raise FlowRefused(
            400,
            "This authorization was started in another browser",
            "Open the authorization link in this browser and approve again.",
        )
    spent = authorization_repository.consume_state(state)
    if spent is None:
        raise FlowRefused(400, "This authorization was already completed", "Its answer can be used once.")
    return spent


def complete(query: dict[str, list[str]], cookies: dict[str, str]) -> Authorized:
    state = _spend_state(query, cookies)
    connection = connection_repository.get(state.tenant, state.connection_id)
    if connection is None:
        raise FlowRefused(410, "This connection no longer exists", "It was deleted during the authorization.")
    if connection.auth_generation != state.auth_generation:
        raise FlowRefused(
            409, "This connection changed", "Its store, app, scopes or callback changed. Ask for a new link."
        )

    error = _single(query, "error")
    if error is not None:
        reason = _clean(_single(query, "error_description")) or _clean(_single(query, "error_reason"))
        message = f"The store answered {_clean(error, 64)}" + (f": {reason}" if reason else "")
        _fail(connection, state, "authorization_denied", message)
        raise FlowRefused(400, "The store did not authorize the connection", message)

    auth_id, code = _single(query, "auth_id"), _single(query, "code")
    if not auth_id or not code or len(auth_id) > MAX_CALLBACK_VALUE or len(code) > MAX_CALLBACK_VALUE:
        _fail(connection, state, "invalid_callback", "The store's answer had no auth_id or code.")
        raise FlowRefused(400, "The store's answer is incomplete", "It had no auth_id or code. Start again.")

    settings = get_settings()
    try:
        iclient = iclient_repository.get(state.tenant, state.iclient_id)
        if iclient is None:
            raise FlowRefused(410, "This connection's OAuth client is gone", "Ask for a new link.")
        base_url = hosts.safe_store_base_url(state.subdomain, settings)
        client_secret = iclient_secret.read(iclient.secret)
        issued_at = utc_now()
        tokens = AmeriCommerceClient(on_answer=store_budget.learning(state.subdomain)).exchange_code(
            base_url,
            client_id=state.client_id,
            client_secret=client_secret,
            auth_id=auth_id,
            code=code,
            scope=state.scope,
            redirect_uri=state.redirect_uri,
        )
    except iclient_secret.SecretGone:
        _fail(
            connection, state, "iclient_secret_unreadable", "The OAuth client's secret is gone: set it again."
        )
        raise FlowRefused(
            410,
            "This connection's OAuth client has no secret",
            "Set its secret again, then ask for a new link.",
        ) from None
    except iclient_secret.SecretStoreUnavailable:
        _fail(connection, state, "secret_store_unavailable", "The secret store did not answer.")
        raise FlowRefused(
            503, "The authorization could not be completed", "Please try again: ask for a new link."
        ) from None
    except ProviderError as failure:
        code_name = "grant_refused" if isinstance(failure, GrantRefused) else "token_exchange_failed"
        _fail(connection, state, code_name, failure.detail)
        status = 400 if isinstance(failure, GrantRefused) else 502
        raise FlowRefused(status, "The store did not complete the authorization", failure.detail) from None

    stored = connection_repository.store_authorization(
        connection,
        auth_generation=state.auth_generation,
        pair=token_pair.to_store(connection, tokens, issued_at),
        now=issued_at,
    )
    if stored is None:
        raise FlowRefused(
            409,
            "This connection changed",
            "It was changed or deleted during the authorization. Ask for a new link.",
        )
    events.publish(
        "connection.authorized",
        tenant=stored.tenant,
        connection_id=stored.id,
        token_version=stored.token_version,
        expires_at=to_iso(stored.expires_at) if stored.expires_at else None,
    )
    logger.info(
        "connection authorized", extra={"connection_id": stored.id, "token_version": stored.token_version}
    )
    return Authorized(stored)


def _fail(connection: Connection, state: State, code: str, message: str) -> None:
    connection_repository.record_error(
        connection, auth_generation=state.auth_generation, code=code, message=message, now=to_iso(utc_now())
    )
    events.publish(
        "connection.authorization_failed", tenant=connection.tenant, connection_id=connection.id, code=code
    )
    logger.warning("authorization failed", extra={"connection_id": connection.id, "code": code})
