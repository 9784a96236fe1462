"""usecases/refresh_worker: what becomes of a queue message for each outcome of a refresh (the
pipeline and the queue replaced by fakes)."""

from __future__ import annotations

import json

import pytest

from cartconnect.adapters import refresh_queue
from cartconnect.usecases import refresh_worker, token_refresh
from cartconnect.usecases.token_refresh import Outcome, RefreshResult

BODY = json.dumps({"tenant": "acme", "connection_id": "con_1", "token_version": 3})


@pytest.fixture
def queue(monkeypatch) -> dict[str, list]:
    seen: dict[str, list] = {"delayed": [], "sent": [], "refreshes": []}
    monkeypatch.setattr(
        refresh_queue, "delay", lambda receipt, seconds: seen["delayed"].append((receipt, seconds))
    )
    monkeypatch.setattr(
        refresh_queue,
        "send",
        lambda messages, *, delay_seconds=0: seen["sent"].append((messages, delay_seconds)),
    )
    return seen


def _refreshing(monkeypatch, queue, result: RefreshResult) -> None:
    def refresh(tenant, connection_id, **kwargs):
        queue["refreshes"].append((tenant, connection_id, kwargs))
        return result

    monkeypatch.setattr(token_refresh, "refresh", refresh)


def test_a_refreshed_connection_leaves_the_message_done(monkeypatch, queue):
    _refreshing(monkeypatch, queue, RefreshResult(Outcome.REFRESHED, None))
    result = refresh_worker.handle(BODY, receipt_handle="r-1", deadline=50.0)
    assert result is not None and result.outcome is Outcome.REFRESHED
    assert queue["refreshes"] == [("acme", "con_1", {"expected_version": 3, "deadline": 50.0})]
    assert queue["delayed"] == queue["sent"] == []


def test_a_transient_failure_gives_the_message_back_invisible_until_the_next_attempt(monkeypatch, queue):
    _refreshing(
        monkeypatch,
        queue,
        RefreshResult(Outcome.FAILED, None, reason="store_unavailable", retry_after_seconds=120),
    )
    with pytest.raises(refresh_worker.RetryLater, match="failed"):
        refresh_worker.handle(BODY, receipt_handle="r-1", deadline=50.0)
    assert queue["delayed"] == [("r-1", 121.0)]
    assert queue["sent"] == []


@pytest.mark.parametrize(("wait", "delay"), [(4.0, 5), (None, 2), (5000.0, 900)])
def test_a_deferred_refresh_is_sent_again_later_not_failed(monkeypatch, queue, wait, delay):
    _refreshing(
        monkeypatch,
        queue,
        RefreshResult(Outcome.DEFERRED, None, reason="store_call_budget", retry_after_seconds=wait),
    )
    result = refresh_worker.handle(BODY, receipt_handle="r-1", deadline=50.0)
    assert result is not None and result.outcome is Outcome.DEFERRED  # not a batch item failure
    [(messages, delay_seconds)] = queue["sent"]
    assert [m.connection_id for m in messages] == ["con_1"] and delay_seconds == delay


@pytest.mark.parametrize("body", ["not json", json.dumps({"tenant": "acme"}), json.dumps([1, 2])])
def test_a_malformed_message_is_dropped_not_retried(monkeypatch, queue, body):
    _refreshing(monkeypatch, queue, RefreshResult(Outcome.REFRESHED, None))
    assert refresh_worker.handle(body, receipt_handle="r-1", deadline=50.0) is None
    assert queue["refreshes"] == [] and queue["delayed"] == queue["sent"] == []
