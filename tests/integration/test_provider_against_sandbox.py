"""AmeriCommerceClient against a real SandboxStore on loopback (no mocks, no internet)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from cartconnect import hosts
from cartconnect.domain.tokens import TokenSet
from cartconnect.provider.americommerce import AmeriCommerceClient, CallLimit, ForwardedAnswer, StoreAnswer
from cartconnect.provider.errors import (
    AccessTokenRejected,
    GrantRefused,
    ProviderError,
    ProviderResponseError,
    ProviderTimedOut,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StoreNotReached,
)
from cartconnect.provider.transport import UncheckedStoreHost
from cartconnect.provider.urls import build_authorize_url
from cartconnect.settings import Settings
from cartconnect_dev.sandbox_store import SandboxStore

CLIENT_ID = "12345"
SECRET = "App-Secret-42"
SCOPE = "system,orders"
REDIRECT = "https://App.Example.com/Connection/OAuth2Callback?r=AbC123"
STORES = "/api/v1/stores"


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    with SandboxStore() as sandbox:
        sandbox.register_app(CLIENT_ID, SECRET)
        sandbox.faults.auto_approve = True
        yield sandbox


@pytest.fixture(scope="module")
def http() -> Iterator[httpx2.Client]:
    """A plain client for driving the browser side; never follows redirects."""
    with httpx2.Client(follow_redirects=False, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def pool() -> Iterator[httpx2.Client]:
    with httpx2.Client(trust_env=False) as shared:
        yield shared


@pytest.fixture
def client(pool: httpx2.Client) -> AmeriCommerceClient:
    return AmeriCommerceClient(http=pool)


def authorize(
    store: SandboxStore,
    http: httpx2.Client,
    *,
    scope: str = SCOPE,
    redirect_uri: str = REDIRECT,
    state: str | None = None,
) -> tuple[str, str, str]:
    """Drive the consent (auto_approve); return (auth_id, code, Location) without following it."""
    url = build_authorize_url(store.base_url, CLIENT_ID, scope, redirect_uri)
    if state is not None:
        url += "&state=" + state
    response = http.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    return query["auth_id"][0], query["code"][0], location


def exchange(
    client: AmeriCommerceClient,
    store: SandboxStore,
    auth_id: str,
    code: str,
    *,
    scope: str = SCOPE,
    redirect_uri: str = REDIRECT,
    secret: str = SECRET,
) -> TokenSet:
    return client.exchange_code(
        store.base_url,
        client_id=CLIENT_ID,
        client_secret=secret,
        auth_id=auth_id,
        code=code,
        scope=scope,
        redirect_uri=redirect_uri,
    )


def connect(client: AmeriCommerceClient, store: SandboxStore, http: httpx2.Client) -> TokenSet:
    auth_id, code, _ = authorize(store, http)
    return exchange(client, store, auth_id, code)


def assert_safe(error: ProviderError, *secrets: str) -> None:
    text = str(error)
    for value in (SECRET, *secrets):
        assert value not in text
    assert "{" not in text  # no raw body


# -- consent --------------------------------------------------------------------------------------


def test_consent_redirect_keeps_the_callback_query_and_adds_auth_id_and_code(
    store: SandboxStore, http: httpx2.Client
) -> None:
    auth_id, code, location = authorize(store, http)
    assert location.startswith(REDIRECT + "&auth_id=")
    assert parse_qs(urlsplit(location).query)["r"] == ["AbC123"]
    record = store.auth_record(auth_id)
    assert record is not None
    assert (record.client_id, record.code, record.scope, record.redirect_uri) == (
        CLIENT_ID,
        code,
        SCOPE,
        REDIRECT,
    )


def test_state_is_echoed_only_when_the_switch_is_on(store: SandboxStore, http: httpx2.Client) -> None:
    _, _, location = authorize(store, http, state="s-1")
    assert parse_qs(urlsplit(location).query)["state"] == ["s-1"]
    store.faults.echo_state = False
    _, _, location = authorize(store, http, state="s-2")
    assert "state" not in parse_qs(urlsplit(location).query)


def test_lowercase_redirect_uri_switch_and_the_exchange_still_signs_the_original(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    store.faults.lowercase_redirect_uri = True
    auth_id, code, location = authorize(store, http)
    assert location.startswith(REDIRECT.lower() + "&auth_id=")
    assert parse_qs(urlsplit(location).query)["code"] == [code]  # the code itself keeps its case
    assert exchange(client, store, auth_id, code).access_token


def test_consent_page_approve_and_deny(store: SandboxStore, http: httpx2.Client) -> None:
    store.faults.auto_approve = False
    url = build_authorize_url(store.base_url, CLIENT_ID, SCOPE, REDIRECT) + "&state=st"

    def consent() -> str:
        page = http.get(url)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert CLIENT_ID in page.text and "<li>system</li>" in page.text and "<li>orders</li>" in page.text
        assert "Approve" in page.text and "Deny" in page.text
        assert "http://" not in page.text.replace(store.base_url, "")  # no external assets
        match = re.search(r'name="request_id" value="([^"]+)"', page.text)
        assert match is not None
        return match.group(1)

    denied = http.post(
        f"{store.base_url}/api/oauth/decision", data={"request_id": consent(), "decision": "deny"}
    )
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["error_reason"] == ["user_denied"]
    assert query["error_description"][0]
    assert query["state"] == ["st"] and query["r"] == ["AbC123"]
    assert "code" not in query

    request_id = consent()
    approved = http.post(
        f"{store.base_url}/api/oauth/decision", data={"request_id": request_id, "decision": "approve"}
    )
    assert approved.status_code == 302
    assert {"auth_id", "code", "state", "r"} <= parse_qs(urlsplit(approved.headers["Location"]).query).keys()
    # A consent request is answered once.
    again = http.post(
        f"{store.base_url}/api/oauth/decision", data={"request_id": request_id, "decision": "approve"}
    )
    assert again.status_code == 400


def test_consent_for_an_unknown_app_is_refused(store: SandboxStore, http: httpx2.Client) -> None:
    response = http.get(build_authorize_url(store.base_url, "999", SCOPE, REDIRECT))
    assert response.status_code == 400


# -- token exchange -------------------------------------------------------------------------------


def test_exchange_succeeds(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    before = datetime.now(UTC)
    tokens = connect(client, store, http)
    assert tokens.access_token and tokens.refresh_token
    assert tokens.expires_at is not None
    assert before + timedelta(seconds=3590) <= tokens.expires_at <= before + timedelta(seconds=3610)
    assert store.calls["access_token"] == 1


def test_exchange_body_is_exactly_the_documented_fields(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    auth_id, code, _ = authorize(store, http)
    exchange(client, store, auth_id, code)
    captured = store.last_request("/api/oauth/access_token")
    assert captured is not None
    assert captured.headers["Content-Type"] == "application/json"
    body = captured.json()
    assert set(body) == {"client_id", "auth_id", "signature"}
    expected = hashlib.sha256((SECRET + code + CLIENT_ID + SCOPE + REDIRECT.lower()).encode()).hexdigest()
    assert body == {"client_id": CLIENT_ID, "auth_id": auth_id, "signature": expected}
    raw = captured.body.decode()
    for forbidden in (code, SECRET, "grant_type", "client_secret", "redirect_uri", "scope"):
        assert forbidden not in raw
    assert "Authorization" not in captured.headers


@pytest.mark.parametrize(
    "change",
    [
        {"scope": "system"},
        {"scope": "orders,system"},
        {"redirect_uri": "https://app.example.com/connection/oauth2callback?r=other"},
        {"secret": "wrong-secret"},
    ],
)
def test_exchange_with_wrong_inputs_is_refused(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, change: dict[str, str]
) -> None:
    auth_id, code, _ = authorize(store, http)
    with pytest.raises(GrantRefused) as info:
        exchange(client, store, auth_id, code, **change)
    assert info.value.status_code == 403
    assert not info.value.transient
    assert_safe(info.value, code, auth_id)


def test_exchange_with_an_unknown_auth_id_is_refused(
    store: SandboxStore, client: AmeriCommerceClient
) -> None:
    with pytest.raises(GrantRefused):
        exchange(client, store, "00000000-0000-0000-0000-000000000000", "nope")


def test_auth_id_is_single_use(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    auth_id, code, _ = authorize(store, http)
    exchange(client, store, auth_id, code)
    with pytest.raises(GrantRefused) as info:
        exchange(client, store, auth_id, code)
    assert info.value.status_code == 403
    assert_safe(info.value, code, auth_id)


def test_auth_id_is_consumed_even_by_a_failed_exchange(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    auth_id, code, _ = authorize(store, http)
    with pytest.raises(GrantRefused):
        exchange(client, store, auth_id, code, scope="system")
    with pytest.raises(GrantRefused):
        exchange(client, store, auth_id, code)


def test_sandbox_accepts_a_form_encoded_exchange_and_answers_json(
    store: SandboxStore, http: httpx2.Client
) -> None:
    auth_id, code, _ = authorize(store, http)
    signature = hashlib.sha256((SECRET + code + CLIENT_ID + SCOPE + REDIRECT.lower()).encode()).hexdigest()
    response = http.post(
        f"{store.base_url}/api/oauth/access_token",
        data={"client_id": CLIENT_ID, "auth_id": auth_id, "signature": signature},
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "refresh_token", "expires"}
    bad = http.post(f"{store.base_url}/api/oauth/access_token", data={"client_id": CLIENT_ID})
    assert bad.status_code == 400
    assert set(bad.json()) == {"status_code", "message", "details"}


@pytest.mark.parametrize("fmt", ["z", "offset", "naive", "absent"])
def test_expires_formats(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, fmt: str
) -> None:
    store.faults.expires_format = fmt  # type: ignore[assignment]
    store.faults.token_lifetime_seconds = 7200
    now = datetime.now(UTC)
    tokens = connect(client, store, http)
    true_expiry = now + timedelta(seconds=7200)
    if fmt == "absent":
        assert tokens.expires_at is None
        return
    assert tokens.expires_at is not None
    # Never later than the real expiry (1 s slack for the request itself).
    assert tokens.expires_at <= true_expiry + timedelta(seconds=1)
    if fmt == "naive":
        # The store writes UTC-06:00 wall clock; its earliest future whole-hour reading is the real one
        # here (a 2 h token: the reading an hour earlier is also in the future, so up to 1 h early).
        assert true_expiry - timedelta(hours=1, seconds=5) <= tokens.expires_at
    else:
        assert abs(tokens.expires_at - true_expiry) < timedelta(seconds=5)


def test_no_expiry_scope_never_expires(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    scope = "system,no_expiry"
    auth_id, code, _ = authorize(store, http, scope=scope)
    tokens = exchange(client, store, auth_id, code, scope=scope)
    assert tokens.expires_at is None and not tokens.expiry_unknown
    assert tokens.refresh_token is None  # the store gives a never-expiring grant no refresh token


def test_an_unreadable_expires_keeps_the_tokens_and_warns(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    store.faults.expires_format = "garbage"
    tokens = connect(client, store, http)
    assert tokens.access_token and tokens.refresh_token
    assert (tokens.expires_at, tokens.expiry_unknown) == (None, True)
    assert tokens.warning == "expires is not an ISO 8601 date-time"
    # The store spent the auth_id: these tokens are the grant. They work.
    assert client.probe(store.base_url, tokens.access_token, STORES).status_code == 200


# -- refresh --------------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    first = connect(client, store, http)
    assert first.refresh_token is not None

    def refresh(token: str) -> TokenSet:
        return client.refresh(
            store.base_url, client_id=CLIENT_ID, client_secret=SECRET, refresh_token=token, scope=SCOPE
        )

    second = refresh(first.refresh_token)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.expires_at is not None

    captured = store.last_request("/api/oauth/refresh")
    assert captured is not None
    expected = hashlib.sha256((SECRET + first.refresh_token + CLIENT_ID).encode()).hexdigest()
    assert captured.json() == {
        "client_id": CLIENT_ID,
        "refresh_token": first.refresh_token,
        "signature": expected,
    }
    assert SECRET not in captured.body.decode() and "grant_type" not in captured.body.decode()

    # "Refresh tokens can be used multiple times": the older one is still accepted, and each
    # answer carries yet another refresh token.
    third = refresh(first.refresh_token)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)
    assert refresh(second.refresh_token).access_token
    assert store.calls["refresh"] == 3


def test_refresh_with_a_bad_signature_or_unknown_token_is_refused(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    tokens = connect(client, store, http)
    assert tokens.refresh_token is not None
    with pytest.raises(GrantRefused) as info:
        client.refresh(
            store.base_url,
            client_id=CLIENT_ID,
            client_secret="wrong",
            refresh_token=tokens.refresh_token,
            scope=SCOPE,
        )
    assert_safe(info.value, tokens.refresh_token)
    with pytest.raises(GrantRefused):
        client.refresh(
            store.base_url, client_id=CLIENT_ID, client_secret=SECRET, refresh_token="unknown", scope=SCOPE
        )
    assert store.revoke_grant_of(tokens.refresh_token)
    with pytest.raises(GrantRefused):
        client.refresh(
            store.base_url,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            refresh_token=tokens.refresh_token,
            scope=SCOPE,
        )


def test_refuse_grants(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    tokens = connect(client, store, http)
    assert tokens.refresh_token is not None
    store.faults.refuse_grants = True
    with pytest.raises(GrantRefused) as info:
        client.refresh(
            store.base_url,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            refresh_token=tokens.refresh_token,
            scope=SCOPE,
        )
    assert info.value.status_code == 401
    assert not info.value.transient
    auth_id, code, _ = authorize(store, http)
    with pytest.raises(GrantRefused):
        exchange(client, store, auth_id, code)


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_provider_unavailable(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, status: int
) -> None:
    auth_id, code, _ = authorize(store, http)
    store.faults.status_5xx = status  # type: ignore[assignment]
    with pytest.raises(ProviderUnavailable) as info:
        exchange(client, store, auth_id, code)
    assert info.value.status_code == status
    assert info.value.transient
    assert_safe(info.value, code, auth_id)


@pytest.mark.parametrize(("switch", "reason"), [("malformed_json", "not valid JSON"), ("html_body", "HTML")])
def test_unparseable_200_is_a_response_error(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, switch: str, reason: str
) -> None:
    tokens = connect(client, store, http)
    assert tokens.refresh_token is not None
    setattr(store.faults, switch, True)
    with pytest.raises(ProviderResponseError) as info:
        client.refresh(
            store.base_url,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            refresh_token=tokens.refresh_token,
            scope=SCOPE,
        )
    assert reason in str(info.value)
    assert info.value.status_code == 200
    assert "trunc" not in str(info.value) and "<" not in str(info.value)


def test_429_with_seconds(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    auth_id, code, _ = authorize(store, http)
    store.configure(rate_limit_token_endpoints=True, retry_after_format="seconds", retry_after_seconds=7)
    with pytest.raises(RateLimited) as info:
        exchange(client, store, auth_id, code)
    assert info.value.retry_after_seconds == 7.0
    assert info.value.status_code == 429
    assert info.value.transient


def test_429_with_an_http_date(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    auth_id, code, _ = authorize(store, http)
    store.configure(rate_limit_token_endpoints=True, retry_after_format="http-date", retry_after_seconds=7)
    with pytest.raises(RateLimited) as info:
        exchange(client, store, auth_id, code)
    retry = info.value.retry_after_seconds
    assert retry is not None and 5.0 <= retry <= 9.0
    # The rate-limited exchange did not consume the auth_id: it still works afterwards.
    store.faults.rate_limit_token_endpoints = False
    assert exchange(client, store, auth_id, code).access_token


def test_latency_beyond_the_read_timeout_is_provider_unavailable(
    store: SandboxStore, http: httpx2.Client
) -> None:
    auth_id, code, _ = authorize(store, http)
    store.faults.latency_ms = 1500
    with httpx2.Client(trust_env=False) as pool:
        fast = AmeriCommerceClient(
            http=pool, timeout=httpx2.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
        )
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable) as info:
            exchange(fast, store, auth_id, code)
    assert time.monotonic() - started < 1.2
    assert "timed out" in str(info.value)
    assert info.value.status_code is None


def test_connection_refused_is_provider_unavailable(store: SandboxStore, client: AmeriCommerceClient) -> None:
    base_url = store.base_url
    store.stop()
    with pytest.raises(ProviderUnavailable) as info:
        client.probe(base_url, "token", STORES)
    assert "connection failed" in str(info.value)


def test_a_redirect_from_the_store_is_not_followed(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    auth_id, code, _ = authorize(store, http)
    store.faults.redirect_token_endpoints = True
    with pytest.raises(ProviderResponseError) as info:
        exchange(client, store, auth_id, code)
    assert info.value.status_code == 302
    assert store.calls["redirected"] == 0
    host = store.host.split(":")[0]
    assert f"access_token: HTTP 302: the store answered a redirect to another path on {host}" in str(
        info.value
    )
    assert "/api/oauth/redirected" not in str(info.value)


def test_even_a_redirect_following_pool_does_not_follow(store: SandboxStore, http: httpx2.Client) -> None:
    auth_id, code, _ = authorize(store, http)
    store.faults.redirect_token_endpoints = True
    with (
        httpx2.Client(trust_env=False, follow_redirects=True) as following,
        pytest.raises(ProviderResponseError),
    ):
        exchange(AmeriCommerceClient(http=following), store, auth_id, code)
    assert store.calls["redirected"] == 0


def test_the_default_shared_client_works(store: SandboxStore, http: httpx2.Client) -> None:
    # The shared client connects only to hosts checked in this context (the dev-only insecure host
    # here: exempt from resolving, reached as given).
    settings = Settings(table_name="t", kms_key_id="k", insecure_store_hosts=(store.host,))
    base_url = hosts.safe_store_base_url(store.host, settings)
    tokens = connect(AmeriCommerceClient(), store, http)
    assert AmeriCommerceClient().probe(base_url, tokens.access_token, STORES).store_name == "Sandbox Store"


def test_the_default_shared_client_refuses_an_unchecked_host(store: SandboxStore) -> None:
    token = hosts._pinned.set(None)
    try:
        with pytest.raises(UncheckedStoreHost):
            AmeriCommerceClient().probe(store.base_url, "token", STORES)
    finally:
        hosts._pinned.reset(token)
    assert store.calls.get("stores", 0) == 0


# -- REST API -------------------------------------------------------------------------------------


def test_the_stores_probe_names_the_store_and_reads_the_call_limit(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    tokens = connect(client, store, http)
    info = client.probe(store.base_url, tokens.access_token, STORES)
    assert (info.status_code, info.store_name) == (200, "Sandbox Store")
    assert info.call_limit == CallLimit(1, 50)
    assert client.probe(store.base_url, tokens.access_token, STORES).call_limit == CallLimit(2, 50)
    captured = http.get(f"{store.base_url}/api/v1/stores", headers={"X-AC-Auth-Token": tokens.access_token})
    assert captured.headers["X-AC-Call-Limit"] == "3/50"
    assert set(captured.json()["stores"][0]) >= {"id", "name", "domain_name", "is_micro_store"}


def test_a_probe_with_a_missing_or_expired_token_is_401(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    tokens = connect(client, store, http)
    for token in ("", "unknown-token"):
        with pytest.raises(AccessTokenRejected) as info:
            client.probe(store.base_url, token, STORES)
        assert info.value.status_code == 401
    store.expire_access_token(tokens.access_token)
    with pytest.raises(AccessTokenRejected) as info:
        client.probe(store.base_url, tokens.access_token, STORES)
    assert_safe(info.value, tokens.access_token)
    assert "details" not in str(info.value)  # only the short `message` is ever carried
    expired = http.get(f"{store.base_url}/api/v1/stores", headers={"X-AC-Auth-Token": tokens.access_token})
    assert expired.json() == {"status_code": 401, "message": "Unauthorized", "details": "Token expired"}
    raw = http.get(f"{store.base_url}/api/v1/stores")
    assert raw.status_code == 401
    assert raw.json()["details"] == "Missing X-AC-Auth-Token" and "X-AC-Call-Limit" in raw.headers


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_a_probe_past_50_calls_in_10_seconds_is_429(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, fmt: str
) -> None:
    store.faults.retry_after_format = fmt  # type: ignore[assignment]
    tokens = connect(client, store, http)
    for used in range(1, 51):
        assert client.probe(store.base_url, tokens.access_token, STORES).call_limit == CallLimit(used, 50)
    with pytest.raises(RateLimited) as info:
        client.probe(store.base_url, tokens.access_token, STORES)
    retry = info.value.retry_after_seconds
    assert retry is not None and 0 < retry <= 11
    raw = http.get(f"{store.base_url}/api/v1/stores", headers={"X-AC-Auth-Token": tokens.access_token})
    assert raw.status_code == 429
    assert raw.headers["X-AC-Call-Limit"] == "50/50"
    assert "Retry-After" in raw.headers


def test_api_window_slides(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    store.configure(api_call_limit=5, api_window_seconds=1.5)  # room for 6 loopback calls in one window
    tokens = connect(client, store, http)
    for _ in range(5):
        client.probe(store.base_url, tokens.access_token, STORES)
    with pytest.raises(RateLimited):
        client.probe(store.base_url, tokens.access_token, STORES)
    time.sleep(1.6)
    assert client.probe(store.base_url, tokens.access_token, STORES).call_limit == CallLimit(1, 5)


def test_the_stores_answer_as_a_bare_object_names_the_store_too(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    tokens = connect(client, store, http)
    store.configure(stores_shape="object")
    assert client.probe(store.base_url, tokens.access_token, STORES).store_name == "Sandbox Store"


def test_the_store_refuses_reads_the_grant_does_not_allow(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    auth_id, code, _ = authorize(store, http, scope="read_catalog")
    tokens = exchange(client, store, auth_id, code, scope="read_catalog")
    with pytest.raises(RequestRejected) as refused:
        client.probe(store.base_url, tokens.access_token, STORES)  # needs `system`
    assert refused.value.status_code == 403
    assert client.probe(store.base_url, tokens.access_token, "/api/v1/products?count=1").status_code == 200
    with pytest.raises(RequestRejected) as other:
        client.probe(store.base_url, tokens.access_token, "/api/v1/orders?count=1")
    assert other.value.status_code == 403


# -- sandbox admin over HTTP ----------------------------------------------------------------------


def test_admin_endpoints(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> None:
    config = http.get(f"{store.base_url}/_sandbox/config").json()
    assert config["auto_approve"] is True and config["echo_state"] is True

    changed = http.post(f"{store.base_url}/_sandbox/config", json={"status_5xx": 502, "latency_ms": 5})
    assert changed.status_code == 200 and changed.json()["status_5xx"] == 502
    assert store.faults.status_5xx == 502

    for bad in ({"no_such_switch": True}, {"expires_format": "epoch"}, {"status_5xx": 404}):
        response = http.post(f"{store.base_url}/_sandbox/config", json=bad)
        assert response.status_code == 400
    assert store.faults.latency_ms == 5  # a rejected change changes nothing

    assert http.post(f"{store.base_url}/_sandbox/reset").json()["status_5xx"] is None
    assert store.calls == {}

    added = http.post(f"{store.base_url}/_sandbox/apps", json={"client_id": "777", "client_secret": "s7"})
    assert added.status_code == 200
    assert http.post(f"{store.base_url}/_sandbox/apps", json={"client_id": "777"}).status_code == 400
    http.post(f"{store.base_url}/_sandbox/config", json={"auto_approve": True})
    response = http.get(build_authorize_url(store.base_url, "777", "system", "http://127.0.0.1/cb"))
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    tokens = client.exchange_code(
        store.base_url,
        client_id="777",
        client_secret="s7",
        auth_id=query["auth_id"][0],
        code=query["code"][0],
        scope="system",
        redirect_uri="http://127.0.0.1/cb",
    )
    assert tokens.access_token
    assert json.loads(http.get(f"{store.base_url}/_sandbox/config").content)["auto_approve"] is True


def test_faults_assignment_is_validated(store: SandboxStore) -> None:
    with pytest.raises(ValueError):
        store.faults.expires_format = "epoch"  # type: ignore[assignment]


# -- answers the docs leave open: error bodies, redirect-URI signing -------------------------------


@pytest.mark.parametrize("style", ["americommerce", "oauth"])
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_token_endpoint_errors_in_every_style_and_encoding(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient, style: str, encoding: str
) -> None:
    store.configure(error_style=style, error_encoding=encoding)
    auth_id, code, _ = authorize(store, http)
    with pytest.raises(GrantRefused) as refused:
        exchange(client, store, auth_id, code, secret="wrong-secret")
    expected = "invalid_grant: Invalid signature" if style == "oauth" else "Forbidden: Invalid signature"
    assert refused.value.provider_message == expected
    assert_safe(refused.value, code, auth_id)
    raw = http.post(f"{store.base_url}/api/oauth/access_token", json={"client_id": CLIENT_ID})
    assert raw.status_code == 400
    content_type = raw.headers["Content-Type"]
    assert content_type.startswith(
        "application/x-www-form-urlencoded" if encoding == "form" else "application/json"
    )
    fields = {k: v[0] for k, v in parse_qs(raw.text).items()} if encoding == "form" else raw.json()
    assert set(fields) == (
        {"error", "error_description"} if style == "oauth" else {"status_code", "message", "details"}
    )

    store.configure(rate_limit_token_endpoints=True)
    with pytest.raises(RateLimited) as limited:
        exchange(client, store, auth_id, code)
    assert limited.value.retry_after_seconds == 7
    assert limited.value.provider_message == (
        "slow_down: Rate limit exceeded" if style == "oauth" else "Too Many Requests: Rate limit exceeded"
    )
    store.configure(rate_limit_token_endpoints=False, status_5xx=503)
    with pytest.raises(ProviderUnavailable) as unavailable:
        exchange(client, store, auth_id, code)
    assert unavailable.value.provider_message == (
        "server_error: Sandbox fault" if style == "oauth" else "Service Unavailable: Sandbox fault"
    )


def test_a_redirect_uri_with_reserved_characters_signs_in_its_canonical_form(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    from cartconnect.provider.signing import canonical_redirect_uri

    callback = "https://App.Example.com/oauth2/callback?next=/a:b&x=1 2"
    canonical = canonical_redirect_uri(callback, [("cc_state", "AbC")])
    auth_id, code, location = authorize(store, http, redirect_uri=canonical)
    assert location.startswith(canonical + "&auth_id=")  # the browser comes back to it unchanged
    assert exchange(client, store, auth_id, code, redirect_uri=canonical).access_token

    # The same callback sent as configured (raw "/", ":" and space in its query): the store signs
    # its re-encoded form, so the signature over the URI as sent does not match.
    raw = callback + "&cc_state=AbC"
    auth_id, code, _ = authorize(store, http, redirect_uri=raw)
    with pytest.raises(GrantRefused) as info:
        exchange(client, store, auth_id, code, redirect_uri=raw)
    assert info.value.status_code == 403 and info.value.provider_message == "Forbidden: Invalid signature"


def test_only_lowercase_hex_signatures_are_accepted(store: SandboxStore, http: httpx2.Client) -> None:
    auth_id, code, _ = authorize(store, http)
    signature = hashlib.sha256((SECRET + code + CLIENT_ID + SCOPE + REDIRECT.lower()).encode()).hexdigest()
    url = f"{store.base_url}/api/oauth/access_token"
    upper = http.post(url, json={"client_id": CLIENT_ID, "auth_id": auth_id, "signature": signature.upper()})
    assert upper.status_code == 403
    auth_id, code, _ = authorize(store, http)
    signature = hashlib.sha256((SECRET + code + CLIENT_ID + SCOPE + REDIRECT.lower()).encode()).hexdigest()
    assert (
        http.post(url, json={"client_id": CLIENT_ID, "auth_id": auth_id, "signature": signature}).status_code
        == 200
    )
    auth_id, _, _ = authorize(store, http)
    odd = http.post(url, json={"client_id": CLIENT_ID, "auth_id": auth_id, "signature": "é" * 64})
    assert (odd.status_code, odd.json()["details"]) == (403, "Invalid signature")


# -- forwarded calls (the store proxy): any status answered, only a transport failure raises --------

CATALOG = "system,catalog"
PRODUCTS = "/api/v1/products"


def catalog_token(store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient) -> str:
    auth_id, code, _ = authorize(store, http, scope=CATALOG)
    return exchange(client, store, auth_id, code, scope=CATALOG).access_token


def forward(
    client: AmeriCommerceClient,
    base_url: str,
    token: str,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    content_type: str | None = None,
    max_response_bytes: int = 1 << 20,
) -> ForwardedAnswer:
    return client.forward(
        base_url,
        token,
        method=method,
        path=path,
        body=body,
        content_type=content_type,
        max_response_bytes=max_response_bytes,
    )


def sent_headers(store: SandboxStore, path: str) -> dict[str, str]:
    request = store.last_request(path)
    assert request is not None
    return {name.lower(): value for name, value in request.headers.items()}


def test_a_forwarded_get_answers_the_page_and_the_call_limit_and_asks_for_no_cached_answer(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    token = catalog_token(store, http, client)
    answer = forward(client, store.base_url, token, "GET", f"{PRODUCTS}?count=2&page=2")
    assert answer.status_code == 200 and answer.content_type == "application/json; charset=utf-8"
    page = json.loads(answer.body)
    assert [item["id"] for item in page["products"]] == [3, 4] and page["total_count"] == 25
    assert page["next_page"] == f"{store.base_url}{PRODUCTS}?page=3&count=2"
    assert (answer.call_limit, answer.retry_after) == (CallLimit(1, 50), None)
    headers = sent_headers(store, PRODUCTS)
    assert headers["cache-control"] == "no-cache" and headers["x-ac-auth-token"] == token
    assert headers["accept"] == "application/json" and "content-type" not in headers


def test_forwarded_writes_create_update_and_delete_without_cache_control(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    token = catalog_token(store, http, client)
    created = forward(
        client,
        store.base_url,
        token,
        "POST",
        PRODUCTS,
        b'{"item_name": "Mug"}',
        content_type="application/json",
    )
    assert created.status_code == 200
    item_id = json.loads(created.body)["id"]
    assert item_id == 26 and json.loads(created.body)["item_name"] == "Mug"
    posted = sent_headers(store, PRODUCTS)
    assert posted["content-type"] == "application/json" and "cache-control" not in posted

    path = f"{PRODUCTS}/{item_id}"
    # No content type given: the body is sent as JSON.
    updated = forward(client, store.base_url, token, "PUT", path, b'{"price": 4.5}')
    assert updated.status_code == 200 and json.loads(updated.body)["price"] == 4.5
    assert json.loads(updated.body)["item_name"] == "Mug"  # PUT merges
    put = sent_headers(store, path)
    assert put["content-type"] == "application/json" and "cache-control" not in put

    deleted = forward(client, store.base_url, token, "DELETE", path)
    assert (deleted.status_code, deleted.body) == (200, b"")
    assert "cache-control" not in sent_headers(store, path)
    assert forward(client, store.base_url, token, "GET", path).status_code == 404
    assert [r["id"] for r in store.records("products")][-1] == 25


def test_forwarded_error_statuses_are_answered_not_raised(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    token = catalog_token(store, http, client)
    missing = forward(client, store.base_url, token, "GET", f"{PRODUCTS}/999")
    assert missing.status_code == 404 and json.loads(missing.body)["message"] == "Not Found"
    conflict = forward(client, store.base_url, token, "POST", PRODUCTS, b'{"price": 1}')
    assert conflict.status_code == 409 and "item_name" in json.loads(conflict.body)["details"]
    for rejected in ("", "unknown-token"):
        unauthorized = forward(client, store.base_url, rejected, "GET", PRODUCTS)
        assert unauthorized.status_code == 401 and unauthorized.call_limit is not None
    not_allowed = forward(client, store.base_url, token, "DELETE", PRODUCTS)
    assert not_allowed.status_code == 405
    assert forward(client, store.base_url, token, "GET", f"{PRODUCTS}?page=abc").status_code == 400


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_a_forwarded_429_keeps_a_well_formed_retry_after_and_the_hook_hears_it(
    store: SandboxStore, http: httpx2.Client, pool: httpx2.Client, fmt: str
) -> None:
    heard: list[StoreAnswer] = []
    client = AmeriCommerceClient(http=pool, on_answer=heard.append)
    token = catalog_token(store, http, client)
    store.configure(api_call_limit=5, retry_after_format=fmt)
    for _ in range(5):
        assert forward(client, store.base_url, token, "GET", PRODUCTS).status_code == 200
    limited = forward(client, store.base_url, token, "GET", PRODUCTS)
    assert limited.status_code == 429 and limited.call_limit == CallLimit(5, 5)
    assert limited.retry_after is not None
    if fmt == "seconds":
        assert limited.retry_after.isdigit() and 0 < int(limited.retry_after) <= 10
    else:
        assert limited.retry_after.endswith(" GMT")
    retry = heard[-1].retry_after_seconds
    assert heard[-1].status_code == 429 and retry is not None and 0 < retry <= 11


@pytest.fixture
def scripted_store() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback server answering 429 with the headers the test puts in the list, one set a call."""
    answers: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = answers.pop(0)
            self.send_response(429)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("5", "5"),
        (" 5 ", "5"),
        ("5.5", "6"),  # RFC 9110 delta-seconds are whole: rounded up, never sooner than the store said
        ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"),
        ("soon", None),
        ("-1", None),
        ("5; drop table", None),
        ("", None),
    ],
)
def test_a_retry_after_that_is_not_well_formed_is_not_passed_on(
    scripted_store: tuple[str, list[dict[str, str]]], client: AmeriCommerceClient, sent: str, kept: str | None
) -> None:
    base_url, answers = scripted_store
    answers.append({"Retry-After": sent, "X-AC-Call-Limit": "50/50"})
    answers.append({"X-AC-Call-Limit": "many"})
    limited = forward(client, base_url, "token", "GET", PRODUCTS)
    assert (limited.status_code, limited.retry_after, limited.call_limit) == (429, kept, CallLimit(50, 50))
    bare = forward(client, base_url, "token", "GET", PRODUCTS)
    assert (bare.retry_after, bare.call_limit) == (None, None)


