"""/v1/iclients: the tenant's AmeriCommerce Apps (client id and secret)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cartconnect.http.openapi import Cursor, IClientIdPath, Limit, responds
from cartconnect.http.request_context import tenant_of
from cartconnect.http.routes.common import json_response, patch_changes
from cartconnect.http.schemas import IClientCreate, IClientOut, IClientPage, IClientPatch
from cartconnect.usecases import iclients

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools: __init__ is unannotated


def _tenant() -> str:
    return tenant_of(router.current_event)


@router.post("/v1/iclients", tags=["iclients"], responses=responds(201, IClientOut, "Created", body=True))
def create_iclient(body: IClientCreate) -> Response[str]:
    iclient = iclients.create(
        _tenant(),
        name=body.name,
        client_id=body.client_id,
        client_secret=body.client_secret.get_secret_value(),
    )
    return json_response(201, IClientOut.of(iclient))


@router.get("/v1/iclients", tags=["iclients"], responses=responds(200, IClientPage, "A page of iClients"))
def list_iclients(limit: Limit = 50, cursor: Cursor = None) -> Response[str]:
    items, next_cursor = iclients.list_page(_tenant(), limit=limit, cursor=cursor)
    return json_response(
        200, IClientPage(items=[IClientOut.of(item) for item in items], next_cursor=next_cursor)
    )


@router.get(
    "/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(200, IClientOut, "The iClient")
)
def get_iclient(iclient_id: IClientIdPath) -> Response[str]:
    return json_response(200, IClientOut.of(iclients.get(_tenant(), iclient_id)))


@router.patch(
    "/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(200, IClientOut, "Updated", body=True)
)
def update_iclient(iclient_id: IClientIdPath, body: IClientPatch) -> Response[str]:
    changes = patch_changes(body)
    secret = changes.pop("client_secret", None)
    iclient = iclients.update(
        _tenant(),
        iclient_id,
        name=changes.get("name"),
        client_id=changes.get("client_id"),
        client_secret=secret.get_secret_value() if secret is not None else None,
    )
    return json_response(200, IClientOut.of(iclient))


@router.delete("/v1/iclients/<iclient_id>", tags=["iclients"], responses=responds(204, None, "Deleted"))
def delete_iclient(iclient_id: IClientIdPath) -> Response[str]:
    iclients.delete(_tenant(), iclient_id)
    return Response(status_code=204, body="")
