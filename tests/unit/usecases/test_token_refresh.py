"""usecases/token_refresh: the lease pipeline's decisions (lease, re-check, call, persist, release)
for each situation, with the table, the secret store, the vault and the store replaced by fakes
and time by the runtime seam (no AWS, no store, no real waiting)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import SimpleNamespace

import pytest
from connections_at_noon import NOW
from connections_at_noon import connection as noon_connection

from cartconnect import hosts
from cartconnect.adapters import events, iclient_repository, iclient_secret, refresh_repository, token_vault
from cartconnect.adapters.refresh_repository import LeaseAttempt
from cartconnect.domain.connection import Connection, ConnectionStatus
from cartconnect.domain.tokens import TokenSet
from cartconnect.process import reset_process_state
from cartconnect.provider.errors import GrantRefused, ProviderUnavailable
from cartconnect.refresh_policy import STORE_ATTEMPTS
from cartconnect.usecases import store_budget, token_refresh
from cartconnect.usecases.token_refresh import Outcome
from cartconnect_dev import cli

NEW_TOKENS = TokenSet("access-new", "refresh-new", NOW + timedelta(hours=1))


def connection(**changes) -> Connection:
    """The shared connection, due for a refresh (its token expires in 10 minutes)."""
    due = {"expires_at": NOW + timedelta(minutes=10), "refresh_due_at": NOW - timedelta(minutes=5)}
    return noon_connection(**{**due, **changes})


class Pipeline:
    """Everything the pipeline touches, as fakes that record what it did."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, use_runtime) -> None:
        self.lease = LeaseAttempt(connection(), True, b"sealed")
        self.store_answers: list[TokenSet | Exception] = [NEW_TOKENS]
        self.budget_wait: float | None = None
        self.fence_holds = True
        self.writes: list[tuple[str, dict]] = []
        self.published: list[str] = []
        self.released: list[str] = []
        self.sleeps: list[float] = []
        for name, value in cli.OPENAPI_ENV.items():
            monkeypatch.setenv(name, value)
        reset_process_state()
        monkeypatch.setattr(refresh_repository, "acquire_lease", lambda *a, **k: self.lease)
        monkeypatch.setattr(refresh_repository, "release_lease", self._release)
        monkeypatch.setattr(
            refresh_repository, "store_refreshed", self._write("store_refreshed", token_version=4)
        )
        monkeypatch.setattr(
            refresh_repository, "record_failure", self._write("record_failure", consecutive_failures=1)
        )
        monkeypatch.setattr(
            refresh_repository,
            "mark_needs_reauthorization",
            self._write("mark_needs_reauthorization", status=ConnectionStatus.NEEDS_REAUTHORIZATION),
        )
        monkeypatch.setattr(
            iclient_repository, "get", lambda *a: SimpleNamespace(client_id="42", secret="ref")
        )
        monkeypatch.setattr(iclient_secret, "read", lambda ref: "app-secret")
        monkeypatch.setattr(hosts, "safe_store_base_url", lambda host, settings: f"https://{host}")
        monkeypatch.setattr(token_vault, "unseal", lambda *a: token_vault.Tokens("access-old", "refresh-old"))
        monkeypatch.setattr(token_vault, "seal", lambda *a: b"sealed-new")
        monkeypatch.setattr(store_budget, "spend", lambda host, *, deadline: self.budget_wait)
        monkeypatch.setattr(store_budget, "client", lambda host: SimpleNamespace(refresh=self._store_refresh))
        monkeypatch.setattr(
            events, "publish", lambda detail_type, **fields: self.published.append(detail_type)
        )
        use_runtime(now=lambda: NOW, monotonic=lambda: 0.0, sleep=self.sleeps.append, random=lambda: 0.5)

    def _release(self, tenant: str, connection_id: str, *, owner: str) -> bool:
        self.released.append(owner)
        return True

    def _write(self, name: str, **result):
        def write(current: Connection, **kwargs) -> Connection | None:
            self.writes.append((name, kwargs))
            return dataclasses.replace(current, **result) if self.fence_holds else None

        return write

    def _store_refresh(self, base_url: str, **kwargs) -> TokenSet:
        answer = self.store_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def run(self, **kwargs) -> token_refresh.RefreshResult:
        return token_refresh.refresh("acme", "con_1", deadline=1000.0, **kwargs)


