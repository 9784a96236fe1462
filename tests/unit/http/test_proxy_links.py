"""A proxied list answer's paging links, pointed at the proxy (cartconnect/http/proxy_links.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import pytest

from cartconnect.http import proxy_links, proxy_path

HOST = "store.example"
BASE = "https://api.example/v1/connections/con_1/proxy"


def _rewritten(link: object, *, store_host: str = HOST) -> object:
    answer = {"next_page": link}
    proxy_links.rewrite(answer, store_host=store_host, proxy_base=BASE)
    return answer["next_page"]


@pytest.mark.parametrize(
    "link",
    [
        "https://store.example/api/v1/products?page=2&count=50",
        "http://store.example/api/v1/products?page=2&count=50",
        "https://store.example:443/api/v1/products?page=2&count=50",
        "https://STORE.Example/api/v1/products?page=2&count=50",
        "HTTPS://store.example/api/v1/products?page=2&count=50",
        "/api/v1/products?page=2&count=50",
        "  https://store.example/api/v1/products?page=2&count=50\n",
    ],
)
def test_a_link_on_the_store_becomes_the_same_page_through_the_proxy(link):
    assert _rewritten(link) == f"{BASE}/products?page=2&count=50"


def test_a_link_without_a_query_keeps_none_and_a_fragment_is_dropped():
    assert _rewritten("https://store.example/api/v1/products/12/variants") == f"{BASE}/products/12/variants"
    assert _rewritten("/api/v1/products?page=3#top") == f"{BASE}/products?page=3"


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("https://evil.example/api/v1/products?page=2", id="another-host"),
        pytest.param("https://store.example.evil.example/api/v1/products", id="a-longer-host"),
        pytest.param("https://store.example:8443/api/v1/products", id="another-port"),
        pytest.param("https://user@store.example/api/v1/products", id="user-info"),
        pytest.param("https://store.example/api/v2/products", id="another-api"),
        pytest.param("https://store.example/products?page=2", id="another-path"),
        pytest.param("https://store.example/api/v1/", id="the-api-root"),
        pytest.param("https://store.example/api/v1", id="no-trailing-slash"),
        pytest.param("products?page=2", id="relative-path"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("javascript:/api/v1/products", id="javascript-with-api-path"),
        pytest.param("ftp://store.example/api/v1/products", id="another-scheme"),
        pytest.param("//evil/api/v1/x", id="scheme-relative-other-host"),
        pytest.param("http://[::1", id="unparseable"),
    ],
)
def test_a_link_the_proxy_cannot_reach_becomes_null(link):
    answer = {"next_page": link, "previous_page": "/api/v1/products?page=1"}
    assert proxy_links.rewrite(answer, store_host=HOST, proxy_base=BASE) is True
    assert answer == {"next_page": None, "previous_page": f"{BASE}/products?page=1"}


@pytest.mark.parametrize(
    "answer",
    [
        {"total_count": 3, "products": [{"next_page": "https://store.example/api/v1/x"}]},
        {"next_page": None, "previous_page": None},
        {"next_page": "", "previous_page": ""},
        {"next_page": 2, "previous_page": ["https://store.example/api/v1/products?page=1"]},
        {"next_page": {"href": "https://store.example/api/v1/products?page=2"}},
    ],
)
def test_fields_that_are_missing_empty_or_not_strings_are_left_as_they_are(answer):
    before = repr(answer)
    assert proxy_links.rewrite(answer, store_host=HOST, proxy_base=BASE) is False
    assert repr(answer) == before  # nothing added, nothing changed (nested links included)


def test_both_links_are_rewritten_and_the_rest_is_untouched():
    answer = {
        "total_count": 150,
        "products": [{"id": 51}],
        "next_page": "https://store.example/api/v1/products?page=3&count=50",
        "previous_page": "https://store.example/api/v1/products?page=1&count=50",
    }
    assert proxy_links.rewrite(answer, store_host=HOST, proxy_base=BASE) is True
    assert answer == {
        "total_count": 150,
        "products": [{"id": 51}],
        "next_page": f"{BASE}/products?page=3&count=50",
        "previous_page": f"{BASE}/products?page=1&count=50",
    }


def test_a_store_host_with_a_port_matches_that_port_only():
    dev = "127.0.0.1:8123"
    assert _rewritten("http://127.0.0.1:8123/api/v1/products?page=2", store_host=dev) == (
        f"{BASE}/products?page=2"
    )
    for other in (
        "http://127.0.0.1/api/v1/products?page=2",
        "http://127.0.0.1:8124/api/v1/products?page=2",
    ):
        assert _rewritten(other, store_host=dev) is None, other


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("https://store.example/api/v1/products?page=2&count=50", id="plain"),
        pytest.param("/api/v1/products/12/variants?page=2", id="nested"),
        # A store link whose path leaves /api/v1/ once its dot segments are resolved is "another
        # path" (the module's docstring): it cannot be reached through the proxy, so it must be null.
        # Written as it is, a client that resolves it (httpx2, a browser) lands on another
        # connection's proxy: .../con_1/proxy/../../con_2/proxy/orders is .../con_2/proxy/orders.
        pytest.param("/api/v1/../../con_2/proxy/orders?page=2", id="dot-segments-to-another-connection"),
        pytest.param("https://store.example/api/v1/products/../stores", id="dot-segments-inside"),
        pytest.param("https://store.example/api/v1/products%2F..%2Fstores", id="encoded-slash"),
        pytest.param("https://store.example/api/v1/products?q=a b", id="space-in-query"),
    ],
)
def test_every_link_written_is_one_the_proxy_accepts_for_the_same_store_path(link):
    written = _rewritten(link)
    if written is None:
        return
    assert isinstance(written, str) and written.startswith(BASE + "/")
    parts = urlsplit(written)
    store_path = proxy_path.store_path(parts.path, "con_1", parts.query)
    assert store_path == link.removeprefix("https://store.example")


def test_a_link_with_dot_segments_never_sends_a_client_to_another_connection():
    written = _rewritten("/api/v1/../../con_2/proxy/orders?page=2")
    # As a client follows it: httpx2 (like a browser) resolves dot segments before sending.
    assert written is None or httpx2.URL(str(written)).path.startswith("/v1/connections/con_1/proxy/")
