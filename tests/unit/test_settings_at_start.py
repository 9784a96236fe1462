"""Each function names the settings its work needs and refuses to start without one of them."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from cartconnect.process import reset_process_state
from cartconnect.settings import SettingsError
from cartconnect_dev import cli
from cartconnect_dev.gateway.functions import HandlerLoadError, import_from_path

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = cli.OPENAPI_ENV  # placeholders for every variable a handler needs to start
NEEDS = {
    "management": ("TABLE_NAME", "KMS_KEY_ID", "SECRET_PREFIX", "EVENT_BUS_NAME"),
    "authorize": ("TABLE_NAME", "KMS_KEY_ID"),
    "callback": ("TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME"),
    "refresh_scheduler": ("TABLE_NAME", "KMS_KEY_ID", "REFRESH_QUEUE_URL"),
    "refresh_worker": ("TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME", "REFRESH_QUEUE_URL"),
    "store_proxy": ("TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME"),
}


def _start(function: str, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    """Import the function's handler as a new Lambda environment does."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    module_name = f"_settings_test_{uuid.uuid4().hex}"
    try:
        import_from_path(ROOT / "functions" / function / "app.py", module_name)
    except HandlerLoadError as failed:
        raise failed.__cause__ from None  # what Lambda reports as the init error
    finally:
        sys.modules.pop(module_name, None)
        reset_process_state()


@pytest.mark.parametrize(("function", "missing"), [(f, name) for f, names in NEEDS.items() for name in names])
def test_a_function_without_a_setting_it_needs_fails_its_cold_start_naming_it(function, missing, monkeypatch):
    with pytest.raises(SettingsError, match=rf"cannot start: not set: {missing}$"):
        _start(function, monkeypatch, {k: v for k, v in ENVIRONMENT.items() if k != missing})


@pytest.mark.parametrize("function", list(NEEDS))
def test_a_function_with_its_settings_starts(function, monkeypatch):
    _start(function, monkeypatch, ENVIRONMENT)


def test_a_malformed_setting_fails_the_cold_start_too(monkeypatch):
    with pytest.raises(SettingsError, match="refresh worker cannot start: STORE_CALL_LIMIT must be a number"):
        _start("refresh_worker", monkeypatch, {**ENVIRONMENT, "STORE_CALL_LIMIT": "many"})
