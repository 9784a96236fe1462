"""The store proxy's route in the management API's OpenAPI document.

The proxy is its own function without a Powertools resolver (http/proxy_request.py), so no route
declaration documents it; the management API's document adds this path item to the ones its routes
produce (functions/management/app.py), and /v1/openapi.json and /v1/docs show the whole API.
"""

from __future__ import annotations

from typing import Any

from cartconnect.usecases.store_proxy import MAX_BUDGET_WAIT_SECONDS, MAX_REQUEST_BYTES

PATH = "/v1/connections/{connection_id}/proxy/{path}"
METHODS = ("get", "post", "put", "patch", "delete")
_WITH_BODY = frozenset({"post", "put", "patch"})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, schema: str = "Problem", *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref(schema)}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


_RETRY_AFTER = {"description": "Seconds to wait (or the store's own value)", "schema": {"type": "string"}}
_STORE_HEADERS = {
    "X-AC-Call-Limit": {
        "description": "The store's calls used/allowed in its window",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "The store's Retry-After, when it sent one", "schema": {"type": "string"}},
}
_ANY_JSON: dict[str, Any] = {"application/json": {"schema": {}}}

_SEGMENT = "[A-Za-z0-9_~-][A-Za-z0-9._~-]*"
_SEGMENTS = f"^{_SEGMENT}(?:/{_SEGMENT})*$"

_PARAMETERS = [
    {
        "in": "path",
        "name": "connection_id",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"},
    },
    {
        "in": "path",
        "name": "path",
        "required": True,
        "description": "The store path after /api/v1/, slashes included (e.g. products/12); refused (400, "
        "no store call) when it holds an empty, '.' or '..' segment, a backslash, ':', ';', an encoded "
        "slash, backslash, dot, ';' or '%', or an escape that is not UTF-8. The query string is passed "
        "on as it is.",
        # What the proxy accepts, in plain characters (an escape it accepts, e.g. %C3%A9, is past what a
        # pattern on the decoded value can say): segments that neither are nor start with a dot.
        "schema": {"type": "string", "maxLength": 2048, "pattern": _SEGMENTS},
    },
]

_RESPONSES: dict[str, Any] = {
    # Powertools' OpenAPI models take numeric response keys only (no "default").
    "200": {
        "description": "The store's answer: its JSON body, with next_page and previous_page pointing at "
        "this proxy. Any other status the store answers (201, 404, its 409 validation answer, 500...) is "
        "passed on the same way with its body; the problem details below are the proxy's own answers",
        "content": _ANY_JSON,
        "headers": _STORE_HEADERS,
    },
    "400": _problem("The path would leave /api/v1/, the body is not JSON, or a GET or DELETE has a body"),
    "401": {
        "description": "No valid bearer token (API Gateway's JWT authorizer, application/json), or the "
        "store rejected the access token also after one refresh (problem details, store-rejected-token; "
        "last_error on the connection says so)",
        "content": {
            "application/json": {"schema": _ref("GatewayMessage")},
            "application/problem+json": {"schema": _ref("Problem")},
        },
    },
    "403": _problem("The bearer token names no valid tenant"),
    "404": _problem("No such connection for this tenant"),
    "409": _problem(
        "Pending authorization or needs re-authorization: a store admin opens authorize_url",
        "AuthorizationRequiredProblem",
    ),
    "413": _problem(f"The request body is over {MAX_REQUEST_BYTES} bytes"),
    "415": _problem("A body that is not application/json"),
    "429": _problem(
        "The store's call budget, shared by every caller of the store, is spent for longer than "
        f"{MAX_BUDGET_WAIT_SECONDS:.0f} s (store-call-budget); the store's own 429 is passed on as it came",
        retry_after=True,
    ),
    "502": _problem(
        "The store could not be reached, its answer failed or is too large to pass on, or the token "
        "refresh failed",
        retry_after=True,
    ),
    "503": _problem(
        "Another refresh of the token is running (try-later), or an AWS service the call needs was "
        "throttled or did not answer (service-unavailable); retry shortly",
        "StoreRouteUnavailableProblem",
        retry_after=True,
    ),
    "504": _problem("The store did not answer in time; a POST or PATCH may have been carried out"),
}


def path_item() -> dict[str, Any]:
    """The proxy's path item: one operation per proxied method."""
    item: dict[str, Any] = {}
    for method in METHODS:
        operation: dict[str, Any] = {
            "operationId": f"proxy_{method}",
            "summary": f"{method.upper()} /api/v1/{{path}} on the connection's store",
            "description": "Forwards the call to the store with the connection's access token "
            "(X-AC-Auth-Token): the token never leaves cartconnect. On a 401 the token is refreshed "
            "once and the call sent again; GET, PUT and DELETE are retried on 502, 503, 504 and "
            "timeouts, POST and PATCH only when they never reached the store. Only Content-Type is "
            "forwarded from the request's headers.",
            "tags": ["proxy"],
            "parameters": _PARAMETERS,
            "responses": _RESPONSES,
        }
        if method in _WITH_BODY:
            operation["requestBody"] = {"required": False, "content": _ANY_JSON}
        item[method] = operation
    return item
