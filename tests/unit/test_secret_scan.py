"""The run-wide secret scan (tests/secret_scan.py) fails a run whose logs carry a secret it handled."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _plugin_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


PROBE = """
import logging
import secret_scan
from cartconnect.observability import logger


def test_logs(tmp_path):
    secret_scan.register("probe-secret-value-123")
    logger.info("{message}")
"""


def test_a_leaked_secret_fails_the_run(pytester):
    pytester.makepyfile(PROBE.format(message="refresh done for probe-secret-value-123"))
    result = pytester.runpytest_subprocess("-p", "secret_scan")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*1 leaked*", "*leaked: a 22-character secret, sha256*"])
    assert "probe-secret-value-123" not in result.stdout.str()


def test_a_clean_run_passes(pytester):
    pytester.makepyfile(PROBE.format(message="refresh done"))
    result = pytester.runpytest_subprocess("-p", "secret_scan")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*0 leaked*"])
