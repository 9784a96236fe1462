"""A function's handler module, imported as Lambda would: a fresh module, with the placeholder
environment the OpenAPI document is built with (cartconnect-dev's OPENAPI_ENV); and the AWS failures
every HTTP function must answer alike (`aws_failure`)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from cartconnect import aws
from cartconnect.errors import AwsCallFailed
from cartconnect.process import reset_process_state
from cartconnect_dev import cli
from cartconnect_dev.gateway.functions import import_from_path

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def import_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """`import_function("management")`: functions/management/app.py as a fresh module."""
    for name, value in cli.OPENAPI_ENV.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    imported: list[str] = []

    def load(function: str) -> Any:
        name = f"_{function}_test_{uuid.uuid4().hex}"
        imported.append(name)
        return import_from_path(ROOT / "functions" / function / "app.py", name)

    yield load
    for name in imported:
        sys.modules.pop(name, None)
    reset_process_state()


# What AWS's answers name, which no answer of ours may: a table's ARN, and AWS's message.
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/cartconnect-table-7c1e"
AWS_MESSAGE = "The level of configured provisioned throughput for the table was exceeded"


def _answered(code: str, status: int) -> ClientError:
    error = {"Code": code, "Message": f"{AWS_MESSAGE}: {TABLE_ARN}"}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")


@dataclass(frozen=True)
class AwsFailure:
    """An AWS call's failure as the adapters raise it (aws.call_failed of botocore's error), and the
    answer every HTTP function owes it: its status and Retry-After."""

    name: str
    sdk_error: ClientError | BotoCoreError
    status: int
    retry_after: str | None

    @property
    def error(self) -> AwsCallFailed:
        failed = aws.call_failed(self.sdk_error)
        failed.__cause__ = self.sdk_error  # as aws.translated() raises it
        return failed

    def check(self, result: dict[str, Any], caplog: pytest.LogCaptureFixture, content_type: str) -> str:
        """Assert the answer's status, Retry-After and content type, that its body names nothing of
        the failure, and that the failure was logged once (a warning naming the code when it may
        pass, an error otherwise). Returns the body."""
        headers = {name.lower(): value for name, value in result["headers"].items()}
        assert (result["statusCode"], headers.get("retry-after")) == (self.status, self.retry_after)
        assert headers["content-type"] == content_type and headers["cache-control"] == "no-store"
        body = str(result["body"])
        code = self.error.code
        for internal in (code, AWS_MESSAGE, TABLE_ARN, "cartconnect-table", "PutItem"):
            assert internal not in body
        [logged] = [record for record in caplog.records if record.levelno >= logging.WARNING]
        if self.status == 503:
            assert (logged.levelno, logged.aws_error_code) == (logging.WARNING, code)
        else:
            assert logged.levelno == logging.ERROR
        return body


AWS_FAILURES = {
    failure.name: failure
    for failure in (
        AwsFailure("throttled", _answered("ProvisionedThroughputExceededException", 400), 503, "1"),
        AwsFailure(
            "unreachable",
            EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"),
            503,
            "5",
        ),
        AwsFailure("refused", _answered("AccessDeniedException", 400), 500, None),
    )
}


@pytest.fixture(params=sorted(AWS_FAILURES))
def aws_failure(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> AwsFailure:
    """Each of a throttled, an unreachable and a refused (not transient) AWS call, in turn."""
    caplog.set_level(logging.INFO)
    return AWS_FAILURES[request.param]
