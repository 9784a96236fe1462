"""The on-demand token API over HTTP: POST /v1/connections/{id}/token, /refresh and /test."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from flow import Browser, api, new_connection, to_store
from lifecycle import hook_store_refresh, of_type, stored_tokens

from cartconnect.adapters import store_rate_limiter

TOKEN_FIELDS = {"access_token", "expires_at", "token_version"}


def _path(connection: dict, action: str = "") -> str:
    return f"/v1/connections/{connection['id']}" + (f"/{action}" if action else "")


def test_token_is_the_stores_valid_token_and_never_cached(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    response = api(local_stack, tenant).post(_path(connection, "token"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store" and response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == TOKEN_FIELDS and body["token_version"] == 1
    assert sandbox._check_access_token(body["access_token"]) is None  # the store accepts it
    assert body["access_token"] == stored_tokens(tenant, connection["id"]).access_token
    assert sandbox.calls["refresh"] == 0  # not due: no refresh


def test_no_other_response_carries_a_token(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    client = api(local_stack, tenant)
    token = client.post(_path(connection, "token")).json()["access_token"]
    refresh_token = stored_tokens(tenant, connection["id"]).refresh_token
    for response in (
        client.get(_path(connection)),
        client.get("/v1/connections"),
        client.post(_path(connection, "refresh")),
        client.post(_path(connection, "test")),
    ):
        assert response.status_code == 200, response.text
        assert token not in response.text and refresh_token not in response.text
        assert "access_token" not in response.text and "refresh_token" not in response.text


def test_fifty_concurrent_callers_of_a_due_token_share_one_store_call(
    local_stack, sandbox, tenant, authorized, shift_clock
):
    connection = authorized(lifetime=3600)
    # 46 minutes on, the token is due (15 minutes before expiry); its successor is not.
    shift_clock(46 * 60)
    before = sandbox.calls["refresh"]
    client = api(local_stack, tenant)
    barrier = threading.Barrier(50)

    def call(_: int) -> tuple[int, dict]:
        barrier.wait()
        response = client.post(_path(connection, "token"))
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(call, range(50)))
    assert Counter(status for status, _ in answers) == {200: 50}, answers
    assert sandbox.calls["refresh"] - before == 1
    assert {body["access_token"] for _, body in answers} == {
        stored_tokens(tenant, connection["id"]).access_token
    }
    assert {body["token_version"] for _, body in answers} == {2}
    assert client.get(_path(connection)).json()["token_version"] == 2


def test_concurrent_refresh_now_calls_share_one_refresh(
    local_stack, sandbox, tenant, authorized, monkeypatch, use_runtime
):
    from cartconnect import runtime

    connection = authorized()
    client = api(local_stack, tenant)
    # The first caller's store call waits until the 9 others are all waiting for it.
    waiting: set[int] = set()
    all_waiting = threading.Event()
    real_poll = runtime.current().poll

    def poll(seconds: float) -> None:
        waiting.add(threading.get_ident())
        if len(waiting) >= 9:
            all_waiting.set()
        real_poll(seconds)

    use_runtime(poll=poll)
    hook_store_refresh(monkeypatch, lambda kwargs: all_waiting.wait(20))

    def call(_: int) -> int:
        response = client.post(_path(connection, "refresh"))
        assert response.status_code == 200, response.text
        return response.json()["token_version"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        versions = set(pool.map(call, range(10)))
    assert versions == {2}
    assert sandbox.calls["refresh"] == 1


def test_refresh_now_refreshes_a_token_that_is_not_due(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    client = api(local_stack, tenant)
    response = client.post(_path(connection, "refresh"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_version"] == 2 and body["last_refreshed_at"] and body["consecutive_failures"] == 0
    assert sandbox.calls["refresh"] == 1


def test_a_due_token_with_the_store_down_falls_back_to_the_still_valid_one(
    local_stack, sandbox, tenant, authorized, shift_clock, waits
):
    connection = authorized(lifetime=3600)
    shift_clock(46 * 60)  # due, yet valid for 14 more minutes
    sandbox.configure(status_5xx=503)
    client = api(local_stack, tenant)
    response = client.post(_path(connection, "token"))
    assert response.status_code == 200, response.text
    assert response.json()["token_version"] == 1
    assert response.json()["access_token"] == stored_tokens(tenant, connection["id"]).access_token
    stored = client.get(_path(connection)).json()
    assert stored["last_error"]["code"] == "store_unavailable" and stored["consecutive_failures"] == 1


def test_an_expired_token_with_the_store_down_is_a_502_with_retry_after(
    local_stack, sandbox, tenant, authorized, shift_clock, waits
):
    connection = authorized(lifetime=3600)
    shift_clock(3700)  # expired
    sandbox.configure(status_5xx=500)
    response = api(local_stack, tenant).post(_path(connection, "token"))
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    problem = response.json()
    assert problem["code"] == "store_unavailable" and "HTTP 500" in problem["detail"]
    assert "access_token" not in response.text


def test_refresh_now_with_the_store_down_is_a_502(local_stack, sandbox, tenant, authorized, waits):
    connection = authorized()
    sandbox.configure(malformed_json=True)
    response = api(local_stack, tenant).post(_path(connection, "refresh"))
    assert response.status_code == 502 and response.json()["code"] == "bad_store_response"


@pytest.mark.parametrize("action", ["token", "refresh", "test"])
def test_a_pending_connection_answers_409_with_a_fresh_authorize_link(local_stack, sandbox, tenant, action):
    connection = new_connection(local_stack, sandbox, tenant)
    response = api(local_stack, tenant).post(_path(connection, action))
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/authorization-required")
    assert problem["connection_status"] == "pending_authorization"
    assert "store admin must open authorize_url" in problem["detail"]
    assert problem["authorize_url"] != connection["authorize_url"]
    assert problem["authorize_url_expires_in"] == 600
    # The link works, and the link issued at creation still works too.
    assert to_store(Browser(), problem["authorize_url"]).headers["location"].startswith(sandbox.base_url)
    assert to_store(Browser(), connection["authorize_url"]).headers["location"].startswith(sandbox.base_url)


def test_each_409_link_replaces_the_previous_one_and_the_admins_link_stays(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    client = api(local_stack, tenant)
    answered = [client.post(_path(connection, action)).json()["authorize_url"] for action in ("token",) * 4]
    answered.append(client.post(_path(connection, "test")).json()["authorize_url"])
    assert len(set(answered)) == 5
    for replaced in answered[:-1]:
        for method in ("GET", "POST"):
            page = Browser().request(method, replaced)
            assert page.status_code == 410 and "replaced" in page.text, page.text
    # The platform's newest link and the admin's link from creation both open.
    assert Browser().get(answered[-1]).status_code == 200
    assert to_store(Browser(), connection["authorize_url"]).headers["location"].startswith(sandbox.base_url)
    assert to_store(Browser(), answered[-1]).headers["location"].startswith(sandbox.base_url)
    # A new admin link (authorize-link) voids every earlier one, the answers' too.
    newer = client.post(_path(connection, "token")).json()["authorize_url"]
    admin = client.post(_path(connection, "authorize-link")).json()["authorize_url"]
    assert Browser().get(newer).status_code == 410
    assert Browser().get(admin).status_code == 200


def test_concurrent_409_answers_leave_one_answer_link_live(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    barrier = threading.Barrier(8)

    def ask(_: int) -> str:
        client = api(local_stack, tenant)
        barrier.wait()
        return client.post(_path(connection, "token")).json()["authorize_url"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        links = list(pool.map(ask, range(8)))
    assert [Browser().get(link).status_code for link in links].count(200) == 1


def test_a_refused_grant_answers_409_and_reauthorizing_makes_it_usable_again(
    local_stack, sandbox, tenant, authorized, captured_events
):
    connection = authorized()
    client = api(local_stack, tenant)
    sandbox.configure(refuse_grants=True)
    refused = client.post(_path(connection, "refresh"))
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["connection_status"] == "needs_reauthorization"
    assert "authorize it again" in problem["detail"]
    again = client.post(_path(connection, "token"))
    assert again.status_code == 409
    problem = again.json()  # its link replaced the previous answer's
    assert [e["code"] for e in of_type(captured_events(), "connection.needs_reauthorization")] == [
        "grant_refused"
    ]

    sandbox.configure(refuse_grants=False)
    browser = Browser()
    store = to_store(browser, problem["authorize_url"])
    page = browser.get(browser.get(store.headers["location"]).headers["location"])
    assert page.status_code == 200, page.text
    stored = client.get(_path(connection)).json()
    assert stored["status"] == "active" and stored["last_error"] is None
    assert client.post(_path(connection, "token")).status_code == 200


def test_test_reports_online_and_is_recorded(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    client = api(local_stack, tenant)
    response = client.post(_path(connection, "test"))
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["online"] is True and outcome["http_status"] == 200
    assert outcome["store_name"] == "Sandbox Store"
    assert sandbox.last_request  # the API call went to the store
    assert sandbox.calls["stores"] == 1
    last_test = client.get(_path(connection)).json()["last_test"]
    assert last_test == outcome


def test_test_refreshes_once_when_the_store_rejects_the_token(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    client = api(local_stack, tenant)
    sandbox.expire_access_token(stored_tokens(tenant, connection["id"]).access_token)
    outcome = client.post(_path(connection, "test")).json()
    assert outcome["online"] is True, outcome
    assert sandbox.calls["refresh"] == 1 and sandbox.calls["api"] == 2
    assert client.get(_path(connection)).json()["token_version"] == 2


def test_test_reports_offline_when_the_grant_is_revoked(
    local_stack, sandbox, tenant, authorized, captured_events
):
    connection = authorized()
    client = api(local_stack, tenant)
    sandbox.revoke_grant_of(stored_tokens(tenant, connection["id"]).access_token)
    outcome = client.post(_path(connection, "test")).json()
    assert outcome["online"] is False and outcome["http_status"] == 401
    assert "no longer accepts this connection's grant" in outcome["detail"]  # the refresh was refused
    stored = client.get(_path(connection)).json()
    assert stored["status"] == "needs_reauthorization" and stored["last_test"]["online"] is False
    assert of_type(captured_events(), "connection.needs_reauthorization")


def test_test_reports_a_store_that_is_down(local_stack, sandbox, tenant, authorized, monkeypatch):
    from cartconnect.provider import americommerce
    from cartconnect.provider.errors import ProviderUnavailable

    connection = authorized()

    def down(self, base_url, access_token, path):
        raise ProviderUnavailable("api", "store unavailable", status_code=503)

    monkeypatch.setattr(americommerce.AmeriCommerceClient, "probe", down)
    outcome = api(local_stack, tenant).post(_path(connection, "test")).json()
    assert outcome == {
        "online": False,
        "checked_at": outcome["checked_at"],
        "http_status": 503,
        "detail": "api: HTTP 503: store unavailable",
        "store_name": None,
    }


@pytest.mark.parametrize(
    ("scopes", "probe"),
    [
        (("read_catalog",), "products"),
        (("orders",), "orders"),
        (("read_people", "custom_fields"), "customers"),
        (("settings",), "warehouses"),
        (("read_orders", "system"), "stores"),
    ],
)
def test_a_connection_is_tested_with_a_read_its_scopes_allow(
    local_stack, sandbox, tenant, authorized, scopes, probe
):
    connection = authorized(scopes=scopes)
    before = sandbox.calls["stores"]
    outcome = api(local_stack, tenant).post(_path(connection, "test")).json()
    assert outcome["online"] is True and outcome["http_status"] == 200, outcome
    assert f"/api/v1/{probe}" in outcome["detail"]
    assert sandbox.calls[probe] >= 1
    assert outcome["store_name"] == ("Sandbox Store" if probe == "stores" else None)
    if probe != "stores":
        assert sandbox.calls["stores"] == before  # no `system` needed
    request = sandbox.last_request(f"/api/v1/{probe}")
    assert request.headers["Cache-Control"] == "no-cache" and "X-AC-Auth-Token" in request.headers


def test_the_stores_answer_as_a_bare_object_still_names_the_store(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("system",))
    sandbox.configure(stores_shape="object")
    outcome = api(local_stack, tenant).post(_path(connection, "test")).json()
    assert (outcome["online"], outcome["store_name"]) == (True, "Sandbox Store")


def test_a_403_is_offline_and_names_the_scope(local_stack, sandbox, tenant, authorized):
    connection = authorized(scopes=("import",))  # no read: the fallback probe needs `system`
    outcome = api(local_stack, tenant).post(_path(connection, "test")).json()
    assert outcome["online"] is False and outcome["http_status"] == 403
    assert "`system`" in outcome["detail"] and "admin-console role" in outcome["detail"]


def test_get_shows_the_limit_learned_from_the_store_and_its_last_429(
    local_stack, sandbox, tenant, authorized, waits
):
    connection = authorized(scopes=("read_orders",))
    client = api(local_stack, tenant)
    sandbox.configure(api_call_limit=20)
    assert client.post(_path(connection, "test")).json()["online"] is True
    shown = client.get(_path(connection)).json()["store_rate_limit"]
    assert shown["calls_per_10_seconds"] == 20 and shown["last_rate_limited_at"] is None
    # The store's plan shrinks to the smallest (5) and its window is spent: a 429 with Retry-After.
    sandbox.configure(api_call_limit=5)
    for _ in range(5):  # every /api/v1 call counts, even one without a token
        if httpx2.get(f"{sandbox.base_url}/api/v1/stores", timeout=5, trust_env=False).status_code == 429:
            break
    limited = client.post(_path(connection, "test")).json()
    assert (limited["online"], limited["http_status"]) == (False, 429)
    shown = client.get(_path(connection)).json()["store_rate_limit"]
    assert shown["calls_per_10_seconds"] == 5
    assert shown["last_rate_limited_at"] is not None and shown["not_before"] is not None
    # Nobody calls the store before its Retry-After plus the margin has passed.
    calls = sandbox.calls["api"]
    client.post(_path(connection, "test"))
    assert waits.seconds and sum(waits.seconds) >= 1 + store_rate_limiter.RETRY_AFTER_MARGIN_SECONDS
    assert sandbox.calls["api"] == calls + 1  # one call, after the wait


def test_get_shows_the_lifecycle_never_a_token(local_stack, sandbox, tenant, authorized, shift_clock, waits):
    connection = authorized(lifetime=120)
    sandbox.configure(status_5xx=500)
    shift_clock(70)
    api(local_stack, tenant).post(_path(connection, "refresh"))
    shown = api(local_stack, tenant).get(_path(connection)).json()
    for name in (
        "status",
        "expires_at",
        "next_refresh_at",
        "last_refreshed_at",
        "last_error",
        "consecutive_failures",
        "failing_since",
        "last_test",
    ):
        assert name in shown
    assert shown["consecutive_failures"] == 1 and shown["last_error"]["code"] == "store_unavailable"
    text = json.dumps(shown)
    assert all(secret not in text for secret in sandbox.issued_secrets())


def test_another_tenants_connection_is_not_found(local_stack, sandbox, tenant, authorized):
    connection = authorized()
    stranger = api(local_stack, "someone-else")
    for action in ("token", "refresh", "test"):
        assert stranger.post(_path(connection, action)).status_code == 404
    assert stranger.post("/v1/connections/con_nope/token").status_code == 404
    assert sandbox.calls["refresh"] == 0 and sandbox.calls["api"] == 0


def test_deleting_a_connection_publishes_deleted(local_stack, sandbox, tenant, authorized, captured_events):
    connection = authorized()
    assert api(local_stack, tenant).delete(_path(connection)).status_code == 204
    (deleted,) = of_type(captured_events(), "connection.deleted")
    assert deleted["connection_id"] == connection["id"] and deleted["status"] == "active"
    assert api(local_stack, tenant).post(_path(connection, "token")).status_code == 404


def test_waiters_share_the_holders_failure_instead_of_calling_again(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, monkeypatch, use_runtime
):
    from cartconnect import runtime

    connection = authorized(lifetime=3600)
    shift_clock(3700)  # expired: no valid token to fall back on
    sandbox.configure(status_5xx=500)
    # The lease holder waits inside its store call until the 4 other callers are all waiting for it.
    waiting: set[int] = set()
    all_waiting = threading.Event()
    real_poll = runtime.current().poll

    def poll(seconds: float) -> None:
        waiting.add(threading.get_ident())
        if len(waiting) >= 4:
            all_waiting.set()
        real_poll(seconds)

    use_runtime(poll=poll)
    hook_store_refresh(monkeypatch, lambda kwargs: all_waiting.wait(20))
    client = api(local_stack, tenant)
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = Counter(pool.map(lambda _: client.post(_path(connection, "token")).status_code, range(5)))
    assert statuses == {502: 5}
    assert sandbox.calls["refresh"] == 3  # the holder's 3 attempts; the waiters did not call the store
