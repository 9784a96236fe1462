"""An authorization attempt's two one-time credentials, as recorded: the link's ticket and the
OAuth state. Each is stored under its hash (adapters/authorization_repository), never itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ticket:
    tenant: str
    connection_id: str
    link_generation: int
    expires_at: int  # epoch seconds
    # Set on links minted by a 409 answer: the connection's api_link_generation it was minted for.
    api_link_generation: int | None = None


@dataclass(frozen=True, slots=True)
class State:
    tenant: str
    connection_id: str
    subdomain: str
    client_id: str
    iclient_id: str
    scope: str  # the exact scope string sent
    # The redirect URI sent is this URL plus the state: kept without the state, so nothing in the
    # item can reproduce the state (the callback rebuilds the URI from the state it is given).
    callback_url: str
    auth_generation: int
    binding_key: str  # hex key of the browser-binding cookie's HMAC
    expires_at: int

    def __repr__(self) -> str:
        return f"State(connection_id={self.connection_id!r}, <redacted>)"
