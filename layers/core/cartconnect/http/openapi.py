"""What the management API's OpenAPI document says beyond the routes' own types: the response tables
(success and problem bodies per status) and the path and query parameters' constraints.

Only Powertools' light OpenAPI modules (params, types) load here: its models module (pydantic classes
for the whole OpenAPI spec) is for building documents, not for answering requests.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel

from cartconnect.http.schemas import (
    AuthorizationRequiredProblem,
    GatewayMessage,
    Problem,
    RefreshProblem,
    ServiceUnavailableProblem,
    StoreRouteUnavailableProblem,
)

# Ids are URL-safe ASCII (icl_/con_ + 26 characters): Powertools hands the handler the raw, still
# percent-encoded path segment, so anything else would be checked in its encoded form.
IClientIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ConnectionIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page")]

JSON = "application/json"
_PROBLEM: OpenAPIResponse = {
    "description": "Problem details (RFC 9457)",
    "content": {"application/problem+json": {"model": Problem}},
}
# 401 never comes from the function: API Gateway's JWT authorizer answers it, with its own JSON body.
_UNAUTHORIZED: OpenAPIResponse = {
    "description": "No valid bearer token (answered by API Gateway's JWT authorizer)",
    "content": {JSON: {"model": GatewayMessage}},
}
_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
}
# Any route that reads or writes the table, KMS or Secrets Manager: 503 when they throttle or do not
# answer (http/failures).
_UNAVAILABLE: OpenAPIResponse = {
    "description": "An AWS service the request needs was throttled or did not answer; retry shortly",
    "content": {"application/problem+json": {"model": ServiceUnavailableProblem}},
    "headers": _RETRY_AFTER,
}
_ERRORS: dict[int, OpenAPIResponse] = {
    401: _UNAUTHORIZED,
    **{status: _PROBLEM for status in (403, 404, 409, 422)},
    503: _UNAVAILABLE,
}
# Routes with a JSON body: 400 when the body is not JSON (or not UTF-8).
_BODY_ERRORS: dict[int, OpenAPIResponse] = {
    400: {**_PROBLEM, "description": "Malformed request body: not JSON (problem details, RFC 9457)"}
}


def responds(
    status: int, model: type[BaseModel] | None, description: str, *, body: bool = False
) -> dict[int, OpenAPIResponse]:
    """A route's responses: its success, the problems every data route may answer, 400 with a body."""
    # No model: no body at all (204). An explicit empty content map, or Powertools documents the handler's
    # return annotation (a JSON string).
    success: OpenAPIResponse = {"description": description, "content": {}}
    if model is not None:
        success["content"] = {JSON: {"model": model}}
    return {status: success, **_ERRORS, **(_BODY_ERRORS if body else {})}


# Routes that may call the store: 409 (authorize first), 502 (the refresh failed), 503 (retry shortly:
# busy, or AWS as on every route).
_STORE_ERRORS: dict[int, OpenAPIResponse] = {
    409: {
        "description": "Pending authorization or needs re-authorization: a store admin opens authorize_url",
        "content": {"application/problem+json": {"model": AuthorizationRequiredProblem}},
    },
    502: {
        "description": "The store did not refresh the token and no valid token is left",
        "content": {"application/problem+json": {"model": RefreshProblem}},
        "headers": _RETRY_AFTER,
    },
    503: {
        "description": "Another refresh is running or the store's call budget is spent (try-later), "
        "or an AWS service the request needs was throttled or did not answer (service-unavailable)",
        "content": {"application/problem+json": {"model": StoreRouteUnavailableProblem}},
        "headers": _RETRY_AFTER,
    },
}


def store_route(model: type[BaseModel], description: str) -> dict[int, OpenAPIResponse]:
    """A route that may call the store: `responds(200, ...)` plus its 409, 502 and 503."""
    return {**responds(200, model, description), **_STORE_ERRORS}
