"""Management API: iClients, connections and the scope catalog, for the caller's tenant."""

from __future__ import annotations

import time
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from cartconnect import clock
from cartconnect.cold_start import imports_done
from cartconnect.domain.connection import ConnectionStatus
from cartconnect.errors import InvalidField
from cartconnect.http import problems, request_body
from cartconnect.http.openapi import (
    JSON,
    ConnectionIdPath,
    Cursor,
    IClientIdPath,
    Limit,
    responds,
    store_route,
)
from cartconnect.http.request_context import origin_of, tenant_of
from cartconnect.http.schemas import (
    AuthorizeLinkOut,
    ConnectionCreate,
    ConnectionDetailOut,
    ConnectionOut,
    ConnectionPage,
    ConnectionPatch,
    ConnectionTestOut,
    CreatedConnectionOut,
    IClientCreate,
    IClientOut,
    IClientPage,
    IClientPatch,
    ScopeCatalog,
    ScopeOut,
    TokenOut,
)
from cartconnect.observability import logger, refresh_outcomes
from cartconnect.scopes import SCOPES
from cartconnect.usecases import authorize_links, connections, iclients

metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
# The server and the security scheme as plain dicts, not Powertools' Server and HTTPBearer: those
# live in its OpenAPI models module (pydantic classes for the whole OpenAPI spec, ~100 ms to import),
# which only the documents need. Building a document validates the dicts into those same models
# (the same JSON: make openapi-check).
app.configure_openapi(
    title="cartconnect management API",
    version="1.0.0",
    description="Manage AmeriCommerce (Cart.com) OAuth clients and connections. "
    "Every data route needs a bearer JWT whose tenant claim names the caller's tenant.",
    servers=[{"url": "/"}],  # type: ignore[list-item]
    security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},  # type: ignore[dict-item]
    security=[{"bearerAuth": []}],
)

# Swagger UI. app.enable_swagger imports those OpenAPI models as it registers the route, so it runs
# when the docs are first asked for (API Gateway's route key names them), not in every cold start.
DOCS_ROUTE_KEY = "GET /v1/docs"


@cache  # registers the route once per process
def _enable_docs() -> None:
    from cartconnect.http import docs_page

    app.enable_swagger(path="/v1/docs", title="cartconnect management API", middlewares=[docs_page.secured])


def _json(status: int, model: BaseModel) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=model.model_dump_json(),
        headers={"Cache-Control": "no-store"},
    )


def _deadline() -> float:
    """When routes that call the store stop starting calls: shortly before the Lambda's timeout."""
    context = app.lambda_context
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 25.0
    return time.monotonic() + remaining - 2.0


