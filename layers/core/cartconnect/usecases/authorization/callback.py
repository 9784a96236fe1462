"""The callback function's step of the authorization flow: the store's answer (see `redirect`
for the steps before it).

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
from cartconnect.clock import epoch_seconds, to_iso, utc_now
from cartconnect.domain.authorization import State
from cartconnect.domain.connection import Connection
from cartconnect.observability import logger
from cartconnect.provider.errors import GrantRefused, ProviderError
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_pair
from cartconnect.usecases.authorization.flow import (
    STATE_IN_REDIRECT,
    FlowRefused,
    Refusal,
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

    state: str = field(repr=False)
    auth_id: str | None = field(default=None, repr=False)
    code: str | None = field(default=None, repr=False)
    error: str | None = None
    error_description: str | None = None
    error_reason: str | None = None


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
        raise FlowRefused(Refusal.ANSWER_WITHOUT_STATE)
    if len(states) > 1:
        raise FlowRefused(Refusal.ANSWER_STATES_DIFFER)
    state = states.pop()
    if not credentials.is_well_formed(state):
        raise FlowRefused(Refusal.ANSWER_STATE_MALFORMED)
    values: dict[str, str | None] = {}
    for name in _ANSWER_FIELDS:
        given = query.get(name) or []
        if len(given) > 1:
            raise FlowRefused(Refusal.ANSWER_REPEATS, name)
        values[name] = given[0] if given else None
    answer = _Answer(state=state, **values)
    if answer.error is None:
        for name, value in (("auth_id", answer.auth_id), ("code", answer.code)):
            if not value:
                raise FlowRefused(Refusal.ANSWER_INCOMPLETE, name)
            if len(value) > MAX_CALLBACK_VALUE or any(_is_control(char) for char in value):
                raise FlowRefused(Refusal.ANSWER_VALUE_MALFORMED, name)
    return answer


def _spend_state(state: str, cookies: dict[str, str]) -> State:
    """The checks that read the state; it is spent only if they all pass."""
    attempt_cookie = cookie_name(state)
    recorded = authorization_repository.read_state(state)
    if recorded is None:
        raise FlowRefused(Refusal.STATE_UNKNOWN, ended_cookie=attempt_cookie)
    if recorded.expires_at < epoch_seconds():
        authorization_repository.consume_state(state)
        raise FlowRefused(Refusal.STATE_EXPIRED, ended_cookie=attempt_cookie)
    cookie = cookies.get(attempt_cookie)
    if cookie is None or not credentials.same(cookie, credentials.binding(recorded.binding_key, state)):
        raise FlowRefused(Refusal.OTHER_BROWSER)
    spent = authorization_repository.consume_state(state)
    if spent is None:
        raise FlowRefused(Refusal.STATE_SPENT, ended_cookie=attempt_cookie)
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
        raise FlowRefused(Refusal.CONNECTION_GONE)
    if connection.auth_generation != state.auth_generation:
        raise FlowRefused(Refusal.CONNECTION_CHANGED)

    if answer.error is not None:
        reason = _clean(answer.error_description) or _clean(answer.error_reason)
        message = f"The store answered {_clean(answer.error, 64)}" + (f": {reason}" if reason else "")
        _fail(connection, state, "authorization_denied", message)
        raise FlowRefused(Refusal.STORE_DENIED, message)
    auth_id, code = answer.auth_id, answer.code
    assert auth_id is not None and code is not None  # _answer refused a success without them

    settings = get_settings()
    try:
        iclient = iclient_repository.get(state.tenant, state.iclient_id)
        if iclient is None:
            raise FlowRefused(Refusal.ICLIENT_GONE)
        base_url = hosts.safe_store_base_url(state.subdomain, settings)
        client_secret = iclient_secret.read(iclient.secret)
        issued_at = utc_now()
        tokens = store_budget.client(state.subdomain).exchange_code(
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
        raise FlowRefused(Refusal.ICLIENT_SECRET_GONE) from None
    except iclient_secret.SecretStoreUnavailable:
        _fail(connection, state, "secret_store_unavailable", "The secret store did not answer.")
        raise FlowRefused(Refusal.SECRET_STORE_UNAVAILABLE) from None
    except ProviderError as failure:
        refused = isinstance(failure, GrantRefused)
        _fail(connection, state, "grant_refused" if refused else "token_exchange_failed", failure.detail)
        reason = Refusal.GRANT_REFUSED if refused else Refusal.EXCHANGE_FAILED
        raise FlowRefused(reason, failure.detail) from None

    stored = connection_repository.store_authorization(
        connection,
        auth_generation=state.auth_generation,
        pair=token_pair.to_store(connection, tokens, issued_at),
        now=issued_at,
    )
    if stored is None:
        raise FlowRefused(Refusal.CHANGED_DURING_EXCHANGE)
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
        connection,
        auth_generation=state.auth_generation,
        code=code,
        message=message,
        now=to_iso(utc_now()),
    )
    events.publish(
        "connection.authorization_failed", tenant=connection.tenant, connection_id=connection.id, code=code
    )
    logger.warning("authorization failed", extra={"connection_id": connection.id, "code": code})
