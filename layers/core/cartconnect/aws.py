"""AWS clients, created once per process and reused across invocations (connection reuse).

They come from a botocore session, not boto3's: boto3.client() returns these same botocore clients
(only their User-Agent names Boto3), and importing boto3 imports s3transfer too, ~90 ms of every
cold start for its S3 transfer manager, which nothing here uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Short timeouts and the SDK's adaptive retries: a Lambda should fail fast rather than hang.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 4, "mode": "standard"},
    max_pool_connections=32,
)


class _Clients:
    """One client per service, all from one session (its loader reads endpoints.json and the SDK's
    defaults once, not once per client), built under a lock: threads that start together (the
    scheduler's shard threads, the worker's record threads) share one client instead of each
    building its own. A session is not thread-safe; the clients it makes are."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: botocore.session.Session | None = None
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        found = self._clients.get(service)
        if found is None:
            with self._lock:
                found = self._clients.get(service)
                if found is None:
                    if self._session is None:
                        self._session = botocore.session.get_session()
                    found = self._session.create_client(service, config=_CONFIG)
                    self._clients[service] = found
        return found

    def cache_clear(self) -> None:
        """Forget every client (the local stack does, when it points the endpoint elsewhere)."""
        with self._lock:
            self._clients.clear()
            self._session = None


client = _Clients()


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]
