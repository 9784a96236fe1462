"""The redirect URI sent to the store is in the form the store signs (docs/provider.md, "The redirect
URI's canonical form"): every query value percent-encoded with nothing left safe, so the store's
decode, re-encode and lower-case leaves it unchanged and the signature matches."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from cartconnect.provider.signing import canonical_redirect_uri, exchange_signature
from cartconnect_dev.sandbox_store import store_signed_redirect_uri

SECRET = "app-secret"
CLIENT_ID = "12345"
SCOPE = "read_orders,system"

CALLBACK_WITH_QUERY = "https://api.example.com/oauth2/callback?next=/a:b&x=1 2"


def test_canonical_redirect_uri_encodes_every_query_value_with_nothing_safe() -> None:
    uri = canonical_redirect_uri(CALLBACK_WITH_QUERY, [("cc_state", "St4te_-")])
    assert uri == "https://api.example.com/oauth2/callback?next=%2Fa%3Ab&x=1%202&cc_state=St4te_-"
    assert canonical_redirect_uri("https://h/cb", [("cc_state", "s")]) == "https://h/cb?cc_state=s"
    assert canonical_redirect_uri("https://h/cb?", [("cc_state", "s")]) == "https://h/cb?cc_state=s"
    # Values decode back to what the callback URL meant (a form-style query: "+" is a space).
    query = urlsplit(canonical_redirect_uri("https://h/cb?q=a+b&e=%C3%A9&flag")).query
    assert parse_qsl(query, keep_blank_values=True) == [("q", "a b"), ("e", "é"), ("flag", "")]


@pytest.mark.parametrize(
    "callback",
    [
        CALLBACK_WITH_QUERY,
        "https://api.example.com/oauth2/callback",
        "https://API.Example.com/OAuth2/Callback?R=XyZ&next=https://x.test/p?q=1#frag",
        "https://h/cb?a=%2f%3A&b=+&c=~._-!*'()&d=%E2%82%AC",
    ],
)
def test_the_store_rule_leaves_the_canonical_form_unchanged(callback: str) -> None:
    uri = canonical_redirect_uri(callback, [("cc_state", "abc")])
    assert store_signed_redirect_uri(uri) == uri
    signed = exchange_signature(SECRET, "code", CLIENT_ID, SCOPE, uri)
    assert signed == exchange_signature(SECRET, "code", CLIENT_ID, SCOPE, store_signed_redirect_uri(uri))


def test_without_the_canonical_form_the_signature_would_not_match() -> None:
    # What the project sent before: the callback URL as configured plus an urlencoded cc_state.
    naive = f"{CALLBACK_WITH_QUERY}&{urlencode({'cc_state': 'abc'})}"
    assert store_signed_redirect_uri(naive) != naive
    ours = hashlib.sha256((SECRET + "code" + CLIENT_ID + SCOPE + naive.lower()).encode()).hexdigest()
    stores = exchange_signature(SECRET, "code", CLIENT_ID, SCOPE, store_signed_redirect_uri(naive))
    assert ours != stores  # the sandbox (and, by the evidence, a real store) answers 403
