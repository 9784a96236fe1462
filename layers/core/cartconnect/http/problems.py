"""RFC 9457 problem+json responses: the one place where errors become HTTP."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from cartconnect.errors import DomainError
from cartconnect.http import failures, problem_document

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

PROBLEM_CONTENT_TYPE = problem_document.PROBLEM_CONTENT_TYPE


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    retry_after_seconds: float | None = None,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem_document.body(status, title, detail, type_slug=type_slug, errors=errors, extra=extra),
        headers=problem_document.headers(retry_after_seconds),
    )


def from_domain_error(error: DomainError) -> Response[str]:
    return Response(
        status_code=error.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem_document.of_error(error),
        headers=problem_document.headers(error.retry_after_seconds),
    )


# A location part that names a field or an index; pydantic also puts the branch of a union it tried
# (`function-after[...]`, `str`) into the location, which is no field a caller could fix.
_FIELD_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    parts = parts[:1] + [part for part in parts[1:] if _FIELD_PART.fullmatch(part)]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        source, parts = parts[0], parts[1:]
        if source != "body" and parts:
            return f"{source}.{'.'.join(parts)}"
    return ".".join(parts) or "body"


# A validation answer stays small whatever the body: at most this many errors, each field name and
# message cut to a length (a body of a million unknown keys must not answer with a million errors).
MAX_ERRORS = 25
MAX_FIELD_CHARS = 100
MAX_MESSAGE_CHARS = 200


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_validation_errors(raw_errors: list[dict[str, Any]]) -> Response[str]:
    """Turn pydantic/Powertools validation errors into one problem naming each offending field.

    Only the location and message are kept: pydantic's `input` could echo a client secret.
    """
    errors = []
    if any(raw.get("type") == "json_invalid" for raw in raw_errors):
        return problem(
            400, "Malformed request body", "the body is not valid JSON", type_slug="malformed-body"
        )
    for raw in raw_errors[:MAX_ERRORS]:
        location = raw.get("loc", ())
        message = str(raw.get("msg", "is invalid"))
        if raw.get("type") == "missing":
            message = "is required"
        errors.append(
            {
                "field": _cut(_field_name(location), MAX_FIELD_CHARS),
                "message": _cut(message, MAX_MESSAGE_CHARS),
            }
        )
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5]) or "invalid request"
    if len(raw_errors) > MAX_ERRORS:
        detail += f" (and {len(raw_errors) - MAX_ERRORS} more errors not listed)"
    elif len(errors) > 5:
        detail += f" (and {len(errors) - 5} more, in errors)"
    return problem(422, "Invalid request", detail, type_slug="validation-error", errors=errors)


def http_api_result(response: Response[str]) -> dict[str, Any]:
    """A Response as an HTTP API (payload v2) result, for answers given before the resolver runs."""
    return {
        "statusCode": response.status_code,
        "headers": {
            "Content-Type": response.content_type or PROBLEM_CONTENT_TYPE,
            **(response.headers or {}),
        },
        "body": response.body,
        "isBase64Encoded": False,
    }


def unexpected(error: Exception, request_id: str | None) -> Response[str]:
    """An error no handler maps: 503 with Retry-After for an AWS call that may pass, else 500 (http/failures)."""
    status, body, retry_after_seconds = failures.problem(error, request_id)
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=body,
        headers=problem_document.headers(retry_after_seconds),
    )


def handle_domain_error(error: DomainError) -> Response[str]:
    return from_domain_error(error)


def handle_undecodable_body(_: UnicodeDecodeError) -> Response[str]:
    # API Gateway base64-encodes a body that is not UTF-8 text; decoding it for JSON fails here.
    return problem(400, "Malformed request body", "the body is not UTF-8 JSON", type_slug="malformed-body")


def handle_validation_error(error: RequestValidationError) -> Response[str]:
    return from_validation_errors(list(error.errors()))


def handle_not_found(_: Exception) -> Response[str]:
    return problem(404, "Not found", "no such route", type_slug="not-found")


def register(app: APIGatewayHttpResolver) -> None:
    """Map every error the resolver sees to problem+json: domain errors, undecodable bodies, failed
    validation, unknown routes, and anything else as a 500 naming the request id (a 503 with
    Retry-After when it is an AWS call that may pass: http/failures)."""
    app.exception_handler(DomainError)(handle_domain_error)
    app.exception_handler(UnicodeDecodeError)(handle_undecodable_body)
    app.exception_handler(RequestValidationError)(handle_validation_error)
    app.not_found(handle_not_found)

    def handle_unexpected(error: Exception) -> Response[str]:
        return unexpected(error, app.lambda_context.aws_request_id if app.lambda_context else None)

    app.exception_handler(Exception)(handle_unexpected)
