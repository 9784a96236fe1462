"""Envelope encryption with the project's KMS key: AES-256-GCM under a KMS data key cached per process,
one cache per purpose (each purpose is its own KMS encryption context, so a role, a key policy and
CloudTrail can tell them apart), and authenticated data that binds a blob to the item it was sealed for.
Its one purpose today is the connection's tokens (token_vault); iClient secrets are in Secrets Manager.

A fresh data key per seal would cost one KMS request per write (about $2.16 per 1,000 connections per
month for the tokens at one refresh an hour); a cached key costs one per process per hour, and opening
a blob sealed by another process costs one Decrypt per data key, then nothing.

Blob: version (1 byte), length of the encrypted data key (2 bytes), the encrypted data key, a 12-byte
random nonce, the AES-GCM ciphertext and tag.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cartconnect import aws, runtime
from cartconnect.settings import get_settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
NONCE_BYTES = 12
DATA_KEY_MAX_AGE_SECONDS = 3600
DATA_KEY_MAX_USES = 1_000_000  # far below the 2**32 random-nonce limit for one GCM key
# Blobs sealed by other environments carry their own data keys: a worker meets thousands of them at
# scale, and a Decrypt per blob would cost as much as a KMS request per refresh. ~250 bytes each: 16,384 keys are ~4 MB of a worker's memory.
_DECRYPTED_KEYS_KEPT = 16_384
# KMS's answers for a data key that will never open with this context (tampered, another purpose's,
# another key's); anything else (throttling, an outage, access being fixed) may pass.
_NEVER_OPENS = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


def _aesgcm(key: bytes) -> AESGCM:
    # Imported on first use: the management function's reads (most of its requests) never seal or
    # open anything, and cryptography is ~8 ms of its cold start.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


class SealedError(Exception):
    """A blob that does not open here: tampered, moved to another item, or an unknown format."""


@dataclass(frozen=True)
class DataKeyPair:
    plaintext: bytes = field(repr=False)
    encrypted: bytes


@dataclass
class _CurrentKey:
    """The data key this process seals with, until it is too old or too used."""

    pair: DataKeyPair
    created: float
    uses: int = 0


class Envelope:
    """Seals and opens blobs for one purpose; thread-safe (the worker refreshes in threads)."""

    def __init__(self, purpose: str) -> None:
        self.encryption_context = {"cartconnect": purpose}
        self._lock = threading.Lock()
        self._current: _CurrentKey | None = None
        self._decrypted: OrderedDict[bytes, bytes] = OrderedDict()
        self._decrypting: dict[bytes, threading.Lock] = {}

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Seal with this process's current data key of the purpose."""
        key = self._current_key()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = _aesgcm(key.plaintext).encrypt(nonce, plaintext, associated_data)
        return struct.pack(">BH", FORMAT_VERSION, len(key.encrypted)) + key.encrypted + nonce + ciphertext

    def open(self, blob: bytes, associated_data: bytes) -> bytes:
        """The plaintext; SealedError if the blob can never open here (damaged, another item's or
        purpose's). A KMS failure that may pass (throttling, an outage) propagates as it is: a
        caller must not take it for a damaged blob."""
        try:
            version, key_length = struct.unpack_from(">BH", blob)
        except struct.error:
            raise SealedError("the sealed value is truncated") from None
        if version != FORMAT_VERSION:
            raise SealedError(f"unknown sealed format {version}")
        encrypted_key = blob[3 : 3 + key_length]
        nonce = blob[3 + key_length : 3 + key_length + NONCE_BYTES]
        ciphertext = blob[3 + key_length + NONCE_BYTES :]
        if len(encrypted_key) != key_length or len(nonce) != NONCE_BYTES:
            raise SealedError("the sealed value is truncated")
        key = self._plaintext_key(encrypted_key)
        try:
            return _aesgcm(key).decrypt(nonce, ciphertext, associated_data)
        except Exception as error:  # InvalidTag: tampered, or sealed for another item
            raise SealedError("the sealed value does not open for this item") from error

    def forget_keys(self) -> None:
        """Drop the cached data keys, as a new Lambda environment starts (benchmarks, tests)."""
        with self._lock:
            self._current = None
            self._decrypted.clear()

    def _current_key(self) -> DataKeyPair:
        with self._lock:
            now = runtime.current().monotonic()
            current = self._current
            if (
                current is None
                or now - current.created > DATA_KEY_MAX_AGE_SECONDS
                or current.uses >= DATA_KEY_MAX_USES
            ):
                current = _CurrentKey(self._generate(), now)  # under the lock: one request at a time
                self._current = current
                self._remember(current.pair.encrypted, current.pair.plaintext)
            current.uses += 1
            return current.pair

    def _generate(self) -> DataKeyPair:
        response = aws.client("kms").generate_data_key(
            KeyId=get_settings().kms_key_id, KeySpec="AES_256", EncryptionContext=self.encryption_context
        )
        return DataKeyPair(response["Plaintext"], response["CiphertextBlob"])

    def _remember(self, encrypted: bytes, plaintext: bytes) -> None:
        self._decrypted[encrypted] = plaintext
        self._decrypted.move_to_end(encrypted)
        while len(self._decrypted) > _DECRYPTED_KEYS_KEPT:
            self._decrypted.popitem(last=False)

    def _plaintext_key(self, encrypted: bytes) -> bytes:
        with self._lock:
            cached = self._decrypted.get(encrypted)
            if cached is not None:
                return cached
            # One Decrypt per data key however many threads want it (a cold worker's whole batch
            # opens blobs of the same few keys at once).
            decrypting = self._decrypting.setdefault(encrypted, threading.Lock())
        with decrypting:
            with self._lock:
                cached = self._decrypted.get(encrypted)
            if cached is not None:
                return cached
            try:
                plaintext = self._decrypt(encrypted)
            except BaseException:
                with self._lock:
                    self._decrypting.pop(encrypted, None)
                raise
            with self._lock:
                self._remember(encrypted, plaintext)
                self._decrypting.pop(encrypted, None)
            return plaintext

    def _decrypt(self, encrypted: bytes) -> bytes:
        try:
            response = aws.client("kms").decrypt(
                CiphertextBlob=encrypted,
                EncryptionContext=self.encryption_context,
                KeyId=get_settings().kms_key_id,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _NEVER_OPENS:
                raise SealedError("KMS does not open this data key for this purpose") from None
            raise
        plaintext: bytes = response["Plaintext"]
        return plaintext
