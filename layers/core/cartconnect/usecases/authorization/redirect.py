"""The authorize function's steps of the authorization flow. Opening a link (`preview`) only
reads: chat apps and mail scanners open links before the admin does, so a GET must leave the
ticket as it was. The admin's POST (`start`) spends the ticket, records an OAuth state and sends
the browser to the store's consent page. Apart from the callback, so the authorize Lambda imports
neither the HTTP client nor the token vault.

The state is bound to everything that will be signed (store host, client id, exact scope string,
exact redirect URI) and to the browser, by a cookie holding a keyed hash of the state.
"""

from __future__ import annotations

import secrets as random_secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cartconnect import credentials, hosts
from cartconnect.adapters import authorization_repository, connection_repository, iclient_repository
from cartconnect.clock import epoch_seconds
from cartconnect.domain.authorization import State, Ticket
from cartconnect.domain.connection import Connection
from cartconnect.domain.iclient import IClient
from cartconnect.observability import logger
from cartconnect.provider.urls import build_authorize_url
from cartconnect.scopes import scope_string
from cartconnect.settings import get_settings
from cartconnect.usecases.authorization.flow import (
    STATE_LIFETIME_SECONDS,
    FlowRefused,
    Refusal,
    attempt_cookie,
    cookie_name,
    redirect_uri_for,
)


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


def _check(ticket: Ticket | None) -> tuple[Connection, IClient, str]:
    """The refusals shared by the page and the POST: the same link answers the same way on both."""
    if ticket is None:
        raise FlowRefused(Refusal.LINK_USED)
    if ticket.expires_at < epoch_seconds():
        raise FlowRefused(Refusal.LINK_EXPIRED)
    connection = connection_repository.get(ticket.tenant, ticket.connection_id)
    if connection is None:
        raise FlowRefused(Refusal.LINK_CONNECTION_GONE)
    if connection.link_generation != ticket.link_generation or (
        ticket.api_link_generation is not None
        and ticket.api_link_generation != connection.api_link_generation
    ):
        raise FlowRefused(Refusal.LINK_REPLACED)
    iclient = iclient_repository.get(connection.tenant, connection.iclient_id)
    if iclient is None:
        raise FlowRefused(Refusal.LINK_NO_ICLIENT)
    try:
        base_url = hosts.browser_store_base_url(connection.subdomain, get_settings())
    except hosts.UnsafeStoreHost:
        raise FlowRefused(Refusal.STORE_HOST_NOT_ALLOWED) from None
    return connection, iclient, base_url


def _well_formed(ticket: str) -> str:
    if not credentials.is_well_formed(ticket):
        raise FlowRefused(Refusal.LINK_MALFORMED)
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
            expires_at=epoch_seconds() + STATE_LIFETIME_SECONDS,
        ),
    )
    location = build_authorize_url(base_url, iclient.client_id, scope, redirect_uri)
    location += "&" + urlencode({"state": state}, quote_via=quote)
    cookie = attempt_cookie(
        cookie_name(state), credentials.binding(binding_key, state), STATE_LIFETIME_SECONDS
    )
    logger.info("authorization started", extra={"connection_id": connection.id})
    return Redirect(location=location, cookie=cookie)
