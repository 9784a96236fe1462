"""Signature recipes, expiry parsing and the small pure helpers of the provider adapter."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from cartconnect.domain.tokens import TokenSet
from cartconnect.provider.americommerce import (
    AmeriCommerceClient,
    CallLimit,
    StoreAnswer,
    parse_call_limit,
    parse_retry_after,
)
from cartconnect.provider.errors import (
    GrantRefused,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    safe_provider_message,
)
from cartconnect.provider.expiry import parse_expires
from cartconnect.provider.signing import exchange_signature, refresh_signature, sha256_hex
from cartconnect.provider.urls import build_authorize_url

SECRET = "app-secret"
CLIENT_ID = "12345"
SCOPE = "system,orders"
MIXED_REDIRECT = "https://App.Example.com/Connection/OAuth2Callback?r=XyZ"


def _documented_exchange(secret: str, code: str, client_id: str, scope: str, redirect_uri: str) -> str:
    text = secret + code + client_id + scope + redirect_uri.lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- signatures -----------------------------------------------------------------------------------


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


# -- expiry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2014-05-12T00:00:00.0Z", datetime(2014, 5, 12, tzinfo=UTC)),
        ("2014-05-13T06:00:00.000-06:00", datetime(2014, 5, 13, 12, tzinfo=UTC)),
        ("2026-11-28T10:00:00.0000000Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00.5+00:00", datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-28T10:00:00.1234567Z", datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T15:30:00+05:30", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T15:30:00+0530", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-29T00:00:00+14:00", datetime(2026, 11, 28, 10, tzinfo=UTC)),
    ],
)
def test_parse_expires_zoned_forms(value: str, expected: datetime) -> None:
    got = parse_expires(value, scopes=("system",))
    assert got == expected
    assert got is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "wall"),
    [
        ("2014-05-12T14:51:02.206277", datetime(2014, 5, 12, 14, 51, 2, 206277)),
        ("2014-05-12T14:51:02", datetime(2014, 5, 12, 14, 51, 2)),
        ("2014-05-12T14:51:02.2", datetime(2014, 5, 12, 14, 51, 2, 200000)),
        ("2014-05-12T14:51:02.2062779", datetime(2014, 5, 12, 14, 51, 2, 206277)),
    ],
)
def test_parse_expires_naive_is_read_in_the_easternmost_zone(value: str, wall: datetime) -> None:
    got = parse_expires(value, scopes="system")
    assert got == wall.replace(tzinfo=UTC) - timedelta(hours=14)
    # Never later than the instant the wall clock denotes in ANY real zone (UTC-12 .. UTC+14).
    for quarter_hours in range(-12 * 4, 14 * 4 + 1):
        zone = timezone(timedelta(minutes=15 * quarter_hours))
        assert got is not None and got <= wall.replace(tzinfo=zone)


def test_parse_expires_absent_or_no_expiry_means_never() -> None:
    assert parse_expires(None, scopes=("system",)) is None
    assert parse_expires("2014-05-12T00:00:00.0Z", scopes=("system", "no_expiry")) is None
    assert parse_expires("2014-05-12T00:00:00.0Z", scopes="system,no_expiry") is None
    assert parse_expires("garbage", scopes="no_expiry") is None
    # A scope that merely contains the word is not no_expiry.
    assert parse_expires("2014-05-12T00:00:00Z", scopes="system,not_no_expiry") is not None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "tomorrow",
        "2014-05-12",
        "2014-05-12 00:00:00Z",
        "2014-05-12T00:00Z",
        "2014-13-01T00:00:00Z",
        "2014-02-30T00:00:00Z",
        "2014-05-12T25:00:00Z",
        "2014-05-12T00:00:00.12345678Z",
        "2014-05-12T00:00:00.Z",
        "2014-05-12T00:00:00+15:00",
        "2014-05-12T00:00:00+14:30",
        "2014-05-12T00:00:00+05:75",
        "2014-05-12T00:00:00Z trailing",
        "0001-01-01T00:00:00",
        "1400000000",
        "<html><body>oops</body></html>",
    ],
)
def test_parse_expires_garbage_raises_without_echoing_the_value(value: str) -> None:
    with pytest.raises(ProviderResponseError) as info:
        parse_expires(value, scopes=("system",))
    if value.strip():
        assert value.strip() not in str(info.value)


def test_parse_expires_rejects_non_strings() -> None:
    with pytest.raises(ProviderResponseError):
        parse_expires(1400000000, scopes=())  # type: ignore[arg-type]


# -- authorize URL, Retry-After, call limit, safe messages ----------------------------------------


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


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("1.5", now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 09:59:00 GMT", now) == 0.0  # in the past
    for bad in (None, "", "soon", "-5", "inf", "nan", "1e3"):
        assert parse_retry_after(bad, now) is None


def test_parse_call_limit() -> None:
    assert parse_call_limit("3/50") == CallLimit(3, 50)
    assert parse_call_limit(" 10 / 20 ") == CallLimit(10, 20)
    for bad in (None, "", "50", "a/b", "1/2/3", "-1/50"):
        assert parse_call_limit(bad) is None


def test_safe_provider_message() -> None:
    assert safe_provider_message("Forbidden") == "Forbidden"
    assert safe_provider_message("Bad\r\nInjected: header\x1b[31m\u202e") == "BadInjected: header[31m"
    assert safe_provider_message("x" * 200) == "x" * 200
    assert safe_provider_message("x" * 201) is None
    assert safe_provider_message(None) is None
    assert safe_provider_message(403) is None
    assert safe_provider_message("  \n ") is None
    assert safe_provider_message("invalid code AbC123", sensitive=("AbC123",)) is None


def test_error_message_carries_status_reason_and_safe_provider_message() -> None:
    error = GrantRefused(
        "access_token", "the store refused the grant", status_code=403, provider_message="No"
    )
    assert str(error) == "access_token: HTTP 403: the store refused the grant (store said: No)"
    assert error.detail == str(error)
    assert not error.transient


def test_token_set_repr_hides_tokens() -> None:
    tokens = TokenSet("access-SECRET", "refresh-SECRET", None)
    assert "SECRET" not in repr(tokens)
    assert "SECRET" not in str(tokens)


# -- client status mapping, offline (answers the sandbox never gives) ---------------------------


def _client_answering(response: httpx2.Response) -> AmeriCommerceClient:
    transport = httpx2.MockTransport(lambda request: response)
    return AmeriCommerceClient(http=httpx2.Client(transport=transport))


def _exchange(client: AmeriCommerceClient) -> TokenSet:
    return client.exchange_code(
        "https://store.cart.com",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth_id="auth-77",
        code="Code-AbC",
        scope=SCOPE,
        redirect_uri=MIXED_REDIRECT,
    )


@pytest.mark.parametrize(
    ("response", "error", "status"),
    [
        (httpx2.Response(404, json={"status_code": 404, "message": "Not Found"}), RequestRejected, 404),
        (httpx2.Response(408), ProviderUnavailable, 408),
        (httpx2.Response(400, json={"status_code": 400}), GrantRefused, 400),
        (httpx2.Response(200, json={"refresh_token": "r"}), ProviderResponseError, 200),
        (httpx2.Response(200, json={"access_token": 5}), ProviderResponseError, 200),
        (httpx2.Response(200, json=["access_token"]), ProviderResponseError, 200),
        (httpx2.Response(200, content=b"\xff\xfe"), ProviderResponseError, 200),
        (httpx2.Response(200, content=b"{" + b" " * (1 << 20)), ProviderResponseError, 200),
        (httpx2.Response(301, headers={"Location": "https://elsewhere/"}), ProviderResponseError, 301),
    ],
)
def test_client_status_mapping(response: httpx2.Response, error: type[ProviderError], status: int) -> None:
    with pytest.raises(error) as info:
        _exchange(_client_answering(response))
    assert info.value.status_code == status
    assert "Code-AbC" not in str(info.value) and "auth-77" not in str(info.value)


def test_client_503_carries_retry_after() -> None:
    client = _client_answering(httpx2.Response(503, headers={"Retry-After": "30"}))
    with pytest.raises(ProviderUnavailable) as info:
        _exchange(client)
    assert info.value.retry_after_seconds == 30.0


def test_client_drops_a_provider_message_that_echoes_what_was_sent() -> None:
    echo = httpx2.Response(403, json={"status_code": 403, "message": "bad auth_id auth-77", "details": "x"})
    with pytest.raises(GrantRefused) as info:
        _exchange(_client_answering(echo))
    assert info.value.provider_message is None
    assert "auth-77" not in str(info.value)
    long = httpx2.Response(403, json={"message": "m" * 500})
    with pytest.raises(GrantRefused) as info:
        _exchange(_client_answering(long))
    assert "m" * 201 not in str(info.value)


def test_client_token_set_without_expiry_or_refresh_token() -> None:
    tokens = _exchange(_client_answering(httpx2.Response(200, json={"access_token": "a"})))
    assert tokens == TokenSet("a", None, None, expiry_unknown=True)
    refreshed = _client_answering(httpx2.Response(200, json={"access_token": "b"})).refresh(
        "https://store.cart.com", client_id=CLIENT_ID, client_secret=SECRET, refresh_token="old", scope=SCOPE
    )
    assert refreshed.refresh_token == "old"  # an answer without one keeps the token just used


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"total_count": 1, "stores": [{"id": 1, "name": "Main Store"}]}, "Main Store"),  # the OpenAPI file
        ({"id": 1, "name": "Main Store", "domain_name": "x.com"}, "Main Store"),  # the stores page
        ({"total_count": 0, "stores": []}, None),
        ({"total_count": 1}, None),
        (["not", "an", "object"], None),
        ({"stores": [{"name": 7}]}, None),
    ],
)
def test_any_2xx_store_answer_means_the_token_works_whatever_its_shape(body, name) -> None:
    client = _client_answering(httpx2.Response(200, json=body, headers={"X-AC-Call-Limit": "3/20"}))
    result = client.probe("https://store.cart.com", "token", "/api/v1/stores")
    assert (result.status_code, result.store_name, result.call_limit) == (200, name, CallLimit(3, 20))


def test_a_probe_is_a_fresh_get_with_the_token_header() -> None:
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(204)

    client = AmeriCommerceClient(http=httpx2.Client(transport=httpx2.MockTransport(answer)))
    result = client.probe("https://store.cart.com", "tok-1", "/api/v1/products?count=1")
    assert result.status_code == 204 and result.store_name is None
    (request,) = seen
    assert (request.method, str(request.url)) == ("GET", "https://store.cart.com/api/v1/products?count=1")
    assert request.headers["X-AC-Auth-Token"] == "tok-1"
    assert request.headers["Cache-Control"] == "no-cache"
    assert "Authorization" not in request.headers


def test_every_answer_is_heard_with_its_call_limit_and_retry_after() -> None:
    heard: list[StoreAnswer] = []
    answers = iter(
        [
            httpx2.Response(200, json={}, headers={"X-AC-Call-Limit": "1/10"}),
            httpx2.Response(429, json={}, headers={"X-AC-Call-Limit": "10/10", "Retry-After": "7"}),
        ]
    )
    client = AmeriCommerceClient(
        http=httpx2.Client(transport=httpx2.MockTransport(lambda request: next(answers))),
        on_answer=heard.append,
    )
    client.probe("https://store.cart.com", "token", "/api/v1/orders?count=1")
    with pytest.raises(RateLimited):
        client.probe("https://store.cart.com", "token", "/api/v1/orders?count=1")
    assert heard == [StoreAnswer(200, CallLimit(1, 10), None), StoreAnswer(429, CallLimit(10, 10), 7.0)]


def test_naive_expiry_with_arrival_time_is_the_earliest_future_reading():
    from datetime import UTC, datetime, timedelta

    from cartconnect.provider.expiry import parse_expires

    received = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    # A store in UTC-6 writing a token that really expires at 03:00 UTC, as naive local time.
    expires = parse_expires("2026-11-27T21:00:00.000", scopes="read_orders", received_at=received)
    assert expires == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    # Whatever the store's zone, the reading is never later than the real instant.
    for offset_hours in range(-12, 15):
        real = received + timedelta(hours=1)
        wall = (real + timedelta(hours=offset_hours)).replace(tzinfo=None).isoformat()
        parsed = parse_expires(wall, scopes="read_orders", received_at=received)
        assert received < parsed <= real
