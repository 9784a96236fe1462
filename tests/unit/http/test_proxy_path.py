"""Which store path a proxied call may reach (cartconnect/http/proxy_path.py): every refusal rule, what
passes unchanged, and that nothing accepted can leave the store's /api/v1/."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import httpx2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cartconnect.http import problem_document
from cartconnect.http.proxy_path import MAX_PATH_CHARS, MAX_QUERY_CHARS, ProxyPathRefused, store_path

CONNECTION = "con_1"
PROXY = f"/v1/connections/{CONNECTION}/proxy/"
STORE = "https://store.example"


def _refused(suffix: str, query: str = "", raw_path: str | None = None) -> ProxyPathRefused:
    with pytest.raises(ProxyPathRefused) as refused:
        store_path(PROXY + suffix if raw_path is None else raw_path, CONNECTION, query)
    error = refused.value
    assert (error.status, error.type_slug) == (400, "proxy-path-refused")
    # The problem the caller gets names the field.
    assert json.loads(problem_document.of_error(error))["errors"][0]["field"] == "path"
    return error


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param("", id="empty"),
        pytest.param("..", id="dot-dot"),
        pytest.param("products/../stores", id="dot-dot-inside"),
        pytest.param(".", id="dot"),
        pytest.param("products/./12", id="dot-inside"),
        pytest.param("%2e%2e/stores", id="encoded-dot-lower"),
        pytest.param("%2E%2E/stores", id="encoded-dot-upper"),
        pytest.param(".%2e", id="half-encoded-dot-dot"),
        pytest.param("products%2fstores", id="encoded-slash"),
        pytest.param("products%2F12", id="encoded-slash-upper"),
        pytest.param("products%5c12", id="encoded-backslash"),
        pytest.param("products%252e", id="encoded-percent"),
        pytest.param("products%3fx=1", id="encoded-question-mark"),
        pytest.param("products%23x", id="encoded-hash"),
        *(pytest.param(f"products%{code:02x}", id=f"control-{code:02x}") for code in range(0x20)),
        pytest.param("products%1F", id="control-upper-hex"),
        pytest.param("products%7f", id="delete"),
        pytest.param("products\\12", id="backslash"),
        pytest.param("products//12", id="empty-segment"),
        pytest.param("/products", id="leading-empty-segment"),
        pytest.param("products/", id="trailing-slash"),
        pytest.param("https:", id="scheme-first-segment"),
        pytest.param("products/evil.example:443", id="colon-later-segment"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("products 12", id="space"),
        pytest.param("produits/é", id="non-ascii"),
        pytest.param("products\t", id="raw-control"),
        pytest.param("products%4", id="malformed-escape-short"),
        pytest.param("products%4g", id="malformed-escape-not-hex"),
        pytest.param("products%", id="lone-percent"),
        pytest.param("products?x", id="raw-question-mark"),
        pytest.param("products#x", id="raw-hash"),
        pytest.param("a" * (MAX_PATH_CHARS + 1), id="too-long"),
        pytest.param("products/..;/stores", id="dot-dot-path-parameter"),
        pytest.param("products;v=1", id="path-parameter"),
        pytest.param("products/..%3B/stores", id="encoded-semicolon"),
        pytest.param("%C0%AE%C0%AE/stores", id="overlong-dot"),
        pytest.param("products%C0%AF12", id="overlong-slash"),
        pytest.param("products%FF", id="not-utf8"),
    ],
)
def test_a_path_that_is_not_plain_is_refused(suffix):
    _refused(suffix)


def test_the_longest_path_allowed_passes():
    assert store_path(PROXY + "a" * MAX_PATH_CHARS, CONNECTION, "") == "/api/v1/" + "a" * MAX_PATH_CHARS


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("q=a#b", id="hash"),
        pytest.param("q=a b", id="space"),
        pytest.param("q=é", id="non-ascii"),
        pytest.param("q=\x00", id="control"),
        pytest.param("q=\x7f", id="delete"),
        pytest.param("q=" + "a" * (MAX_QUERY_CHARS - 1), id="too-long"),
    ],
)
def test_a_query_that_is_not_plain_is_refused(query):
    _refused("products", query)


@pytest.mark.parametrize(
    "raw_path",
    [
        pytest.param("/v1/connections/con_2/proxy/products", id="another-connection"),
        pytest.param("/v1/connections/con_1/token", id="not-the-proxy"),
        pytest.param("/v1/connections/con_1/proxy", id="no-slash-after-proxy"),
        pytest.param("/v1/connections/xcon_1/proxy/products", id="a-longer-id"),
        pytest.param("", id="no-raw-path"),
    ],
)
def test_a_raw_path_that_does_not_name_this_connections_proxy_is_refused(raw_path):
    _refused("", raw_path=raw_path)


@pytest.mark.parametrize(
    ("suffix", "query", "expected"),
    [
        ("products", "", "/api/v1/products"),
        ("products/12", "", "/api/v1/products/12"),
        ("products/12/variants", "", "/api/v1/products/12/variants"),
        ("produits/%C3%A9t%C3%A9", "", "/api/v1/produits/%C3%A9t%C3%A9"),
        ("products/%c3%a9", "", "/api/v1/products/%c3%a9"),
        ("products/a-b_c.d~e!$&'()*+,=@", "", "/api/v1/products/a-b_c.d~e!$&'()*+,=@"),
        ("products/...", "", "/api/v1/products/..."),
        ("products/.hidden", "", "/api/v1/products/.hidden"),
        ("products", "page=2&count=50", "/api/v1/products?page=2&count=50"),
        # The query goes on exactly as it came: escapes, repeated names, odd but printable characters.
        ("products", "q=%20a%2F%00&q=b&x=[1]:/?", "/api/v1/products?q=%20a%2F%00&q=b&x=[1]:/?"),
        ("products", "a" * MAX_QUERY_CHARS, "/api/v1/products?" + "a" * MAX_QUERY_CHARS),
    ],
)
def test_a_plain_path_is_sent_as_it_came_after_api_v1(suffix, query, expected):
    assert store_path(PROXY + suffix, CONNECTION, query) == expected


def test_an_empty_query_adds_no_question_mark():
    assert "?" not in store_path(PROXY + "products", CONNECTION, "")


def test_the_path_is_read_after_the_connections_proxy_mark_even_with_a_stage_prefix():
    assert store_path(f"/prod{PROXY}products/1", CONNECTION, "") == "/api/v1/products/1"


# -- nothing accepted leaves /api/v1/ on the store -----------------------------------------------

# Characters a path could try to escape with, plain ones, and the pieces of escapes.
_TRICKY = "./\\%:@?#;=&+!$'()*,~-_ aA0zZ9éfF2eE5cC"
_ESCAPES = st.sampled_from(["%2e", "%2E", "%2f", "%5C", "%25", "%00", "%41", "%C3%A9", "%7e", "%3a"])
_SEGMENT = st.lists(st.one_of(st.text(_TRICKY, min_size=1, max_size=3), _ESCAPES), max_size=4).map("".join)
_PATHS = st.one_of(st.text(_TRICKY, max_size=30), st.lists(_SEGMENT, min_size=1, max_size=5).map("/".join))


# About one generated path in seven is accepted: enough examples that many are.
@settings(max_examples=400)
@given(suffix=_PATHS, query=st.text("=&%2a ?#/", max_size=10))
@example(suffix="products/12", query="page=2")
@example(suffix="...", query="")
def test_an_accepted_path_stays_on_the_store_under_api_v1(suffix, query):
    try:
        path = store_path(PROXY + suffix, CONNECTION, query)
    except ProxyPathRefused:
        return
    url = STORE + path  # how the provider client builds it (americommerce.forward)
    for host, raw in ((urlsplit(url).netloc, urlsplit(url).path), _httpx2_parts(url)):
        assert host == "store.example"
        assert raw.startswith("/api/v1/")
        # No dot segment, as sent or after a store (or a proxy in front of it) decodes it once.
        for segments in (raw.split("/"), unquote(raw).split("/")):
            assert "." not in segments and ".." not in segments
        assert unquote(raw).count("/") == raw.count("/")  # decoding makes no new segment
        assert "\\" not in unquote(raw)


def _httpx2_parts(url: str) -> tuple[str, str]:
    parsed = httpx2.URL(url)
    return parsed.netloc.decode(), parsed.raw_path.decode().split("?", 1)[0]
