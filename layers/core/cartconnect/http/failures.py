"""What every HTTP function answers for an error no mapping of its own knows: the one place that tells
an AWS call that failed but may pass from any other failure, for all four of them.

The adapters raise errors.AwsCallFailed in place of botocore's errors (cartconnect/aws.py). One that
may pass (`transient`: throttled, unreachable, timed out, AWS's 5xx) is answered 503 with Retry-After:
problem+json from the management API (http/problems) and the store proxy (http/proxy_request), the
"try again" page from the authorize and callback functions (http/flow_pages). Anything else, an
AwsCallFailed that will not pass (access denied, a malformed request) included, is the 500 of an
unexpected error. Neither answer carries anything of the failure: no AWS error code, message, table
or ARN; the problems name the request id.
"""

from __future__ import annotations

from cartconnect.errors import AwsCallFailed, ServiceUnavailable
from cartconnect.http import problem_document
from cartconnect.observability import logger

# Retry-After, whole seconds. Throttled: DynamoDB's capacity and KMS's request quotas are granted per
# second, and the SDK has already backed off and retried inside this request (aws._CONFIG), so the next
# second's capacity is what a retry needs; waiting longer only slows the caller.
THROTTLED_RETRY_AFTER_SECONDS = 1
# Unreachable, timed out or AWS's 5xx: it outlasted the SDK's own attempts (connect and read timeouts
# of seconds each), so it is no one-second blip; a few seconds let a network or endpoint hiccup clear
# without keeping the caller long, and keep retrying callers from piling onto a service that is down.
UNREACHABLE_RETRY_AFTER_SECONDS = 5

DETAIL = "a service this request needs is busy or did not answer; retry after Retry-After seconds"


def unexpected(error: Exception, message: str) -> int | None:
    """Log an error no mapping of the function knows, once, and return its answer's Retry-After:
    seconds for an AWS call that failed but may pass (a warning naming AWS's error code; the answer is
    503), None for anything else (`message` with the traceback; the answer is 500)."""
    if isinstance(error, AwsCallFailed) and error.transient:
        seconds = THROTTLED_RETRY_AFTER_SECONDS if error.throttled else UNREACHABLE_RETRY_AFTER_SECONDS
        logger.warning(
            "AWS call failed; answered 503",
            extra={
                "aws_error_code": error.code,
                "throttled": error.throttled,
                "retry_after_seconds": seconds,
            },
        )
        return seconds
    logger.exception(message, extra={"error_type": type(error).__name__})
    return None


def problem(error: Exception, request_id: str | None) -> tuple[int, str, int | None]:
    """The problem+json answer to an error no mapping knows: its status, body and Retry-After (503
    service-unavailable, as when the secret store does not answer, or 500 internal-error)."""
    seconds = unexpected(error, "unhandled error")
    if seconds is None:
        return 500, problem_document.internal_error(request_id), None
    unavailable = ServiceUnavailable(DETAIL, retry_after_seconds=seconds)
    unavailable.extra = {"request_id": request_id} if request_id else None
    return 503, problem_document.of_error(unavailable), seconds
