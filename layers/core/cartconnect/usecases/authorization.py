"""The OAuth callback: the last step of the authorization flow (see authorize_redirect for the first).

`complete`: refuse anything off before calling the store, spend the state, exchange the code
(signed, against the host recorded with the state), seal and store the tokens, activate.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

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
from cartconnect.usecases.authorize_redirect import (
    STATE_IN_REDIRECT,
    FlowRefused,
    cookie_name,
    redirect_uri_for,
)

MAX_CALLBACK_VALUE = 1024
_ANSWER_FIELDS = ("auth_id", "code", "error", "error_description", "error_reason")


@dataclass(frozen=True)
class Authorized:
    connection: Connection
    ended_cookie: str  # the attempt's browser-binding cookie, for the page to clear


@dataclass(frozen=True)
class _Answer:
    """The store's answer as the query carries it, checked before anything is read or spent."""

    state: str
    auth_id: str | None = field(default=None, repr=False)
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    error_description: str | None = None
    error_reason: str | None = None


def _invalid(message: str) -> FlowRefused:
    return FlowRefused(400, "This authorization answer is not valid", message)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cf"}


def _clean(value: str | None, limit: int = 300) -> str | None:
    """Free text from the store's query, stripped of control characters and shortened."""
    if value is None:
        return None
    cleaned = "".join(char for char in value if not _is_control(char)).strip()
    return cleaned[:limit] or None


def _answer(query: dict[str, list[str]]) -> _Answer:
    """Every check of the query, with no read and no write: a request refused here leaves the
    state unspent, so a malformed or forged answer cannot burn the admin's authorization."""
    states = set(query.get("state", [])) | set(query.get(STATE_IN_REDIRECT, []))
    if not states:
        raise FlowRefused(400, "This authorization answer is not valid", "It carries no state. Start again.")
    if len(states) > 1:
        raise _invalid("Its state values do not match.")
    state = states.pop()
    if not credentials.is_well_formed(state):
        raise _invalid("Its state is malformed.")
    values: dict[str, str | None] = {}
    for name in _ANSWER_FIELDS:
        given = query.get(name) or []
        if len(given) > 1:
            raise _invalid(f"It repeats {name}.")
        values[name] = given[0] if given else None
    answer = _Answer(state=state, **values)
    if answer.error is None:
        for name, value in (("auth_id", answer.auth_id), ("code", answer.code)):
            if not value:
                raise FlowRefused(400, "The store's answer is incomplete", f"It had no {name}. Start again.")
            if len(value) > MAX_CALLBACK_VALUE or any(_is_control(char) for char in value):
                raise _invalid(f"Its {name} is malformed.")
    return answer


def _spend_state(state: str, cookies: dict[str, str]) -> State:
    """The checks that read the state; it is spent only if they all pass."""
    attempt_cookie = cookie_name(state)
    recorded = authorization_repository.read_state(state)
    if recorded is None:
        raise FlowRefused(
            400,
            "This authorization was already completed",
            "Or it never started here.",
            ended_cookie=attempt_cookie,
        )
    if recorded.expires_at < _now():
        authorization_repository.consume_state(state)
        raise FlowRefused(
            410,
            "This authorization has expired",
            "Ask for a new authorization link.",
            ended_cookie=attempt_cookie,
        )
    cookie = cookies.get(attempt_cookie)
    if cookie is None or not credentials.same(cookie, credentials.binding(recorded.binding_key, state)):
        raise FlowRefused(
            400,
            "This authorization was started in another browser",
            "Open the authorization link in this browser and approve again.",
        )
    spent = authorization_repository.consume_state(state)
    if spent is None:
        raise FlowRefused(
            400,
            "This authorization was already completed",
            "Its answer can be used once.",
            ended_cookie=attempt_cookie,
        )
    return spent


def complete(query: dict[str, list[str]], cookies: dict[str, str]) -> Authorized:
    answer = _answer(query)
    state = _spend_state(answer.state, cookies)
    attempt_cookie = cookie_name(answer.state)
    try:
        return Authorized(_exchange(answer, state), ended_cookie=attempt_cookie)
    except FlowRefused as refused:
        raise refused.ending(attempt_cookie) from None


def _exchange(answer: _Answer, state: State) -> Connection:
    """The state is spent: record the store's refusal, or exchange its code and store the tokens."""
    connection = connection_repository.get(state.tenant, state.connection_id)
    if connection is None:
        raise FlowRefused(410, "This connection no longer exists", "It was deleted during the authorization.")
    if connection.auth_generation != state.auth_generation:
        raise FlowRefused(
            409, "This connection changed", "Its store, app, scopes or callback changed. Ask for a new link."
        )

    if answer.error is not None:
        reason = _clean(answer.error_description) or _clean(answer.error_reason)
        message = f"The store answered {_clean(answer.error, 64)}" + (f": {reason}" if reason else "")
        _fail(connection, state, "authorization_denied", message)
        raise FlowRefused(400, "The store did not authorize the connection", message)
    auth_id, code = answer.auth_id, answer.code
    assert auth_id is not None and code is not None  # _answer refused a success without them

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
            redirect_uri=redirect_uri_for(state.callback_url, answer.state),
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
    return stored


def _fail(connection: Connection, state: State, code: str, message: str) -> None:
    connection_repository.record_error(
        connection, auth_generation=state.auth_generation, code=code, message=message, now=to_iso(utc_now())
    )
    events.publish(
        "connection.authorization_failed", tenant=connection.tenant, connection_id=connection.id, code=code
    )
    logger.warning("authorization failed", extra={"connection_id": connection.id, "code": code})
