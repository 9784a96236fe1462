"""Domain errors. The HTTP layer maps each one to a problem+json response in one place.

AwsCallFailed is the one error an AWS call's failure leaves the adapters as (cartconnect/aws.py
translates botocore's); it is no DomainError: the HTTP layer answers it with the unexpected errors
(http/failures), 503 with Retry-After when it may pass, else 500.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class; `detail` is safe to show to the caller (never carries a secret)."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        # More members of the problem body, and a Retry-After (seconds) for the response.
        self.extra: dict[str, Any] | None = None
        self.retry_after_seconds: float | None = None


class InvalidField(DomainError):
    status = 422
    title = "Invalid request"
    type_slug = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class AuthorizationRequired(Conflict):
    """The connection has no usable grant (pending, or the store refused it): a store admin must
    authorize it. The problem carries a fresh one-time authorize link."""

    title = "Authorization required"
    type_slug = "authorization-required"

    def __init__(self, detail: str, *, status: str, authorize_url: str, expires_in: int) -> None:
        super().__init__(detail)
        self.extra = {
            "connection_status": status,
            "authorize_url": authorize_url,
            "authorize_url_expires_in": expires_in,
        }


class RefreshFailed(DomainError):
    """The store did not refresh the token (5xx, timeout, garbage, 429) and no valid token is left."""

    status = 502
    title = "Token refresh failed"
    type_slug = "refresh-failed"

    def __init__(self, detail: str, *, code: str, retry_after_seconds: float | None) -> None:
        super().__init__(detail)
        self.extra = {"code": code}
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(DomainError):
    """An AWS service the request needs did not answer (throttled, unreachable): the secret store
    (adapters/iclient_secret, which then wrote nothing), or any AWS call that failed but may pass
    (a transient AwsCallFailed, answered with this problem by http/failures)."""

    status = 503
    title = "Service unavailable"
    type_slug = "service-unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: float = 1.0) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class TryLater(DomainError):
    """Busy: another refresh of this connection is still running, or the store's call budget is spent."""

    status = 503
    title = "Try again later"
    type_slug = "try-later"

    def __init__(self, detail: str, *, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class AwsCallFailed(Exception):
    """An AWS call (DynamoDB, KMS, SQS) failed: throttled, unreachable, refused. Raised by the
    adapters (`aws.translated()`) in place of botocore's errors, so the use cases need no botocore.

    Not a DomainError: where no use case handles it, every HTTP function answers it as an unexpected
    error (http/failures). One that may pass (`transient`) is 503 with Retry-After: service-unavailable
    problem+json from the management API and the store proxy, the "try again" page from the authorize
    and callback functions; any other is 500. The problems name the request id; nothing of AWS's
    answer reaches the caller. The refresh worker and scheduler retry a transient one
    (refresh_policy). It carries AWS's error code (or the SDK error's class name) and whether it may
    pass, never the request, AWS's message or a secret.
    """

    def __init__(self, code: str, *, throttled: bool = False, transient: bool = False) -> None:
        super().__init__(f"AWS call failed ({code})")
        self.code = code
        # AWS asked us to slow down (ThrottlingException, ProvisionedThroughputExceededException...).
        self.throttled = throttled
        # It may pass: throttled, unreachable, timed out, or a 5xx.
        self.transient = transient or throttled
        self.detail = str(self)
