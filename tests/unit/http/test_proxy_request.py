"""The store proxy's payload v2 event read into a call, and its answers back
(cartconnect/http/proxy_request.py): what is refused before any store call, and what a result holds."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from cartconnect.errors import DomainError, Forbidden
from cartconnect.http import proxy_request
from cartconnect.http.proxy_path import ProxyPathRefused
from cartconnect.process import reset_process_state
from cartconnect.usecases.store_proxy import MAX_REQUEST_BYTES, BudgetSpent, ProxyAnswer
from cartconnect_dev import cli

CONNECTION = "con_00000000000000000000000001"
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in cli.OPENAPI_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    reset_process_state()
    yield
    monkeypatch.undo()
    reset_process_state()


def proxy_event(
    method: str = "GET",
    path: str = "products",
    *,
    query: str = "",
    body: str | None = None,
    content_type: str | None = None,
    base64_encoded: bool = False,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A payload v2 event for /v1/connections/{CONNECTION}/proxy/{path}, as API Gateway sends it."""
    raw_path = f"/v1/connections/{CONNECTION}/proxy/{path}"
    headers = {"host": DOMAIN, "accept": "application/json"}
    if content_type is not None:
        headers["content-type"] = content_type
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"ANY {proxy_request.ROUTE}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "domainName": DOMAIN,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1"},
            "requestId": "r-1",
            "authorizer": {"jwt": {"claims": {"tenant_id": "acme"} if claims is None else claims}},
        },
        "isBase64Encoded": base64_encoded,
        "pathParameters": {"connection_id": CONNECTION, "path": path},
    }
    if body is not None:
        event["body"] = body
    return event


def refused(event: dict[str, Any], status: int, type_slug: str, field: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as refusal:
        proxy_request.call_of(event)
    error = refusal.value
    assert (error.status, error.type_slug) == (status, type_slug)
    if field is not None:
        # The problem the caller gets names the field.
        assert json.loads(proxy_request.problem_result(error)["body"])["errors"][0]["field"] == field
    return error


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- call_of: what goes on -------------------------------------------------------------------------


def test_a_get_becomes_a_call_with_the_store_path_and_no_body():
    call = proxy_request.call_of(proxy_event(path="products/12", query="fields=id"))
    assert (call.tenant, call.connection_id, call.method) == ("acme", CONNECTION, "GET")
    assert call.store_path == "/api/v1/products/12?fields=id"
    assert (call.body, call.content_type) == (None, None)
    assert call.origin == f"https://{DOMAIN}"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "post"])
def test_a_json_body_goes_on_with_its_content_type(method):
    event = proxy_event(method, body='{"item_name": "Mug"}', content_type="application/json; charset=utf-8")
    call = proxy_request.call_of(event)
    assert call.method == method.upper()
    assert (call.body, call.content_type) == (b'{"item_name": "Mug"}', "application/json; charset=utf-8")


def test_a_base64_body_goes_on_decoded():
    text = '{"item_name": "Tasse à café"}'.encode()
    call = proxy_request.call_of(
        proxy_event("POST", body=_b64(text), content_type="application/merge-patch+json", base64_encoded=True)
    )
    assert call.body == text and call.content_type == "application/merge-patch+json"


@pytest.mark.parametrize("body", [None, ""])
def test_a_content_type_without_a_body_is_not_sent_on(body):
    call = proxy_request.call_of(proxy_event("DELETE", "products/3", body=body, content_type="text/plain"))
    assert (call.body, call.content_type) == (None, None)


def test_the_origin_is_the_configured_public_base_url_when_set(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://connect.example.com/")
    reset_process_state()
    assert proxy_request.call_of(proxy_event()).origin == "https://connect.example.com"


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "base64"])
def test_a_body_of_exactly_the_limit_goes_on(encoded):
    # The limit is on the body's bytes, however API Gateway delivers them: base64's padding is no byte.
    text = b'"' + b"a" * (MAX_REQUEST_BYTES - 2) + b'"'
    event = proxy_event(
        "POST",
        body=_b64(text) if encoded else text.decode(),
        content_type="application/json",
        base64_encoded=encoded,
    )
    assert proxy_request.call_of(event).body == text


# -- call_of: what is refused ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims", [{}, {"sub": "u"}, {"tenant_id": ""}, {"tenant_id": "<nil>"}, {"tenant_id": ["a", "b"]}]
)
def test_a_token_without_a_tenant_claim_is_403(claims):
    with pytest.raises(Forbidden):
        proxy_request.call_of(proxy_event(claims=claims))


