"""Sealed tokens: a connection's access and refresh token, sealed on its item with the tenant and
connection id as authenticated data, so a sealed blob only opens on its own item.

Tokens that never open here raise SealedTokenError; a KMS failure that may pass (throttling, an
outage) raises AwsCallFailed, which no caller may take for damaged tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cartconnect import aws
from cartconnect.adapters.envelope import Envelope, SealedError

_envelope = Envelope("token-sealing")


class SealedTokenError(SealedError):
    """Sealed tokens that do not open here: tampered, moved to another item, or unknown format."""


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return "Tokens(<sealed>)"


def _associated_data(tenant: str, connection_id: str) -> bytes:
    return json.dumps(["cartconnect/tokens/v1", tenant, connection_id]).encode()


def seal(tenant: str, connection_id: str, tokens: Tokens) -> bytes:
    payload = json.dumps({"a": tokens.access_token, "r": tokens.refresh_token}, separators=(",", ":"))
    with aws.translated():
        return _envelope.seal(payload.encode(), _associated_data(tenant, connection_id))


def unseal(tenant: str, connection_id: str, blob: bytes) -> Tokens:
    try:
        with aws.translated():
            opened = _envelope.open(blob, _associated_data(tenant, connection_id))
        values = json.loads(opened)
        return Tokens(access_token=values["a"], refresh_token=values["r"])
    except SealedError as error:
        raise SealedTokenError(str(error)) from None
    except (ValueError, KeyError, TypeError):
        raise SealedTokenError("sealed tokens do not hold a token pair") from None


def forget_keys() -> None:
    _envelope.forget_keys()
