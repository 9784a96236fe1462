"""usecases/refresh_scheduler: each due connection's message is held back by its share of the
spread, and the tick reports what it held (the due index and the queue replaced by fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartconnect import clock
from cartconnect.adapters import due_index, refresh_queue
from cartconnect.adapters.due_index import DueConnection
from cartconnect.settings import get_settings
from cartconnect.usecases import refresh_scheduler

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def due(monkeypatch) -> tuple[list[DueConnection], list[list[tuple[refresh_queue.RefreshMessage, int]]]]:
    """The connections the index lists (in shard 0), and the batches sent to the queue."""
    listed: list[DueConnection] = []
    sent: list[list[tuple[refresh_queue.RefreshMessage, int]]] = []

    def query_page(shard, *, now, limit, start_key):
        assert now == NOW
        return ([{"id": c.connection_id} for c in listed] if shard == 0 else []), None

    def read(keys):
        wanted = {key["id"] for key in keys}
        return [c for c in listed if c.connection_id in wanted]

    def send_delayed(batch):
        sent.append(list(batch))
        return list(batch)

    monkeypatch.setattr(due_index, "query_page", query_page)
    monkeypatch.setattr(due_index, "read", read)
    monkeypatch.setattr(refresh_queue, "send_delayed", send_delayed)
    monkeypatch.setattr(clock, "utc_now", lambda: NOW)
    return listed, sent


def _settings(monkeypatch, expression: str, percent: str) -> None:
    monkeypatch.setenv("TABLE_NAME", "cartconnect-unit")
    monkeypatch.setenv("KMS_KEY_ID", "alias/unit")
    monkeypatch.setenv("REFRESH_SCHEDULE_EXPRESSION", expression)
    monkeypatch.setenv("REFRESH_SPREAD_PERCENT", percent)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _connection(name: str, due_ago: timedelta | None, status: str = "active") -> DueConnection:
    due_at = None if due_ago is None else NOW - due_ago
    return DueConnection("acme", f"con_{name}", 4, status, due_at)


def test_each_due_message_waits_its_share_of_the_spread(monkeypatch, due):
    listed, sent = due
    _settings(monkeypatch, "rate(5 minutes)", "80")
    listed += [
        _connection("now", timedelta(0)),
        _connection("half", timedelta(seconds=150)),
        _connection("overdue", timedelta(minutes=20)),
        _connection("later", -timedelta(minutes=1)),  # not due yet: not sent at all
        _connection("paused", timedelta(0), status="needs_reauthorization"),
    ]
    result = refresh_scheduler.tick(remaining_ms=lambda: 60_000)
    delays = {message.connection_id: delay for batch in sent for message, delay in batch}
    assert delays == {"con_now": 240, "con_half": 120, "con_overdue": 0}
    assert (result.due, result.enqueued, result.held, result.stale) == (3, 3, 2, 2)


def test_without_a_spread_every_message_goes_at_once(monkeypatch, due):
    listed, sent = due
    _settings(monkeypatch, "rate(5 minutes)", "0")
    listed += [_connection(str(n), timedelta(seconds=n)) for n in range(25)]
    result = refresh_scheduler.tick(remaining_ms=lambda: 60_000)
    assert [len(batch) for batch in sent] == [10, 10, 5]
    assert {delay for batch in sent for _, delay in batch} == {0}
    assert (result.enqueued, result.held) == (25, 0)


def test_only_what_the_queue_accepted_counts_as_held(monkeypatch, due):
    listed, _ = due
    _settings(monkeypatch, "rate(5 minutes)", "80")
    listed += [_connection("a", timedelta(0)), _connection("b", timedelta(0))]
    monkeypatch.setattr(refresh_queue, "send_delayed", lambda batch: list(batch)[:1])
    result = refresh_scheduler.tick(remaining_ms=lambda: 60_000)
    assert (result.due, result.enqueued, result.held) == (2, 1, 1)
