"""AmeriCommerce's request-signature recipes, kept in this one place so they can change.

An older revision of the provider's docs signed `secret + access_token + refresh_token + app_id`;
the current docs (AMERICOMMERCE.md sections 2 and 3) sign the recipes below.
"""

from __future__ import annotations

import hashlib


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def exchange_signature(secret: str, code: str, client_id: str, scope: str, redirect_uri: str) -> str:
    """Signature of the token exchange: sha256_hex(secret + code + client_id + scope + lower(redirect_uri)).

    `scope` and `redirect_uri` must be exactly what was sent on the authorize URL (the store keeps
    them); only the redirect URI is lower-cased, and only inside the signature.
    """
    return sha256_hex(secret + code + client_id + scope + redirect_uri.lower())


def refresh_signature(secret: str, refresh_token: str, client_id: str) -> str:
    """Signature of a refresh: sha256_hex(secret + refresh_token + client_id)."""
    return sha256_hex(secret + refresh_token + client_id)
