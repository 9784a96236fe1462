"""AWS errors are translated at the adapters' boundary (cartconnect/aws.py): a botocore error is
errors.AwsCallFailed, with AWS's error code and whether it may pass, and nothing else of it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError, ReadTimeoutError

from cartconnect import aws
from cartconnect.errors import AwsCallFailed, Conflict, DomainError


def _client_error(code: str, operation: str = "UpdateItem", **response: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "AWS's own words"}, **response}, operation)


# ---- the translation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "throttled", "transient"),
    [
        (
            _client_error("ProvisionedThroughputExceededException"),
            "ProvisionedThroughputExceededException",
            True,
            True,
        ),
        (_client_error("ThrottlingException", "Decrypt"), "ThrottlingException", True, True),
        (
            _client_error("InternalServerError", ResponseMetadata={"HTTPStatusCode": 500}),
            "InternalServerError",
            False,
            True,
        ),
        (_client_error("ValidationException"), "ValidationException", False, False),
        (_client_error("AccessDeniedException", "Decrypt"), "AccessDeniedException", False, False),
        (ClientError({}, "GetItem"), "ClientError", False, False),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), "EndpointConnectionError", False, True),
        (ReadTimeoutError(endpoint_url="https://dynamodb"), "ReadTimeoutError", False, True),
        (NoRegionError(), "NoRegionError", False, False),
    ],
)
def test_a_botocore_error_leaves_as_aws_call_failed_with_its_code_and_nothing_else(
    error, code, throttled, transient
):
    with pytest.raises(AwsCallFailed) as raised, aws.translated():
        raise error
    failed = raised.value
    assert (failed.code, failed.throttled, failed.transient) == (code, throttled, transient)
    assert str(failed) == failed.detail == f"AWS call failed ({code})"
    assert "AWS's own words" not in str(failed) and "dynamodb" not in str(failed)
    # Not a DomainError: the management API answers it as any unexpected error (500), as before.
    assert not isinstance(failed, DomainError)


def test_anything_but_a_botocore_error_passes_through_untouched():
    with pytest.raises(Conflict), aws.translated():
        raise Conflict("a domain error")
