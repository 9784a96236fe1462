"""A pytest plugin: every log record of the whole test run is kept, and at the end it is scanned for
every secret the run handled (iClient secrets, auth ids, codes, access and refresh tokens,
signatures, OAuth states). One found anywhere fails the run.

Secrets are registered by the fixtures that see them (the session's sandbox store reports what it
issued and received); records are captured from the root logger and Powertools' `cartconnect`
logger at DEBUG, whatever each test sets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re

import pytest

MIN_SECRET_LENGTH = 8
_secrets: set[str] = set()


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        # Powertools adds a filter to the root logger's handlers that drops its own records (they
        # would print twice); this handler must see every record.
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is kept as its raw parts
            text = f"{record.msg!r} {record.args!r}"
        self.lines.append(text + " " + json.dumps(record.__dict__, default=str))


_kept = _Keep()


def register(*values: str | None) -> None:
    _secrets.update(value for value in values if value and len(value) >= MIN_SECRET_LENGTH)


def register_sandbox(store) -> None:
    """Everything a sandbox store issued or was sent: auth ids, codes, tokens, app secrets, signatures,
    the states carried on /api/oauth."""
    register(*store.issued_secrets())
    register(*store.registered_secrets())
    for request in store.captured:
        register(*re.findall(r"[0-9a-f]{64}", request.path))
        if request.body:
            try:
                body = request.json()
            except ValueError:
                body = request.form()
            register(
                *(str(body.get(key)) for key in ("signature", "auth_id", "refresh_token") if body.get(key))
            )


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in ("", "cartconnect", "cartconnect_dev"):
        logging.getLogger(name).addHandler(_kept)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    haystack = "\n".join(_kept.lines)
    leaked = sorted(secret for secret in _secrets if secret in haystack)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"secret scan: {len(_secrets)} secrets handled by the run, {len(_kept.lines)} log records, "
        f"{len(leaked)} leaked"
    )
    if reporter is not None:
        reporter.write_line(summary)
    if leaked:
        if reporter is not None:
            for secret in leaked:
                fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:12]
                reporter.write_line(f"  leaked: a {len(secret)}-character secret, sha256 {fingerprint}…")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
