"""Authorize links: one-time tickets on /connect/{ticket}. Kept apart from the flow itself so the
management function can mint links without importing the provider client."""

from __future__ import annotations

import time

from cartconnect import credentials
from cartconnect.adapters import authorization_repository, connection_repository
from cartconnect.adapters.authorization_repository import Ticket
from cartconnect.domain.connection import Connection

LINK_LIFETIME_SECONDS = 600
CONNECT_PATH = "/connect/"


def now_epoch() -> int:
    return int(time.time())


def authorize_url(origin: str, ticket: str) -> str:
    return f"{origin.rstrip('/')}{CONNECT_PATH}{ticket}"


def mint_ticket(connection: Connection) -> str:
    """A ticket for the connection's current link generation, valid for 10 minutes."""
    ticket = credentials.new_credential()
    authorization_repository.put_ticket(
        ticket,
        Ticket(
            connection.tenant, connection.id, connection.link_generation, now_epoch() + LINK_LIFETIME_SECONDS
        ),
    )
    return ticket


def issue_link(tenant: str, connection_id: str, *, origin: str) -> str:
    """A fresh authorize link; the links issued before it stop working."""
    connection = connection_repository.next_link_generation(tenant, connection_id)
    return authorize_url(origin, mint_ticket(connection))
