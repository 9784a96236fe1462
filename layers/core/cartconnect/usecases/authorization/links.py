"""Authorize links (the management function): one-time tickets on /connect/{ticket}. Apart from
the other steps, so the management function mints links without importing the provider client."""

from __future__ import annotations

from cartconnect import credentials
from cartconnect.adapters import authorization_repository, connection_repository
from cartconnect.clock import epoch_seconds
from cartconnect.domain.authorization import Ticket
from cartconnect.domain.connection import Connection
from cartconnect.usecases.authorization.flow import LINK_LIFETIME_SECONDS

CONNECT_PATH = "/connect/"


def authorize_url(origin: str, ticket: str) -> str:
    return f"{origin.rstrip('/')}{CONNECT_PATH}{ticket}"


def mint_ticket(connection: Connection, *, api_link_generation: int | None = None) -> str:
    """A ticket for the connection's current link generation, valid for 10 minutes."""
    ticket = credentials.new_credential()
    authorization_repository.put_ticket(
        ticket,
        Ticket(
            connection.tenant,
            connection.id,
            connection.link_generation,
            epoch_seconds() + LINK_LIFETIME_SECONDS,
            api_link_generation,
        ),
    )
    return ticket


def answer_link(connection: Connection, *, origin: str) -> str:
    """The link a 409 answer carries. It replaces the previous one of those, so a platform polling
    a pending connection holds one live ticket, not one per call; the admin's link from create or
    authorize-link stays valid (it is not an answer's to void)."""
    current = connection_repository.next_api_link_generation(connection.tenant, connection.id)
    return authorize_url(origin, mint_ticket(current, api_link_generation=current.api_link_generation))


def issue_link(tenant: str, connection_id: str, *, origin: str) -> str:
    """A fresh authorize link; the links issued before it stop working."""
    connection = connection_repository.next_link_generation(tenant, connection_id)
    return authorize_url(origin, mint_ticket(connection))
