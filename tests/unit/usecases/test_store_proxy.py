"""usecases/store_proxy: the proxy's pipeline (token, budget, call, one refresh on a 401, retries,
the answer's shaping) with the token service, the budget, the store client and the table replaced
by fakes and time by the runtime seam (no AWS, no store, no real waiting)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from connections_at_noon import NOW, connection

from cartconnect import hosts
from cartconnect.adapters import refresh_repository
from cartconnect.domain.connection import LastError
from cartconnect.errors import RefreshFailed
from cartconnect.provider.americommerce import CallLimit, ForwardedAnswer
from cartconnect.provider.errors import (
    ProviderResponseError,
    ProviderTimedOut,
    ProviderUnavailable,
    StoreNotReached,
)
from cartconnect.settings import Settings
from cartconnect.usecases import store_budget, store_proxy, token_access
from cartconnect.usecases.store_proxy import (
    ATTEMPT_SECONDS,
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    MAX_BUDGET_WAIT_SECONDS,
    MAX_OTHER_ANSWER_BYTES,
    MAX_STORE_ANSWER_BYTES,
    BadGateway,
    BudgetSpent,
    ProxyAnswer,
    ProxyCall,
    StoreTimedOut,
    TokenRejected,
)
from cartconnect.usecases.token_access import IssuedToken

ORIGIN = "https://cc.example"
HOST = "shop.example.com"  # connections_at_noon's store
PROXY_BASE = f"{ORIGIN}/v1/connections/con_1/proxy"
JSON = "application/json; charset=utf-8"


def issued(version: int) -> IssuedToken:
    return IssuedToken(f"access-{version}", None, version, connection(token_version=version))


def answer(
    status: int = 200,
    body: bytes = b'{"id": 1}',
    content_type: str | None = JSON,
    *,
    call_limit: CallLimit | None = None,
    retry_after: str | None = None,
) -> ForwardedAnswer:
    return ForwardedAnswer(status, content_type, body, call_limit, retry_after)


class Proxy:
    """Everything the pipeline touches, as fakes that log what it did, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, use_runtime) -> None:
        self.store_answers: list[ForwardedAnswer | Exception] = [answer()]  # in turn; the last repeats
        self.budget: list[float | None] = []  # what each spend answers (None once they run out)
        self.budget_waits: list[float] = []  # waits a spend reports to on_wait before answering
        self.refreshed: list[IssuedToken | Exception] = [issued(4)]
        self.log: list[tuple[str, Any]] = []
        self.forwarded: list[dict[str, Any]] = []
        self.spent: list[dict[str, Any]] = []
        self.rejections: list[dict[str, Any]] = []
        self.cleared: list[dict[str, Any]] = []
        self.token = issued(3)  # what get_token answers
        self.metrics: list[str] = []
        self.sleeps: list[float] = []
        self.clock = 0.0
        monkeypatch.setattr(token_access, "get_token", self._get_token)
        monkeypatch.setattr(token_access, "after_rejection", self._after_rejection)
        monkeypatch.setattr(store_budget, "spend", self._spend)
        monkeypatch.setattr(store_budget, "client", self._client)
        monkeypatch.setattr(store_budget, "milliseconds", lambda name, seconds: self.metrics.append(name))
        monkeypatch.setattr(store_proxy, "count", lambda name, value=1: self.metrics.append(name))
        monkeypatch.setattr(store_proxy, "get_settings", lambda: Settings(table_name="t", kms_key_id="k"))
        monkeypatch.setattr(hosts, "safe_store_base_url", lambda host, settings: f"https://{host}")
        monkeypatch.setattr(refresh_repository, "record_api_rejection", self._record_api_rejection)
        monkeypatch.setattr(
            refresh_repository,
            "clear_api_rejection",
            lambda tenant, connection_id, **kwargs: (
                self.cleared.append({"connection_id": connection_id, **kwargs}) or True
            ),
        )
        use_runtime(now=lambda: NOW, monotonic=lambda: self.clock, sleep=self._sleep)

    def _get_token(self, tenant: str, connection_id: str, *, origin: str, deadline: float) -> IssuedToken:
        self.log.append(("token", (tenant, connection_id, origin, deadline)))
        return self.token

    def _after_rejection(self, tenant, connection_id, rejected, *, origin, deadline) -> IssuedToken:
        self.log.append(("refresh", rejected.token_version))
        token = self.refreshed.pop(0)
        if isinstance(token, Exception):
            raise token
        return token

    def _spend(self, host: str, **kwargs: Any) -> float | None:
        self.log.append(("spend", host))
        self.spent.append(kwargs)
        for wait in self.budget_waits:
            kwargs["on_wait"](wait)
        return self.budget.pop(0) if self.budget else None

    def _client(self, host: str) -> Proxy:
        self.log.append(("client", host))
        return self

    def forward(self, base_url: str, access_token: str, **kwargs: Any) -> ForwardedAnswer:
        self.log.append(("call", access_token))
        self.forwarded.append({"base_url": base_url, **kwargs})
        outcome = self.store_answers.pop(0) if len(self.store_answers) > 1 else self.store_answers[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _record_api_rejection(self, tenant: str, connection_id: str, **kwargs: Any) -> bool:
        self.rejections.append({"tenant": tenant, "connection_id": connection_id, **kwargs})
        return True

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock += seconds

    @property
    def calls(self) -> list[str]:
        """The token each store call carried."""
        return [token for kind, token in self.log if kind == "call"]

    def run(self, method: str = "GET", *, deadline: float = 100.0, **changes: Any) -> ProxyAnswer:
        fields: dict[str, Any] = {
            "tenant": "acme",
            "connection_id": "con_1",
            "method": method,
            "store_path": "/api/v1/products?count=1",
            "body": b'{"item_name": "Mug"}' if method in ("POST", "PUT", "PATCH") else None,
            "content_type": "application/json" if method in ("POST", "PUT", "PATCH") else None,
            "origin": ORIGIN,
            **changes,
        }
        return store_proxy.forward(ProxyCall(**fields), deadline=deadline)


@pytest.fixture
def proxy(monkeypatch, use_runtime) -> Iterator[Proxy]:
    yield Proxy(monkeypatch, use_runtime)


def _timed_out() -> ProviderTimedOut:
    return ProviderTimedOut("api", "timed out")


def _not_reached() -> StoreNotReached:
    return StoreNotReached("api", "connection failed (ConnectError)")


# -- the call -------------------------------------------------------------------------------------


def test_a_call_goes_to_the_connections_store_with_its_token_path_and_body(proxy):
    result = proxy.run("POST")
    assert proxy.log == [
        ("token", ("acme", "con_1", ORIGIN, 100.0)),
        ("spend", HOST),
        ("client", HOST),
        ("call", "access-3"),
    ]
    assert proxy.forwarded == [
        {
            "base_url": f"https://{HOST}",
            "method": "POST",
            "path": "/api/v1/products?count=1",
            "body": b'{"item_name": "Mug"}',
            "content_type": "application/json",
            "max_response_bytes": MAX_STORE_ANSWER_BYTES,
        }
    ]
    assert (result.status_code, result.content_type, result.body) == (200, JSON, b'{"id": 1}')
    assert (result.headers, result.store_calls) == ({}, 1)
    assert proxy.metrics == ["ProxyStoreLatency"]  # timed once around the one call


def test_the_budget_is_asked_with_the_proxys_bounds_and_each_wait_is_counted(proxy):
    proxy.budget_waits = [1.5, 2.0]
    proxy.run(deadline=42.0)
    [spent] = proxy.spent
    assert spent["deadline"] == 42.0
    assert spent["max_wait_seconds"] == MAX_BUDGET_WAIT_SECONDS
    assert spent["attempt_budget_seconds"] == ATTEMPT_SECONDS
    assert proxy.metrics.count("ProxyBudgetWaits") == 2


def test_a_spent_budget_is_429_with_its_wait_and_no_store_call(proxy):
    proxy.budget = [4.0]
    with pytest.raises(BudgetSpent) as spent:
        proxy.run()
    assert (spent.value.status, spent.value.retry_after_seconds) == (429, 4.0)
    assert proxy.calls == [] and "ProxyBudgetRefused" in proxy.metrics


def test_an_unsafe_store_host_is_502_before_the_budget_or_a_call(proxy, monkeypatch):
    def refuse(host: str, settings: Settings) -> str:
        raise hosts.UnsafeStoreHost("subdomain", "resolves to a private address")

    monkeypatch.setattr(hosts, "safe_store_base_url", refuse)
    with pytest.raises(BadGateway) as refused:
        proxy.run()
    assert refused.value.status == 502 and "resolves to a private address" in refused.value.detail
    assert [kind for kind, _ in proxy.log] == ["token"]


# -- a 401: one refresh, one more call ------------------------------------------------------------


def test_a_401_refreshes_once_and_calls_again_with_the_new_token(proxy):
    proxy.store_answers = [answer(401, b'{"message": "Unauthorized"}'), answer(200)]
    result = proxy.run()
    assert proxy.log == [
        ("token", ("acme", "con_1", ORIGIN, 100.0)),
        ("spend", HOST),
        ("client", HOST),
        ("call", "access-3"),
        ("refresh", 3),
        ("spend", HOST),  # the call after the refresh spends the budget too
        ("client", HOST),
        ("call", "access-4"),
    ]
    assert (result.status_code, result.store_calls) == (200, 2)
    assert proxy.sleeps == [] and proxy.rejections == []


def test_a_second_401_is_token_rejected_and_kept_on_the_connection_for_the_retried_version(proxy):
    proxy.store_answers = [answer(401)]
    with pytest.raises(TokenRejected) as rejected:
        proxy.run()
    assert rejected.value.status == 401 and "last_error" in rejected.value.detail
    assert proxy.calls == ["access-3", "access-4"]
    assert [kind for kind, _ in proxy.log].count("refresh") == 1
    [record] = proxy.rejections
    assert (record["tenant"], record["connection_id"], record["token_version"]) == ("acme", "con_1", 4)
    assert record["now"] == NOW and "rejected" in record["message"]


def _rejected_before(code: str = refresh_repository.API_TOKEN_REJECTED) -> IssuedToken:
    """Version 3, which the store rejected just after its refresh (as record_api_rejection keeps it)."""
    error = LastError(code, "the store's API rejected the access token, also just after a refresh", NOW)
    return IssuedToken("access-3", None, 3, connection(token_version=3, last_error=error))


def test_a_token_rejected_just_after_its_refresh_is_not_refreshed_again_on_its_next_401(proxy):
    proxy.token = _rejected_before()
    proxy.store_answers = [answer(401)]
    with pytest.raises(TokenRejected) as rejected:
        proxy.run()
    assert rejected.value.status == 401
    # One store call, no refresh and no second write of the same rejection.
    assert proxy.calls == ["access-3"] and "refresh" not in [kind for kind, _ in proxy.log]
    assert proxy.rejections == [] and proxy.cleared == []


def test_a_2xx_with_a_token_rejected_before_clears_the_rejection_for_its_version(proxy):
    proxy.token = _rejected_before()
    proxy.store_answers = [answer(200)]
    assert proxy.run().status_code == 200
    assert proxy.cleared == [{"connection_id": "con_1", "token_version": 3}]


@pytest.mark.parametrize("status", [403, 404, 500])
def test_only_a_2xx_clears_a_rejection(proxy, status):
    proxy.token = _rejected_before()
    proxy.store_answers = [answer(status)]
    assert proxy.run().status_code == status
    assert proxy.cleared == []


def test_another_last_error_does_not_keep_a_401_from_its_refresh(proxy):
    proxy.token = _rejected_before(code="store_unavailable")
    proxy.store_answers = [answer(401), answer(200)]
    assert proxy.run().status_code == 200
    assert proxy.calls == ["access-3", "access-4"] and proxy.cleared == []


def test_a_refresh_that_fails_after_a_401_is_its_error_and_no_second_call(proxy):
    proxy.store_answers = [answer(401)]
    proxy.refreshed = [
        RefreshFailed("the store did not refresh", code="store_unavailable", retry_after_seconds=5)
    ]
    with pytest.raises(RefreshFailed):
        proxy.run()
    assert proxy.calls == ["access-3"]


def test_the_budget_spent_after_a_refresh_is_429_without_the_second_call(proxy):
    proxy.store_answers = [answer(401), answer(200)]
    proxy.budget = [None, 3.0]
    with pytest.raises(BudgetSpent) as spent:
        proxy.run()
    assert spent.value.retry_after_seconds == 3.0 and proxy.calls == ["access-3"]


# -- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("status", [502, 503, 504])
def test_an_idempotent_call_is_retried_on_a_gateway_status_with_backoff(proxy, method, status):
    proxy.store_answers = [answer(status, b"busy", "text/plain")]
    result = proxy.run(method)
    assert len(proxy.calls) == MAX_ATTEMPTS and proxy.sleeps == list(BACKOFF_SECONDS)
    assert (result.status_code, result.body, result.store_calls) == (status, b"busy", MAX_ATTEMPTS)
    assert [kind for kind, _ in proxy.log].count("spend") == MAX_ATTEMPTS  # each retry spends the budget


def test_a_retry_that_succeeds_answers_the_success(proxy):
    proxy.store_answers = [answer(503), answer(200, b'{"ok": true}')]
    result = proxy.run()
    assert (result.status_code, result.body, result.store_calls) == (200, b'{"ok": true}', 2)
    assert proxy.sleeps == [BACKOFF_SECONDS[0]]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_idempotent_call_is_retried_after_a_timeout_then_504(proxy, method):
    proxy.store_answers = [_timed_out()]
    with pytest.raises(StoreTimedOut) as timed_out:
        proxy.run(method)
    assert timed_out.value.status == 504
    assert len(proxy.calls) == MAX_ATTEMPTS and proxy.sleeps == list(BACKOFF_SECONDS)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_call_that_may_have_been_carried_out_is_never_retried(proxy, method):
    proxy.store_answers = [answer(503, b'{"message": "Service Unavailable"}')]
    assert proxy.run(method).status_code == 503
    proxy.log.clear()
    proxy.store_answers = [_timed_out()]
    with pytest.raises(StoreTimedOut) as timed_out:
        proxy.run(method)
    assert timed_out.value.status == 504 and "may have been carried out" in timed_out.value.detail
    proxy.log.clear()
    proxy.store_answers = [ProviderUnavailable("api", "connection failed (RemoteProtocolError)")]
    with pytest.raises(BadGateway) as failed:
        proxy.run(method)
    assert "RemoteProtocolError" in failed.value.detail
    assert len(proxy.calls) == 1 and proxy.sleeps == []


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_a_call_that_never_left_is_retried_whatever_its_method(proxy, method):
    proxy.store_answers = [_not_reached(), answer(200)]
    assert proxy.run(method).status_code == 200
    assert len(proxy.calls) == 2 and proxy.sleeps == [BACKOFF_SECONDS[0]]


def test_a_store_never_reached_is_502_after_the_last_attempt(proxy):
    proxy.store_answers = [_not_reached()]
    with pytest.raises(BadGateway) as failed:
        proxy.run("POST")
    assert failed.value.status == 502 and "could not be reached" in failed.value.detail
    assert len(proxy.calls) == MAX_ATTEMPTS


def test_no_retry_starts_when_the_deadline_leaves_no_room_for_its_backoff_and_attempt(proxy):
    short = BACKOFF_SECONDS[0] + ATTEMPT_SECONDS - 0.01
    proxy.store_answers = [answer(503)]
    assert proxy.run(deadline=short).status_code == 503
    proxy.store_answers = [_not_reached()]
    with pytest.raises(BadGateway):
        proxy.run(deadline=short)
    assert len(proxy.calls) == 2 and proxy.sleeps == []
    # Room for one retry exactly, not for a second one after it.
    proxy.log.clear()
    proxy.store_answers = [answer(503)]
    proxy.run(deadline=BACKOFF_SECONDS[0] + ATTEMPT_SECONDS)
    assert len(proxy.calls) == 2 and proxy.sleeps == [BACKOFF_SECONDS[0]]


def test_an_answer_too_large_for_the_client_is_502_naming_the_limit_and_not_retried(proxy):
    proxy.store_answers = [ProviderResponseError("api", "response body too large", status_code=200)]
    with pytest.raises(BadGateway) as refused:
        proxy.run()
    assert str(MAX_STORE_ANSWER_BYTES) in refused.value.detail and len(proxy.calls) == 1


# -- the answer -----------------------------------------------------------------------------------


def test_the_stores_429_is_passed_on_with_its_retry_after_and_counted(proxy):
    proxy.store_answers = [
        answer(429, b'{"message": "Too Many Requests"}', retry_after="7", call_limit=CallLimit(50, 50))
    ]
    result = proxy.run()
    assert result.status_code == 429 and result.body == b'{"message": "Too Many Requests"}'
    assert result.headers == {"X-AC-Call-Limit": "50/50", "Retry-After": "7"}
    assert len(proxy.calls) == 1 and proxy.metrics.count("ProxyStoreRateLimited") == 1


def test_a_list_answer_pages_through_the_proxy(proxy):
    page = {
        "total_count": 3,
        "products": [{"id": 2, "item_name": "Café"}],
        "next_page": f"https://{HOST}/api/v1/products?page=3&count=1",
        "previous_page": f"https://{HOST}/api/v1/products?page=1&count=1",
    }
    proxy.store_answers = [answer(body=json.dumps(page).encode())]
    result = proxy.run()
    assert json.loads(result.body) == {
        **page,
        "next_page": f"{PROXY_BASE}/products?page=3&count=1",
        "previous_page": f"{PROXY_BASE}/products?page=1&count=1",
    }
    # Only the links change: the rest stays as the store spelled it (here json.dumps' \\u escapes).
    assert (
        result.body
        == json.dumps(
            {
                **page,
                "next_page": f"{PROXY_BASE}/products?page=3&count=1",
                "previous_page": f"{PROXY_BASE}/products?page=1&count=1",
            }
        ).encode()
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{ "id" : 1,  "item_name":"Caf\\u00e9", "next_page": null }',
        b'[{"next_page": "https://shop.example.com/api/v1/products?page=2"}]',
        b'{"truncated": ',
        b"",
    ],
    ids=["no-links", "a-json-array", "not-json-after-all", "empty"],
)
def test_a_json_answer_without_links_to_rewrite_is_passed_byte_for_byte(proxy, body):
    proxy.store_answers = [answer(body=body)]
    assert proxy.run().body == body


