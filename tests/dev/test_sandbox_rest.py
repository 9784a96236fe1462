"""The sandbox store's REST resources with records (products, customers): paging by the answers'
links, reads by id, writes gated by the write scopes, the provider's validation error, and the call
limit every /api/v1 call counts against (and the record of the accepted calls tests assert on)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from cartconnect.provider.signing import exchange_signature
from cartconnect.provider.urls import build_authorize_url
from cartconnect_dev.sandbox_store import SEED_COUNTS, SandboxStore, store_signed_redirect_uri

CLIENT_ID = "4242"
SECRET = "Sandbox-Rest-Secret"
REDIRECT = "http://127.0.0.1:9/callback"

Token = Callable[[str], str]


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    with SandboxStore() as sandbox:
        sandbox.register_app(CLIENT_ID, SECRET)
        sandbox.configure(auto_approve=True)
        yield sandbox


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(follow_redirects=False, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def token(store: SandboxStore, http: httpx2.Client) -> Token:
    """An access token for a grant of the given scope string (consent and exchange on the wire)."""

    def grant(scope: str) -> str:
        consent = http.get(build_authorize_url(store.base_url, CLIENT_ID, scope, REDIRECT))
        assert consent.status_code == 302, consent.text
        query = parse_qs(urlsplit(consent.headers["Location"]).query)
        auth_id, code = query["auth_id"][0], query["code"][0]
        signature = exchange_signature(SECRET, code, CLIENT_ID, scope, store_signed_redirect_uri(REDIRECT))
        answer = http.post(
            f"{store.base_url}/api/oauth/access_token",
            json={"client_id": CLIENT_ID, "auth_id": auth_id, "signature": signature},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    return grant


def _call(http: httpx2.Client, method: str, url: str, access_token: str, body: Any = None) -> httpx2.Response:
    headers = {"X-AC-Auth-Token": access_token}
    if body is None:
        return http.request(method, url, headers=headers)
    return http.request(method, url, headers=headers, json=body)


def _api(store: SandboxStore, path: str) -> str:
    return f"{store.base_url}/api/v1/{path}"


# -- paging -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "scope"), [("products", "read_catalog"), ("customers", "people")])
def test_walking_next_page_links_sees_every_record_once(
    store: SandboxStore, http: httpx2.Client, token: Token, resource: str, scope: str
) -> None:
    access = token(scope)
    url: str | None = _api(store, f"{resource}?page=1&count=5")
    seen: list[int] = []
    pages = 0
    previous: str | None = None
    while url is not None:
        answer = _call(http, "GET", url, access)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert set(data) == {"total_count", resource, "next_page", "previous_page"}
        assert data["total_count"] == SEED_COUNTS[resource]
        assert data["previous_page"] == previous
        assert len(data[resource]) <= 5
        seen += [item["id"] for item in data[resource]]
        pages += 1
        previous, url = url, data["next_page"]
        if url is not None:  # absolute, on the store's own base URL
            assert url.startswith(f"{store.base_url}/api/v1/{resource}?")
    assert pages == -(-SEED_COUNTS[resource] // 5)
    assert seen == list(range(1, SEED_COUNTS[resource] + 1))
    assert all(isinstance(item_id, int) for item_id in seen)


def test_lists_default_to_100_cap_at_200_and_refuse_pages_past_the_end(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog")
    whole = _call(http, "GET", _api(store, "products"), access).json()
    assert len(whole["products"]) == 25 and whole["next_page"] is None and whole["previous_page"] is None
    second = _call(http, "GET", _api(store, "products?page=2&count=10"), access).json()
    assert [item["id"] for item in second["products"]] == list(range(11, 21))
    assert second["next_page"] == f"{store.base_url}/api/v1/products?page=3&count=10"
    assert second["previous_page"] == f"{store.base_url}/api/v1/products?page=1&count=10"
    capped = _call(http, "GET", _api(store, "products?count=500"), access).json()
    assert len(capped["products"]) == 25
    past = _call(http, "GET", _api(store, "products?page=4&count=10"), access)
    assert past.status_code == 404 and past.json()["status_code"] == 404
    for bad in ("page=0", "count=0", "page=x", "count=-3"):
        refused = _call(http, "GET", _api(store, f"products?{bad}"), access)
        assert refused.status_code == 400, bad
        assert set(refused.json()) == {"status_code", "message", "details"}


def test_the_other_resources_still_list_nothing(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    answer = _call(http, "GET", _api(store, "orders?count=1"), token("read_orders"))
    assert answer.status_code == 200
    assert answer.json() == {"total_count": 0, "orders": [], "next_page": None, "previous_page": None}
    assert _call(http, "GET", _api(store, "orders/1"), token("orders")).status_code == 404


# -- reads by id and writes ---------------------------------------------------------------------------


def test_read_by_id_and_404(store: SandboxStore, http: httpx2.Client, token: Token) -> None:
    access = token("read_people")
    one = _call(http, "GET", _api(store, "customers/3"), access)
    assert one.status_code == 200 and one.json()["id"] == 3 and "@" in one.json()["email"]
    for missing in ("customers/99", "customers/abc", "customers/3/extra", "no_such_thing"):
        answer = _call(http, "GET", _api(store, missing), access)
        assert answer.status_code == 404, missing
        assert answer.json()["status_code"] == 404


def test_create_update_delete_with_the_write_scope(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog")
    created = _call(
        http, "POST", _api(store, "products"), access, {"item_name": "Widget", "price": 9.5, "id": 1}
    )
    assert created.status_code == 200, created.text  # the OpenAPI description's status for a create
    item = created.json()
    assert item["id"] == 26 and isinstance(item["id"], int) and item["item_name"] == "Widget"
    assert _call(http, "GET", _api(store, "products/26"), access).json() == item
    assert _call(http, "GET", _api(store, "products"), access).json()["total_count"] == 26

    updated = _call(http, "PUT", _api(store, "products/26"), access, {"price": 11.0, "id": 3})
    assert updated.status_code == 200
    assert (updated.json()["id"], updated.json()["price"], updated.json()["item_name"]) == (
        26,
        11.0,
        "Widget",
    )
    assert _call(http, "PUT", _api(store, "products/99"), access, {"price": 1}).status_code == 404

    deleted = _call(http, "DELETE", _api(store, "products/26"), access)
    assert deleted.status_code == 200 and deleted.content == b""
    assert _call(http, "GET", _api(store, "products/26"), access).status_code == 404
    assert _call(http, "DELETE", _api(store, "products/26"), access).status_code == 404
    assert len(store.records("products")) == 25


def test_a_deleted_records_id_is_never_assigned_again_until_reset(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog")
    assert _call(http, "DELETE", _api(store, "products/25"), access).status_code == 200
    first = _call(http, "POST", _api(store, "products"), access, {"item_name": "First"}).json()
    assert first["id"] == 26  # not 25: the newest record was deleted, its id stays spent
    assert _call(http, "DELETE", _api(store, "products/26"), access).status_code == 200
    assert _call(http, "POST", _api(store, "products"), access, {"item_name": "Second"}).json()["id"] == 27
    assert http.post(f"{store.base_url}/_sandbox/reset").status_code == 200  # forgets the token too
    store.configure(auto_approve=True)
    third = _call(http, "POST", _api(store, "products"), token("catalog"), {"item_name": "Third"})
    assert third.json()["id"] == 26


def test_writes_need_the_write_scope(store: SandboxStore, http: httpx2.Client, token: Token) -> None:
    reader = token("read_catalog,people")
    refused = [
        _call(http, "POST", _api(store, "products"), reader, {"item_name": "Nope"}),
        _call(http, "PUT", _api(store, "products/1"), reader, {"item_name": "Nope"}),
        _call(http, "DELETE", _api(store, "products/1"), reader),
    ]
    for answer in refused:
        assert answer.status_code == 403
        assert "catalog" in answer.json()["details"]
    assert len(store.records("products")) == 25 and store.records("products")[0]["item_name"] != "Nope"
    assert (
        _call(http, "POST", _api(store, "customers"), reader, {"email": "new@example.test"}).status_code
        == 200
    )
    assert _call(http, "GET", _api(store, "products/1"), reader).status_code == 200
    # The write scope of one resource does not allow another's reads or writes.
    assert _call(http, "GET", _api(store, "products/1"), token("people")).status_code == 403


def test_a_missing_required_field_is_a_409_naming_it(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog,people")
    for path, body, field_name in (
        ("products", {"price": 1}, "item_name"),
        ("products", {"item_name": "  "}, "item_name"),
        ("customers", {"first_name": "Ada"}, "email"),
    ):
        answer = _call(http, "POST", _api(store, path), access, body)
        assert answer.status_code == 409
        error = answer.json()
        assert set(error) == {"status_code", "message", "details"} and error["status_code"] == 409
        assert field_name in error["details"]
    blanked = _call(http, "PUT", _api(store, "customers/1"), access, {"email": ""})
    assert blanked.status_code == 409 and "email" in blanked.json()["details"]
    assert _call(http, "POST", _api(store, "products"), access, ["not", "an", "object"]).status_code == 400
    assert _call(http, "PUT", _api(store, "products"), access, {"item_name": "x"}).status_code == 405
    assert _call(http, "POST", _api(store, "products/1"), access, {"item_name": "x"}).status_code == 405
    assert _call(http, "POST", _api(store, "orders"), token("orders"), {"x": 1}).status_code == 405
    assert len(store.records("products")) == 25 and len(store.records("customers")) == 12


def test_patch_is_a_405_in_the_stores_shape_and_counts_as_a_call(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    """The store's API takes no PATCH (a proxy forwards one all the same): 405 with the store's error
    body and call-limit header, never the HTTP server's 501, and the record is left as it was."""
    store.configure(api_call_limit=5)
    writer = token("catalog")
    before = store.records("products")[2]
    for path in ("products/3", "products", "orders/1"):
        answer = _call(http, "PATCH", _api(store, path), writer, {"price": 1.0})
        assert answer.status_code == 405, (path, answer.status_code)
        assert answer.json() == {
            "status_code": 405,
            "message": "Method Not Allowed",
            "details": f"PATCH is not allowed on /api/v1/{path}",
        }
    assert answer.headers["X-AC-Call-Limit"] == "3/5"
    assert store.records("products")[2] == before
    assert _call(http, "PATCH", _api(store, "products/3"), "not-a-token").status_code == 401