@pytest.fixture
def pipeline(monkeypatch, use_runtime):
    made = Pipeline(monkeypatch, use_runtime)
    yield made
    reset_process_state()


def _unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("refresh", "HTTP 503", status_code=503)


def test_a_due_token_is_refreshed_and_stored_fenced_on_the_lease(pipeline):
    result = pipeline.run(expected_version=3)
    assert result.outcome is Outcome.REFRESHED and result.tokens == NEW_TOKENS
    assert result.connection is not None and result.connection.token_version == 4
    [(name, written)] = pipeline.writes
    assert name == "store_refreshed" and written["owner"]  # the lease owner fences the write
    assert pipeline.released == []  # the fenced write released the lease


@pytest.mark.parametrize(
    ("lease", "expected_version", "outcome", "reason"),
    [
        (LeaseAttempt(None, False), 3, Outcome.GONE, "deleted"),
        (LeaseAttempt(connection(), False), 3, Outcome.BUSY, "leased"),
        (LeaseAttempt(connection(token_version=4), True, b"s"), 3, Outcome.NOT_NEEDED, "version_moved"),
        (
            LeaseAttempt(connection(refresh_due_at=NOW + timedelta(hours=1)), True, b"s"),
            3,
            Outcome.NOT_NEEDED,
            "not_due",
        ),
        (
            LeaseAttempt(connection(status=ConnectionStatus.PENDING_AUTHORIZATION), True, b"s"),
            None,
            Outcome.INACTIVE,
            "pending_authorization",
        ),
    ],
)
def test_nothing_is_sent_to_the_store_when_there_is_nothing_to_do(
    pipeline, lease, expected_version, outcome, reason
):
    pipeline.lease = lease
    pipeline.store_answers = []  # a store call would fail the test (pop from an empty list)
    result = pipeline.run(expected_version=expected_version)
    assert (result.outcome, result.reason) == (outcome, reason)
    assert pipeline.writes == []
    # A lease taken is released; one not taken is left alone.
    assert len(pipeline.released) == (1 if lease.acquired else 0)


def test_force_refreshes_a_token_that_is_not_due(pipeline):
    pipeline.lease = LeaseAttempt(connection(refresh_due_at=NOW + timedelta(hours=1)), True, b"s")
    assert pipeline.run(force=True).outcome is Outcome.REFRESHED


def test_a_transient_failure_is_retried_with_backoff_then_recorded(pipeline):
    pipeline.store_answers = [_unavailable() for _ in range(STORE_ATTEMPTS)]
    result = pipeline.run()
    assert result.outcome is Outcome.FAILED and result.attempts == STORE_ATTEMPTS
    assert len(pipeline.sleeps) == STORE_ATTEMPTS - 1  # backoff between attempts, on the runtime
    [(name, written)] = pipeline.writes
    assert name == "record_failure" and written["next_attempt_at"] > NOW
    assert pipeline.published == ["connection.refresh_failed"]


def test_a_transient_failure_that_passes_is_a_refresh(pipeline):
    pipeline.store_answers = [_unavailable(), NEW_TOKENS]
    result = pipeline.run()
    assert result.outcome is Outcome.REFRESHED and result.attempts == 2


def test_a_refused_grant_needs_reauthorization_at_once(pipeline):
    pipeline.store_answers = [GrantRefused("refresh", "refused", status_code=401)]
    result = pipeline.run()
    assert result.outcome is Outcome.NEEDS_REAUTHORIZATION
    assert [name for name, _ in pipeline.writes] == ["mark_needs_reauthorization"]
    assert pipeline.sleeps == [] and pipeline.published == ["connection.needs_reauthorization"]


def test_a_spent_call_budget_defers_without_calling_or_recording(pipeline):
    pipeline.budget_wait = 7.0
    pipeline.store_answers = []
    result = pipeline.run()
    assert (result.outcome, result.retry_after_seconds) == (Outcome.DEFERRED, 7.0)
    assert pipeline.writes == [] and pipeline.released != []


def test_a_refused_fence_keeps_the_newer_state(pipeline):
    pipeline.fence_holds = False
    result = pipeline.run()
    assert (result.outcome, result.reason) == (Outcome.SUPERSEDED, "fence_refused")
