"""The provider's errors (provider/errors.py): what a store's message may put in a log or a page."""

from __future__ import annotations

from cartconnect.provider.errors import (
    GrantRefused,
    safe_provider_message,
)


def test_safe_provider_message() -> None:
    assert safe_provider_message("Forbidden") == "Forbidden"
    assert safe_provider_message("Bad\r\nInjected: header\x1b[31m\u202e") == "BadInjected: header[31m"
    assert safe_provider_message("x" * 200) == "x" * 200
    assert safe_provider_message("x" * 201) is None
    assert safe_provider_message(None) is None
    assert safe_provider_message(403) is None
    assert safe_provider_message("  \n ") is None
    assert safe_provider_message("invalid code AbC123", sensitive=("AbC123",)) is None


def test_error_message_carries_status_reason_and_safe_provider_message() -> None:
    error = GrantRefused(
        "access_token", "the store refused the grant", status_code=403, provider_message="No"
    )
    assert str(error) == "access_token: HTTP 403: the store refused the grant (store said: No)"
    assert error.detail == str(error)
    assert not error.transient
