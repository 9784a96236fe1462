"""The routes that may call the store: a token, a refresh now, a test of the connection.

`cartconnect.usecases.token_access` and `connection_test` (and through them the refresh pipeline,
the provider client and the token vault) are imported inside each route, not here: the management
function's cold start, which every other route pays, stays without them (decision 0006, item 10).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cartconnect import runtime
from cartconnect.http.openapi import JSON, ConnectionIdPath, store_route
from cartconnect.http.request_context import origin_of, tenant_of
from cartconnect.http.routes.common import json_response
from cartconnect.http.schemas import ConnectionOut, ConnectionTestOut, TokenOut

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools: __init__ is unannotated


def _tenant() -> str:
    return tenant_of(router.current_event)


def _deadline() -> float:
    """When routes that call the store stop starting calls: shortly before the Lambda's timeout."""
    context = router.lambda_context
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 25.0
    return runtime.current().monotonic() + remaining - 2.0


@router.post(
    "/v1/connections/<connection_id>/token",
    tags=["tokens"],
    responses=store_route(TokenOut, "A valid access token (refreshed first when due)"),
)
def issue_token(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import token_access

    token = token_access.get_token(
        _tenant(), connection_id, origin=origin_of(router.current_event), deadline=_deadline()
    )
    body = TokenOut(
        access_token=token.access_token, expires_at=token.expires_at, token_version=token.token_version
    )
    return Response(
        status_code=200,
        content_type=JSON,
        body=body.model_dump_json(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.post(
    "/v1/connections/<connection_id>/refresh",
    tags=["tokens"],
    responses=store_route(ConnectionOut, "Refreshed now; the connection (never a token)"),
)
def refresh_connection(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import token_access

    connection = token_access.refresh_now(
        _tenant(), connection_id, origin=origin_of(router.current_event), deadline=_deadline()
    )
    return json_response(200, ConnectionOut.of(connection))


@router.post(
    "/v1/connections/<connection_id>/test",
    tags=["tokens"],
    responses=store_route(ConnectionTestOut, "Whether the store accepts the connection's token"),
)
def test_connection(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import connection_test

    outcome = connection_test.test_connection(
        _tenant(), connection_id, origin=origin_of(router.current_event), deadline=_deadline()
    )
    return json_response(200, ConnectionTestOut.of(outcome))
