"""GET /v1/scopes: the provider's scope catalog."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cartconnect.http.openapi import responds
from cartconnect.http.request_context import tenant_of
from cartconnect.http.routes.common import json_response
from cartconnect.http.schemas import ScopeCatalog, ScopeOut
from cartconnect.scopes import SCOPES

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools: __init__ is unannotated


@router.get("/v1/scopes", tags=["scopes"], responses=responds(200, ScopeCatalog, "The provider's scopes"))
def list_scopes() -> Response[str]:
    tenant_of(router.current_event)  # the same for every tenant, but only for a caller that names one
    return json_response(200, ScopeCatalog(items=[ScopeOut.of(scope) for scope in SCOPES]))
