"""iClient secrets, sealed on the iClient item with the project's KMS key (docs/decisions/0008): the
tenant and iClient id are the authenticated data, so a sealed secret only opens on its own item."""

from __future__ import annotations

import json

from cartconnect.adapters.envelope import Envelope, SealedError

_envelope = Envelope("iclient-secret")


class SealedSecretError(SealedError):
    """A sealed iClient secret that does not open here."""


def _associated_data(tenant: str, iclient_id: str) -> bytes:
    return json.dumps(["cartconnect/iclient-secret/v1", tenant, iclient_id]).encode()


def seal(tenant: str, iclient_id: str, client_secret: str) -> bytes:
    return _envelope.seal(client_secret.encode("utf-8"), _associated_data(tenant, iclient_id))


def open_secret(tenant: str, iclient_id: str, blob: bytes) -> str:
    try:
        return _envelope.open(blob, _associated_data(tenant, iclient_id)).decode("utf-8")
    except SealedError as error:
        raise SealedSecretError(str(error)) from None
    except UnicodeDecodeError:
        raise SealedSecretError("the sealed iClient secret is not text") from None


def forget_keys() -> None:
    _envelope.forget_keys()
