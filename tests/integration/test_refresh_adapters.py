"""The token lifecycle's adapters against the local stack's DynamoDB and SQS (moto): the lease and its
fences, the per-store call budget, the due index and the scheduler tick, the local schedule."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from cartconnect.adapters import (
    connection_repository,
    due_index,
    refresh_queue,
    refresh_repository,
    store_rate_limiter,
    table,
)
from cartconnect.adapters.refresh_queue import RefreshMessage
from cartconnect.clock import to_iso, utc_now
from cartconnect.domain.connection import Connection, ConnectionStatus, LastError
from cartconnect.domain.tokens import TokenPair
from cartconnect.refresh_schedule import DUE_SHARDS, due_keys, shard_of
from cartconnect.settings import get_settings
from cartconnect.usecases import refresh_scheduler
from cartconnect_dev.scheduler import RefreshDueReport, ScheduleRunner, run_refresh_due, take_refresh_messages


def _connection(
    tenant: str, *, due_in: timedelta | None = None, version: int = 3, connection_id: str | None = None
) -> Connection:
    """Put a connection item straight into the table (no iClient, no tokens): enough for the lease,
    the fences and the due index."""
    now = utc_now()
    connection = Connection(
        tenant=tenant,
        id=connection_id or f"con_{uuid.uuid4().hex[:26]}",
        name="direct",
        subdomain="direct.cart.com",
        iclient_id="icl_direct",
        callback_url="https://example.test/oauth2/callback",
        scopes=("read_orders",),
        status=ConnectionStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        token_version=version,
    )
    item = connection_repository._to_item(connection)
    if due_in is not None:
        due = now + due_in
        item.update({"refresh_due_at": to_iso(due), "expires_at": to_iso(due + timedelta(minutes=15))})
        item.update(due_keys(connection.id, due))
    table.client().put_item(TableName=table.table_name(), Item=table.marshal(item))
    return connection


def _delete(connection: Connection) -> None:
    table.client().delete_item(
        TableName=table.table_name(), Key=connection_repository.item_key(connection.tenant, connection.id)
    )


def _exists(connection: Connection) -> bool:
    return connection_repository.get(connection.tenant, connection.id) is not None


# -- the lease ---------------------------------------------------------------------------------------


def test_one_lease_at_a_time_until_it_expires(local_stack, unique_tenant):
    connection = _connection(unique_tenant)
    now = utc_now()
    first = refresh_repository.acquire_lease(unique_tenant, connection.id, owner="a", now=now, seconds=60)
    assert first.acquired and first.connection.lease_owner == "a"
    assert first.connection.lease_expires_at == refresh_repository.epoch_ms(now) + 60_000
    busy = refresh_repository.acquire_lease(unique_tenant, connection.id, owner="b", now=now, seconds=60)
    assert not busy.acquired and busy.connection.lease_owner == "a"
    later = now + timedelta(seconds=61)
    taken = refresh_repository.acquire_lease(unique_tenant, connection.id, owner="b", now=later, seconds=60)
    assert taken.acquired and taken.connection.lease_owner == "b"
    assert not refresh_repository.release_lease(unique_tenant, connection.id, owner="a")
    assert refresh_repository.release_lease(unique_tenant, connection.id, owner="b")
    assert connection_repository.get(unique_tenant, connection.id).lease_owner is None


def test_concurrent_lease_attempts_have_one_winner(local_stack, unique_tenant):
    connection = _connection(unique_tenant)
    barrier = threading.Barrier(20)

    def attempt(index: int) -> bool:
        barrier.wait()
        return refresh_repository.acquire_lease(
            unique_tenant, connection.id, owner=f"w{index}", now=utc_now(), seconds=60
        ).acquired

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert sum(pool.map(attempt, range(20))) == 1


def test_no_lease_and_no_write_brings_a_deleted_connection_back(local_stack, unique_tenant):
    connection = _connection(unique_tenant)
    lease = refresh_repository.acquire_lease(
        unique_tenant, connection.id, owner="a", now=utc_now(), seconds=60
    )
    _delete(connection)
    now = utc_now()
    assert (
        refresh_repository.acquire_lease(
            unique_tenant, connection.id, owner="b", now=now, seconds=60
        ).connection
        is None
    )
    assert (
        refresh_repository.store_refreshed(
            lease.connection,
            owner="a",
            pair=TokenPair(sealed_tokens=b"x", expires_at=None, refresh_due_at=None),
            now=now,
        )
        is None
    )
    assert (
        refresh_repository.record_failure(
            lease.connection,
            owner="a",
            code="c",
            message="m",
            now=now,
            next_attempt_at=now,
            due_keys=due_keys("x", now),
        )
        is None
    )
    assert (
        refresh_repository.mark_needs_reauthorization(
            lease.connection, owner="a", code="c", message="m", now=now
        )
        is None
    )
    assert not refresh_repository.release_lease(unique_tenant, connection.id, owner="a")
    from cartconnect.domain.connection import LastTest

    assert not refresh_repository.record_test(unique_tenant, connection.id, LastTest(True, now, 200, "ok"))
    assert not _exists(connection)


def test_the_fence_needs_the_version_read_and_the_lease(local_stack, unique_tenant):
    connection = _connection(unique_tenant, version=3)
    now = utc_now()
    lease = refresh_repository.acquire_lease(unique_tenant, connection.id, owner="a", now=now, seconds=60)
    write = {"pair": TokenPair(sealed_tokens=b"new", expires_at=None, refresh_due_at=None), "now": now}
    assert refresh_repository.store_refreshed(lease.connection, owner="b", **write) is None  # not the holder
    import dataclasses

    older = dataclasses.replace(lease.connection, token_version=2)
    assert refresh_repository.store_refreshed(older, owner="a", **write) is None  # the version moved
    stored = refresh_repository.store_refreshed(lease.connection, owner="a", **write)
    assert stored.token_version == 4 and stored.lease_owner is None  # written, and the lease released
    assert refresh_repository.store_refreshed(lease.connection, owner="a", **write) is None  # only once


def test_an_api_rejection_is_kept_as_last_error_fenced_on_the_token_version(local_stack, unique_tenant):
    connection = _connection(unique_tenant, version=3)
    now = utc_now().replace(microsecond=0)
    message = "the store's API rejected the access token, also just after a refresh"
    wrong = {"token_version": 2, "message": message, "now": now}
    assert not refresh_repository.record_api_rejection(unique_tenant, connection.id, **wrong)
    assert connection_repository.get(unique_tenant, connection.id) == connection  # nothing written
    assert refresh_repository.record_api_rejection(
        unique_tenant, connection.id, token_version=3, message=message, now=now
    )
    stored = connection_repository.get(unique_tenant, connection.id)
    assert stored.last_error == LastError(refresh_repository.API_TOKEN_REJECTED, message, now)
    assert stored.last_error.code == "api_token_rejected"  # the code token_access._holder_failed skips
    # Only last_error: the status, the version and the refresh bookkeeping stay as they were.
    assert dataclasses.replace(stored, last_error=None) == connection


def test_an_api_rejection_never_brings_a_deleted_connection_back(local_stack, unique_tenant):
    connection = _connection(unique_tenant, version=3)
    _delete(connection)
    assert not refresh_repository.record_api_rejection(
        unique_tenant, connection.id, token_version=3, message="rejected", now=utc_now()
    )
    assert not _exists(connection)


def test_a_cleared_rejection_is_only_that_versions_and_only_a_rejection(local_stack, unique_tenant):
    connection = _connection(unique_tenant, version=3)
    now = utc_now().replace(microsecond=0)
    try:
        assert not refresh_repository.clear_api_rejection(unique_tenant, connection.id, token_version=3)
        assert refresh_repository.record_api_rejection(
            unique_tenant, connection.id, token_version=3, message="rejected", now=now
        )
        assert not refresh_repository.clear_api_rejection(unique_tenant, connection.id, token_version=2)
        assert connection_repository.get(unique_tenant, connection.id).last_error is not None
        assert refresh_repository.clear_api_rejection(unique_tenant, connection.id, token_version=3)
        assert connection_repository.get(unique_tenant, connection.id) == connection
        # Another error recorded meanwhile (a failed refresh) is not the rejection: it stays.
        failure = LastError("store_unavailable", "the store did not answer", now)
        table.client().update_item(
            TableName=table.table_name(),
            Key=connection_repository.item_key(unique_tenant, connection.id),
            UpdateExpression="SET last_error = :error",
            ExpressionAttributeValues=table.marshal(
                {":error": {"code": failure.code, "message": failure.message, "at": to_iso(now)}}
            ),
        )
        assert not refresh_repository.clear_api_rejection(unique_tenant, connection.id, token_version=3)
        assert connection_repository.get(unique_tenant, connection.id).last_error == failure
    finally:
        _delete(connection)


# -- the store's call budget -------------------------------------------------------------------------


@pytest.fixture
def call_limit(local_stack):
    previous = local_stack.env.get("STORE_CALL_LIMIT")

    def set_limit(limit: int) -> None:
        local_stack.update_env({"STORE_CALL_LIMIT": str(limit)})

    yield set_limit
    if previous is not None:
        local_stack.update_env({"STORE_CALL_LIMIT": previous})
    else:
        local_stack.update_env({"STORE_CALL_LIMIT": "50"})


def _host(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}.cart.com"


WINDOW_START = 1_700_000_000.0  # a window boundary (a multiple of 10 s)


def _granted_concurrently(host: str, now: float, callers: int) -> list[float | None]:
    start = threading.Barrier(callers)

    def call(_: int) -> float | None:
        start.wait()
        return store_rate_limiter.try_acquire(host, now=now)

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return list(pool.map(call, range(callers)))


def test_a_store_never_gets_more_than_its_learned_limit_in_ten_seconds(local_stack):
    host = _host("budget")
    store_rate_limiter.learn_limit(host, 10, now=WINDOW_START)  # X-AC-Call-Limit: n/10
    first = _granted_concurrently(host, WINDOW_START + 9.5, 12)
    assert sum(wait is None for wait in first) == 5
    assert all(0 < wait <= 0.5 + 1e-6 for wait in first if wait is not None)
    second = _granted_concurrently(host, WINDOW_START + 10.1, 8)
    assert sum(wait is None for wait in second) == 5
    # 10 calls within the 0.6 s around the boundary: never more than the limit in any 10 s.


def test_a_store_that_has_not_said_its_limit_gets_the_smallest_plans(local_stack):
    host = _host("unknown")
    granted = _granted_concurrently(host, WINDOW_START + 1, 6)
    assert sum(wait is None for wait in granted) == store_rate_limiter.window_budget(
        store_rate_limiter.UNKNOWN_LIMIT
    )
    assert store_rate_limiter.limits(host).calls_per_10_seconds is None


def test_the_deployment_cap_bounds_a_learned_limit(local_stack, call_limit):
    call_limit(10)
    host = _host("capped")
    store_rate_limiter.learn_limit(host, 50, now=WINDOW_START)
    assert sum(wait is None for wait in _granted_concurrently(host, WINDOW_START + 2, 12)) == 5


def test_a_learned_limit_is_shared_and_written_only_when_it_changes(local_stack, monkeypatch):
    host = _host("learned")
    store_rate_limiter.learn_limit(host, 20, now=WINDOW_START)
    writes = []
    real = store_rate_limiter.table.client

    class Counting:
        def __getattr__(self, name):
            if name == "update_item":
                writes.append(name)
            return getattr(real(), name)

    monkeypatch.setattr(store_rate_limiter.table, "client", Counting)
    store_rate_limiter.learn_limit(host, 20, now=WINDOW_START + 1)
    assert writes == []  # this process already knows it
    store_rate_limiter.forget_known_limits()  # another Lambda environment
    store_rate_limiter.learn_limit(host, 20, now=WINDOW_START + 2)
    store_rate_limiter.learn_limit(host, 10, now=WINDOW_START + 3)  # the store's plan changed
    monkeypatch.undo()
    limits = store_rate_limiter.limits(host)
    assert limits.calls_per_10_seconds == 10 and limits.learned_at_ms == int((WINDOW_START + 3) * 1000)
    assert sum(wait is None for wait in _granted_concurrently(host, WINDOW_START + 4, 8)) == 5


def test_after_a_429_nobody_calls_before_its_retry_after_and_a_margin(local_stack):
    host = _host("blocked")
    store_rate_limiter.learn_limit(host, 50, now=WINDOW_START)
    store_rate_limiter.block(host, retry_after_seconds=7, now=WINDOW_START + 1)
    wait = store_rate_limiter.try_acquire(host, now=WINDOW_START + 2)
    assert wait == pytest.approx(7 + store_rate_limiter.RETRY_AFTER_MARGIN_SECONDS - 1)
    # Past the window, still blocked: the block, not the window, decides.
    assert store_rate_limiter.try_acquire(host, now=WINDOW_START + 8.5) == pytest.approx(0.5)
    assert store_rate_limiter.try_acquire(host, now=WINDOW_START + 9.01) is None
    # A shorter Retry-After later never shortens a block in place.
    store_rate_limiter.block(host, retry_after_seconds=30, now=WINDOW_START + 10)
    store_rate_limiter.block(host, retry_after_seconds=1, now=WINDOW_START + 11)
    limits = store_rate_limiter.limits(host)
    assert limits.blocked_until_ms == int((WINDOW_START + 41) * 1000)
    assert limits.last_rate_limited_at_ms == int((WINDOW_START + 11) * 1000)


# -- the due index and the scheduler tick -------------------------------------------------------------


def _our_messages(local_stack, connection_ids: set[str]) -> list[dict]:
    """Take this test's refresh messages off the queue (others stay). The tick has sent everything
    before this runs: one receive with none of ours is the end."""
    ours = take_refresh_messages(local_stack, connection_ids, patience=1)
    sqs, url = local_stack.aws_client("sqs"), local_stack.resources["RefreshQueue"].ref
    for message in ours.values():
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in ours.values()]


def test_the_tick_enqueues_exactly_the_due_connections_from_every_shard(local_stack, unique_tenant):
    # Two due connections in every shard (ids chosen by their shard, not left to chance).
    ids: dict[int, list[str]] = {shard: [] for shard in range(DUE_SHARDS)}
    for number in range(10_000):
        candidate = f"con_{number:026d}"
        if len(ids[shard_of(candidate)]) < 2:
            ids[shard_of(candidate)].append(candidate)
        if all(len(found) == 2 for found in ids.values()):
            break
    ordered = [connection_id for found in ids.values() for connection_id in found]
    due = [
        _connection(unique_tenant, due_in=-timedelta(minutes=index + 1), connection_id=connection_id)
        for index, connection_id in enumerate(ordered)
    ]
    later = _connection(unique_tenant, due_in=timedelta(minutes=5))
    never = _connection(unique_tenant)
    assert {shard_of(connection.id) for connection in due} == set(range(DUE_SHARDS))
    try:
        result = refresh_scheduler.tick(remaining_ms=lambda: 60_000, page_size=4)
        assert result.complete and result.shards_done == DUE_SHARDS
        assert result.enqueued >= len(due)
        messages = _our_messages(local_stack, {c.id for c in [*due, later, never]})
        assert sorted(m["connection_id"] for m in messages) == sorted(c.id for c in due)
        assert {m["token_version"] for m in messages} == {3} and {m["tenant"] for m in messages} == {
            unique_tenant
        }
    finally:
        for connection in [*due, later, never]:
            _delete(connection)


def test_the_index_entry_of_a_refreshed_connection_is_stale_not_enqueued(local_stack, unique_tenant):
    connection = _connection(unique_tenant, due_in=-timedelta(minutes=1))
    try:
        # The item moved on (refreshed) while the index still lists the old due time.
        keys, _ = due_index.query_page(shard_of(connection.id), now=utc_now(), limit=1000, start_key=None)
        assert {"pk": {"S": f"T#{unique_tenant}"}, "sk": {"S": f"CONN#{connection.id}"}} in keys
        (found,) = [c for c in due_index.read(keys) if c.connection_id == connection.id]
        assert found.token_version == 3 and found.status == "active"
        table.client().update_item(
            TableName=table.table_name(),
            Key=connection_repository.item_key(unique_tenant, connection.id),
            UpdateExpression="SET refresh_due_at = :later",
            ExpressionAttributeValues={":later": {"S": to_iso(utc_now() + timedelta(hours=1))}},
        )
        refresh_scheduler.tick(remaining_ms=lambda: 60_000)
        assert _our_messages(local_stack, {connection.id}) == []
    finally:
        _delete(connection)


def test_the_tick_stops_when_time_runs_low(local_stack, unique_tenant):
    connection = _connection(unique_tenant, due_in=-timedelta(minutes=1))
    try:
        result = refresh_scheduler.tick(remaining_ms=lambda: 5_000)  # below the reserve
        assert (result.complete, result.shards_done, result.enqueued) == (False, 0, 0)
        calls = iter(range(10_000))
        # Time for a few pages only: some shards done, the rest left for the next tick.
        result = refresh_scheduler.tick(remaining_ms=lambda: 60_000 if next(calls) < 4 else 0, parallel=1)
        assert not result.complete and 0 < result.shards_done < DUE_SHARDS
    finally:
        _delete(connection)
        _our_messages(local_stack, {connection.id})


def test_a_held_message_stays_in_the_queue_for_its_delay(local_stack, monkeypatch):
    sqs = local_stack.aws_client("sqs")
    url = sqs.create_queue(QueueName=f"spread-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    monkeypatch.setenv("REFRESH_QUEUE_URL", url)
    get_settings.cache_clear()
    try:
        now, held = RefreshMessage("acme", "con_now", 1), RefreshMessage("acme", "con_held", 1)
        assert refresh_queue.send_delayed([(now, 0), (held, 900)]) == [(now, 0), (held, 900)]
        visible = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
        assert [json.loads(m["Body"])["connection_id"] for m in visible] == ["con_now"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
        assert counts["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    finally:
        sqs.delete_queue(QueueUrl=url)
        monkeypatch.undo()
        get_settings.cache_clear()


# -- the local schedule ----------------------------------------------------------------------------


def test_the_schedule_runner_keeps_ticking_through_failures():
    calls: list[int] = []
    enough = threading.Event()

    def tick() -> RefreshDueReport:
        calls.append(1)
        if len(calls) >= 3:
            enough.set()
        if len(calls) == 1:
            raise RuntimeError("the first tick fails")
        return RefreshDueReport()

    runner = ScheduleRunner(tick, 0.01).start()
    try:
        assert enough.wait(10)
    finally:
        runner.stop()
    count = len(calls)
    assert count >= 3
    assert not runner._thread.is_alive()
    with pytest.raises(ValueError):
        ScheduleRunner(tick, 0)


def test_refresh_due_against_a_running_stack_by_its_state(local_stack):
    """What `cartconnect-dev refresh-due` does: the Invoke API and moto's SQS, from another process."""
    state = {
        "api_url": local_stack.api_url,
        "aws_endpoint": local_stack.aws_endpoint,
        "invoke_secret": local_stack.invoke_secret,
        "resources": {logical_id: physical.ref for logical_id, physical in local_stack.resources.items()},
    }
    report = run_refresh_due(state)
    assert set(report.scheduler) >= {"due", "enqueued", "complete"}
    assert report.as_dict()["failed"] >= 0
    with pytest.raises(RuntimeError, match="RefreshQueue"):
        run_refresh_due(
            {"api_url": local_stack.api_url, "aws_endpoint": local_stack.aws_endpoint, "resources": {}}
        )
    # The Invoke API refuses a state without the stack's secret, and says why without echoing any.
    with pytest.raises(RuntimeError, match="HTTP 403") as refused:
        run_refresh_due({**state, "invoke_secret": "not-the-secret"})
    assert local_stack.invoke_secret not in str(refused.value)
