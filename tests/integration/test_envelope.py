"""Envelope sealing (tokens and iClient secrets) against the local stack's KMS: what opens where, and
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
from cartconnect.adapters import envelope, iclient_secret, token_vault
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


def test_the_data_key_is_replaced_after_its_maximum_age(kms_calls, monkeypatch):
    sealer = Envelope("token-sealing")
    now = [1000.0]
    monkeypatch.setattr(envelope.time, "monotonic", lambda: now[0])
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
        Envelope("iclient-secret").open(blob, AAD)


def test_tokens_and_iclient_secrets_use_their_own_contexts(kms_calls, unique_tenant):
    token_vault.forget_keys()
    iclient_secret.forget_keys()
    sealed_tokens = token_vault.seal(unique_tenant, "con_1", token_vault.Tokens("access-1", "refresh-1"))
    sealed_secret = iclient_secret.seal(unique_tenant, "icl_1", "app secret ✓")
    assert kms_calls == {("GenerateDataKey", "token-sealing"): 1, ("GenerateDataKey", "iclient-secret"): 1}
    tokens = token_vault.unseal(unique_tenant, "con_1", sealed_tokens)
    assert (tokens.access_token, tokens.refresh_token) == ("access-1", "refresh-1")
    assert "access-1" not in repr(tokens)
    assert iclient_secret.open_secret(unique_tenant, "icl_1", sealed_secret) == "app secret ✓"
    with pytest.raises(token_vault.SealedTokenError):
        token_vault.unseal(unique_tenant, "con_2", sealed_tokens)
    with pytest.raises(iclient_secret.SealedSecretError):
        iclient_secret.open_secret(unique_tenant, "icl_1", sealed_tokens)


def _data_key_of(blob: bytes) -> bytes:
    length = int.from_bytes(blob[1:3], "big")
    return blob[3 : 3 + length]


def test_a_tenants_iclient_secrets_share_one_stored_data_key(kms_calls, unique_tenant, aws_client, aws_env):
    iclient_secret.forget_keys()
    blobs = [iclient_secret.seal(unique_tenant, f"icl_{index}", f"secret {index}") for index in range(5)]
    other = iclient_secret.seal(f"{unique_tenant}-b", "icl_0", "secret 0")
    assert len({_data_key_of(blob) for blob in blobs}) == 1
    assert _data_key_of(other) != _data_key_of(blobs[0])
    assert kms_calls[("GenerateDataKey", "iclient-secret")] == 2  # one per tenant, ever
    stored = aws_client("dynamodb").get_item(
        TableName=aws_env["TABLE_NAME"],
        Key={"pk": {"S": f"T#{unique_tenant}"}, "sk": {"S": iclient_secret.KEY_SK}},
    )["Item"]
    assert bytes(stored["encrypted_key"]["B"]) == _data_key_of(blobs[0])

    # A new environment (a worker) opens all of the tenant's secrets with one Decrypt.
    iclient_secret.forget_keys()
    before = kms_calls[("Decrypt", "iclient-secret")]
    opened = [
        iclient_secret.open_secret(unique_tenant, f"icl_{index}", blob) for index, blob in enumerate(blobs)
    ]
    assert opened == [f"secret {index}" for index in range(5)]
    assert kms_calls[("Decrypt", "iclient-secret")] == before + 1
    # A new management environment seals with the stored key, it does not make another.
    iclient_secret.forget_keys()
    later = iclient_secret.seal(unique_tenant, "icl_9", "secret 9")
    assert _data_key_of(later) == _data_key_of(blobs[0])
    assert kms_calls[("GenerateDataKey", "iclient-secret")] == 2


def test_concurrent_first_seals_of_a_tenant_store_exactly_one_key(
    local_stack, unique_tenant, aws_client, aws_env
):
    start = threading.Barrier(8)

    def first_seal(index: int) -> bytes:
        start.wait()
        return iclient_secret.seal(unique_tenant, f"icl_{index}", f"secret {index}")

    iclient_secret.forget_keys()
    with ThreadPoolExecutor(max_workers=8) as pool:
        blobs = list(pool.map(first_seal, range(8)))
    keys = aws_client("dynamodb").query(
        TableName=aws_env["TABLE_NAME"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :key)",
        ExpressionAttributeValues={":pk": {"S": f"T#{unique_tenant}"}, ":key": {"S": "KEY#"}},
    )["Items"]
    assert len(keys) == 1
    assert {_data_key_of(blob) for blob in blobs} == {bytes(keys[0]["encrypted_key"]["B"])}
    iclient_secret.forget_keys()
    assert [iclient_secret.open_secret(unique_tenant, f"icl_{i}", b) for i, b in enumerate(blobs)] == [
        f"secret {index}" for index in range(8)
    ]


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
