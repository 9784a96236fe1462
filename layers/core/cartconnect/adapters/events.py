"""Connection lifecycle events on the project's EventBridge bus. Events carry ids and states, never secrets."""

from __future__ import annotations

import json
from typing import Any

from cartconnect import aws
from cartconnect.clock import to_iso, utc_now
from cartconnect.observability import logger
from cartconnect.settings import get_settings

SOURCE = "cartconnect"


def publish(detail_type: str, *, tenant: str, connection_id: str, **fields: Any) -> None:
    """Publish one event. A failure is logged, never raised: the state change it reports already happened."""
    detail = {"tenant": tenant, "connection_id": connection_id, "at": to_iso(utc_now()), **fields}
    bus = get_settings().event_bus_name
    if not bus:
        logger.warning("EVENT_BUS_NAME is not set: event not published", extra={"detail_type": detail_type})
        return
    try:
        response = aws.client("events").put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                    "EventBusName": bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            logger.error(
                "event not accepted", extra={"detail_type": detail_type, "connection_id": connection_id}
            )
    except Exception:
        logger.exception(
            "event publish failed", extra={"detail_type": detail_type, "connection_id": connection_id}
        )
