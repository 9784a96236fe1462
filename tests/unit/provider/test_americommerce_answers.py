"""Provider answers the docs leave open (issue 10, part 4): error-body shapes and missing or
unreadable `expires`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx2
import pytest

from cartconnect.domain.tokens import TokenSet
from cartconnect.provider.americommerce import AmeriCommerceClient
from cartconnect.provider.errors import (
    MAX_PROVIDER_MESSAGE,
    GrantRefused,
    ProviderError,
    RateLimited,
    provider_message_from_fields,
)
from cartconnect.refresh_schedule import refresh_due_at

SECRET = "app-secret"
CLIENT_ID = "12345"
SCOPE = "read_orders,system"
FORM = "application/x-www-form-urlencoded"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _client(response: httpx2.Response) -> AmeriCommerceClient:
    return AmeriCommerceClient(http=httpx2.Client(transport=httpx2.MockTransport(lambda _: response)))


def _exchange(response: httpx2.Response, scope: str = SCOPE) -> TokenSet:
    return _client(response).exchange_code(
        "https://store.cart.com",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        auth_id="auth-77",
        code="Code-AbC",
        scope=scope,
        redirect_uri="https://app.example.com/oauth2/callback?cc_state=abc",
    )


def _refused(response: httpx2.Response) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        _exchange(response)
    return info.value


# -- token-endpoint error bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx2.Response(
                403, json={"status_code": 403, "message": "Forbidden", "details": "Invalid signature"}
            ),
            "Forbidden: Invalid signature",
        ),
        (httpx2.Response(403, json={"message": "Forbidden"}), "Forbidden"),
        (httpx2.Response(403, json={"details": "Invalid signature"}), "Invalid signature"),
        (
            httpx2.Response(400, json={"error": "invalid_grant", "error_description": "auth_id expired"}),
            "invalid_grant: auth_id expired",
        ),
        (httpx2.Response(400, json={"error": "invalid_grant"}), "invalid_grant"),
        (
            httpx2.Response(
                403,
                content=urlencode({"message": "Forbidden", "details": "Invalid signature"}).encode(),
                headers={"Content-Type": FORM},
            ),
            "Forbidden: Invalid signature",
        ),
        (
            httpx2.Response(
                401,
                content=b"error=invalid_client&error_description=Unknown+app%3A+check+the+App+ID",
                headers={"Content-Type": FORM},
            ),
            "invalid_client: Unknown app: check the App ID",
        ),
        # A form body mislabelled as JSON (or text) is still read.
        (
            httpx2.Response(
                400, content=b"error=invalid_request", headers={"Content-Type": "application/json"}
            ),
            "invalid_request",
        ),
    ],
    ids=[
        "ac-json",
        "ac-message-only",
        "ac-details-only",
        "oauth-json",
        "oauth-error-only",
        "ac-form",
        "oauth-form",
        "form-labelled-json",
    ],
)
def test_every_error_body_shape_gives_the_store_message(response: httpx2.Response, expected: str) -> None:
    error = _refused(response)
    assert isinstance(error, GrantRefused)
    assert error.provider_message == expected
    assert f"(store said: {expected})" in str(error)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body lang=en>Server Error</body></html>", b"\xff\xfe", b"[1, 2]", b"token=abc", b"==&&"],
)
def test_bodies_without_a_known_field_give_no_message(body: bytes) -> None:
    assert (
        _refused(httpx2.Response(403, content=body, headers={"Content-Type": FORM})).provider_message is None
    )


def test_error_text_that_echoes_what_was_sent_is_dropped_whole() -> None:
    echoed = httpx2.Response(
        403,
        content=urlencode({"error": "invalid_grant", "error_description": "auth_id auth-77 spent"}).encode(),
    )
    assert _refused(echoed).provider_message is None
    assert "auth-77" not in str(_refused(echoed))
    both = httpx2.Response(400, json={"error": "Code-AbC", "error_description": "bad code Code-AbC"})
    assert _refused(both).provider_message is None
    assert "Code-AbC" not in str(_refused(both))


def test_error_text_is_bounded_and_stripped_of_control_characters() -> None:
    long_detail = provider_message_from_fields({"error": "invalid_grant", "error_description": "d" * 195})
    assert long_detail == "invalid_grant"  # headline kept, detail dropped rather than cut
    assert provider_message_from_fields({"message": "m" * (MAX_PROVIDER_MESSAGE + 1)}) is None
    assert provider_message_from_fields({"error": "bad\r\nX-Injected: 1\x1b"}) == "badX-Injected: 1"
    assert provider_message_from_fields({"message": "Forbidden", "details": "Forbidden"}) == "Forbidden"
    assert provider_message_from_fields({"message": 403, "error": ["x"]}) is None


def test_a_rate_limited_form_answer_keeps_retry_after_and_message() -> None:
    answer = httpx2.Response(
        429,
        content=b"error=slow_down&error_description=Rate+limit+exceeded",
        headers={"Content-Type": FORM, "Retry-After": "7"},
    )
    error = _refused(answer)
    assert isinstance(error, RateLimited)
    assert (error.retry_after_seconds, error.provider_message) == (7.0, "slow_down: Rate limit exceeded")


# -- missing or unreadable expires --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "warning"),
    [
        ("soon", "expires is not an ISO 8601 date-time"),
        ("2014-02-30T00:00:00Z", "expires is not a valid date-time"),
        (1400000000, "expires is not a string"),
        ({"at": "x"}, "expires is not a string"),
    ],
)
def test_an_unreadable_expires_keeps_the_tokens_with_a_warning(expires: object, warning: str) -> None:
    tokens = _exchange(
        httpx2.Response(200, json={"access_token": "a", "refresh_token": "r", "expires": expires})
    )
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("a", "r", None)
    assert tokens.expiry_unknown and tokens.warning == warning
    assert "soon" not in tokens.warning and "1400000000" not in tokens.warning


def test_an_absent_expires_is_an_unknown_lifetime_without_a_warning() -> None:
    tokens = _exchange(httpx2.Response(200, json={"access_token": "a", "refresh_token": "r"}))
    assert tokens.expires_at is None and tokens.expiry_unknown and tokens.warning is None


def test_a_no_expiry_grant_never_expires_whatever_expires_says() -> None:
    for body in ({"access_token": "a"}, {"access_token": "a", "expires": "garbage"}):
        tokens = _exchange(httpx2.Response(200, json=body), scope="read_orders,no_expiry")
        assert tokens == TokenSet("a", None, None)  # not unknown: never


def test_a_readable_expires_is_not_unknown() -> None:
    tokens = _exchange(httpx2.Response(200, json={"access_token": "a", "expires": "2099-01-01T00:00:00Z"}))
    assert tokens.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert not tokens.expiry_unknown and tokens.warning is None


def test_an_unknown_lifetime_is_refreshed_on_the_assumed_one() -> None:
    hour, lead = timedelta(minutes=60), timedelta(minutes=15)
    assert refresh_due_at(issued_at=NOW, expires_at=None, lead=lead) is None  # never expires
    assert refresh_due_at(issued_at=NOW, expires_at=None, lead=lead, assumed_lifetime=hour) == NOW + 45 * (
        hour / 60
    )
    # A short assumed lifetime: halfway through it, never before it was issued.
    short = timedelta(minutes=10)
    assert (
        refresh_due_at(issued_at=NOW, expires_at=None, lead=lead, assumed_lifetime=short) == NOW + short / 2
    )
    assert refresh_due_at(issued_at=NOW, expires_at=None, lead=lead, assumed_lifetime=timedelta(0)) == NOW
    # A known expiry wins over the assumed lifetime.
    known = NOW + timedelta(hours=2)
    assert refresh_due_at(issued_at=NOW, expires_at=known, lead=lead, assumed_lifetime=hour) == known - lead


def test_the_default_lifetime_setting() -> None:
    from cartconnect.settings import Settings, SettingsError

    base = {"TABLE_NAME": "t", "KMS_KEY_ID": "k"}
    assert Settings.from_environment(base).default_token_lifetime == timedelta(minutes=60)
    assert Settings.from_environment(
        {**base, "DEFAULT_TOKEN_LIFETIME_MINUTES": "30"}
    ).default_token_lifetime == (timedelta(minutes=30))
    for bad in ("0", "-5", "soon"):
        with pytest.raises(SettingsError):
            Settings.from_environment({**base, "DEFAULT_TOKEN_LIFETIME_MINUTES": bad})
