"""The first step of the authorization flow. Opening a link (`preview`) only reads: chat apps and
mail scanners open links before the admin does, so a GET must leave the ticket as it was. The
admin's POST (`start`) spends the ticket, records an OAuth state and sends the browser to the
store's consent page. Kept apart from the callback so the authorize Lambda imports neither the
HTTP client nor the token vault.

The state is bound to everything that will be signed (store host, client id, exact scope string,
exact redirect URI) and to the browser, by a cookie holding a keyed hash of the state.
"""

from __future__ import annotations

import secrets as random_secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cartconnect import credentials, hosts
from cartconnect.adapters import authorization_repository, connection_repository, iclient_repository
from cartconnect.adapters.authorization_repository import State, Ticket
from cartconnect.domain.connection import Connection
from cartconnect.domain.iclient import IClient
from cartconnect.observability import logger
from cartconnect.provider.signing import canonical_redirect_uri
from cartconnect.provider.urls import build_authorize_url
from cartconnect.scopes import scope_string
from cartconnect.settings import get_settings
from cartconnect.usecases.authorize_links import now_epoch as _now

STATE_LIFETIME_SECONDS = 600
# The state rides inside the redirect URI (as the provider's own examples carry their data) and
# as `state`: stores that drop unknown parameters still return the redirect URI intact.
STATE_IN_REDIRECT = "cc_state"
COOKIE_PREFIX = "__Host-cc_auth_"


class FlowRefused(Exception):
    """A step of the flow refused the request; `message` is safe to show on the result page.

    `ended_cookie` names the attempt's browser-binding cookie when the refusal ended the attempt
    (its state is spent or gone), so the page can clear it; None while the state is still live.
    """

    def __init__(self, status: int, title: str, message: str, *, ended_cookie: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.ended_cookie = ended_cookie

    def ending(self, cookie: str) -> FlowRefused:
        return FlowRefused(self.status, self.title, self.message, ended_cookie=cookie)


@dataclass(frozen=True)
class Grant:
    """What the link's page shows before anything is spent (every field is shown, escaped)."""

    store_host: str
    store_origin: str  # where the POST's redirect goes: the page's form-action must allow it
    client_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Redirect:
    location: str
    cookie: str


def cookie_name(state: str) -> str:
    # One cookie per attempt, so two tabs authorizing two connections do not overwrite each other.
    return f"{COOKIE_PREFIX}{credentials.digest(state)[:16]}"


def _cookie(name: str, value: str, max_age: int) -> str:
    # __Host-: Secure, Path=/ and no Domain, or the browser drops it.
    return f"{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax"


def expired_cookie(name: str) -> str:
    """The Set-Cookie value that removes an attempt's cookie once the attempt is over."""
    return _cookie(name, "", 0)


def redirect_uri_for(callback_url: str, state: str) -> str:
    """The exact redirect URI sent for an attempt, rebuilt from what the STATE item keeps (the
    callback URL, never the state) and the state the callback presents. Canonical form (every query
    value percent-encoded, nothing safe): what the store signs."""
    return canonical_redirect_uri(callback_url, [(STATE_IN_REDIRECT, state)])


def _check(ticket: Ticket | None) -> tuple[Connection, IClient, str]:
    """The refusals shared by the page and the POST: the same link answers the same way on both."""
    if ticket is None:
        raise FlowRefused(410, "This link was already used", "Ask for a new authorization link.")
    if ticket.expires_at < _now():
        raise FlowRefused(410, "This link has expired", "Links are valid for 10 minutes. Ask for a new one.")
    connection = connection_repository.get(ticket.tenant, ticket.connection_id)
    if connection is None:
        raise FlowRefused(410, "This connection no longer exists", "It was deleted after the link was made.")
    if connection.link_generation != ticket.link_generation or (
        ticket.api_link_generation is not None
        and ticket.api_link_generation != connection.api_link_generation
    ):
        raise FlowRefused(410, "This link was replaced", "A newer link was issued for this connection.")
    iclient = iclient_repository.get(connection.tenant, connection.iclient_id)
    if iclient is None:
        raise FlowRefused(
            410, "This connection has no OAuth client", "Set its iClient, then ask for a new link."
        )
    try:
        base_url = hosts.browser_store_base_url(connection.subdomain, get_settings())
    except hosts.UnsafeStoreHost:
        raise FlowRefused(
            409,
            "This store host is not allowed here",
            "This deployment no longer accepts the connection's store host. Change it, then ask for a new link.",
        ) from None
    return connection, iclient, base_url


def _well_formed(ticket: str) -> str:
    if not credentials.is_well_formed(ticket):
        raise FlowRefused(400, "This link is not valid", "Check that the whole link was copied.")
    return ticket


def preview(ticket: str) -> Grant:
    """What opening the link grants, read without writing anything: the ticket stays unspent."""
    connection, iclient, base_url = _check(authorization_repository.read_ticket(_well_formed(ticket)))
    return Grant(
        store_host=connection.subdomain,
        store_origin=base_url.rstrip("/"),
        client_id=iclient.client_id,
        scopes=connection.scopes,
    )


def start(ticket: str) -> Redirect:
    """Spend the ticket (one POST wins however many race), record the state, point at the store."""
    connection, iclient, base_url = _check(authorization_repository.consume_ticket(_well_formed(ticket)))

    state = credentials.new_credential()
    binding_key = random_secrets.token_hex(32)
    redirect_uri = redirect_uri_for(connection.callback_url, state)
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
            callback_url=connection.callback_url,
            auth_generation=connection.auth_generation,
            binding_key=binding_key,
            expires_at=_now() + STATE_LIFETIME_SECONDS,
        ),
    )
    location = build_authorize_url(base_url, iclient.client_id, scope, redirect_uri)
    location += "&" + urlencode({"state": state}, quote_via=quote)
    cookie = _cookie(cookie_name(state), credentials.binding(binding_key, state), STATE_LIFETIME_SECONDS)
    logger.info("authorization started", extra={"connection_id": connection.id})
    return Redirect(location=location, cookie=cookie)
