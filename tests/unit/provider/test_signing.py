"""The signature recipes (provider/signing.py): the exchange's and the refresh's, pinned and by formula."""

from __future__ import annotations

import hashlib

import pytest

from cartconnect.provider.signing import exchange_signature, refresh_signature, sha256_hex

SECRET = "app-secret"

CLIENT_ID = "12345"

SCOPE = "system,orders"

MIXED_REDIRECT = "https://App.Example.com/Connection/OAuth2Callback?r=XyZ"


def _documented_exchange(secret: str, code: str, client_id: str, scope: str, redirect_uri: str) -> str:
    text = secret + code + client_id + scope + redirect_uri.lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_sha256_hex_is_lowercase_hex_of_utf8() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("é") == hashlib.sha256("é".encode()).hexdigest()


def test_exchange_signature_pinned_vector() -> None:
    # sha256("app-secret" + "Code-AbC" + "12345" + "system,orders"
    #        + "https://app.example.com/connection/oauth2callback?r=xyz"), computed once by hand.
    expected = "68160c00f51dc02efcabeaaf4e477e227d6fb1e85a1d2b619061314d4f37077c"
    assert exchange_signature(SECRET, "Code-AbC", CLIENT_ID, SCOPE, MIXED_REDIRECT) == expected


@pytest.mark.parametrize(
    ("secret", "code", "scope", "redirect_uri"),
    [
        (SECRET, "Code-AbC", SCOPE, MIXED_REDIRECT),
        ("Sécret-ß", "xY_z-9", "read_people,no_expiry", "HTTPS://HOST.cart.com/CB?State=AbC%2FdEf"),
        ("s", "c", "system", "http://127.0.0.1:8765/callback"),
    ],
)
def test_exchange_signature_matches_documented_formula(
    secret: str, code: str, scope: str, redirect_uri: str
) -> None:
    got = exchange_signature(secret, code, CLIENT_ID, scope, redirect_uri)
    assert got == _documented_exchange(secret, code, CLIENT_ID, scope, redirect_uri)
    assert len(got) == 64
    assert got == got.lower()


def test_exchange_signature_lowercases_only_the_redirect_uri() -> None:
    base = exchange_signature(SECRET, "Code-AbC", CLIENT_ID, SCOPE, MIXED_REDIRECT)
    assert exchange_signature(SECRET, "Code-AbC", CLIENT_ID, SCOPE, MIXED_REDIRECT.lower()) == base
    # The code, the secret and the scope are signed exactly as given.
    assert exchange_signature(SECRET, "code-abc", CLIENT_ID, SCOPE, MIXED_REDIRECT) != base
    assert exchange_signature(SECRET.upper(), "Code-AbC", CLIENT_ID, SCOPE, MIXED_REDIRECT) != base
    assert exchange_signature(SECRET, "Code-AbC", CLIENT_ID, "System,Orders", MIXED_REDIRECT) != base
    assert exchange_signature(SECRET, "Code-AbC", CLIENT_ID, "orders,system", MIXED_REDIRECT) != base


def test_refresh_signature_pinned_and_formula() -> None:
    expected = "6f22a51e28d8251dc6c8dc9aefd679aa1d33a7c2bde475642e1f4ab53f5414ab"
    assert refresh_signature(SECRET, "rEfReSh", CLIENT_ID) == expected
    assert (
        refresh_signature(SECRET, "rEfReSh", CLIENT_ID)
        == hashlib.sha256((SECRET + "rEfReSh" + CLIENT_ID).encode("utf-8")).hexdigest()
    )
    assert refresh_signature(SECRET, "refresh", CLIENT_ID) != expected
