"""The authorize URL (provider/urls.py): every value encoded, bad base URLs refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from cartconnect.provider.urls import build_authorize_url

MIXED_REDIRECT = "https://App.Example.com/Connection/OAuth2Callback?r=XyZ"


def test_build_authorize_url_encodes_every_value() -> None:
    url = build_authorize_url("https://celigo.cart.com", "12345", "system,orders", MIXED_REDIRECT)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "celigo.cart.com", "/api/oauth")
    assert parse_qs(parts.query) == {
        "client_id": ["12345"],
        "scope": ["system,orders"],
        "redirect_uri": [MIXED_REDIRECT],
    }
    assert "+" not in parts.query
    assert build_authorize_url("http://127.0.0.1:8765/", "1", "system", "http://x/cb").startswith(
        "http://127.0.0.1:8765/api/oauth?client_id=1&"
    )


@pytest.mark.parametrize("base_url", ["celigo.cart.com", "ftp://x.cart.com", "https://x.cart.com/admin", ""])
def test_build_authorize_url_rejects_bad_base_urls(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        build_authorize_url(base_url, "1", "system", "https://app/cb")
