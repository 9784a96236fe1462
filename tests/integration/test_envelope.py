"""Envelope sealing (the connections' tokens) against the local stack's KMS: what opens where, and
how many KMS requests it costs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cartconnect import aws
from cartconnect.adapters import envelope, token_vault
from cartconnect.adapters.envelope import Envelope, SealedError

AAD = b'["test", "tenant-a", "item-1"]'


class _CountingKms:
    def __init__(self, real: Any, counts: Counter[str]) -> None:
        self._real, self._counts = real, counts

    def generate_data_key(self, **kwargs: Any) -> Any:
        self._counts["GenerateDataKey", kwargs["EncryptionContext"]["cartconnect"]] += 1
        return self._real.generate_data_key(**kwargs)

    def decrypt(self, **kwargs: Any) -> Any:
        self._counts["Decrypt", kwargs["EncryptionContext"]["cartconnect"]] += 1
        return self._real.decrypt(**kwargs)


@pytest.fixture
def kms_calls(local_stack, monkeypatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    real_client = aws.client

    def client(service: str) -> Any:
        found = real_client(service)
        return _CountingKms(found, counts) if service == "kms" else found

    monkeypatch.setattr(aws, "client", client)
    return counts


def test_a_data_key_serves_many_seals_and_another_process_opens_them_with_one_decrypt(kms_calls):
    writer, reader = Envelope("token-sealing"), Envelope("token-sealing")
    blobs = [writer.seal(f"value {index}".encode(), AAD) for index in range(20)]
    assert kms_calls == {("GenerateDataKey", "token-sealing"): 1}
    assert [reader.open(blob, AAD) for blob in blobs] == [f"value {index}".encode() for index in range(20)]
    assert kms_calls[("Decrypt", "token-sealing")] == 1
    # The writer opens its own blobs without asking KMS.
    assert writer.open(blobs[0], AAD) == b"value 0"
    assert kms_calls[("Decrypt", "token-sealing")] == 1


def test_the_data_key_is_replaced_after_its_maximum_age(kms_calls, use_runtime):
    sealer = Envelope("token-sealing")
    now = [1000.0]
    use_runtime(monotonic=lambda: now[0])
    first = sealer.seal(b"a", AAD)
    now[0] += envelope.DATA_KEY_MAX_AGE_SECONDS + 1
    second = sealer.seal(b"b", AAD)
    assert kms_calls[("GenerateDataKey", "token-sealing")] == 2
    assert first[3:50] != second[3:50]  # a different encrypted data key rides in the blob
    assert sealer.open(first, AAD) == b"a" and sealer.open(second, AAD) == b"b"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]), id="ciphertext bit flipped"),
        pytest.param(lambda blob: b"\x02" + blob[1:], id="unknown format version"),
        pytest.param(lambda blob: blob[:20], id="truncated"),
        pytest.param(lambda blob: b"", id="empty"),
    ],
)
def test_a_damaged_blob_does_not_open(local_stack, damage):
    sealer = Envelope("token-sealing")
    blob = sealer.seal(b"secret value", AAD)
    with pytest.raises(SealedError):
        Envelope("token-sealing").open(damage(blob), AAD)


def test_a_damaged_data_key_never_opens(local_stack):
    blob = Envelope("token-sealing").seal(b"secret value", AAD)
    damaged = blob[:10] + bytes([blob[10] ^ 1]) + blob[11:]
    # AWS KMS answers InvalidCiphertextException (a SealedError here); moto reads the flipped byte
    # as another key id and answers AccessDeniedException, which may be an IAM fix away: passed on.
    with pytest.raises((SealedError, ClientError)):
        Envelope("token-sealing").open(damaged, AAD)


def test_a_blob_opens_only_for_its_own_item_and_purpose(local_stack):
    blob = Envelope("token-sealing").seal(b"secret value", AAD)
    with pytest.raises(SealedError):
        Envelope("token-sealing").open(blob, b'["test", "tenant-a", "item-2"]')
    # Another purpose is another KMS encryption context: KMS refuses the data key.
    with pytest.raises(SealedError):
        Envelope("another-purpose").open(blob, AAD)


def test_sealed_tokens_open_only_on_their_own_connection(kms_calls, unique_tenant):
    token_vault.forget_keys()
    sealed_tokens = token_vault.seal(unique_tenant, "con_1", token_vault.Tokens("access-1", "refresh-1"))
    assert kms_calls == {("GenerateDataKey", "token-sealing"): 1}
    tokens = token_vault.unseal(unique_tenant, "con_1", sealed_tokens)
    assert (tokens.access_token, tokens.refresh_token) == ("access-1", "refresh-1")
    assert "access-1" not in repr(tokens)
    with pytest.raises(token_vault.SealedTokenError):
        token_vault.unseal(unique_tenant, "con_2", sealed_tokens)
    with pytest.raises(token_vault.SealedTokenError):
        token_vault.unseal(f"{unique_tenant}-other", "con_1", sealed_tokens)


def test_threads_opening_blobs_of_one_data_key_share_one_decrypt(kms_calls, monkeypatch):
    sealer = Envelope("token-sealing")
    blobs = [sealer.seal(f"value {index}".encode(), AAD) for index in range(10)]
    reader = Envelope("token-sealing")  # a new environment: none of the keys cached
    start = threading.Barrier(10)
    real = Envelope._decrypt

    def slow_decrypt(self, encrypted):
        # A slow KMS: every thread has asked for the key before the first answer comes back.
        time.sleep(0.3)
        return real(self, encrypted)

    monkeypatch.setattr(Envelope, "_decrypt", slow_decrypt)

    def open_one(blob: bytes) -> bytes:
        start.wait()
        return reader.open(blob, AAD)

    with ThreadPoolExecutor(max_workers=10) as pool:
        opened = list(pool.map(open_one, blobs))
    assert opened == [f"value {index}".encode() for index in range(10)]
    assert kms_calls[("Decrypt", "token-sealing")] == 1


def test_a_kms_failure_that_may_pass_is_not_a_damaged_blob(local_stack, monkeypatch):
    blob = Envelope("token-sealing").seal(b"secret value", AAD)
    reader = Envelope("token-sealing")

    def throttled(self, encrypted):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Decrypt")

    monkeypatch.setattr(Envelope, "_decrypt", throttled)
    with pytest.raises(ClientError) as raised:
        reader.open(blob, AAD)
    assert not isinstance(raised.value, SealedError)
    monkeypatch.undo()
    assert reader.open(blob, AAD) == b"secret value"  # nothing cached from the failure
