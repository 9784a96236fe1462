"""Handler results -> HTTP, by API Gateway's rules for payload format 2.0."""

from __future__ import annotations

import base64
import json
from typing import Any

from cartconnect_dev.gateway.messages import HttpResponse


class MalformedResponseError(Exception):
    """The handler returned something API Gateway would answer 500 for."""


def to_http_response(result: Any) -> HttpResponse:
    """Turn a handler's return value into the reply API Gateway sends.

    A dict with `statusCode` is a structured response (headers, multiValueHeaders, cookies, body,
    isBase64Encoded). Anything else that is valid JSON is sent as a 200 application/json body.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            document = json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise MalformedResponseError(f"the result is not JSON serializable: {exc}") from exc
        return HttpResponse(200, [("content-type", "application/json")], document.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise MalformedResponseError(f"statusCode must be an integer, got {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_value(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedResponseError(f"body must be a string, got {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedResponseError("isBase64Encoded is true but body is not base64") from exc
    else:
        payload = body.encode("utf-8")
    return HttpResponse(int(status), headers, payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