def test_a_small_answer_that_is_not_json_is_passed(proxy):
    page = b"<html><body>Server Error</body></html>"
    proxy.store_answers = [answer(500, page, "text/html")]
    result = proxy.run()
    assert (result.status_code, result.content_type, result.body) == (500, "text/html", page)
    proxy.store_answers = [answer(200, b"x" * MAX_OTHER_ANSWER_BYTES, None)]
    assert len(proxy.run().body) == MAX_OTHER_ANSWER_BYTES


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", None])
def test_a_large_answer_that_is_not_json_is_502_naming_the_limit(proxy, content_type):
    proxy.store_answers = [answer(500, b"<p>" * (MAX_OTHER_ANSWER_BYTES // 3 + 1), content_type)]
    with pytest.raises(BadGateway) as refused:
        proxy.run()
    assert str(MAX_OTHER_ANSWER_BYTES) in refused.value.detail and "500" in refused.value.detail
    if content_type:
        assert "text/html body" in refused.value.detail


def test_the_result_limit_counts_the_body_as_it_stands_escaped(proxy, monkeypatch):
    monkeypatch.setattr(store_proxy, "MAX_RESULT_CHARS", 100)
    proxy.store_answers = [answer(body=b'"' + b"a" * 98 + b'"')]  # 100 bytes, 104 escaped
    with pytest.raises(BadGateway) as refused:
        proxy.run()
    assert "100 characters" in refused.value.detail
    proxy.store_answers = [answer(body=b'"' * 60, content_type="text/plain")]  # 60 bytes, 122 escaped
    with pytest.raises(BadGateway):
        proxy.run()
    proxy.store_answers = [answer(body=b"\xff" * 80, content_type="application/octet-stream")]
    with pytest.raises(BadGateway):  # not UTF-8: base64 in the result, 108 characters
        proxy.run()
    proxy.store_answers = [answer(body=b'"' * 40, content_type="text/plain")]  # 40 bytes, 82 escaped
    assert proxy.run().body == b'"' * 40
