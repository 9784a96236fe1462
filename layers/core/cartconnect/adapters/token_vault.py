"""Sealed tokens: envelope encryption with a KMS data key cached per process, AES-256-GCM,
and the tenant + connection id as authenticated data so a sealed blob only opens on its own item.

A fresh KMS data key per seal would cost one KMS request per refresh (about $2.16 per 1,000
connections per month at one refresh an hour); a cached key costs one per process per hour.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cartconnect import aws
from cartconnect.settings import get_settings

FORMAT_VERSION = 1
NONCE_BYTES = 12
DATA_KEY_MAX_AGE_SECONDS = 3600
DATA_KEY_MAX_USES = 1_000_000  # far below the 2**32 random-nonce limit for one GCM key
_KMS_CONTEXT = {"cartconnect": "token-sealing"}
_DECRYPTED_KEYS_KEPT = 64


class SealedTokenError(Exception):
    """A sealed blob that does not open here: tampered, moved to another item, or unknown format."""


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return "Tokens(<sealed>)"


@dataclass
class _DataKey:
    plaintext: bytes
    encrypted: bytes
    created: float
    uses: int = 0


_lock = threading.Lock()
_current: _DataKey | None = None
_decrypted: OrderedDict[bytes, bytes] = OrderedDict()


def _associated_data(tenant: str, connection_id: str) -> bytes:
    return json.dumps(["cartconnect/tokens/v1", tenant, connection_id]).encode()


def _data_key() -> _DataKey:
    global _current  # noqa: PLW0603 - the per-process key cache is the point of this module
    with _lock:
        now = time.monotonic()
        if (
            _current is None
            or now - _current.created > DATA_KEY_MAX_AGE_SECONDS
            or _current.uses >= DATA_KEY_MAX_USES
        ):
            response = aws.client("kms").generate_data_key(
                KeyId=get_settings().kms_key_id, KeySpec="AES_256", EncryptionContext=_KMS_CONTEXT
            )
            _current = _DataKey(response["Plaintext"], response["CiphertextBlob"], now)
            _remember(_current.encrypted, _current.plaintext)
        _current.uses += 1
        return _current


def _remember(encrypted: bytes, plaintext: bytes) -> None:
    _decrypted[encrypted] = plaintext
    _decrypted.move_to_end(encrypted)
    while len(_decrypted) > _DECRYPTED_KEYS_KEPT:
        _decrypted.popitem(last=False)


def _plaintext_key(encrypted: bytes) -> bytes:
    with _lock:
        cached = _decrypted.get(encrypted)
    if cached is not None:
        return cached
    response = aws.client("kms").decrypt(
        CiphertextBlob=encrypted, EncryptionContext=_KMS_CONTEXT, KeyId=get_settings().kms_key_id
    )
    plaintext: bytes = response["Plaintext"]
    with _lock:
        _remember(encrypted, plaintext)
    return plaintext


def seal(tenant: str, connection_id: str, tokens: Tokens) -> bytes:
    key = _data_key()
    nonce = os.urandom(NONCE_BYTES)
    payload = json.dumps(
        {"a": tokens.access_token, "r": tokens.refresh_token}, separators=(",", ":")
    ).encode()
    ciphertext = AESGCM(key.plaintext).encrypt(nonce, payload, _associated_data(tenant, connection_id))
    return struct.pack(">BH", FORMAT_VERSION, len(key.encrypted)) + key.encrypted + nonce + ciphertext


def unseal(tenant: str, connection_id: str, blob: bytes) -> Tokens:
    try:
        version, key_length = struct.unpack_from(">BH", blob)
        if version != FORMAT_VERSION:
            raise SealedTokenError(f"unknown sealed-token format {version}")
        encrypted_key = blob[3 : 3 + key_length]
        nonce = blob[3 + key_length : 3 + key_length + NONCE_BYTES]
        ciphertext = blob[3 + key_length + NONCE_BYTES :]
        payload = AESGCM(_plaintext_key(encrypted_key)).decrypt(
            nonce, ciphertext, _associated_data(tenant, connection_id)
        )
        values = json.loads(payload)
    except SealedTokenError:
        raise
    except Exception as error:
        raise SealedTokenError("sealed tokens do not open for this connection") from error
    return Tokens(access_token=values["a"], refresh_token=values["r"])