def test_a_forwarded_answer_over_max_response_bytes_is_a_response_error(
    store: SandboxStore, http: httpx2.Client, client: AmeriCommerceClient
) -> None:
    token = catalog_token(store, http, client)
    whole = forward(client, store.base_url, token, "GET", f"{PRODUCTS}?count=25")
    with pytest.raises(ProviderResponseError) as refused:
        forward(
            client,
            store.base_url,
            token,
            "GET",
            f"{PRODUCTS}?count=25",
            max_response_bytes=len(whole.body) - 1,
        )
    assert refused.value.status_code == 200 and "too large" in str(refused.value)
    exact = forward(
        client, store.base_url, token, "GET", f"{PRODUCTS}?count=25", max_response_bytes=len(whole.body)
    )
    assert len(exact.body) == len(whole.body)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_forward_to_a_closed_port_never_left_store_not_reached(client: AmeriCommerceClient) -> None:
    with pytest.raises(StoreNotReached) as info:
        forward(client, f"http://127.0.0.1:{_free_port()}", "token", "POST", PRODUCTS, b"{}")
    assert "connection failed" in str(info.value) and info.value.transient


def test_a_store_that_accepts_but_never_answers_has_timed_out_after_the_request_was_sent() -> None:
    with socket.socket() as silent, httpx2.Client(trust_env=False) as pool:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        fast = AmeriCommerceClient(
            http=pool, timeout=httpx2.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
        )
        started = time.monotonic()
        with pytest.raises(ProviderTimedOut) as info:
            forward(fast, f"http://127.0.0.1:{silent.getsockname()[1]}", "token", "POST", PRODUCTS, b"{}")
    assert not isinstance(info.value, StoreNotReached)  # it may have reached the store
    assert time.monotonic() - started < 2.0 and "timed out" in str(info.value)


def test_the_default_shared_client_forwards_to_a_host_checked_in_this_thread(
    store: SandboxStore, http: httpx2.Client
) -> None:
    settings = Settings(table_name="t", kms_key_id="k", insecure_store_hosts=(store.host,))
    base_url = hosts.safe_store_base_url(store.host, settings)  # pins the host in this context
    token = catalog_token(store, http, AmeriCommerceClient())
    created = forward(AmeriCommerceClient(), base_url, token, "POST", PRODUCTS, b'{"item_name": "Pinned"}')
    assert created.status_code == 200 and json.loads(created.body)["item_name"] == "Pinned"
