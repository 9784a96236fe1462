"""/v1/connections: the tenant's store connections and their authorize links."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from cartconnect import clock
from cartconnect.domain.connection import ConnectionStatus
from cartconnect.http.openapi import ConnectionIdPath, Cursor, Limit, responds
from cartconnect.http.request_context import origin_of, tenant_of
from cartconnect.http.routes.common import json_response, patch_changes
from cartconnect.http.schemas import (
    AuthorizeLinkOut,
    ConnectionCreate,
    ConnectionDetailOut,
    ConnectionOut,
    ConnectionPage,
    ConnectionPatch,
    CreatedConnectionOut,
)
from cartconnect.usecases import connections
from cartconnect.usecases.authorization import links as authorize_links
from cartconnect.usecases.authorization.flow import LINK_LIFETIME_SECONDS

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools: __init__ is unannotated


def _tenant() -> str:
    return tenant_of(router.current_event)


@router.post(
    "/v1/connections",
    tags=["connections"],
    responses=responds(201, CreatedConnectionOut, "Created", body=True),
)
def create_connection(body: ConnectionCreate) -> Response[str]:
    origin = origin_of(router.current_event)
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
    return json_response(201, out)


@router.post(
    "/v1/connections/<connection_id>/authorize-link",
    tags=["connections"],
    responses=responds(200, AuthorizeLinkOut, "A fresh authorize link"),
)
def new_authorize_link(connection_id: ConnectionIdPath) -> Response[str]:
    link = authorize_links.issue_link(_tenant(), connection_id, origin=origin_of(router.current_event))
    return json_response(200, AuthorizeLinkOut(authorize_url=link, expires_in=LINK_LIFETIME_SECONDS))


@router.get(
    "/v1/connections", tags=["connections"], responses=responds(200, ConnectionPage, "A page of connections")
)
def list_connections(
    limit: Limit = 50, cursor: Cursor = None, status: Annotated[ConnectionStatus | None, Query()] = None
) -> Response[str]:
    items, next_cursor = connections.list_page(_tenant(), status=status, limit=limit, cursor=cursor)
    return json_response(
        200, ConnectionPage(items=[ConnectionOut.of(item) for item in items], next_cursor=next_cursor)
    )


@router.get(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    responses=responds(
        200, ConnectionDetailOut, "The connection, with what is known of its store's rate limit"
    ),
)
def get_connection(connection_id: ConnectionIdPath) -> Response[str]:
    connection, limits = connections.get_with_store_limits(_tenant(), connection_id)
    return json_response(200, ConnectionDetailOut.of_detail(connection, limits, clock.utc_now()))


@router.patch(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    responses=responds(200, ConnectionOut, "Updated", body=True),
)
def update_connection(connection_id: ConnectionIdPath, body: ConnectionPatch) -> Response[str]:
    changes = patch_changes(body, nullable=frozenset({"callback_url"}))
    connection = connections.update(_tenant(), connection_id, changes, origin=origin_of(router.current_event))
    return json_response(200, ConnectionOut.of(connection))


@router.delete(
    "/v1/connections/<connection_id>", tags=["connections"], responses=responds(204, None, "Deleted")
)
def delete_connection(connection_id: ConnectionIdPath) -> Response[str]:
    connections.delete(_tenant(), connection_id)
    return Response(status_code=204, body="")
