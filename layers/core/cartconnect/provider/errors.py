"""Typed errors of the AmeriCommerce provider adapter.

Every message is safe to log and to show: it carries the endpoint name, the HTTP status and a short
reason, never a token, code, auth_id, signature, secret or the raw response body. The provider's own
`message` field is included only when short (<= 200 characters after stripping control and format
characters) and only when it does not echo back any value that was sent.

Token-endpoint error bodies are not documented (docs/provider.md, "Error bodies"): the REST API answers
`{"status_code", "message", "details"}`, OAuth-style servers `{"error", "error_description"}`, and a
form-encoded request may get a form-encoded answer. `provider_message_from_fields` reads any of them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

MAX_PROVIDER_MESSAGE = 200


def safe_provider_message(message: object, sensitive: Iterable[str] = ()) -> str | None:
    """The provider's `message` field, made safe to log, or None when it cannot be made safe."""
    if not isinstance(message, str):
        return None
    # Cc = control characters (CR, LF, ESC, ...), Cf = format characters (bidi overrides, ...).
    cleaned = "".join(ch for ch in message if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    if not cleaned or len(cleaned) > MAX_PROVIDER_MESSAGE:
        return None
    if any(value and value in cleaned for value in sensitive):
        return None
    return cleaned


# (headline, detail) field pairs, in the order they are tried: AmeriCommerce's own, then OAuth 2.0's.
_MESSAGE_FIELDS = (("message", "details"), ("error", "error_description"))


def provider_message_from_fields(fields: Mapping[str, object], sensitive: Iterable[str] = ()) -> str | None:
    """The store's error text from a decoded error body (JSON object or form fields), made safe.

    `message` and `details` (AmeriCommerce) or `error` and `error_description` (OAuth 2.0) become
    "headline: detail". Nothing is kept when either part echoes a value that was sent (the store is
    quoting the request); otherwise each part is kept when safe_provider_message keeps it, and the
    detail is dropped first when the two together are longer than MAX_PROVIDER_MESSAGE.
    """
    sensitive = tuple(value for value in sensitive if value)
    for headline_field, detail_field in _MESSAGE_FIELDS:
        raw = (fields.get(headline_field), fields.get(detail_field))
        if any(isinstance(part, str) and any(value in part for value in sensitive) for part in raw):
            return None
        headline = safe_provider_message(fields.get(headline_field), sensitive)
        detail = safe_provider_message(fields.get(detail_field), sensitive)
        if headline is None and detail is None:
            continue
        if headline is None or detail is None or detail == headline:
            return headline or detail
        combined = f"{headline}: {detail}"
        return combined if len(combined) <= MAX_PROVIDER_MESSAGE else headline
    return None


class ProviderError(Exception):
    """Base class of every failure talking to a store. `transient` says whether a retry may help."""

    transient = False

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        status_code: int | None = None,
        provider_message: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.status_code = status_code
        self.provider_message = provider_message
        parts = [endpoint]
        if status_code is not None:
            parts.append(f"HTTP {status_code}")
        parts.append(reason)
        text = ": ".join(parts)
        if provider_message:
            text += f" (store said: {provider_message})"
        super().__init__(text)
        self.detail = text


class GrantRefused(ProviderError):
    """400/401/403 from a token endpoint: the store refused the grant or the signature. Permanent."""


class AccessTokenRejected(ProviderError):
    """401 from the REST API: the access token is missing, unknown or expired. Refresh, then retry."""


class RequestRejected(ProviderError):
    """Any other 4xx (404, 405, 409, ...): the request is wrong for this store. Not retryable."""


class RateLimited(ProviderError):
    """429: over the store's call limit. `retry_after_seconds` comes from Retry-After when given."""

    transient = True

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        status_code: int | None = 429,
        provider_message: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(endpoint, reason, status_code=status_code, provider_message=provider_message)
        self.retry_after_seconds = retry_after_seconds


class ProviderUnavailable(ProviderError):
    """5xx, 408, timeouts and connection errors. Transient: retry with backoff."""

    transient = True

    def __init__(
        self,
        endpoint: str,
        reason: str,
        *,
        status_code: int | None = None,
        provider_message: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(endpoint, reason, status_code=status_code, provider_message=provider_message)
        self.retry_after_seconds = retry_after_seconds


class ProviderTimedOut(ProviderUnavailable):
    """No answer in time after the request was sent: the store may have acted on it."""


class StoreNotReached(ProviderUnavailable):
    """The request never left: the connection could not be made (refused, unreachable, a connect or
    pool timeout). Safe to retry whatever the method, since the store cannot have acted on it."""


class ProviderResponseError(ProviderError):
    """A 2xx (or an unexpected 3xx) whose body is not the documented shape: not JSON, HTML,
    truncated, missing access_token, unparseable `expires`, ..."""
