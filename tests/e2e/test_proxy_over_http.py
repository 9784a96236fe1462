"""The store proxy over HTTP: /v1/connections/{id}/proxy/{path} through the local gateway to the
sandbox store's /api/v1/{path}, with the connection's token, the store's shared call budget and one
refresh on a 401 (usecases/store_proxy.py)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
import secret_scan
from flow import api, new_connection
from lifecycle import hook_store_refresh, stored_tokens

from cartconnect.http import proxy_path, proxy_request
from cartconnect.usecases import store_proxy
from cartconnect_dev.sandbox_store import seed_records

PROBLEM = "application/problem+json"
SEEDED_PRODUCTS = 25
# Every header a proxied answer may carry: the gateway's, the proxy's own, the store's call limit.
ANSWER_HEADERS = {
    "server",
    "date",
    "content-length",
    "content-type",
    "apigw-requestid",
    "cache-control",
    "x-content-type-options",
    "content-security-policy",
    "x-ac-call-limit",
    "retry-after",
}


def _proxy(connection: dict, path: str) -> str:
    return f"/v1/connections/{connection['id']}/proxy/{path}"


def _problem(response: httpx2.Response, status: int, type_slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith(f"/{type_slug}") and problem["status"] == status, problem
    return problem


def _field(problem: dict) -> str:
    (error,) = problem["errors"]
    return str(error["field"])


def _api_requests(sandbox) -> list:
    return [request for request in sandbox.captured if request.path.startswith("/api/v1/")]


def _platform_token(client: httpx2.Client, connection: dict) -> str:
    """The connection's access token as the platform gets it (POST /token), kept for the secret scan."""
    token = str(client.post(f"/v1/connections/{connection['id']}/token").json()["access_token"])
    secret_scan.register(token)
    return token


def _seeded_products() -> list[dict]:
    """The sandbox's products as it starts every test."""
    return [product for _, product in sorted(seed_records()["products"].items())]


def _ids(body: dict) -> list[int]:
    return [item["id"] for item in body["products"]]


# ---- reads and paging -----------------------------------------------------------------------------


