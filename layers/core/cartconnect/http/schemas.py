"""Request and response bodies of the management API; the OpenAPI description is generated from these."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from cartconnect.domain.connection import Connection, ConnectionStatus
from cartconnect.domain.iclient import IClient
from cartconnect.scopes import Scope

SECRET_MASK = "********"


def _printable(value: str) -> str:
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in value):
        raise ValueError("must not contain control characters")
    return value


def _printable_secret(value: SecretStr) -> SecretStr:
    _printable(value.get_secret_value())
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_printable)
]
ClientId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$"),
    Field(description="The store app's App ID (numeric in the provider's examples)", examples=["12345"]),
]
ClientSecret = Annotated[
    SecretStr,
    Field(min_length=1, max_length=1024, description="The store app's App secret; write-only"),
    AfterValidator(_printable_secret),
]
IClientId = Annotated[str, StringConstraints(min_length=4, max_length=64, pattern=r"^icl_[0-9a-z]+$")]
Subdomain = Annotated[
    str,
    Field(
        min_length=1,
        max_length=300,
        description="The store host, or a pasted store URL such as https://mystore.cart.com/",
        examples=["mystore.cart.com"],
    ),
]
ScopeList = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]],
    Field(min_length=1, max_length=50, examples=[["read_orders", "catalog"]]),
]
CallbackUrl = Annotated[str, Field(min_length=1, max_length=2048)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IClientCreate(_Input):
    name: Name
    client_id: ClientId
    client_secret: ClientSecret


class IClientPatch(_Input):
    name: Name | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = None


class ConnectionCreate(_Input):
    name: Name
    subdomain: Subdomain
    iclient_id: IClientId
    scopes: ScopeList
    callback_url: CallbackUrl | None = Field(
        default=None, description="Defaults to this deployment's /oauth2/callback URL"
    )


class ConnectionPatch(_Input):
    name: Name | None = None
    subdomain: Subdomain | None = None
    iclient_id: IClientId | None = None
    scopes: ScopeList | None = None
    callback_url: CallbackUrl | None = Field(
        default=None, description="null resets it to this deployment's /oauth2/callback URL"
    )


class IClientOut(BaseModel):
    id: str
    name: str
    provider: str
    client_id: str
    client_secret: str = Field(description="Always masked", examples=[SECRET_MASK])
    connection_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, iclient: IClient) -> IClientOut:
        return cls(
            id=iclient.id,
            name=iclient.name,
            provider=iclient.provider,
            client_id=iclient.client_id,
            client_secret=SECRET_MASK,
            connection_count=iclient.connection_count,
            created_at=iclient.created_at,
            updated_at=iclient.updated_at,
        )


class IClientPage(BaseModel):
    items: list[IClientOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class LastErrorOut(BaseModel):
    code: str
    message: str
    at: datetime


class ConnectionOut(BaseModel):
    id: str
    name: str
    subdomain: str
    iclient_id: str
    callback_url: str
    scopes: list[str]
    status: ConnectionStatus
    token_version: int
    expires_at: datetime | None = Field(description="When the access token expires; null if it never does")
    next_refresh_at: datetime | None
    last_refreshed_at: datetime | None
    consecutive_failures: int
    last_error: LastErrorOut | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, connection: Connection) -> ConnectionOut:
        error = connection.last_error
        return cls(
            id=connection.id,
            name=connection.name,
            subdomain=connection.subdomain,
            iclient_id=connection.iclient_id,
            callback_url=connection.callback_url,
            scopes=list(connection.scopes),
            status=connection.status,
            token_version=connection.token_version,
            expires_at=connection.expires_at,
            next_refresh_at=connection.refresh_due_at,
            last_refreshed_at=connection.last_refreshed_at,
            consecutive_failures=connection.consecutive_failures,
            last_error=LastErrorOut(code=error.code, message=error.message, at=error.at) if error else None,
            created_at=connection.created_at,
            updated_at=connection.updated_at,
        )


class CreatedConnectionOut(ConnectionOut):
    authorize_url: str = Field(
        description="One-time link (valid 10 minutes) for a store admin to authorize this connection"
    )


class AuthorizeLinkOut(BaseModel):
    authorize_url: str = Field(description="One-time link (valid 10 minutes); earlier links stop working")
    expires_in: int = Field(description="Seconds the link stays valid")


class ConnectionPage(BaseModel):
    items: list[ConnectionOut]
    next_cursor: str | None


class ScopeOut(BaseModel):
    name: str
    grants: str
    read_only_twin: str | None = Field(description="The read-only scope this one supersedes, if any")

    @classmethod
    def of(cls, scope: Scope) -> ScopeOut:
        return cls(name=scope.name, grants=scope.grants, read_only_twin=scope.read_only_twin)


class ScopeCatalog(BaseModel):
    items: list[ScopeOut]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
