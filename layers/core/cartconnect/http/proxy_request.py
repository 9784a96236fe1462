"""The store proxy's side of HTTP: the payload v2 event read into a ProxyCall, and answers back.

Read by hand rather than through Powertools' resolver (about 180 ms of imports, docs/benchmarks.md):
the proxy has one route, a path no route pattern could validate, and a body it passes on. The
management API's OpenAPI document describes the route (http/proxy_openapi.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cartconnect.errors import DomainError
from cartconnect.http import failures, media_type, problem_document, proxy_path
from cartconnect.http.request_context import origin_for, tenant_from_claims
from cartconnect.usecases.store_proxy import MAX_REQUEST_BYTES, ProxyAnswer, ProxyCall

ROUTE = "/v1/connections/{connection_id}/proxy/{path+}"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
# A store answer passed on is data, never a page of this API's origin.
_ANSWER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
}


class RequestRefused(DomainError):
    def __init__(
        self, status: int, title: str, type_slug: str, detail: str, field: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.type_slug = status, title, type_slug
        if field is not None:
            self.extra = {"errors": [{"field": field, "message": detail}]}


def method_of(event: dict[str, Any]) -> str:
    return str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()


def call_of(event: dict[str, Any]) -> ProxyCall:
    """The call the event asks for; a DomainError (403, 400, 405, 413, 415) when it may not go on,
    before anything is read or sent."""
    context = event.get("requestContext") or {}
    tenant = tenant_from_claims(((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {})
    method = method_of(event)
    if method not in METHODS:
        raise RequestRefused(405, "Method not allowed", "method-not-allowed", f"{method} is not proxied")
    connection_id = str((event.get("pathParameters") or {}).get("connection_id") or "")
    store_path = proxy_path.store_path(
        str(event.get("rawPath") or ""), connection_id, str(event.get("rawQueryString") or "")
    )
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    body = _body(event, method, headers.get("content-type"))
    return ProxyCall(
        tenant=tenant,
        connection_id=connection_id,
        method=method,
        store_path=store_path,
        body=body,
        content_type=headers.get("content-type") if body is not None else None,
        origin=origin_for(str(context.get("domainName") or "")),
    )


def _body(event: dict[str, Any], method: str, content_type: str | None) -> bytes | None:
    raw = event.get("body")
    if raw is None or raw == "":
        return None
    if method not in WITH_BODY:
        raise RequestRefused(
            400, "Malformed request", "malformed-body", f"a {method} carries no body", "body"
        )
    encoded = bool(event.get("isBase64Encoded"))
    text = str(raw)
    # Base64: 3 bytes per 4 characters, less one per '=' of padding.
    size = len(text) * 3 // 4 - (len(text) - len(text.rstrip("="))) if encoded else len(text.encode())
    if size > MAX_REQUEST_BYTES:
        raise RequestRefused(
            413,
            "Request body too large",
            "body-too-large",
            f"the body is over {MAX_REQUEST_BYTES} bytes",
            "body",
        )
    if not media_type.is_json(content_type):
        raise RequestRefused(
            415,
            "Unsupported media type",
            "unsupported-media-type",
            "send the body as JSON with Content-Type: application/json",
            "body",
        )
    try:
        body = base64.b64decode(raw, validate=True) if encoded else str(raw).encode()
        json.loads(body)
    except (binascii.Error, ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        raise RequestRefused(
            400, "Malformed request body", "malformed-body", "the body is not UTF-8 JSON", "body"
        ) from None
    return body


def result(answer: ProxyAnswer) -> dict[str, Any]:
    """The store's answer as the HTTP API result: its status, body and useful headers."""
    headers = {**_ANSWER_HEADERS, **answer.headers}
    if answer.content_type:
        headers["Content-Type"] = answer.content_type
    try:
        return {
            "statusCode": answer.status_code,
            "headers": headers,
            "body": answer.body.decode(),
            "isBase64Encoded": False,
        }
    except UnicodeDecodeError:
        encoded = base64.b64encode(answer.body).decode()
        return {
            "statusCode": answer.status_code,
            "headers": headers,
            "body": encoded,
            "isBase64Encoded": True,
        }


def problem_result(error: DomainError) -> dict[str, Any]:
    return _problem(error.status, problem_document.of_error(error), error.retry_after_seconds)


def unexpected_result(error: Exception, request_id: str | None) -> dict[str, Any]:
    """An error the pipeline does not map: 503 with Retry-After for an AWS call that may pass, else
    500 (http/failures), naming the request id and nothing of the error."""
    return _problem(*failures.problem(error, request_id))


def _problem(status: int, body: str, retry_after_seconds: float | None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": problem_document.PROBLEM_CONTENT_TYPE,
            **problem_document.headers(retry_after_seconds),
        },
        "body": body,
        "isBase64Encoded": False,
    }
