"""A connection to one store: where it is, which app it uses, and where its authorization stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Changing any of these invalidates an authorization: the grant was for that store, app and scope.
AUTHORIZATION_FIELDS = ("subdomain", "iclient_id", "scopes", "callback_url")


class ConnectionStatus(StrEnum):
    PENDING_AUTHORIZATION = "pending_authorization"
    ACTIVE = "active"
    NEEDS_REAUTHORIZATION = "needs_reauthorization"


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LastTest:
    """The outcome of the last "test connection" (a call to the store's API with the access token)."""

    online: bool
    checked_at: datetime
    http_status: int | None
    detail: str
    store_name: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    tenant: str
    id: str
    name: str
    subdomain: str
    iclient_id: str
    callback_url: str
    scopes: tuple[str, ...]
    status: ConnectionStatus
    created_at: datetime
    updated_at: datetime
    last_error: LastError | None = None
    token_version: int = 0
    expires_at: datetime | None = None
    refresh_due_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    consecutive_failures: int = 0
    # When the current run of failed refreshes began (None while refreshes succeed).
    failing_since: datetime | None = None
    last_test: LastTest | None = None
    # The refresh lease (docs/lifecycle.md): who is refreshing the tokens now, until when (epoch ms).
    lease_owner: str | None = None
    lease_expires_at: int | None = None
    # Bumped by every management write; PATCH and DELETE are conditioned on it.
    revision: int = 0
    # Bumped when the authorization is voided (new store, app, scope or callback): a callback
    # started before then must not activate the connection.
    auth_generation: int = 0
    # Bumped by every new authorize link: only the newest link's ticket opens.
    link_generation: int = 0
    # Bumped by every link a 409 answer mints: only the newest of those opens, beside the admin's
    # link of the current link generation (decision 0006).
    api_link_generation: int = 0
