"""Store URLs. Apart from the HTTP client so the authorize redirect builds its URL without importing it."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlencode, urlsplit

AUTHORIZE_PATH: Final = "/api/oauth"


def origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("base_url must be an absolute http(s) URL, e.g. https://store.cart.com")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("base_url must be scheme and host only")
    return f"{parts.scheme}://{parts.netloc}"


def build_authorize_url(base_url: str, client_id: str, scope: str, redirect_uri: str) -> str:
    """`{base_url}/api/oauth?client_id=..&scope=..&redirect_uri=..` (each value percent-encoded).

    Sign later with exactly the `scope` and `redirect_uri` given here.
    """
    query = urlencode({"client_id": client_id, "scope": scope, "redirect_uri": redirect_uri}, quote_via=quote)
    return f"{origin(base_url)}{AUTHORIZE_PATH}?{query}"
