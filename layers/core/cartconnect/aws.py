"""AWS clients, created once per process and reused across invocations (connection reuse).

They come from a botocore session, not boto3's: boto3.client() returns these same botocore clients
(only their User-Agent names Boto3), and importing boto3 imports s3transfer too, ~90 ms of every
cold start for its S3 transfer manager, which nothing here uses.

`translated()` is the boundary for their errors: the adapters make every AWS call inside it, so
botocore's errors leave them as one error of cartconnect's own (errors.AwsCallFailed), and nothing
above the adapters imports botocore.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as SdkConnectionError

from cartconnect.errors import AwsCallFailed

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


# The error codes botocore's standard retry mode takes for throttling (its ThrottledRetryableChecker).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
# ... and for other failures that may pass.
_TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})


def call_failed(error: ClientError | BotoCoreError) -> AwsCallFailed:
    """botocore's error as AwsCallFailed: AWS's error code (the SDK error's class name when AWS did
    not answer) and whether it may pass; AWS's message and the request stay behind."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "ClientError"))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        transient = code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
        return AwsCallFailed(code, throttled=code in THROTTLING_CODES, transient=transient)
    # Connection and HTTP failures (unreachable, timed out, closed) may pass; a missing region,
    # credentials or a malformed request will not.
    transient = isinstance(error, SdkConnectionError | HTTPClientError)
    return AwsCallFailed(type(error).__name__, transient=transient)


@contextmanager
def translated() -> Iterator[None]:
    """Around AWS calls: a botocore error leaves as AwsCallFailed (call_failed), anything else as it is."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise call_failed(error) from error
