"""The authorization flow end to end over HTTP: gateway, authorize and callback functions, sandbox store."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from flow import APP_ID, APP_SECRET, Browser, api, authorize, consent, new_connection, open_link, to_store


def _get(stack, tenant, connection_id) -> dict:
    return api(stack, tenant).get(f"/v1/connections/{connection_id}").json()


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _replace_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, values in parse_qs(parts.query).items() for v in values if k not in changes]
    query += [(k, v) for k, v in changes.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _consented(stack, sandbox, tenant) -> tuple[dict, Browser, str]:
    """A new connection whose admin approved on the store: the browser, about to follow callback_url."""
    connection = new_connection(stack, sandbox, tenant)
    browser = Browser()
    callback_url = consent(
        browser, sandbox, to_store(browser, connection["authorize_url"]).headers["location"]
    )
    return connection, browser, callback_url


def test_success_activates_with_exactly_the_documented_exchange(
    local_stack, sandbox, tenant, captured_events
):
    connection = new_connection(local_stack, sandbox, tenant)
    assert connection["status"] == "pending_authorization"
    browser = Browser()
    redirect = to_store(browser, connection["authorize_url"])
    store_url = redirect.headers["location"]
    assert store_url.startswith(f"{sandbox.base_url}/api/oauth?")
    sent = _query(store_url)
    assert sent["client_id"] == [APP_ID] and sent["scope"] == ["read_orders,system"]
    redirect_uri = sent["redirect_uri"][0]
    assert redirect_uri.startswith(f"{local_stack.api_url}/oauth2/callback?cc_state=")
    assert _query(redirect_uri)["cc_state"] == sent["state"]
    cookie = redirect.headers["set-cookie"]
    for attribute in ("__Host-cc_auth_", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie

    page = browser.get(consent(browser, sandbox, store_url))
    assert page.status_code == 200, page.text
    assert "Connection authorized" in page.text
    for header, value in (("cache-control", "no-store"), ("referrer-policy", "no-referrer")):
        assert page.headers[header] == value
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "http" not in page.text

    exchange = sandbox.last_request("/api/oauth/access_token")
    body = exchange.json()
    assert set(body) == {"client_id", "auth_id", "signature"}
    record = sandbox.auth_record(body["auth_id"])
    expected = hashlib.sha256(
        (APP_SECRET + record.code + APP_ID + "read_orders,system" + redirect_uri.lower()).encode()
    ).hexdigest()
    assert body["signature"] == expected

    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active"
    assert stored["token_version"] == 1
    assert stored["expires_at"] and stored["next_refresh_at"] < stored["expires_at"]
    assert stored["last_error"] is None
    assert "token" not in json.dumps({k: v for k, v in stored.items() if k != "token_version"})
    events = captured_events()
    assert [(e["detail-type"], e["detail"]["connection_id"]) for e in events] == [
        ("connection.authorized", connection["id"])
    ]


def test_store_lowercasing_the_redirect_uri_still_completes(local_stack, sandbox, tenant):
    sandbox.configure(lowercase_redirect_uri=True)
    connection = new_connection(local_stack, sandbox, tenant)
    assert authorize(local_stack, sandbox, connection).status_code == 200
    assert _get(local_stack, tenant, connection["id"])["status"] == "active"


def test_store_not_echoing_state_still_completes(local_stack, sandbox, tenant):
    sandbox.configure(echo_state=False)
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    assert "state" not in _query(callback_url)
    assert browser.get(callback_url).status_code == 200
    assert _get(local_stack, tenant, connection["id"])["status"] == "active"


def test_deny_records_the_failure_and_stays_pending(local_stack, sandbox, tenant, captured_events):
    connection = new_connection(local_stack, sandbox, tenant)
    browser = Browser()
    consent_page = browser.get(to_store(browser, connection["authorize_url"]).headers["location"])
    assert consent_page.status_code == 200 and "Deny" in consent_page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', consent_page.text).group(1)
    denied = browser.http.post(
        f"{sandbox.base_url}/api/oauth/decision", data={"request_id": request_id, "decision": "deny"}
    )
    assert denied.status_code in (302, 303), denied.text
    assert "error" in _query(denied.headers["location"])
    page = browser.get(denied.headers["location"])
    assert page.status_code == 400
    assert "did not authorize" in page.text
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "pending_authorization"
    assert stored["last_error"]["code"] == "authorization_denied"
    assert [e["detail-type"] for e in captured_events()] == ["connection.authorization_failed"]
    assert sandbox.calls["access_token"] == 0


def test_error_description_markup_is_escaped(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    browser = Browser()
    store_url = to_store(browser, connection["authorize_url"]).headers["location"]
    state = _query(store_url)["state"][0]
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    page = browser.get(
        f"{local_stack.api_url}/oauth2/callback?"
        + urlencode({"cc_state": state, "error": "access_denied", "error_description": hostile})
    )
    assert page.status_code == 400
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;" in page.text
    # Stored as text for API clients, which escape it themselves; the page never renders it raw.
    assert _get(local_stack, tenant, connection["id"])["last_error"]["code"] == "authorization_denied"


@pytest.mark.parametrize(
    "attack",
    [
        "no_state",
        "unknown_state",
        "tampered_state",
        "no_cookie",
        "other_cookie",
        "conflicting_states",
        "expired",
    ],
)
def test_state_attacks_are_refused_before_any_store_call(local_stack, sandbox, tenant, attack, use_runtime):
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    state = _query(callback_url)["state"][0]
    if attack == "no_state":
        callback_url = _replace_query(callback_url, state=None, cc_state=None)
    elif attack == "unknown_state":
        callback_url = _replace_query(callback_url, state="0" * 64, cc_state="0" * 64)
    elif attack == "tampered_state":
        flipped = ("1" if state[0] == "0" else "0") + state[1:]
        callback_url = _replace_query(callback_url, state=flipped, cc_state=flipped)
    elif attack == "no_cookie":
        browser.cookies.clear()
    elif attack == "other_cookie":
        browser.cookies = {name: "f" * 64 for name in browser.cookies}
    elif attack == "conflicting_states":
        callback_url = _replace_query(callback_url, state="a" * 64)
    elif attack == "expired":
        use_runtime(now=lambda: datetime.fromtimestamp(10**10, UTC))
    before = sandbox.calls["access_token"]
    page = browser.get(callback_url)
    assert page.status_code in (400, 410), page.text
    assert sandbox.calls["access_token"] == before
    assert _get(local_stack, tenant, connection["id"])["status"] == "pending_authorization"


def test_replays_lead_to_exactly_one_exchange(local_stack, sandbox, tenant):
    _connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    before = sandbox.calls["access_token"]
    barrier = threading.Barrier(10)

    def replay(_: int) -> int:
        barrier.wait()
        return browser.get(callback_url).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = Counter(pool.map(replay, range(10)))
    assert statuses == {200: 1, 400: 9}
    assert sandbox.calls["access_token"] == before + 1
    # And serially, once more: refused without a store call.
    assert browser.get(callback_url).status_code == 400
    assert sandbox.calls["access_token"] == before + 1


@pytest.mark.parametrize(
    ("fault", "expected_status", "error_code"),
    [
        ({"status_5xx": 500}, 502, "token_exchange_failed"),
        ({"malformed_json": True}, 502, "token_exchange_failed"),
        ({"html_body": True}, 502, "token_exchange_failed"),
        ({"refuse_grants": True}, 400, "grant_refused"),
        ({"refuse_grants": True, "error_encoding": "form"}, 400, "grant_refused"),
        ({"refuse_grants": True, "error_style": "oauth"}, 400, "grant_refused"),
        ({"refuse_grants": True, "error_style": "oauth", "error_encoding": "form"}, 400, "grant_refused"),
        ({"rate_limit_token_endpoints": True}, 502, "token_exchange_failed"),
        ({"redirect_token_endpoints": True}, 502, "token_exchange_failed"),
    ],
)
def test_bad_token_responses_leave_nothing_half_written(
    local_stack, sandbox, tenant, fault, expected_status, error_code
):
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    sandbox.configure(**fault)
    page = browser.get(callback_url)
    assert page.status_code == expected_status, page.text
    assert "Traceback" not in page.text and APP_SECRET not in page.text
    stored = _get(local_stack, tenant, connection["id"])
    assert (stored["status"], stored["token_version"], stored["expires_at"]) == (
        "pending_authorization",
        0,
        None,
    )
    assert stored["last_error"]["code"] == error_code
    if fault.get("refuse_grants"):
        # The store's own text is recorded whatever the shape of its error body.
        said = "invalid_client" if fault.get("error_style") == "oauth" else "Unauthorized"
        assert f"(store said: {said}: The grant has been refused)" in stored["last_error"]["message"]


@pytest.mark.parametrize(
    ("secret_failure", "expected_status", "error_code"),
    [
        ("ThrottlingException", 503, "secret_store_unavailable"),
        ("ResourceNotFoundException", 410, "iclient_secret_unreadable"),
    ],
    ids=["secrets-manager-throttled", "secret-gone"],
)
def test_the_secret_store_failing_in_the_callback_leaves_nothing_half_written(
    local_stack, sandbox, tenant, monkeypatch, secret_failure, expected_status, error_code
):
    from botocore.exceptions import ClientError

    from cartconnect import aws
    from cartconnect.adapters import iclient_secret

    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    iclient_secret.forget_cache()
    real_client = aws.client

    class Failing:
        def get_secret_value(self, **_kwargs):
            raise ClientError(
                {"Error": {"Code": secret_failure, "Message": "internal detail"}}, "GetSecretValue"
            )

    monkeypatch.setattr(
        aws, "client", lambda service: Failing() if service == "secretsmanager" else real_client(service)
    )
    exchanges = sandbox.calls["access_token"]
    page = browser.get(callback_url)
    assert page.status_code == expected_status, page.text
    assert "internal detail" not in page.text and secret_failure not in page.text
    assert sandbox.calls["access_token"] == exchanges  # nothing signed, nothing sent
    stored = _get(local_stack, tenant, connection["id"])
    assert (stored["status"], stored["token_version"]) == ("pending_authorization", 0)
    assert stored["last_error"]["code"] == error_code


@pytest.mark.parametrize("expires_format", ["z", "offset", "naive", "absent", "garbage"])
def test_every_documented_expiry_form(local_stack, sandbox, tenant, expires_format, caplog):
    sandbox.configure(expires_format=expires_format)
    connection = new_connection(local_stack, sandbox, tenant)
    before = datetime.now(UTC)
    assert authorize(local_stack, sandbox, connection).status_code == 200
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active"
    if expires_format in ("absent", "garbage"):
        # Unknown lifetime: GET says so (null), and the refresh is scheduled on the default
        # lifetime (DEFAULT_TOKEN_LIFETIME_MINUTES 60 minus the 15-minute lead), not never.
        assert stored["expires_at"] is None
        due = datetime.fromisoformat(stored["next_refresh_at"])
        assert before + timedelta(minutes=45) <= due <= datetime.now(UTC) + timedelta(minutes=45)
    else:
        assert stored["expires_at"] is not None
    warnings = [r for r in caplog.records if r.getMessage() == "token expiry unreadable, lifetime assumed"]
    if expires_format == "garbage":
        # A warning with the connection and the reason, never the value.
        assert [(r.connection_id, r.reason) for r in warnings] == [
            (connection["id"], "expires is not an ISO 8601 date-time")
        ]
        assert "next Tuesday" not in caplog.text
    else:
        assert warnings == []


def test_a_never_expiring_grant_is_never_scheduled(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant, scopes=("read_orders", "no_expiry"))
    assert authorize(local_stack, sandbox, connection).status_code == 200
    stored = _get(local_stack, tenant, connection["id"])
    assert (stored["status"], stored["expires_at"], stored["next_refresh_at"]) == ("active", None, None)


def test_a_callback_url_with_reserved_characters_in_its_query_completes(local_stack, sandbox, tenant):
    callback = f"{local_stack.api_url}/oauth2/callback?next=/a:b&x=1 2"
    previous = local_stack.env.get("ALLOWED_CALLBACK_URLS", "")
    local_stack.update_env({"ALLOWED_CALLBACK_URLS": callback})
    try:
        connection = new_connection(local_stack, sandbox, tenant)
        patched = api(local_stack, tenant).patch(
            f"/v1/connections/{connection['id']}", json={"callback_url": callback}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["callback_url"] == callback
        link = api(local_stack, tenant).post(f"/v1/connections/{connection['id']}/authorize-link")
        assert link.status_code == 200, link.text
        browser = Browser()
        store_url = to_store(browser, link.json()["authorize_url"]).headers["location"]
        redirect_uri = _query(store_url)["redirect_uri"][0]
        # Every query value already in the form the store signs: percent-encoded, nothing safe.
        assert redirect_uri.startswith(
            f"{local_stack.api_url}/oauth2/callback?next=%2Fa%3Ab&x=1%202&cc_state="
        )
        callback_url = consent(browser, sandbox, store_url)
        assert callback_url.startswith(redirect_uri + "&auth_id=")
        page = browser.get(callback_url)
        assert page.status_code == 200, page.text
        assert _get(local_stack, tenant, connection["id"])["status"] == "active"
        assert sandbox.calls["access_token"] == 1
    finally:
        local_stack.update_env({"ALLOWED_CALLBACK_URLS": previous})


def test_tickets_are_single_use_expiring_and_voided_by_a_new_link(local_stack, sandbox, tenant, use_runtime):
    connection = new_connection(local_stack, sandbox, tenant)
    link = connection["authorize_url"]
    browser = Browser()
    assert browser.post(link).status_code == 303
    for method in (browser.get, browser.post):  # the page and the button say the same
        used = method(link)
        assert used.status_code == 410 and used.headers["content-type"].startswith("text/html")
        assert "already used" in used.text and "<form" not in used.text
        assert "form-action 'none'" in used.headers["content-security-policy"]
        assert method(link.rsplit("/", 1)[0] + "/not-a-ticket").status_code == 400

    client = api(local_stack, tenant)
    first = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    second = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    for method in ("GET", "POST"):
        replaced = Browser().request(method, first)
        assert replaced.status_code == 410 and "replaced" in replaced.text  # voided by the newer link
    assert Browser().get(second).status_code == 200
    assert Browser().post(second).status_code == 303

    third = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    fourth = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    from cartconnect import runtime

    now = runtime.current()
    use_runtime(now=lambda: datetime.fromtimestamp(10**10, UTC))
    for method, expired_link in (("GET", third), ("POST", fourth)):
        expired = Browser().request(method, expired_link)
        assert expired.status_code == 410 and "expired" in expired.text
    runtime.use(now)
    other_tenant = api(local_stack, f"{tenant}-other")
    assert other_tenant.post(f"/v1/connections/{connection['id']}/authorize-link").status_code == 404


@pytest.fixture
def table_writes(monkeypatch):
    """Every DynamoDB write the in-process functions make from now on, by operation name."""
    from cartconnect.adapters import table

    writes: list[str] = []
    real_client = table.client
    writing = {"put_item", "delete_item", "update_item", "transact_write_items", "batch_write_item"}

    class Counting:
        def __init__(self, client) -> None:
            self._client = client

        def __getattr__(self, name: str):
            if name in writing:
                writes.append(name)
            return getattr(self._client, name)

    monkeypatch.setattr(table, "client", lambda: Counting(real_client()))
    return writes


def test_opening_the_link_spends_nothing_and_shows_what_is_granted(
    local_stack, sandbox, tenant, table_writes
):
    connection = new_connection(local_stack, sandbox, tenant, scopes=("read_orders", "system"))
    link = connection["authorize_url"]
    ticket = link.rsplit("/", 1)[1]
    table_writes.clear()
    for _ in range(5):  # a chat app's preview, a mail scanner, the admin reloading the page
        page = open_link(Browser(), link)
    assert table_writes == []
    headers = page.headers
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp)
    # The form posts here, and its 303 may only lead to this connection's store.
    assert f"form-action 'self' {sandbox.base_url};" in csp
    assert "<script" not in page.text and "set-cookie" not in headers
    assert ticket not in page.text  # the form has no action: it posts to the page's own URL
    assert sandbox.host in page.text and APP_ID in page.text
    assert "<code>read_orders</code>" in page.text and "<code>system</code>" in page.text

    browser = Browser()
    redirect = browser.post(link)
    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith(f"{sandbox.base_url}/api/oauth?")
    assert sorted(table_writes) == ["delete_item", "put_item"]  # the ticket spent, the state recorded
    assert browser.get(consent(browser, sandbox, redirect.headers["location"])).status_code == 200
    assert _get(local_stack, tenant, connection["id"])["status"] == "active"


def test_head_writes_nothing(local_stack, sandbox, tenant, table_writes):
    connection = new_connection(local_stack, sandbox, tenant)
    table_writes.clear()
    head = Browser().request("HEAD", connection["authorize_url"])
    assert head.status_code in (200, 404)  # 404 when the gateway has no HEAD route (API Gateway)
    assert table_writes == []
    assert Browser().post(connection["authorize_url"]).status_code == 303


def test_the_post_takes_a_form_body_and_refuses_cross_site_submissions(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    link = connection["authorize_url"]
    for site in ("cross-site", "same-site"):
        refused = Browser().post(link, data={"anything": "x"}, **{"Sec-Fetch-Site": site})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        assert "location" not in refused.headers
    # Nothing was spent: the admin's own submission (any urlencoded body, or none) still works.
    browser = Browser()
    redirect = browser.post(link, data={"continue": "1"})
    assert redirect.status_code == 303 and redirect.headers["location"].startswith(sandbox.base_url)
    assert [name[:15] for name in browser.cookies] == ["__Host-cc_auth_"]


def test_concurrent_submissions_spend_the_ticket_once(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    barrier = threading.Barrier(8)

    def submit(_: int) -> int:
        browser = Browser()
        barrier.wait()
        return browser.post(connection["authorize_url"]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(submit, range(8)))
    assert statuses == {303: 1, 410: 7}


def test_reauthorization_keeps_the_old_token_until_the_new_one_is_stored(
    local_stack, sandbox, tenant, captured_events
):
    connection = new_connection(local_stack, sandbox, tenant)
    assert authorize(local_stack, sandbox, connection).status_code == 200
    client = api(local_stack, tenant)
    link = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    browser = Browser()
    callback_url = consent(browser, sandbox, to_store(browser, link).headers["location"])
    midway = _get(local_stack, tenant, connection["id"])
    assert (midway["status"], midway["token_version"]) == ("active", 1)
    assert browser.get(callback_url).status_code == 200
    after = _get(local_stack, tenant, connection["id"])
    assert (after["status"], after["token_version"]) == ("active", 2)


def test_patch_during_authorization_voids_the_attempt(local_stack, sandbox, tenant):
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    client = api(local_stack, tenant)
    assert client.patch(f"/v1/connections/{connection['id']}", json={"scopes": ["orders"]}).status_code == 200
    page = browser.get(callback_url)
    assert page.status_code == 409
    assert _get(local_stack, tenant, connection["id"])["status"] == "pending_authorization"


def test_callback_never_redirects_to_a_url_from_the_query(local_stack, sandbox, tenant):
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    hostile = "https://evil.example/steal"
    page = browser.get(_replace_query(callback_url, r=hostile, next=hostile, return_to=hostile))
    assert page.status_code == 200
    assert "location" not in page.headers
    assert "evil.example" not in page.text
    assert _get(local_stack, tenant, connection["id"])["status"] == "active"


def _attempt_cookies(browser: Browser) -> list[str]:
    return [name for name in browser.cookies if name.startswith("__Host-cc_auth_")]


@pytest.mark.parametrize(
    "fault",
    [
        "repeated_auth_id",
        "auth_id_given_twice_alike",
        "repeated_code",
        "no_code",
        "no_auth_id",
        "empty_code",
        "over_long_code",
        "control_character_in_auth_id",
        "format_character_in_code",
    ],
)
def test_a_malformed_answer_is_refused_before_the_state_is_spent(
    local_stack, sandbox, tenant, captured_events, fault
):
    connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    answer = _query(callback_url)
    auth_id, code = answer["auth_id"][0], answer["code"][0]
    malformed = {
        "repeated_auth_id": callback_url + "&" + urlencode({"auth_id": auth_id + "x"}),
        "auth_id_given_twice_alike": callback_url + "&" + urlencode({"auth_id": auth_id}),
        "repeated_code": callback_url + "&" + urlencode({"code": "another-code"}),
        "no_code": _replace_query(callback_url, code=None),
        "no_auth_id": _replace_query(callback_url, auth_id=None),
        "empty_code": _replace_query(callback_url, code=""),
        "over_long_code": _replace_query(callback_url, code="c" * 1025),
        "control_character_in_auth_id": _replace_query(callback_url, auth_id=auth_id + "\n"),
        "format_character_in_code": _replace_query(callback_url, code=code + "\u200b"),
    }[fault]
    before = sandbox.calls["access_token"]

    page = browser.get(malformed)
    assert page.status_code == 400, page.text
    assert sandbox.calls["access_token"] == before
    assert "set-cookie" not in page.headers  # the attempt is still live: its cookie stays
    stored = _get(local_stack, tenant, connection["id"])
    assert (stored["status"], stored["last_error"]) == ("pending_authorization", None)
    assert captured_events() == []

    # Nothing was spent: the store's real answer still completes the authorization.
    assert browser.get(callback_url).status_code == 200
    assert _get(local_stack, tenant, connection["id"])["status"] == "active"


def test_the_result_page_clears_the_attempt_cookie(local_stack, sandbox, tenant):
    _connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    [name] = _attempt_cookies(browser)
    page = browser.get(callback_url)
    assert page.status_code == 200
    cleared = page.headers["set-cookie"]
    assert cleared.startswith(f"{name}=;")
    for attribute in ("Max-Age=0", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"):
        assert attribute in cleared
    assert _attempt_cookies(browser) == []
    # A replay finds the attempt over and clears the cookie again (a browser that kept it).
    browser.cookies[name] = "f" * 64
    replay = browser.get(callback_url)
    assert replay.status_code == 400 and "Max-Age=0" in replay.headers["set-cookie"]


@pytest.mark.parametrize("ending", ["denied", "grant_refused"])
def test_an_attempt_that_failed_after_spending_its_state_clears_its_cookie(
    local_stack, sandbox, tenant, ending
):
    _connection, browser, callback_url = _consented(local_stack, sandbox, tenant)
    if ending == "denied":
        callback_url = _replace_query(callback_url, auth_id=None, code=None, error="access_denied")
    else:
        sandbox.configure(refuse_grants=True)
    page = browser.get(callback_url)
    assert page.status_code == 400, page.text
    assert "Max-Age=0" in page.headers["set-cookie"]
    assert _attempt_cookies(browser) == []


def test_the_state_item_cannot_reproduce_the_state(local_stack, sandbox, tenant):
    connection = new_connection(local_stack, sandbox, tenant)
    browser = Browser()
    store_url = to_store(browser, connection["authorize_url"]).headers["location"]
    state = _query(store_url)["state"][0]
    item = local_stack.aws_client("dynamodb").get_item(
        TableName=local_stack.env["TABLE_NAME"],
        Key={"pk": {"S": f"STATE#{hashlib.sha256(state.encode()).hexdigest()}"}, "sk": {"S": "STATE"}},
    )["Item"]
    stored = json.dumps(item).lower()
    assert state not in stored
    assert item["callback_url"]["S"] == connection["callback_url"]
    # The callback rebuilds the exact redirect URI that was sent from the state it is given.
    assert browser.get(consent(browser, sandbox, store_url)).status_code == 200
    exchange = sandbox.last_request("/api/oauth/access_token").json()
    record = sandbox.auth_record(exchange["auth_id"])
    assert record.redirect_uri == _query(store_url)["redirect_uri"][0]


def test_one_clock_shift_reaches_every_reader_of_time(local_stack, sandbox, tenant, shift_clock):
    # Links, states and the API's timestamps all read the runtime's clock: a shift moves them all.
    connection = new_connection(local_stack, sandbox, tenant)
    shift_clock(601)  # past the link's 10 minutes
    expired = Browser().get(connection["authorize_url"])
    assert expired.status_code == 410 and "expired" in expired.text
    updated = api(local_stack, tenant).patch(f"/v1/connections/{connection['id']}", json={"name": "Later"})
    assert updated.status_code == 200, updated.text
    moved = datetime.fromisoformat(updated.json()["updated_at"]) - datetime.fromisoformat(
        connection["created_at"]
    )
    assert moved >= timedelta(seconds=600)
