"""The authorization flow: an authorize link, the redirect to the store, and the callback.

1. `issue_link`: a one-time ticket (10 minutes) on /connect/{ticket}; a newer link voids older ones.
2. `start`: spend the ticket, record an OAuth state bound to everything that will be signed and to
   the browser (a cookie holding a keyed hash of the state), and redirect to the store.
3. `complete`: refuse anything off before calling the store, spend the state, exchange the code
   (signed, against the host recorded with the state), seal and store the tokens, activate.
"""

from __future__ import annotations

import secrets as random_secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cartconnect import credentials, hosts
from cartconnect.adapters import (
    authorization_repository,
    connection_repository,
    events,
    iclient_repository,
    secrets,
    token_vault,
)
from cartconnect.adapters.authorization_repository import State
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.connection import Connection
from cartconnect.observability import logger
from cartconnect.provider.americommerce import AmeriCommerceClient, build_authorize_url
from cartconnect.provider.errors import GrantRefused, ProviderError
from cartconnect.refresh_schedule import due_keys, refresh_due_at
from cartconnect.scopes import scope_string
from cartconnect.settings import get_settings
from cartconnect.usecases.authorize_links import now_epoch as _now

STATE_LIFETIME_SECONDS = 600
# The state rides inside the redirect URI (as the provider's own examples carry their data) and
# as `state`: stores that drop unknown parameters still return the redirect URI intact.
STATE_IN_REDIRECT = "cc_state"
COOKIE_PREFIX = "__Host-cc_auth_"
MAX_CALLBACK_VALUE = 1024


class FlowRefused(Exception):
    """A step of the flow refused the request; `message` is safe to show on the result page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Redirect:
    location: str
    cookie: str


@dataclass(frozen=True)
class Authorized:
    connection: Connection


def cookie_name(state: str) -> str:
    # One cookie per attempt, so two tabs authorizing two connections do not overwrite each other.
    return f"{COOKIE_PREFIX}{credentials.digest(state)[:16]}"


def _with_query(url: str, name: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode({name: value})}"


def start(ticket: str) -> Redirect:
    if not credentials.is_well_formed(ticket):
        raise FlowRefused(400, "This link is not valid", "Check that the whole link was copied.")
    spent = authorization_repository.consume_ticket(ticket)
    if spent is None:
        raise FlowRefused(410, "This link was already used", "Ask for a new authorization link.")
    if spent.expires_at < _now():
        raise FlowRefused(410, "This link has expired", "Links are valid for 10 minutes. Ask for a new one.")
    connection = connection_repository.get(spent.tenant, spent.connection_id)
    if connection is None:
        raise FlowRefused(410, "This connection no longer exists", "It was deleted after the link was made.")
    if connection.link_generation != spent.link_generation:
        raise FlowRefused(410, "This link was replaced", "A newer link was issued for this connection.")
    iclient = iclient_repository.get(connection.tenant, connection.iclient_id)
    if iclient is None:
        raise FlowRefused(
            410, "This connection has no OAuth client", "Set its iClient, then ask for a new link."
        )
    settings = get_settings()
    hosts.ensure_safe_to_connect(
        connection.subdomain,
        allowed_suffixes=settings.allowed_store_suffixes,
        allow_custom_domains=settings.allow_custom_store_domains,
        insecure_hosts=settings.insecure_store_hosts,
    )

    state = credentials.new_credential()
    binding_key = random_secrets.token_hex(32)
    redirect_uri = _with_query(connection.callback_url, STATE_IN_REDIRECT, state)
    scope = scope_string(connection.scopes)
    authorization_repository.put_state(
        state,
        State(
            tenant=connection.tenant,
            connection_id=connection.id,
            subdomain=connection.subdomain,
            client_id=iclient.client_id,
            iclient_id=iclient.id,
            scope=scope,
            redirect_uri=redirect_uri,
            auth_generation=connection.auth_generation,
            binding_key=binding_key,
            expires_at=_now() + STATE_LIFETIME_SECONDS,
        ),
    )
    base_url = hosts.store_base_url(connection.subdomain, settings.insecure_store_hosts)
    location = build_authorize_url(base_url, iclient.client_id, scope, redirect_uri)
    location += "&" + urlencode({"state": state}, quote_via=quote)
    cookie = (
        f"{cookie_name(state)}={credentials.binding(binding_key, state)}; "
        f"Max-Age={STATE_LIFETIME_SECONDS}; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    logger.info("authorization started", extra={"connection_id": connection.id})
    return Redirect(location=location, cookie=cookie)


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
        hosts.ensure_safe_to_connect(
            state.subdomain,
            allowed_suffixes=settings.allowed_store_suffixes,
            allow_custom_domains=settings.allow_custom_store_domains,
            insecure_hosts=settings.insecure_store_hosts,
        )
        issued_at = utc_now()
        tokens = AmeriCommerceClient().exchange_code(
            hosts.store_base_url(state.subdomain, settings.insecure_store_hosts),
            client_id=state.client_id,
            client_secret=secrets.read(iclient.secret_ref),
            auth_id=auth_id,
            code=code,
            scope=state.scope,
            redirect_uri=state.redirect_uri,
        )
    except ProviderError as failure:
        code_name = "grant_refused" if isinstance(failure, GrantRefused) else "token_exchange_failed"
        _fail(connection, state, code_name, failure.detail)
        status = 400 if isinstance(failure, GrantRefused) else 502
        raise FlowRefused(status, "The store did not complete the authorization", failure.detail) from None

    sealed = token_vault.seal(
        state.tenant, connection.id, token_vault.Tokens(tokens.access_token, tokens.refresh_token)
    )
    due = refresh_due_at(issued_at=issued_at, expires_at=tokens.expires_at, lead=settings.refresh_lead)
    stored = connection_repository.store_authorization(
        connection,
        auth_generation=state.auth_generation,
        sealed_tokens=sealed,
        expires_at=tokens.expires_at,
        refresh_due_at=due,
        due_keys=due_keys(connection.id, due) if due else None,
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
