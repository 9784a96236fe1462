"""A function's handler module, imported as Lambda would: a fresh module, with the placeholder
environment the OpenAPI document is built with (cartconnect-dev's OPENAPI_ENV)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cartconnect.process import reset_process_state
from cartconnect_dev import cli
from cartconnect_dev.gateway.functions import import_from_path

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def import_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """`import_function("management")`: functions/management/app.py as a fresh module."""
    for name, value in cli.OPENAPI_ENV.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    imported: list[str] = []

    def load(function: str) -> Any:
        name = f"_{function}_test_{uuid.uuid4().hex}"
        imported.append(name)
        return import_from_path(ROOT / "functions" / function / "app.py", name)

    yield load
    for name in imported:
        sys.modules.pop(name, None)
    reset_process_state()
