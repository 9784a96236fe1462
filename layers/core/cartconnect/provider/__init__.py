"""The AmeriCommerce provider adapter: signatures, expiry parsing, the HTTP client and its errors."""

from __future__ import annotations

from cartconnect.provider.americommerce import (
    DEFAULT_TIMEOUT,
    AmeriCommerceClient,
    CallLimit,
    StoreInfo,
    TokenSet,
    build_authorize_url,
    parse_call_limit,
    parse_retry_after,
    shared_http_client,
)
from cartconnect.provider.errors import (
    AccessTokenRejected,
    GrantRefused,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from cartconnect.provider.expiry import parse_expires
from cartconnect.provider.signing import exchange_signature, refresh_signature, sha256_hex

__all__ = [
    "DEFAULT_TIMEOUT",
    "AccessTokenRejected",
    "AmeriCommerceClient",
    "CallLimit",
    "GrantRefused",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailable",
    "RateLimited",
    "RequestRejected",
    "StoreInfo",
    "TokenSet",
    "build_authorize_url",
    "exchange_signature",
    "parse_call_limit",
    "parse_expires",
    "parse_retry_after",
    "refresh_signature",
    "sha256_hex",
    "shared_http_client",
]