def test_reset_restores_the_seed(store: SandboxStore, http: httpx2.Client, token: Token) -> None:
    access = token("people")
    seed = store.records("customers")
    _call(http, "DELETE", _api(store, "customers/1"), access)
    _call(http, "PUT", _api(store, "customers/2"), access, {"first_name": "Changed"})
    assert store.records("customers") != seed
    assert http.post(f"{store.base_url}/_sandbox/reset").status_code == 200
    assert store.records("customers") == seed
    assert store.api_call_times() == []


# -- the call limit -----------------------------------------------------------------------------------


def test_the_limit_at_5_counts_every_call_and_answers_the_6th_with_429(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog")
    assert http.post(f"{store.base_url}/_sandbox/config", json={"api_call_limit": 5}).status_code == 200
    calls = [
        ("GET", "products?count=2", None),
        ("GET", "products/1", None),
        ("POST", "products", {"item_name": "Counted"}),
        ("PUT", "products/1", {"price": 2}),
        ("DELETE", "products/2", None),
    ]
    for used, (method, path, body) in enumerate(calls, start=1):
        answer = _call(http, method, _api(store, path), access, body)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-AC-Call-Limit"] == f"{used}/5"
    sixth = _call(http, "GET", _api(store, "customers"), access)
    assert sixth.status_code == 429
    assert sixth.headers["X-AC-Call-Limit"] == "5/5"
    assert 1 <= int(sixth.headers["Retry-After"]) <= 10
    assert _call(http, "POST", _api(store, "products"), access, {"item_name": "x"}).status_code == 429
    assert len(store.records("products")) == 25  # one created, one deleted; the refused create did nothing
    # Only the accepted calls are recorded, and they never exceed the limit in a window.
    times = store.api_call_times()
    assert len(times) == 5 and times == sorted(times)
    assert store.max_api_calls_within(10) == 5
    report = http.get(f"{store.base_url}/_sandbox/calls").json()
    assert report["api_call_times"] == times and report["max_api_calls_in_window"] == 5
    assert report["clock"] == "monotonic" and report["now"] >= times[-1]


def test_refused_and_failed_calls_count_too(store: SandboxStore, http: httpx2.Client, token: Token) -> None:
    store.configure(api_call_limit=5)
    reader = token("read_catalog")
    assert _call(http, "GET", _api(store, "products"), "not-a-token").status_code == 401
    assert _call(http, "POST", _api(store, "products"), reader, {"item_name": "x"}).status_code == 403
    assert _call(http, "GET", _api(store, "products/999"), reader).status_code == 404
    last = _call(http, "GET", _api(store, "stores"), reader)
    assert last.status_code == 403 and last.headers["X-AC-Call-Limit"] == "4/5"


def test_the_window_slides_and_the_record_spans_windows(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    store.configure(api_call_limit=5, api_window_seconds=0.4)
    access = token("read_catalog")
    for _ in range(5):
        assert _call(http, "GET", _api(store, "products/1"), access).status_code == 200
    assert _call(http, "GET", _api(store, "products/1"), access).status_code == 429
    time.sleep(0.5)
    again = _call(http, "GET", _api(store, "products/1"), access)
    assert again.status_code == 200 and again.headers["X-AC-Call-Limit"] == "1/5"
    assert len(store.api_call_times()) == 6
    assert store.max_api_calls_within() == 5  # the configured window
    assert store.max_api_calls_within(60) == 6


def test_the_limit_takes_only_the_plans_values(store: SandboxStore, http: httpx2.Client) -> None:
    for good in (5, 10, 20, 50):
        answer = http.post(f"{store.base_url}/_sandbox/config", json={"api_call_limit": good})
        assert answer.status_code == 200 and answer.json()["api_call_limit"] == good
    for bad in (7, 0, 100, "5", None):
        refused = http.post(f"{store.base_url}/_sandbox/config", json={"api_call_limit": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["error"] == "invalid config"
    assert store.faults.api_call_limit == 50
    with pytest.raises(ValueError):
        store.configure(api_call_limit=7)
    with pytest.raises(ValueError):
        store.faults.api_call_limit = 7  # type: ignore[assignment]


def test_the_calls_report_refuses_browsers(store: SandboxStore, http: httpx2.Client) -> None:
    refused = http.get(f"{store.base_url}/_sandbox/calls", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.headers["Connection"] == "close"  # the store closes it: never reused for the next
    assert http.get(f"{store.base_url}/_sandbox/calls").json()["api_call_times"] == []


# -- what a call sent, and the /api/v1 faults ---------------------------------------------------------


def test_the_last_api_request_keeps_its_method_headers_and_body(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("catalog")
    sent = http.post(
        _api(store, "products?ignored=1"),
        headers={"X-AC-Auth-Token": access, "X-Extra": "seen"},
        json={"item_name": "Captured"},
    )
    assert sent.status_code == 200, sent.text
    request = store.last_request("/api/v1/products")
    assert request is not None and request.method == "POST"
    assert request.headers["X-AC-Auth-Token"] == access and request.headers["X-Extra"] == "seen"
    assert request.json() == {"item_name": "Captured"}
    assert store.last_request("/api/v1/customers") is None


def test_a_5xx_fault_answers_its_count_of_calls_then_turns_itself_off(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("read_catalog")
    store.configure(api_status_5xx=503, api_status_5xx_calls=2)
    statuses = [_call(http, "GET", _api(store, "products/1"), access) for _ in range(3)]
    assert [answer.status_code for answer in statuses] == [503, 503, 200]
    assert statuses[0].json()["status_code"] == 503 and statuses[0].headers["X-AC-Call-Limit"] == "1/50"
    assert (store.faults.api_status_5xx, store.faults.api_status_5xx_calls) == (None, None)
    assert len(store.api_call_times()) == 3  # answered, so accepted: they count
    store.configure(api_status_5xx=500)  # no count: until switched off
    assert {_call(http, "GET", _api(store, "products/1"), access).status_code for _ in range(3)} == {500}
    with pytest.raises(ValueError):
        store.configure(api_status_5xx_calls=0)


def test_the_html_fault_answers_a_page_of_exactly_the_size_asked(
    store: SandboxStore, http: httpx2.Client
) -> None:
    for size in (20, 100_000):
        store.configure(api_html_bytes=size)
        answer = http.get(_api(store, "products"))  # before the token is looked at
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert len(answer.content) == size and answer.content.startswith(b"<!doctype html>"[:size])
    with pytest.raises(ValueError):
        store.configure(api_html_bytes=-1)


def test_the_reject_tokens_fault_refuses_a_valid_token(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("read_catalog")
    store.configure(api_reject_tokens=True)
    refused = _call(http, "GET", _api(store, "products/1"), access)
    assert refused.status_code == 401 and refused.json()["details"] == "Token rejected"
    store.configure(api_reject_tokens=False)
    assert _call(http, "GET", _api(store, "products/1"), access).status_code == 200


def test_padding_makes_a_json_answer_as_large_as_asked(
    store: SandboxStore, http: httpx2.Client, token: Token
) -> None:
    access = token("read_catalog")
    store.configure(api_padding_bytes=300_000)
    answer = _call(http, "GET", _api(store, "products?count=1"), access).json()
    assert answer["padding"] == "x" * 300_000 and len(answer["products"]) == 1