def test_the_tenant_is_checked_before_the_method_and_the_path():
    with pytest.raises(Forbidden):
        proxy_request.call_of(proxy_event("OPTIONS", "..", claims={}))


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "CONNECT", ""])
def test_a_method_that_is_not_proxied_is_405(method):
    refused(proxy_event(method), 405, "method-not-allowed")


def test_a_path_that_could_leave_api_v1_is_400():
    refused(proxy_event(path="products/%2e%2e/stores"), 400, "proxy-path-refused", "path")
    refused(proxy_event(query="a=b c"), 400, "proxy-path-refused", "path")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_body_on_a_method_that_carries_none_is_400(method):
    refused(proxy_event(method, body="{}", content_type="application/json"), 400, "malformed-body", "body")


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "base64"])
def test_a_body_over_the_limit_is_413_before_it_is_read(encoded):
    text = b'"' + b"a" * MAX_REQUEST_BYTES + b'"'
    event = proxy_event(
        "POST",
        body=_b64(text) if encoded else text.decode(),
        content_type="text/plain",
        base64_encoded=encoded,
    )
    refused(event, 413, "body-too-large", "body")  # before the media type


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]
)
def test_a_body_that_is_not_json_by_its_content_type_is_415(content_type):
    event = proxy_event("POST", body='{"a": 1}', content_type=content_type)
    refused(event, 415, "unsupported-media-type", "body")


@pytest.mark.parametrize(
    ("body", "encoded"),
    [
        pytest.param('{"a": ', False, id="malformed-json"),
        pytest.param("not json", False, id="not-json"),
        pytest.param("eyJhIjog!!!", True, id="invalid-base64"),
        pytest.param("eyJh", True, id="base64-of-malformed-json"),
        pytest.param(_b64(b'{"a": "\xff"}'), True, id="not-utf-8"),
        pytest.param("[" * 200_000 + "]" * 200_000, False, id="deeply-nested"),
    ],
)
def test_a_body_that_is_not_utf8_json_is_400(body, encoded):
    event = proxy_event("POST", body=body, content_type="application/json", base64_encoded=encoded)
    error = refused(event, 400, "malformed-body", "body")
    assert body[:20] not in error.detail


# -- answers --------------------------------------------------------------------------------------


def _answer(body: bytes, content_type: str | None = "application/json", **headers: str) -> ProxyAnswer:
    return ProxyAnswer(200, content_type, body, headers, store_calls=1)


def test_a_text_answer_is_passed_with_the_store_headers_and_the_security_headers():
    result = proxy_request.result(
        _answer('{"name": "Café"}'.encode(), **{"X-AC-Call-Limit": "3/50", "Retry-After": "2"})
    )
    assert result == {
        "statusCode": 200,
        "headers": {
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
            "X-AC-Call-Limit": "3/50",
            "Retry-After": "2",
            "Content-Type": "application/json",
        },
        "body": '{"name": "Café"}',
        "isBase64Encoded": False,
    }


def test_a_body_that_is_not_utf8_is_passed_base64_encoded():
    raw = b"\x89PNG\r\n\x1a\n\xff"
    result = proxy_request.result(_answer(raw, "image/png"))
    assert result["isBase64Encoded"] is True and base64.b64decode(result["body"]) == raw
    assert result["headers"]["Content-Type"] == "image/png"
    assert result["headers"]["X-Content-Type-Options"] == "nosniff"


def test_an_answer_without_a_content_type_names_none():
    result = proxy_request.result(_answer(b"", None))
    assert "Content-Type" not in result["headers"] and result["body"] == ""


def test_a_problem_carries_retry_after_in_whole_seconds():
    result = proxy_request.problem_result(BudgetSpent(2.3))
    assert result["statusCode"] == 429
    assert result["headers"] == {
        "Content-Type": "application/problem+json",
        "Cache-Control": "no-store",
        "Retry-After": "3",
    }
    body = json.loads(result["body"])
    assert body["type"].endswith("/store-call-budget") and body["status"] == 429


def test_a_path_problem_names_the_field_and_has_no_retry_after():
    result = proxy_request.problem_result(ProxyPathRefused("holds a '.' or '..' segment"))
    assert result["statusCode"] == 400 and "Retry-After" not in result["headers"]
    assert json.loads(result["body"])["errors"] == [
        {"field": "path", "message": "holds a '.' or '..' segment"}
    ]


def test_an_internal_error_names_the_request_id_only():
    result = proxy_request.unexpected_result(RuntimeError("internal detail 5b0a"), "req-7")
    assert result["statusCode"] == 500 and "5b0a" not in result["body"]
    body = json.loads(result["body"])
    assert body["request_id"] == "req-7" and body["type"].endswith("/internal-error")
    assert "request_id" not in json.loads(proxy_request.unexpected_result(RuntimeError(), None)["body"])
