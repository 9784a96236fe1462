"""The AmeriCommerce provider adapter: signatures, expiry parsing, URLs, the HTTP client and its errors.

Names are loaded on first use (PEP 562): importing `cartconnect.provider.urls` for the authorize
redirect must not import the HTTP client (httpx2) on that Lambda's cold path.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "DEFAULT_TIMEOUT": "americommerce",
    "AmeriCommerceClient": "americommerce",
    "CallLimit": "americommerce",
    "ProbeResult": "americommerce",
    "StoreAnswer": "americommerce",
    "parse_call_limit": "americommerce",
    "parse_retry_after": "americommerce",
    "shared_http_client": "americommerce",
    "build_authorize_url": "urls",
    "AccessTokenRejected": "errors",
    "GrantRefused": "errors",
    "ProviderError": "errors",
    "ProviderResponseError": "errors",
    "ProviderUnavailable": "errors",
    "RateLimited": "errors",
    "RequestRejected": "errors",
    "parse_expires": "expiry",
    "canonical_redirect_uri": "signing",
    "exchange_signature": "signing",
    "refresh_signature": "signing",
    "sha256_hex": "signing",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
