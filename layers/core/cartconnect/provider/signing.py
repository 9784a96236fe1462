"""AmeriCommerce's request-signature recipes, kept in this one place so they can change.

An older revision of the provider's docs signed `secret + access_token + refresh_token + app_id`;
the current docs sign the recipes below (docs/provider.md, "Token exchange" and "Refresh").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def exchange_signature(secret: str, code: str, client_id: str, scope: str, redirect_uri: str) -> str:
    """Signature of the token exchange: sha256_hex(secret + code + client_id + scope + lower(redirect_uri)).

    `scope` and `redirect_uri` must be exactly what was sent on the authorize URL (the store keeps
    them); only the redirect URI is lower-cased, and only inside the signature.
    """
    return sha256_hex(secret + code + client_id + scope + redirect_uri.lower())


def canonical_redirect_uri(url: str, extra: Iterable[tuple[str, str]] = ()) -> str:
    """`url` with `extra` appended to its query, every query name and value percent-encoded with
    nothing left safe (`quote(v, safe="")`, space as %20).

    Every official example signs its redirect URI in this form, and the evidence (docs/provider.md,
    "The redirect URI's canonical form") fits only a store that decodes the redirect URI it received, re-encodes its query
    values this way and lower-cases the result before checking the signature. A URI already in this
    form comes out of that unchanged, so signing it (lower-cased) matches; one with a raw `/`, `:`
    or space in its query would not (403). The query is decoded as a form (`+` is a space).
    """
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *extra]
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
    return urlunsplit(parts._replace(query=query))


def refresh_signature(secret: str, refresh_token: str, client_id: str) -> str:
    """Signature of a refresh: sha256_hex(secret + refresh_token + client_id)."""
    return sha256_hex(secret + refresh_token + client_id)