def _patch_changes(patch: BaseModel, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body names; null is refused except where it means 'back to the default'."""
    changes = {field: getattr(patch, field) for field in patch.model_fields_set}
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise InvalidField(field, "cannot be null; leave it out to keep the current value")
    return changes


def _tenant() -> str:
    return tenant_of(app.current_event)


# ---- scopes -----------------------------------------------------------------------------------


@app.get("/v1/scopes", tags=["scopes"], responses=responds(200, ScopeCatalog, "The provider's scopes"))
def list_scopes() -> Response[str]:
    _tenant()
    return _json(200, ScopeCatalog(items=[ScopeOut.of(scope) for scope in SCOPES]))


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=JSON, body=app.get_openapi_json_schema())


# ---- iClients ---------------------------------------------------------------------------------


@app.post("/v1/iclients", tags=["iclients"], responses=responds(201, IClientOut, "Created", body=True))
def create_iclient(body: IClientCreate) -> Response[str]:
    iclient = iclients.create(
        _tenant(),
        name=body.name,
        client_id=body.client_id,
        client_secret=body.client_secret.get_secret_value(),
    )
    return _json(201, IClientOut.of(iclient))


@app.get("/v1/iclients", tags=["iclients"], responses=responds(200, IClientPage, "A page of iClients"))
def list_iclients(limit: Limit = 50, cursor: Cursor = None) -> Response[str]:
    items, next_cursor = iclients.list_page(_tenant(), limit=limit, cursor=cursor)
    return _json(200, IClientPage(items=[IClientOut.of(item) for item in items], next_cursor=next_cursor))


@app.get("/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(200, IClientOut, "The iClient"))
def get_iclient(iclient_id: IClientIdPath) -> Response[str]:
    return _json(200, IClientOut.of(iclients.get(_tenant(), iclient_id)))


@app.patch(
    "/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(200, IClientOut, "Updated", body=True)
)
def update_iclient(iclient_id: IClientIdPath, body: IClientPatch) -> Response[str]:
    changes = _patch_changes(body)
    secret = changes.pop("client_secret", None)
    iclient = iclients.update(
        _tenant(),
        iclient_id,
        name=changes.get("name"),
        client_id=changes.get("client_id"),
        client_secret=secret.get_secret_value() if secret is not None else None,
    )
    return _json(200, IClientOut.of(iclient))


@app.delete("/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(204, None, "Deleted"))
def delete_iclient(iclient_id: IClientIdPath) -> Response[str]:
    iclients.delete(_tenant(), iclient_id)
    return Response(status_code=204, body="")


# ---- connections ------------------------------------------------------------------------------


@app.post(
    "/v1/connections",
    tags=["connections"],
    responses=responds(201, CreatedConnectionOut, "Created", body=True),
)
def create_connection(body: ConnectionCreate) -> Response[str]:
    origin = origin_of(app.current_event)
    connection = connections.create(
        _tenant(),
        name=body.name,
        subdomain=body.subdomain,
        iclient_id=body.iclient_id,
        scopes=body.scopes,
        callback_url=body.callback_url,
        origin=origin,
    )
    link = authorize_links.authorize_url(origin, authorize_links.mint_ticket(connection))
    out = CreatedConnectionOut(**ConnectionOut.of(connection).model_dump(), authorize_url=link)
    return _json(201, out)


@app.post(
    "/v1/connections/<connection_id>/authorize-link",
    tags=["connections"],
    responses=responds(200, AuthorizeLinkOut, "A fresh authorize link"),
)
def new_authorize_link(connection_id: ConnectionIdPath) -> Response[str]:
    link = authorize_links.issue_link(_tenant(), connection_id, origin=origin_of(app.current_event))
    return _json(200, AuthorizeLinkOut(authorize_url=link, expires_in=authorize_links.LINK_LIFETIME_SECONDS))


@app.get(
    "/v1/connections", tags=["connections"], responses=responds(200, ConnectionPage, "A page of connections")
)
def list_connections(
    limit: Limit = 50, cursor: Cursor = None, status: Annotated[ConnectionStatus | None, Query()] = None
) -> Response[str]:
    items, next_cursor = connections.list_page(_tenant(), status=status, limit=limit, cursor=cursor)
    return _json(
        200, ConnectionPage(items=[ConnectionOut.of(item) for item in items], next_cursor=next_cursor)
    )


@app.get(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    responses=responds(
        200, ConnectionDetailOut, "The connection, with what is known of its store's rate limit"
    ),
)
def get_connection(connection_id: ConnectionIdPath) -> Response[str]:
    connection, limits = connections.get_with_store_limits(_tenant(), connection_id)
    return _json(200, ConnectionDetailOut.of_detail(connection, limits, clock.utc_now()))


@app.patch(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    responses=responds(200, ConnectionOut, "Updated", body=True),
)
def update_connection(connection_id: ConnectionIdPath, body: ConnectionPatch) -> Response[str]:
    changes = _patch_changes(body, nullable=frozenset({"callback_url"}))
    connection = connections.update(_tenant(), connection_id, changes, origin=origin_of(app.current_event))
    return _json(200, ConnectionOut.of(connection))


@app.delete("/v1/connections/<connection_id>", tags=["connections"], responses=responds(204, None, "Deleted"))
def delete_connection(connection_id: ConnectionIdPath) -> Response[str]:
    connections.delete(_tenant(), connection_id)
    return Response(status_code=204, body="")


# ---- tokens: refresh machinery imported lazily (cold start of every other route stays light) -----


@app.post(
    "/v1/connections/<connection_id>/token",
    tags=["tokens"],
    responses=store_route(TokenOut, "A valid access token (refreshed first when due)"),
)
def issue_token(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import token_access

    token = token_access.get_token(
        _tenant(), connection_id, origin=origin_of(app.current_event), deadline=_deadline()
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


@app.post(
    "/v1/connections/<connection_id>/refresh",
    tags=["tokens"],
    responses=store_route(ConnectionOut, "Refreshed now; the connection (never a token)"),
)
def refresh_connection(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import token_access

    connection = token_access.refresh_now(
        _tenant(), connection_id, origin=origin_of(app.current_event), deadline=_deadline()
    )
    return _json(200, ConnectionOut.of(connection))


@app.post(
    "/v1/connections/<connection_id>/test",
    tags=["tokens"],
    responses=store_route(ConnectionTestOut, "Whether the store accepts the connection's token"),
)
def test_connection(connection_id: ConnectionIdPath) -> Response[str]:
    from cartconnect.usecases import token_access

    outcome = token_access.test_connection(
        _tenant(), connection_id, origin=origin_of(app.current_event), deadline=_deadline()
    )
    return _json(200, ConnectionTestOut.of(outcome))


# ---- errors: mapped to problem+json in one place (cartconnect.http.problems) -------------------

problems.register(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        refused = request_body.check(event)
        if refused is not None:
            return problems.http_api_result(
                problems.problem(refused.status, refused.title, refused.detail, type_slug=refused.type_slug)
            )
        if event.get("routeKey") == DOCS_ROUTE_KEY:
            _enable_docs()
        return app.resolve(event, context)
    finally:
        refresh_outcomes.flush()


imports_done()