def test_a_list_pages_through_the_proxys_own_links(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    base = f"{local_stack.api_url}{_proxy(connection, 'products')}"
    first = client.get(_proxy(connection, "products?count=10"))
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/json")
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["x-ac-call-limit"] == "1/50"
    # The store's other headers (its Server, its own Cache-Control) stay behind.
    assert set(first.headers) <= ANSWER_HEADERS, first.headers
    body = first.json()
    assert body["total_count"] == SEEDED_PRODUCTS and body["previous_page"] is None
    assert body["next_page"] == f"{base}?page=2&count=10"
    seen, pages, previous = _ids(body), [body], f"{base}?page=1&count=10"
    while body["next_page"] is not None:
        url = body["next_page"]
        response = client.get(url)  # the link as given: absolute, on the proxy
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["previous_page"] == previous
        seen += _ids(body)
        pages.append(body)
        previous = url
    assert len(pages) == 3 and pages[1]["next_page"] == f"{base}?page=3&count=10"
    assert seen == list(range(1, SEEDED_PRODUCTS + 1))  # each product once, in order
    assert all(sandbox.host not in json.dumps(page) for page in pages)
    assert sandbox.calls["products"] == 3


def test_a_read_by_id_and_the_stores_404_are_passed_on(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    one = client.get(_proxy(connection, "products/7"))
    assert one.status_code == 200 and one.json() == sandbox.records("products")[6]
    missing = client.get(_proxy(connection, "products/999"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")
    assert missing.json() == {
        "status_code": 404,
        "message": "Not Found",
        "details": "No products record with id 999",
    }


# ---- writes -----------------------------------------------------------------------------------------


def test_writes_go_through_and_the_stores_validation_answer_comes_back(
    local_stack, sandbox, tenant, authorized
):
    connection = authorized(scopes=("catalog",))
    client = api(local_stack, tenant)
    created = client.post(_proxy(connection, "products"), json={"item_name": "Proxy Widget", "price": 9.5})
    assert created.status_code == 200, created.text
    product = created.json()
    assert product["item_name"] == "Proxy Widget" and product["id"] == SEEDED_PRODUCTS + 1
    assert sandbox.records("products")[-1] == product

    updated = client.put(_proxy(connection, f"products/{product['id']}"), json={"price": 11})
    assert updated.status_code == 200, updated.text
    assert updated.json()["price"] == 11 and updated.json()["item_name"] == "Proxy Widget"
    assert sandbox.records("products")[-1]["price"] == 11

    invalid = client.post(_proxy(connection, "products"), json={"price": 1})
    assert invalid.status_code == 409 and invalid.headers["content-type"].startswith("application/json")
    assert invalid.json() == {"status_code": 409, "message": "Conflict", "details": "item_name is required"}
    assert len(sandbox.records("products")) == SEEDED_PRODUCTS + 1

    # PATCH goes on too: this store takes none, and says so in its own shape.
    patched = client.patch(_proxy(connection, f"products/{product['id']}"), json={"price": 12})
    assert patched.status_code == 405 and patched.json()["message"] == "Method Not Allowed"
    assert sandbox.last_request(f"/api/v1/products/{product['id']}").json() == {"price": 12}

    deleted = client.delete(_proxy(connection, f"products/{product['id']}"))
    assert deleted.status_code == 200 and deleted.content == b""
    assert [item["id"] for item in sandbox.records("products")] == list(range(1, SEEDED_PRODUCTS + 1))


def test_a_write_without_the_write_scope_gets_the_stores_refusal(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    refused = api(local_stack, tenant).post(_proxy(connection, "products"), json={"item_name": "Nope"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["details"].startswith("The token's scopes do not allow writing products")
    assert len(sandbox.records("products")) == SEEDED_PRODUCTS
    assert sandbox.calls["refresh"] == 0  # a 403 is the store's answer, not a token to refresh


# ---- what reaches the store --------------------------------------------------------------------------

# Sent by the caller with every call; none may reach the store.
CALLER_HEADERS = {
    "Cookie": "session=caller-cookie-value",
    "X-AC-Auth-Token": "evil",
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Host": "evil.example",
    "X-Real-IP": "203.0.113.9",
    "Forwarded": "for=203.0.113.9;host=evil.example",
    "Accept": "text/html",
    "Accept-Language": "fr",
    "Cache-Control": "max-age=600",
    "User-Agent": "caller-agent/1.0",
    "Origin": "https://evil.example",
    "Referer": "https://evil.example/page",
    "X-Custom": "caller-custom",
    "X-Amz-Security-Token": "caller-aws-token",
}
# What the proxy's own client sends besides its three (and Content-Type with a body).
TRANSPORT_HEADERS = {"host", "accept-encoding", "connection", "user-agent"}


def _sent_headers(sandbox, path: str) -> dict[str, str]:
    request = sandbox.last_request(path)
    assert request is not None, f"the store saw no call to {path}"
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "products", None),
        ("POST", "products", {"item_name": "Headers"}),
        ("PUT", "products/3", {"price": 4}),
        ("DELETE", "products/4", None),
    ],
)
def test_only_the_proxys_own_headers_reach_the_store(
    local_stack, sandbox, tenant, authorized, method, path, body
):
    connection = authorized(scopes=("catalog",))
    client = api(local_stack, tenant)
    token = _platform_token(client, connection)
    headers = dict(CALLER_HEADERS)
    if body is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    response = client.request(
        method, _proxy(connection, path), headers=headers, content=json.dumps(body) if body else None
    )
    assert response.status_code == 200, response.text
    sent = _sent_headers(sandbox, f"/api/v1/{path}")
    expected = TRANSPORT_HEADERS | {"x-ac-auth-token", "accept"}
    if method == "GET":
        expected.add("cache-control")
    if body is not None:
        expected |= {"content-type", "content-length"}
    assert set(sent) == expected, sent
    assert sent["x-ac-auth-token"] == token == stored_tokens(tenant, connection["id"]).access_token
    assert sent["accept"] == "application/json"
    assert sent.get("cache-control") == ("no-cache" if method == "GET" else None)
    if body is not None:
        assert sent["content-type"] == "application/json; charset=utf-8"  # as the caller sent it
    assert sent["host"] == sandbox.host and not sent["user-agent"].startswith("caller")
    assert not set(sent.values()) & set(CALLER_HEADERS.values())
    # Nor any part of one (markers only: a short value such as "fr" may be part of a random token).
    values = " ".join(sent.values())
    assert not [marker for marker in ("caller", "evil.example", "203.0.113.9", "Bearer") if marker in values]


# ---- the 401, refreshed once ---------------------------------------------------------------------


def test_twenty_concurrent_callers_after_a_401_share_one_refresh(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, monkeypatch
):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    old = _platform_token(client, connection)
    sandbox.expire_access_token(old)  # cartconnect still thinks it valid: the store says 401

    def rejected_calls() -> int:
        return sum(request.headers.get("X-AC-Auth-Token") == old for request in _api_requests(sandbox))

    # 20 rejected calls, the refresh and 20 calls again are 41 spends of the store's budget, 25 a
    # window (the sandbox's limit of 50 takes all 40 API calls). Left to the clock, where the burst
    # falls in its window would decide how many callers wait, and a wait over 5 s is a 429; with
    # `waits`, every waiter moves the shared clock on by its own wait, so windows fly past the others
    # and their spends go astray. Instead the refresh starts only once all 20 callers were rejected
    # (20 spends and its own, in one window at most two), and then the clock moves to the next window,
    # where the 20 calls again fit: nobody waits, whenever the test runs.
    def after_every_rejection(_: dict) -> None:
        deadline = time.monotonic() + 20
        while rejected_calls() < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        shift_clock(10.5 - time.time() % 10)  # half a second into the next window

    hook_store_refresh(monkeypatch, after_every_rejection)
    barrier = threading.Barrier(20)

    def call(_: int) -> httpx2.Response:
        barrier.wait()
        return client.get(_proxy(connection, "products/1"))

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(call, range(20)))
    assert Counter(answer.status_code for answer in answers) == {200: 20}, [a.text for a in answers]
    assert all(answer.json() == sandbox.records("products")[0] for answer in answers)
    assert sandbox.calls["refresh"] == 1
    shown = client.get(f"/v1/connections/{connection['id']}").json()
    assert shown["token_version"] == connection["token_version"] + 1 and shown["last_error"] is None
    new = stored_tokens(tenant, connection["id"]).access_token
    used = Counter(request.headers["X-AC-Auth-Token"] for request in _api_requests(sandbox))
    assert used == {old: 20, new: 20}
    assert waits.seconds == []  # no budget wait, no backoff


def test_a_token_rejected_after_its_refresh_too_is_a_401_and_shows_on_the_connection(
    local_stack, sandbox, tenant, authorized, waits
):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    sandbox.configure(api_reject_tokens=True)
    problem = _problem(client.get(_proxy(connection, "products")), 401, "store-rejected-token")
    assert "also just after a refresh" in problem["detail"] and "last_error" in problem["detail"]
    assert sandbox.calls["refresh"] == 1 and sandbox.calls["api"] == 2  # refreshed once, tried once more
    shown = client.get(f"/v1/connections/{connection['id']}").json()
    assert shown["status"] == "active" and shown["token_version"] == connection["token_version"] + 1
    assert shown["last_error"]["code"] == "api_token_rejected"
    # The next call with that token is answered 401 after its one store call: refreshing again would
    # only buy the same answer, on every call.
    _problem(client.get(_proxy(connection, "products")), 401, "store-rejected-token")
    assert sandbox.calls["refresh"] == 1 and sandbox.calls["api"] == 3
    # Once the store takes the token again, the rejection is no longer the connection's last error.
    sandbox.configure(api_reject_tokens=False)
    assert client.get(_proxy(connection, "products")).status_code == 200
    assert sandbox.calls["refresh"] == 1 and sandbox.calls["api"] == 4
    assert client.get(f"/v1/connections/{connection['id']}").json().get("last_error") is None


def test_a_post_answered_401_is_sent_again_after_the_refresh_and_creates_once(
    local_stack, sandbox, tenant, authorized, waits
):
    connection = authorized(scopes=("catalog",))
    sandbox.expire_access_token(stored_tokens(tenant, connection["id"]).access_token)
    created = api(local_stack, tenant).post(_proxy(connection, "products"), json={"item_name": "After 401"})
    assert created.status_code == 200, created.text
    assert [item["item_name"] for item in sandbox.records("products")[SEEDED_PRODUCTS:]] == ["After 401"]
    posts = [request for request in _api_requests(sandbox) if request.method == "POST"]
    assert len(posts) == 2 and sandbox.calls["refresh"] == 1  # the rejected one and the one that created


def test_a_revoked_grant_answers_409_with_a_fresh_authorize_link(
    local_stack, sandbox, tenant, authorized, waits
):
    connection = authorized(scopes=("read_catalog",))
    sandbox.revoke_grant_of(stored_tokens(tenant, connection["id"]).access_token)
    problem = _problem(
        api(local_stack, tenant).get(_proxy(connection, "products")), 409, "authorization-required"
    )
    assert problem["connection_status"] == "needs_reauthorization" and problem["authorize_url"]
    secret_scan.register(problem["authorize_url"].rsplit("/", 1)[1])
    assert sandbox.calls["api"] == 1 and sandbox.calls["refresh"] == 1  # refused: no second API call
    shown = api(local_stack, tenant).get(f"/v1/connections/{connection['id']}").json()
    assert shown["status"] == "needs_reauthorization"


# ---- the path -------------------------------------------------------------------------------------


def _raw_request(stack, tenant: str, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """`method target` sent byte for byte (no client normalizes `..`, `.` or a space away)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n"
            f"Authorization: Bearer {stack.token(tenant)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode("latin-1"))
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


@pytest.fixture
def raw_paths(monkeypatch) -> list[str]:
    """The raw paths the proxy's path check was given: what the gateway received and passed on."""
    seen: list[str] = []
    real = proxy_path.store_path

    def spy(raw_path: str, connection_id: str, raw_query: str) -> str:
        seen.append(raw_path)
        return real(raw_path, connection_id, raw_query)

    monkeypatch.setattr(proxy_path, "store_path", spy)
    return seen


@pytest.mark.parametrize(
    "attack",
    [
        "products/../stores",
        "/".join(("..", "..", "token")),  # joined: the reference check would read a path to cite
        "products/%2e%2e/stores",
        "%2E%2E/%2E%2E/token",
        "products%2F1",
        "products/%2f1",
        "products%5C1",
        "products\\1",
        "products/\\\\evil.example",
        "/evil.example/api/v1/products",
        "https:/evil.example/api/v1/products",
        "https://evil.example/x",
        "products/./1",
        "./products",
        "products/",
        "products//1",
        "products%00",
        "products/1%0d%0aX-Injected:%20yes",
        "products%2500",
        "products/%C3%A9\xe9",
    ],
)
def test_a_path_that_could_leave_api_v1_is_refused_before_any_store_call(
    local_stack, sandbox, tenant, authorized, raw_paths, attack
):
    connection = authorized(scopes=("catalog",))
    target = _proxy(connection, attack)
    status, headers, body = _raw_request(local_stack, tenant, "GET", target)
    assert raw_paths == [target]  # the gateway passed the path on exactly as sent
    assert status == 400, body
    assert headers["content-type"] == PROBLEM
    problem = json.loads(body)
    assert problem["type"].endswith("/proxy-path-refused") and _field(problem) == "path", problem
    assert sandbox.calls["api"] == 0 and not _api_requests(sandbox)


# A dot segment with a path parameter (`..;`, `.;`, `..%3B`): servers and proxies that strip
# `;parameters` before resolving dot segments (Tomcat, Jetty, Spring, some WAFs and load balancers)
# would read /api/v1/products/..;/stores as /api/v1/stores. An overlong UTF-8 dot (%C0%AE) is what
# lenient decoders read as ".". (Both passed the first version of proxy_path; this test found them.)
@pytest.mark.parametrize(
    "attack", ["products/..;/stores", "products/.;/1", "products/..%3B/stores", "%C0%AE%C0%AE/stores"]
)
def test_a_dot_segment_in_disguise_is_refused_before_any_store_call(
    local_stack, sandbox, tenant, authorized, attack
):
    connection = authorized(scopes=("catalog",))
    status, _, body = _raw_request(local_stack, tenant, "GET", _proxy(connection, attack))
    reached = [request.path for request in _api_requests(sandbox)]
    assert reached == [], f"the store was called: {reached}"
    assert status == 400 and _field(json.loads(body)) == "path", body


def test_a_path_that_never_reaches_the_proxy_makes_no_store_call(
    local_stack, sandbox, tenant, authorized, raw_paths
):
    connection = authorized(scopes=("catalog",))
    # An empty path matches no route ({path+} takes one character at least): the gateway's 404.
    for target in (_proxy(connection, ""), _proxy(connection, "")[:-1]):
        status, _, body = _raw_request(local_stack, tenant, "GET", target)
        assert status == 404 and json.loads(body) == {"message": "Not Found"}, body
    # A space ends the request target: the request line is malformed, refused by the gateway's parser.
    status, _, _ = _raw_request(local_stack, tenant, "GET", _proxy(connection, "products 1"))
    assert status == 400
    assert raw_paths == [] and sandbox.calls["api"] == 0


def test_a_plain_escape_and_the_query_reach_the_store_as_sent(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("catalog",))
    client = api(local_stack, tenant)
    # An escape that decodes to nothing a second decoding could turn into a path change goes on as is.
    status, _, body = _raw_request(local_stack, tenant, "GET", _proxy(connection, "products/%31"))
    assert sandbox.captured[-1].path == "/api/v1/products/%31"
    assert status == 404 and json.loads(body)["details"] == "No such resource"  # the store's answer
    # The query goes on byte for byte: the store pages by it.
    listed = client.get(_proxy(connection, "products?count=2&page=2&x=a%2Fb"))
    assert listed.status_code == 200 and _ids(listed.json()) == [3, 4], listed.text


# ---- who may call ---------------------------------------------------------------------------------


def test_another_tenants_connection_is_not_found_and_the_store_never_called(
    local_stack, sandbox, tenant, authorized
):
    connection = authorized(scopes=("catalog",))
    stranger = api(local_stack, f"stranger-{uuid.uuid4().hex[:8]}")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        body = {"item_name": "x"} if method in ("POST", "PUT", "PATCH") else None
        response = stranger.request(method, _proxy(connection, "products/1"), json=body)
        problem = _problem(response, 404, "not-found")
        assert connection["id"] in problem["detail"]
    _problem(stranger.get("/v1/connections/con_nope/proxy/products"), 404, "not-found")
    assert sandbox.calls["api"] == 0 and sandbox.calls["refresh"] == 0


def test_a_call_without_a_bearer_token_is_refused_by_the_gateway(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("catalog",))
    anonymous = httpx2.get(f"{local_stack.api_url}{_proxy(connection, 'products')}", timeout=30)
    assert anonymous.status_code == 401
    assert sandbox.calls["api"] == 0


def test_a_pending_connection_answers_409_with_an_authorize_link(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant, scopes=("catalog",))
    problem = _problem(
        api(local_stack, tenant).get(_proxy(connection, "products")), 409, "authorization-required"
    )
    assert problem["connection_status"] == "pending_authorization"
    assert problem["authorize_url"].startswith(local_stack.api_url) and problem["authorize_url_expires_in"]
    secret_scan.register(problem["authorize_url"].rsplit("/", 1)[1])
    assert sandbox.calls["api"] == 0


# ---- the shared budget ----------------------------------------------------------------------------


def test_sixty_concurrent_callers_never_push_the_store_over_its_limit(
    local_stack, sandbox, tenant, authorized
):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    sandbox.configure(api_call_limit=10)
    # The sandbox fixture starts every test with the store's budget fresh (no calls spent, no block)
    # and its limit known as 50: one call teaches cartconnect this store's 10, as its answers say.
    first = client.get(_proxy(connection, "products/1"))
    assert first.status_code == 200 and first.headers["x-ac-call-limit"] == "1/10"
    shown = client.get(f"/v1/connections/{connection['id']}").json()["store_rate_limit"]
    assert shown["calls_per_10_seconds"] == 10
    barrier = threading.Barrier(60)

    def call(_: int) -> httpx2.Response:
        barrier.wait()
        return client.get(_proxy(connection, "products/1"))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=60) as pool:
        answers = list(pool.map(call, range(60)))
    elapsed = time.monotonic() - started
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 429}, statuses
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["id"] == 1
        else:
            problem = _problem(answer, 429, "store-call-budget")
            assert 1 <= int(answer.headers["retry-after"]) <= 10, problem
    accepted = sandbox.api_call_times()
    # The sandbox answers a call over its limit with 429 and keeps only the calls it accepted, so
    # max_api_calls_within(10) <= 10 holds whatever we send: that it never had to refuse one is the
    # proof that cartconnect kept within the limit.
    assert sandbox.calls["api"] == len(accepted), "the store refused calls over its limit"
    assert sandbox.max_api_calls_within(10) <= 10
    assert statuses[200] == len(accepted) - 1  # one store call per 200, besides the first call's
    assert statuses[200] >= 4  # the first window's budget of 5, less the first call
    assert elapsed < 40, elapsed
    print(f"60 callers: {dict(statuses)} in {elapsed:.1f} s")


def test_the_stores_429_is_passed_on_and_holds_back_the_next_callers(
    local_stack, sandbox, tenant, authorized
):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    # Another app of the store spends its whole window: the store says 429 to the next call.
    sandbox.configure(api_call_limit=5)
    for _ in range(5):
        httpx2.get(f"{sandbox.base_url}/api/v1/stores", timeout=5, trust_env=False)
    limited = client.get(_proxy(connection, "products"))
    assert limited.status_code == 429 and limited.json()["message"] == "Too Many Requests"
    assert limited.headers["x-ac-call-limit"] == "5/5" and 1 <= int(limited.headers["retry-after"]) <= 10
    # cartconnect keeps the store blocked for its Retry-After: the next caller never reaches it.
    # (about 11 s: the store's Retry-After and a margin, more than the 5 s a caller may wait).
    calls = sandbox.calls["api"]
    held = client.get(_proxy(connection, "products"))
    _problem(held, 429, "store-call-budget")
    assert int(held.headers["retry-after"]) > store_proxy.MAX_BUDGET_WAIT_SECONDS
    assert sandbox.calls["api"] == calls
    assert client.get(f"/v1/connections/{connection['id']}").json()["store_rate_limit"]["not_before"]


# ---- bodies ---------------------------------------------------------------------------------------


def test_a_small_non_json_answer_is_passed_on_with_its_content_type(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    client = api(local_stack, tenant)
    sandbox.configure(api_html_bytes=store_proxy.MAX_OTHER_ANSWER_BYTES)  # at the limit: passed on
    page = client.get(_proxy(connection, "products"))
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content.startswith(b"<!doctype html>")
    assert len(page.content) == store_proxy.MAX_OTHER_ANSWER_BYTES
    # Passed on as data, never as a page of the API's origin.
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in page.headers["content-security-policy"]


def test_a_large_non_json_answer_is_a_502_naming_the_limit(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    sandbox.configure(api_html_bytes=store_proxy.MAX_OTHER_ANSWER_BYTES + 1)
    problem = _problem(
        api(local_stack, tenant).get(_proxy(connection, "products")), 502, "store-answer-refused"
    )
    assert str(store_proxy.MAX_OTHER_ANSWER_BYTES) in problem["detail"] and "text/html" in problem["detail"]
    assert sandbox.calls["api"] == 1  # not retried: the store answered


def test_an_oversized_json_answer_is_a_502_naming_the_limit(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    sandbox.configure(api_padding_bytes=store_proxy.MAX_STORE_ANSWER_BYTES)
    problem = _problem(
        api(local_stack, tenant).get(_proxy(connection, "products/1")), 502, "store-answer-refused"
    )
    assert str(store_proxy.MAX_STORE_ANSWER_BYTES) in problem["detail"]
    assert sandbox.calls["api"] == 1


def test_a_large_json_answer_under_the_limit_is_passed_on_whole(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("read_catalog",))
    sandbox.configure(api_padding_bytes=2 << 20)
    answer = api(local_stack, tenant).get(_proxy(connection, "products?count=1"))
    assert answer.status_code == 200, answer.text[:300]
    assert len(answer.json()["padding"]) == 2 << 20


def test_a_request_body_over_1_mib_is_413_without_a_store_call(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("catalog",))
    padding = "x" * (store_proxy.MAX_REQUEST_BYTES - len('{"item_name":"big","pad":""}') + 1)
    body = json.dumps({"item_name": "big", "pad": padding}, separators=(",", ":"))
    assert len(body) == store_proxy.MAX_REQUEST_BYTES + 1
    client = api(local_stack, tenant)
    response = client.post(
        _proxy(connection, "products"), content=body, headers={"Content-Type": "application/json"}
    )
    assert _field(_problem(response, 413, "body-too-large")) == "body"
    assert sandbox.calls["api"] == 0
    # One byte less is passed on (the store itself takes no more than 64 KiB: its answer comes back).
    fits = client.post(
        _proxy(connection, "products"), content=body[:-3] + '"}', headers={"Content-Type": "application/json"}
    )
    assert fits.status_code != 413 and sandbox.calls["api"] == 1, fits.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "item_name=x"), ("application/x-www-form-urlencoded", "item_name=x"), (None, "{}")],
)
def test_a_body_that_is_not_json_is_415_without_a_store_call(
    local_stack, sandbox, tenant, authorized, content_type, body
):
    connection = authorized(scopes=("catalog",))
    headers = {"Content-Type": content_type} if content_type else {}
    response = api(local_stack, tenant).post(_proxy(connection, "products"), content=body, headers=headers)
    assert _field(_problem(response, 415, "unsupported-media-type")) == "body"
    assert sandbox.calls["api"] == 0


def test_malformed_json_and_a_get_with_a_body_are_400_without_a_store_call(
    local_stack, sandbox, tenant, authorized
):
    connection = authorized(scopes=("catalog",))
    client = api(local_stack, tenant)
    json_type = {"Content-Type": "application/json"}
    malformed = client.post(_proxy(connection, "products"), content='{"item_name": ', headers=json_type)
    assert _field(_problem(malformed, 400, "malformed-body")) == "body"
    for method in ("GET", "DELETE"):
        with_body = client.request(method, _proxy(connection, "products/1"), content="{}", headers=json_type)
        problem = _problem(with_body, 400, "malformed-body")
        assert _field(problem) == "body" and method in problem["detail"]
    assert sandbox.calls["api"] == 0


# ---- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("PUT", {"price": 3})])
def test_an_idempotent_call_is_retried_after_a_503(
    local_stack, sandbox, tenant, authorized, waits, method, body
):
    connection = authorized(scopes=("catalog",))
    sandbox.configure(api_status_5xx=503, api_status_5xx_calls=1)
    answer = api(local_stack, tenant).request(method, _proxy(connection, "products/2"), json=body)
    assert answer.status_code == 200 and answer.json()["id"] == 2, answer.text
    assert sandbox.calls["api"] == 2 and sandbox.calls["products"] == 1  # the 503, then the answer
    assert store_proxy.BACKOFF_SECONDS[0] in waits.seconds


@pytest.mark.parametrize(("method", "path"), [("POST", "products"), ("PATCH", "products/5")])
def test_a_post_or_patch_is_never_retried_the_stores_503_comes_back(
    local_stack, sandbox, tenant, authorized, waits, method, path
):
    connection = authorized(scopes=("catalog",))
    sandbox.configure(api_status_5xx=503, api_status_5xx_calls=1)
    answer = api(local_stack, tenant).request(method, _proxy(connection, path), json={"item_name": "Once"})
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"status_code": 503, "message": "Service Unavailable", "details": "Sandbox fault"}
    sent = [request for request in _api_requests(sandbox) if request.method == method]
    assert len(sent) == 1 and sandbox.calls["api"] == 1
    assert sandbox.records("products") == _seeded_products()


def test_a_get_that_keeps_failing_ends_with_the_stores_answer_after_three_attempts(
    local_stack, sandbox, tenant, authorized, waits
):
    connection = authorized(scopes=("read_catalog",))
    sandbox.configure(api_status_5xx=502)
    answer = api(local_stack, tenant).get(_proxy(connection, "products/2"))
    assert answer.status_code == 502 and answer.json()["status_code"] == 502, answer.text
    assert sandbox.calls["api"] == store_proxy.MAX_ATTEMPTS


# ---- logs -----------------------------------------------------------------------------------------


def test_a_proxied_call_is_logged_without_its_query_body_or_token(
    local_stack, sandbox, tenant, authorized, everything_written, caplog
):
    connection = authorized(scopes=("catalog",))
    client = api(local_stack, tenant)
    token = _platform_token(client, connection)
    needle, item_name = f"q-{uuid.uuid4().hex}", f"body-{uuid.uuid4().hex}"
    listed = client.get(_proxy(connection, f"products?count=2&note={needle}"))
    assert listed.status_code == 200, listed.text
    created = client.post(_proxy(connection, "products"), json={"item_name": item_name})
    assert created.status_code == 200, created.text
    refused = client.get(_proxy(connection, f"products/%2e%2e?note={needle}"))
    assert refused.status_code == 400

    records = [record for record in caplog.records if record.getMessage() == "proxied call"]
    logged = [(r.method, r.status) for r in records]
    assert logged == [("GET", 200), ("POST", 200), ("GET", 400)], logged
    for record in records:
        assert record.route == proxy_request.ROUTE and record.connection_id == connection["id"]
        assert isinstance(record.latency_ms, float) and record.latency_ms >= 0
    assert [record.store_calls for record in records] == [1, 1, 0]
    written = everything_written()
    assert needle not in written.everything and item_name not in written.everything
    assert "products?" not in written.everything and "%2e%2e" not in written.everything
    assert written.leaked({token}) == []
