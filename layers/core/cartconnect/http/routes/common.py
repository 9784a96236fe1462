"""What the management routers share: the JSON answer and how a PATCH body's fields read."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from cartconnect.errors import InvalidField
from cartconnect.http.openapi import JSON


def json_response(status: int, model: BaseModel) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=model.model_dump_json(),
        headers={"Cache-Control": "no-store"},
    )


def patch_changes(patch: BaseModel, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body names; null is refused except where it means 'back to the default'."""
    changes = {field: getattr(patch, field) for field in patch.model_fields_set}
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise InvalidField(field, "cannot be null; leave it out to keep the current value")
    return changes
