import pytest

from cartconnect.errors import InvalidField
from cartconnect.process import reset_process_state
from cartconnect.usecases.connections import resolve_callback_url

ORIGIN = "https://api.example.com"


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("KMS_KEY_ID", "k")
    monkeypatch.setenv(
        "ALLOWED_CALLBACK_URLS", "https://connect.example.com/oauth2/callback, https://b.example/cb"
    )
    reset_process_state()
    yield
    reset_process_state()


def test_defaults_to_the_deployment_callback(allowed):
    assert resolve_callback_url(None, origin=ORIGIN) == "https://api.example.com/oauth2/callback"
    assert resolve_callback_url(f"{ORIGIN}/oauth2/callback", origin=ORIGIN) == f"{ORIGIN}/oauth2/callback"


def test_accepts_only_listed_https_callbacks(allowed):
    assert resolve_callback_url("https://b.example/cb", origin=ORIGIN) == "https://b.example/cb"
    for bad in (
        "http://b.example/cb",
        "https://evil.example/cb",
        "https://b.example/cb?x=1",
        "javascript:alert(1)",
    ):
        with pytest.raises(InvalidField) as raised:
            resolve_callback_url(bad, origin=ORIGIN)
        assert raised.value.field == "callback_url"


def test_the_deployments_own_origin_may_be_allowed_with_a_query(monkeypatch):
    # The local stack's origin is plain http: its own callback with a query is allowed when listed.
    local = "http://127.0.0.1:3000"
    callback = f"{local}/oauth2/callback?next=/a:b&x=1 2"
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("KMS_KEY_ID", "k")
    monkeypatch.setenv("ALLOWED_CALLBACK_URLS", callback)
    reset_process_state()
    try:
        assert resolve_callback_url(callback, origin=local) == callback
        for bad in (f"{local}/oauth2/callback?next=/elsewhere", "http://127.0.0.1:3001/oauth2/callback?x=1"):
            with pytest.raises(InvalidField):
                resolve_callback_url(bad, origin=local)
        with pytest.raises(InvalidField):  # another origin over http stays refused, listed or not
            resolve_callback_url(callback, origin="https://api.example.com")
    finally:
        reset_process_state()
