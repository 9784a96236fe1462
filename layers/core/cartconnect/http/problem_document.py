"""The RFC 9457 problem document and its headers, without the Powertools resolver: the management API
(http/problems.py) and the store proxy, which answers without a resolver, build it here alike."""

from __future__ import annotations

import json
import math
from typing import Any

from cartconnect.errors import Conflict, DomainError, InvalidField

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://cartconnect.dev/problems/"


def body(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    document: dict[str, Any] = {
        "type": f"{TYPE_BASE}{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        document["errors"] = errors
    if extra:
        document.update(extra)
    return json.dumps(document)


def headers(retry_after_seconds: float | None) -> dict[str, str]:
    """A problem is never cached; Retry-After in whole seconds (at least 1) when given."""
    values = {"Cache-Control": "no-store"}
    if retry_after_seconds is not None:
        values["Retry-After"] = str(max(1, math.ceil(retry_after_seconds)))
    return values


def field_errors(error: DomainError) -> list[dict[str, str]] | None:
    """The field a domain error names, as the problem's `errors` list."""
    if isinstance(error, InvalidField):
        return [{"field": error.field, "message": error.message}]
    if isinstance(error, Conflict) and error.field:
        return [{"field": error.field, "message": error.detail}]
    return None


def of_error(error: DomainError) -> str:
    return body(
        error.status,
        error.title,
        error.detail,
        type_slug=error.type_slug,
        errors=field_errors(error),
        extra=error.extra,
    )


def internal_error(request_id: str | None) -> str:
    """An unexpected failure: nothing of it but the request id to report."""
    return body(
        500,
        "Internal server error",
        "the request failed unexpectedly; retry later or report the request id",
        type_slug="internal-error",
        extra={"request_id": request_id} if request_id else None,
    )
