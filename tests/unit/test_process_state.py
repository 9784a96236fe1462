"""`reset_process_state()` forgets every per-process cache of the core package, as a new Lambda
environment starts without them, and keeps what is not a cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartconnect import aws, runtime, settings
from cartconnect.adapters import iclient_secret, store_rate_limiter, token_vault
from cartconnect.adapters.iclient_secret import SecretVersion
from cartconnect.process import reset_process_state
from cartconnect.provider import americommerce


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TABLE_NAME", "before")
    monkeypatch.setenv("KMS_KEY_ID", "k")
    reset_process_state()
    yield
    reset_process_state()  # what the restored environment says, for the tests after this one


def test_every_cache_is_forgotten(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_before = settings.get_settings()
    client_before = aws.client("sqs")
    http_before = americommerce.shared_http_client()
    iclient_secret._remember(SecretVersion("arn:example:secret", "v1"), "value")
    store_rate_limiter._known["store.example"] = 50
    token_vault._envelope._decrypted[b"encrypted"] = b"plaintext"

    monkeypatch.setenv("TABLE_NAME", "after")
    reset_process_state()

    assert settings.get_settings() is not settings_before
    assert settings.get_settings().table_name == "after"
    assert aws.client("sqs") is not client_before
    assert americommerce.shared_http_client() is not http_before
    assert not iclient_secret._cache
    assert not store_rate_limiter._known
    assert not token_vault._envelope._decrypted and token_vault._envelope._current is None
    assert http_before.is_closed


def test_the_runtime_is_not_a_cache(environment: None, use_runtime) -> None:
    replaced = use_runtime(sleep=lambda _seconds: None)
    reset_process_state()
    assert runtime.current() is replaced
