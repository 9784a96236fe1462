"""Management API: iClients, connections and the scope catalog, for the caller's tenant.

The routes are in the layer (`cartconnect.http.routes`, one router per area), their OpenAPI response
tables in `cartconnect.http.openapi`, the error mapping in `cartconnect.http.problems`; this module
sets up the resolver and wraps it in the Lambda handler.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import settings
from cartconnect.cold_start import imports_done
from cartconnect.http import problems, request_body
from cartconnect.http.openapi import JSON
from cartconnect.http.routes import connections, iclients, scopes, tokens
from cartconnect.observability import logger, refresh_outcomes

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("management", "TABLE_NAME", "KMS_KEY_ID", "SECRET_PREFIX", "EVENT_BUS_NAME")

metrics = Metrics()


class ManagementResolver(APIGatewayHttpResolver):
    """The resolver whose OpenAPI document also describes the store proxy's route: another function
    serves it, without a resolver of its own (cartconnect.http.proxy_openapi)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        from aws_lambda_powertools.event_handler.openapi.models import PathItem

        from cartconnect.http import proxy_openapi

        schema = super().get_openapi_schema(*args, **kwargs)
        schema.paths = {
            **(schema.paths or {}),
            proxy_openapi.PATH: PathItem.model_validate(proxy_openapi.path_item()),
        }
        return schema


app = ManagementResolver(enable_validation=True)
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


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=JSON, body=app.get_openapi_json_schema())


# The tokens router imports the refresh machinery inside its routes: every other route's cold start
# stays without the provider client.
app.include_router(scopes.router)
app.include_router(iclients.router)
app.include_router(connections.router)
app.include_router(tokens.router)
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
