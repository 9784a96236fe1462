"""The refresh queue (SQS): the scheduler sends due connections, the worker receives them. SQS's
failures leave here as AwsCallFailed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cartconnect import aws, runtime
from cartconnect.observability import logger
from cartconnect.settings import get_settings

BATCH_SIZE = 10  # SendMessageBatch's maximum
_SEND_ATTEMPTS = 3
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS keeps a message invisible for at most 12 hours


@dataclass(frozen=True)
class RefreshMessage:
    tenant: str
    connection_id: str
    token_version: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> RefreshMessage:
        """Raises ValueError for anything but the exact shape the scheduler sends."""
        data = json.loads(body)
        if not isinstance(data, dict) or set(data) != {"tenant", "connection_id", "token_version"}:
            raise ValueError("not a refresh message")
        tenant, connection_id, version = data["tenant"], data["connection_id"], data["token_version"]
        if (
            not isinstance(tenant, str)
            or not isinstance(connection_id, str)
            or not tenant
            or not connection_id
        ):
            raise ValueError("not a refresh message")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("not a refresh message")
        return cls(tenant, connection_id, version)


def _client() -> Any:
    return aws.client("sqs")


def _queue_url() -> str:
    url = get_settings().refresh_queue_url
    if not url:
        raise RuntimeError("REFRESH_QUEUE_URL is not set")
    return url


def send(messages: Sequence[RefreshMessage], *, delay_seconds: int = 0) -> int:
    """Send in batches of 10 (SendMessageBatch), retrying entries SQS did not accept; returns how
    many were accepted. Entries still refused are left for the next scheduler tick."""
    return len(send_delayed([(message, delay_seconds) for message in messages]))


def send_delayed(messages: Sequence[tuple[RefreshMessage, int]]) -> list[tuple[RefreshMessage, int]]:
    """`send`, each message with its own delay in seconds (0 to 900); returns the accepted ones."""
    accepted: list[tuple[RefreshMessage, int]] = []
    url = _queue_url()
    for offset in range(0, len(messages), BATCH_SIZE):
        entries = {uuid.uuid4().hex: pair for pair in messages[offset : offset + BATCH_SIZE]}
        for attempt in range(_SEND_ATTEMPTS):
            with aws.translated():
                response = _client().send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": entry_id, "MessageBody": message.to_json(), "DelaySeconds": delay}
                        for entry_id, (message, delay) in entries.items()
                    ],
                )
            accepted.extend(entries[item["Id"]] for item in response.get("Successful", []))
            failed = {item["Id"] for item in response.get("Failed", [])}
            entries = {entry_id: pair for entry_id, pair in entries.items() if entry_id in failed}
            if not entries:
                break
            runtime.current().sleep(0.05 * 2**attempt)
        if entries:
            logger.warning("refresh messages not accepted by SQS", extra={"count": len(entries)})
    return accepted


def delay(receipt_handle: str, seconds: float) -> None:
    """Keep a received message invisible for `seconds` (its next delivery is a retry)."""
    with aws.translated():
        _client().change_message_visibility(
            QueueUrl=_queue_url(),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(MAX_VISIBILITY_SECONDS, round(seconds))),
        )
