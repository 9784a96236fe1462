"""The provider client (provider/americommerce.py) offline: status mapping, Retry-After, the call
limit, probes, token answers the sandbox never gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
)

SECRET = "app-secret"

CLIENT_ID = "12345"

SCOPE = "system,orders"

MIXED_REDIRECT = "https://App.Example.com/Connection/OAuth2Callback?r=XyZ"


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


def test_token_set_repr_hides_tokens() -> None:
    tokens = TokenSet("access-SECRET", "refresh-SECRET", None)
    assert "SECRET" not in repr(tokens)
    assert "SECRET" not in str(tokens)


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
