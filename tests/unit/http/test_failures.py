"""http/failures: which failures no mapping knows are a 503 with Retry-After (an AWS call that may
pass) and which a 500, for every HTTP function alike."""

from __future__ import annotations

import json
import logging

import pytest

from cartconnect.errors import AwsCallFailed
from cartconnect.http import failures


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (AwsCallFailed("ThrottlingException", throttled=True), failures.THROTTLED_RETRY_AFTER_SECONDS),
        (AwsCallFailed("ReadTimeoutError", transient=True), failures.UNREACHABLE_RETRY_AFTER_SECONDS),
        (AwsCallFailed("InternalServerError", transient=True), failures.UNREACHABLE_RETRY_AFTER_SECONDS),
        (AwsCallFailed("AccessDeniedException"), None),
        (AwsCallFailed("ValidationException"), None),
        (RuntimeError("a bug"), None),
    ],
)
def test_only_an_aws_call_that_may_pass_is_answered_503(error, retry_after, caplog):
    with caplog.at_level(logging.INFO):
        assert failures.unexpected(error, "it failed") == retry_after
    [logged] = caplog.records
    if retry_after is None:
        assert (logged.levelno, logged.getMessage()) == (logging.ERROR, "it failed")
    else:
        assert (logged.levelno, logged.aws_error_code) == (logging.WARNING, error.code)


def test_a_throttled_call_waits_less_than_an_unreachable_one():
    assert 1 <= failures.THROTTLED_RETRY_AFTER_SECONDS < failures.UNREACHABLE_RETRY_AFTER_SECONDS <= 10


def test_the_503_problem_is_service_unavailable_naming_the_request_id_only():
    status, body, retry_after = failures.problem(AwsCallFailed("ThrottlingException", throttled=True), "r-9")
    document = json.loads(body)
    assert (status, retry_after, document["status"], document["request_id"]) == (503, 1, 503, "r-9")
    assert document["type"].endswith("/service-unavailable") and "Throttling" not in body
    _, anonymous, _ = failures.problem(AwsCallFailed("ThrottlingException", throttled=True), None)
    assert "request_id" not in json.loads(anonymous)
