"""The STATE item keeps the callback URL, not the redirect URI with the state inside it."""

from __future__ import annotations

import pytest

from cartconnect.adapters import authorization_repository
from cartconnect.usecases.authorization.flow import redirect_uri_for

STATE = "ab" * 32
FIELDS = {
    "tenant": "acme",
    "connection_id": "con_1",
    "subdomain": "shop.example.com",
    "client_id": "42",
    "iclient_id": "icl_1",
    "scope": "read_orders",
    "auth_generation": 1,
    "binding_key": "00" * 32,
    "expires_at": 1_900_000_000,
}


@pytest.mark.parametrize(
    "callback_url",
    [
        "https://app.example.com/connection/oauth2callback",
        "https://app.example.com/cb?r=a/b:c d&x=%2F",
        "https://app.example.com/cb?empty=",
    ],
)
def test_a_state_recorded_before_the_upgrade_yields_the_same_redirect_uri(callback_url):
    # An item written by the previous release (a deploy can land during an authorization) kept the
    # redirect URI as sent; read now, it gives the callback URL that rebuilds that exact URI.
    sent = redirect_uri_for(callback_url, STATE)
    legacy = authorization_repository._state({**FIELDS, "redirect_uri": sent})
    assert redirect_uri_for(legacy.callback_url, STATE) == sent
