"""One-time credentials (link tickets, OAuth states): random, lower-case safe, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# 32 random bytes as lower-case hex: survives a store that lower-cases the whole redirect URI.
CREDENTIAL_BYTES = 32
_FORMAT = re.compile(rf"[0-9a-f]{{{CREDENTIAL_BYTES * 2}}}")


def new_credential() -> str:
    return secrets.token_hex(CREDENTIAL_BYTES)


def is_well_formed(value: str | None) -> bool:
    return value is not None and _FORMAT.fullmatch(value) is not None


def digest(value: str) -> str:
    """What the table keeps instead of the credential itself."""
    return hashlib.sha256(value.encode()).hexdigest()


def binding(key: str, state: str) -> str:
    """The browser-binding cookie's value: a keyed hash of the state, the key kept server-side."""
    return hmac.new(bytes.fromhex(key), state.encode(), hashlib.sha256).hexdigest()


def same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
