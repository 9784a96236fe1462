"""iClient secrets, sealed on the iClient item with the project's KMS key (docs/decisions/0008): the
tenant and iClient id are the authenticated data, so a sealed secret only opens on its own item.

Every iClient secret of a tenant is sealed with that tenant's data key, created once and stored
(encrypted by KMS) on a key item in the tenant's partition. A worker then opens one data key per
tenant it meets, not one per iClient: with a key per seal (or per process and hour), a worker that
refreshes thousands of connections of as many stores would pay a KMS Decrypt on nearly every refresh.
"""

from __future__ import annotations

import json
import threading

from botocore.exceptions import ClientError

from cartconnect.adapters import table
from cartconnect.adapters.envelope import DataKeyPair, Envelope, SealedError

KEY_SK = "KEY#iclient-secret"
_envelope = Envelope("iclient-secret")
_lock = threading.Lock()
_tenant_keys: dict[str, DataKeyPair] = {}


class SealedSecretError(SealedError):
    """A sealed iClient secret that does not open here."""


def _associated_data(tenant: str, iclient_id: str) -> bytes:
    return json.dumps(["cartconnect/iclient-secret/v1", tenant, iclient_id]).encode()


def seal(tenant: str, iclient_id: str, client_secret: str) -> bytes:
    return _envelope.seal_with(
        _tenant_key(tenant), client_secret.encode("utf-8"), _associated_data(tenant, iclient_id)
    )


def open_secret(tenant: str, iclient_id: str, blob: bytes) -> str:
    try:
        return _envelope.open(blob, _associated_data(tenant, iclient_id)).decode("utf-8")
    except SealedError as error:
        raise SealedSecretError(str(error)) from None
    except UnicodeDecodeError:
        raise SealedSecretError("the sealed iClient secret is not text") from None


def forget_keys() -> None:
    _envelope.forget_keys()
    with _lock:
        _tenant_keys.clear()


def _tenant_key(tenant: str) -> DataKeyPair:
    with _lock:
        cached = _tenant_keys.get(tenant)
    if cached is not None:
        return cached
    encrypted = _stored_key(tenant)
    if encrypted is None:
        created = _envelope.new_key()
        # First seal of the tenant: exactly one key is ever stored; a concurrent first seal that
        # lost the race uses the winner's key.
        encrypted = created.encrypted if _store_key(tenant, created.encrypted) else _stored_key(tenant)
        if encrypted is None:
            raise RuntimeError("the tenant's iClient-secret key item vanished while it was created")
    key = _envelope.open_key(encrypted)
    with _lock:
        _tenant_keys[tenant] = key
    return key


def _stored_key(tenant: str) -> bytes | None:
    response = table.client().get_item(
        TableName=table.table_name(),
        Key=table.key(table.tenant_pk(tenant), KEY_SK),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return bytes(item["encrypted_key"]["B"]) if item else None


def _store_key(tenant: str, encrypted: bytes) -> bool:
    try:
        table.client().put_item(
            TableName=table.table_name(),
            Item={**table.key(table.tenant_pk(tenant), KEY_SK), "encrypted_key": {"B": encrypted}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if table.is_conditional_failure(error):
            return False
        raise
    return True
