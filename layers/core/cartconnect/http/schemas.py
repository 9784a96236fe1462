"""Request and response bodies of the management API; the OpenAPI description is generated from these."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import SkipJsonSchema

from cartconnect.domain.connection import Connection, ConnectionStatus, LastTest
from cartconnect.domain.iclient import IClient
from cartconnect.domain.store_limits import StoreLimits
from cartconnect.scopes import SCOPES, Scope

SECRET_MASK = "********"


# Refused in names and secrets: control characters (C0, DEL, C1), the invisible format characters of the
# Basic Multilingual Plane (Unicode category Cf: soft hyphen, zero-width and bidirectional controls, word
# joiners, BOM, ...) and every separator but the plain space (line and paragraph separators U+2028/9,
# no-break and other-width spaces). One class, used both to validate and as the documented `pattern`, so the OpenAPI
# description says exactly what is refused (and it does not change with the runtime's Unicode version).
_NOT_PRINTABLE = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    r"\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
PRINTABLE_PATTERN = rf"^[^{_NOT_PRINTABLE}]*$"
# A name: printable, and not only white space (names are trimmed, then must not be empty).
NAME_PATTERN = rf"^[^{_NOT_PRINTABLE}]*[^\s{_NOT_PRINTABLE}][^{_NOT_PRINTABLE}]*$"
_PRINTABLE = re.compile(PRINTABLE_PATTERN)


def _printable(value: str) -> str:
    if not _PRINTABLE.fullmatch(value):
        raise ValueError("must not contain control, invisible or separator characters other than a space")
    return value


def _name(value: str) -> str:
    # NFC: `é` and `e` + U+0301 are one name, for the uniqueness check as for display.
    return unicodedata.normalize("NFC", _printable(value))


def _printable_secret(value: SecretStr) -> SecretStr:
    secret = value.get_secret_value()
    _printable(secret)
    if not secret.strip():
        raise ValueError("must not be only white space")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN}),
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
    WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "minLength": 1,
            "maxLength": 1024,
            "pattern": NAME_PATTERN,
            "description": "The store app's App secret; write-only",
        }
    ),
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
# Validated by the domain (its message names the unknown scopes); the description lists the catalog.
ScopeName = Annotated[
    str,
    StringConstraints(max_length=64),
    WithJsonSchema({"type": "string", "enum": [scope.name for scope in SCOPES]}),
]
ScopeList = Annotated[
    list[ScopeName],
    Field(min_length=1, max_length=50, examples=[["read_orders", "catalog"]]),
]
CallbackUrl = Annotated[str, Field(min_length=1, max_length=2048)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IClientCreate(_Input):
    name: Name
    client_id: ClientId
    client_secret: ClientSecret


# PATCH: a field left out keeps its value. null is refused (422) except where it means "back to the
# default", so the description does not offer null (SkipJsonSchema) where the code refuses it.
class IClientPatch(_Input):
    name: Name | SkipJsonSchema[None] = None
    client_id: ClientId | SkipJsonSchema[None] = None
    client_secret: ClientSecret | SkipJsonSchema[None] = None


class ConnectionCreate(_Input):
    name: Name
    subdomain: Subdomain
    iclient_id: IClientId
    scopes: ScopeList
    callback_url: CallbackUrl | None = Field(
        default=None, description="Defaults to this deployment's /oauth2/callback URL"
    )


class ConnectionPatch(_Input):
    name: Name | SkipJsonSchema[None] = None
    subdomain: Subdomain | SkipJsonSchema[None] = None
    iclient_id: IClientId | SkipJsonSchema[None] = None
    scopes: ScopeList | SkipJsonSchema[None] = None
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


class LastTestOut(BaseModel):
    online: bool = Field(description="The store answered GET /api/v1/stores with the access token")
    checked_at: datetime
    http_status: int | None = Field(description="The store's HTTP status; null when it could not be reached")
    detail: str
    store_name: str | None = None

    @classmethod
    def of(cls, test: LastTest) -> LastTestOut:
        return cls(
            online=test.online,
            checked_at=test.checked_at,
            http_status=test.http_status,
            detail=test.detail,
            store_name=test.store_name,
        )


class ConnectionOut(BaseModel):
    id: str
    name: str
    subdomain: str
    iclient_id: str
    callback_url: str
    scopes: list[str]
    status: ConnectionStatus
    token_version: int
    expires_at: datetime | None = Field(
        description="When the access token expires; null if it never does, or if the store did not say"
        " (then next_refresh_at is set, from the assumed lifetime DefaultTokenLifetimeMinutes)"
    )
    next_refresh_at: datetime | None = Field(
        description="When the token is refreshed next (after failures: the next retry); null if never"
    )
    last_refreshed_at: datetime | None
    consecutive_failures: int = Field(description="Refreshes that failed in a row since the last success")
    failing_since: datetime | None = Field(description="When the current run of failed refreshes began")
    last_error: LastErrorOut | None
    last_test: LastTestOut | None = Field(description="The last POST /v1/connections/{id}/test")
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
            failing_since=connection.failing_since,
            last_error=LastErrorOut(code=error.code, message=error.message, at=error.at) if error else None,
            last_test=LastTestOut.of(connection.last_test) if connection.last_test else None,
            created_at=connection.created_at,
            updated_at=connection.updated_at,
        )


class StoreRateLimitOut(BaseModel):
    calls_per_10_seconds: int | None = Field(
        description=(
            "The store's call limit for this app, learned from X-AC-Call-Limit on its answers and shared by "
            "every connection to the store; null until an answer said it (5, the smallest plan's, is assumed)"
        )
    )
    learned_at: datetime | None = Field(description="When the store's limit was last seen to change")
    last_rate_limited_at: datetime | None = Field(description="The store's last 429 answer to cartconnect")
    not_before: datetime | None = Field(
        description="Nobody calls the store before this (its last Retry-After plus a margin); null if nothing waits"
    )

    @classmethod
    def of(cls, limits: StoreLimits, now: datetime) -> StoreRateLimitOut:
        blocked = _from_ms(limits.blocked_until_ms)
        return cls(
            calls_per_10_seconds=limits.calls_per_10_seconds,
            learned_at=_from_ms(limits.learned_at_ms),
            last_rate_limited_at=_from_ms(limits.last_rate_limited_at_ms),
            not_before=blocked if blocked is not None and blocked > now else None,
        )


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value is not None else None


class ConnectionDetailOut(ConnectionOut):
    store_rate_limit: StoreRateLimitOut = Field(
        description="What cartconnect knows of the store's rate limit"
    )

    @classmethod
    def of_detail(cls, connection: Connection, limits: StoreLimits, now: datetime) -> ConnectionDetailOut:
        return cls(**dict(ConnectionOut.of(connection)), store_rate_limit=StoreRateLimitOut.of(limits, now))


class CreatedConnectionOut(ConnectionOut):
    authorize_url: str = Field(
        description="One-time link (valid 10 minutes) for a store admin to authorize this connection"
    )


class AuthorizeLinkOut(BaseModel):
    authorize_url: str = Field(description="One-time link (valid 10 minutes); earlier links stop working")
    expires_in: int = Field(description="Seconds the link stays valid")


class TokenOut(BaseModel):
    """The only response that ever carries a token."""

    access_token: str = Field(description="Send it to the store as the X-AC-Auth-Token header")
    expires_at: datetime | None = Field(
        description="When it expires; null if it never does, or if the store did not say"
    )
    token_version: int = Field(description="Goes up by one with every new token")


class ConnectionTestOut(LastTestOut):
    pass


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


class GatewayMessage(BaseModel):
    """API Gateway's own error body (e.g. its JWT authorizer's 401)."""

    message: str = Field(examples=["Unauthorized"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class AuthorizationRequiredProblem(Problem):
    """409: the connection is pending authorization or needs re-authorization."""

    connection_status: ConnectionStatus
    authorize_url: str = Field(description="One-time link (valid 10 minutes) for a store admin to authorize")
    authorize_url_expires_in: int


class ServiceUnavailableProblem(Problem):
    """503: an AWS service the request needs (DynamoDB, KMS, Secrets Manager) was throttled or did not
    answer; retry after the Retry-After header's seconds."""

    request_id: str | None = Field(
        default=None, description="The request's id, to report if retrying does not help"
    )


class RefreshProblem(Problem):
    """502/503: no valid token now; retry after the Retry-After header's seconds."""

    code: str | None = Field(default=None, description="Why the refresh failed (e.g. store_unavailable)")


class StoreRouteUnavailableProblem(RootModel[RefreshProblem | ServiceUnavailableProblem]):
    """503 from a route that may call the store: busy (try-later, a RefreshProblem) or AWS
    (service-unavailable); retry after the Retry-After header's seconds."""
