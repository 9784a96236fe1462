"""Figure 2: AWS calls per operation, counted in-process on the local stack.

Every botocore client call made while an operation runs is counted (a patch of
`botocore.client.BaseClient._make_api_call`: the core package builds its clients from its own
sessions, so hooks on boto3's default session would miss them), by `service:Operation`. Store calls
are the sandbox store's own counters (token exchange, refresh, REST API).

Each operation runs twice: first with the per-process caches emptied (the KMS data key and the
iClient secret cache: a new Lambda environment), then again (a warm environment, what most requests
meet). A scheduled refresh is followed end to end: the scheduler's tick, the SQS event source's
receive and delete (what Lambda's poller does; billed to the account) and the worker.

A proxied call (GET /v1/connections/{id}/proxy/products?count=1) spends one call of its store's
budget, and the first call of a store's 10-second window spends it with two UpdateItems (the spend,
refused: the window is over; then the opening of the new one). So that the count does not depend on
where the run falls in a window, the proxied call is counted twice over: in a window already opened
(another call spent in it first, outside the count, with at least 2 s of it left: a store called
steadily) and as the first call of a fresh window (a store called less often than every 10 s).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from bench.environment import PROXY_SCOPES, BenchEnvironment, LogSink, log, sqs_record
from cartconnect.process import reset_process_state
from cartconnect_dev.scheduler import SCHEDULE_EVENT

# Store endpoints cartconnect calls (the consent page is the admin's browser, not cartconnect).
STORE_ENDPOINTS = ("access_token", "refresh", "api")
# 1,000 connections refreshed hourly, a scheduler tick every 5 minutes: due per tick.
DUE_PER_TICK_AT_1000 = 84
# The SQS event source's BatchSize: a worker invocation refreshes this many connections.
WORKER_BATCH = 10
TOKEN_FRESH_TARGET = 2
SCHEDULED_REFRESH_TARGET = 5
SCHEDULED_REFRESH_STORE_TARGET = 1
PROXY_TARGET = 2  # AWS calls of a warm proxied call
PROXY_PATH = "products?count=1"
PROXIED = "proxied GET"
PROXIED_OPENING = "proxied GET, opening its store's window"
# A call counted "in an open window" leaves at least this much of it after the call spent first.
WINDOW_MARGIN_SECONDS = 2.0

_active: list[Counter[str]] = []
_active_lock = threading.Lock()
_original = BaseClient._make_api_call  # type: ignore[attr-defined]


def _counting_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    service = self.meta.service_model.service_name
    with _active_lock:
        for counter in _active:
            counter[f"{service}:{operation_name}"] += 1
    return _original(self, operation_name, api_params)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count every AWS API call made in this process (any thread) while the block runs."""
    counter: Counter[str] = Counter()
    with _active_lock:
        if BaseClient._make_api_call is not _counting_call:  # type: ignore[attr-defined]
            BaseClient._make_api_call = _counting_call  # type: ignore[attr-defined]
        _active.append(counter)
    try:
        yield counter
    finally:
        with _active_lock:
            _active.remove(counter)


@contextmanager
def metrics_published(sink: LogSink) -> Iterator[None]:
    """Powertools prints EMF documents to stdout (CloudWatch Logs ingests them): publish them, into
    the sink, while the block runs."""
    previous = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    try:
        with redirect_stdout(sink):
            yield
    finally:
        if previous is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = previous


@dataclass
class Run:
    calls: Counter[str] = field(default_factory=Counter)
    store: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    log_bytes: int = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def store_total(self) -> int:
        return sum(self.store.values())


@dataclass
class Operation:
    name: str
    description: str
    new_environment: Run
    warm: Run
    # For the end-to-end refresh: the warm run split by who makes the calls.
    phases: dict[str, Run] = field(default_factory=dict)


@dataclass
class AwsCallsResult:
    operations: dict[str, Operation] = field(default_factory=dict)
    connection_item: dict[str, Any] = field(default_factory=dict)  # attribute-value JSON, sealed tokens
    iclient_item: dict[str, Any] = field(default_factory=dict)
    lease_attributes: dict[str, Any] = field(default_factory=dict)
    budget_item: dict[str, Any] = field(default_factory=dict)  # the sandbox store's call budget
    tick_due: int = DUE_PER_TICK_AT_1000
    seconds: float = 0.0

    @property
    def worker_batch(self) -> Run:
        """A warm worker invocation with a full batch of due connections."""
        return self.operations[f"worker batch of {WORKER_BATCH}"].warm

    def worker_per_refresh(self) -> dict[str, float]:
        """The worker's AWS calls per refresh, from a full batch (what a batch shares is shared)."""
        return {name: count / WORKER_BATCH for name, count in self.worker_batch.calls.items()}

    def per_refresh_amortized(self) -> dict[str, float]:
        """One scheduled refresh at 1,000 connections (84 due per tick, worker batches of 10):
        a tenth of a full worker batch's calls, a tenth of the event source's batch, the tick's
        calls / due."""
        worker = self.worker_batch.total / WORKER_BATCH
        source = self.operations["scheduled refresh"].phases["event source"].total
        tick = self.operations[f"scheduler tick, {self.tick_due} due"].warm.total
        scheduler = tick / self.tick_due
        return {
            "worker": worker,
            "event source": source / 10,
            "scheduler": scheduler,
            "total": worker + source / 10 + scheduler,
        }


class _Measure:
    def __init__(self, env: BenchEnvironment, sink: LogSink) -> None:
        self.env = env
        self.sink = sink

    def run(self, action: Callable[[], Any], *, check: Callable[[Any], bool] | None = None) -> Run:
        """Count one run; its log bytes include the EMF metric documents a deployed function prints
        (metrics are published for the run, into the sink)."""
        store_before = self.env.store.calls
        log_before = self.sink.bytes
        with counting() as calls, metrics_published(self.sink):
            started = time.perf_counter()
            outcome = action()
            seconds = time.perf_counter() - started
        if check is not None and not check(outcome):
            raise RuntimeError(f"the operation did not do what it should: {outcome!r}"[:300])
        store_after = self.env.store.calls
        store = Counter({name: store_after[name] - store_before[name] for name in STORE_ENDPOINTS})
        return Run(Counter(calls), +store, seconds, self.sink.bytes - log_before)

    def twice(
        self,
        prepare: Callable[[], Callable[[], Any]],
        check: Callable[[Any], bool] | None = None,
    ) -> tuple[Run, Run]:
        """(new environment, warm): `prepare` sets up one run (outside the count) and returns it."""
        action = prepare()
        reset_process_state()  # what a new Lambda environment starts without
        cold = self.run(action, check=check)
        action = prepare()
        return cold, self.run(action, check=check)


def _ok(status: int) -> Callable[[Any], bool]:
    return lambda response: response.status_code == status


class _Operations:
    """Each operation of the figure, set up on its own connection."""

    def __init__(self, env: BenchEnvironment, sink: LogSink, result: AwsCallsResult) -> None:
        self.env = env
        self.m = _Measure(env, sink)
        self.result = result
        self.token_connection = env.authorized_connection("aws calls: token")
        self.flow_connection = env.create_connection("aws calls: flow")
        self.scheduled_connection = env.authorized_connection("aws calls: scheduled")
        self.batch_connections = [
            env.authorized_connection(f"aws calls: batch {index}")["id"] for index in range(WORKER_BATCH)
        ]
        self.proxy_connection = env.authorized_connection("aws calls: proxy", scopes=PROXY_SCOPES)

    def add(self, name: str, description: str, runs: tuple[Run, Run]) -> Operation:
        operation = Operation(name, description, *runs)
        self.result.operations[name] = operation
        return operation

    def authorization_flow(self) -> None:
        env, connection_id = self.env, self.flow_connection["id"]
        self.add(
            "create connection",
            "POST /v1/connections",
            self.m.twice(
                lambda: env.create_connection, check=lambda made: made["status"] == "pending_authorization"
            ),
        )

        def page() -> Callable[[], Any]:
            url = f"{env.stack.api_url}/connect/{env.new_ticket(connection_id)}"
            return lambda: env.show_authorize_link(url)

        self.add(
            "authorize page", "GET /connect/{ticket}: what is granted, nothing spent", self.m.twice(page)
        )

        def authorize() -> Callable[[], Any]:
            url = f"{env.stack.api_url}/connect/{env.new_ticket(connection_id)}"
            return lambda: env.submit_authorize_link(url)

        self.add("authorize redirect", "POST /connect/{ticket} -> 303 to the store", self.m.twice(authorize))

        def callback() -> Callable[[], Any]:
            query, cookies = env.prepared_callback(connection_id)
            return lambda: env.complete_callback(query, cookies)

        self.add(
            "callback", "GET /oauth2/callback: exchange, seal, activate", self.m.twice(callback, _ok(200))
        )

    def tokens(self) -> None:
        env, api = self.env, self.env.api
        url = f"/v1/connections/{self.token_connection['id']}/token"
        self.add(
            "token (fresh)",
            "POST /v1/connections/{id}/token, token not due",
            self.m.twice(lambda: lambda: api.post(url), _ok(200)),
        )

        def due() -> Callable[[], Any]:
            env.make_due(self.token_connection["id"])
            return lambda: api.post(url)

        def refreshed(response: Any) -> bool:
            return bool(response.status_code == 200 and response.json()["token_version"] > 1)

        self.add(
            "token (with refresh)",
            "POST /v1/connections/{id}/token, token due: refreshed first",
            self.m.twice(due, refreshed),
        )

    def proxied(self) -> None:
        """A proxied GET in a store window already open (new environment, then warm), and one that
        opens its store's window (warm)."""
        api = self.env.api
        url = f"/v1/connections/{self.proxy_connection['id']}/proxy/{PROXY_PATH}"

        def in_open_window() -> Callable[[], Any]:
            _place_in_window(self.env, fresh=False)
            return lambda: api.get(url)

        self.add(
            PROXIED,
            f"GET /v1/connections/{{id}}/proxy/{PROXY_PATH}, the store's window open",
            self.m.twice(in_open_window, _ok(200)),
        )
        _place_in_window(self.env, fresh=True)
        run = self.m.run(lambda: api.get(url), check=_ok(200))
        self.add(PROXIED_OPENING, "the same, the first store call of a 10-second window", (run, run))

    def scheduled_refresh(self) -> None:
        """One due connection (the only one), end to end: tick, event source receive, worker, delete."""
        cold = self._scheduled(new_environment=True)
        warm = self._scheduled(new_environment=False)
        operation = self.add(
            "scheduled refresh",
            "one due connection: scheduler tick + SQS event source + worker",
            (_sum(cold), _sum(warm)),
        )
        operation.phases = warm

    def _scheduled(self, *, new_environment: bool) -> dict[str, Run]:
        env, m = self.env, self.m
        sqs = env.stack.aws_client("sqs")
        url = env.stack.resources["RefreshQueue"].ref
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        version = env.make_due(self.scheduled_connection["id"])
        if new_environment:
            reset_process_state()  # what a new Lambda environment starts without
        phases: dict[str, Run] = {}
        phases["scheduler"] = m.run(
            lambda: env.stack.invoke("RefreshSchedulerFunction", dict(SCHEDULE_EVENT)),
            check=lambda tick: tick["enqueued"] == 1,
        )
        received: list[dict[str, Any]] = []
        receive = m.run(
            lambda: received.extend(
                sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
                ).get("Messages", [])
            )
        )
        phases["worker"] = m.run(
            lambda: env.stack.invoke(
                "RefreshWorkerFunction", {"Records": [sqs_record(r, arn) for r in received]}
            ),
            check=lambda answer: not answer["batchItemFailures"],
        )
        entries = [{"Id": str(i), "ReceiptHandle": r["ReceiptHandle"]} for i, r in enumerate(received)]
        delete = m.run(lambda: sqs.delete_message_batch(QueueUrl=url, Entries=entries))
        phases["event source"] = Run(
            receive.calls + delete.calls, Counter(), receive.seconds + delete.seconds, 0
        )
        if env.get_connection(self.scheduled_connection["id"])["token_version"] != version + 1:
            raise RuntimeError("the scheduled refresh did not refresh")
        return phases

    def worker_batch(self) -> None:
        """A full batch of due connections through a warm worker: its calls and log bytes per refresh
        (what one invocation logs and publishes once is shared by the batch, as deployed)."""
        env = self.env
        handled: list[dict[str, Any]] = []

        def batch() -> Callable[[], Any]:
            messages = [
                (connection_id, env.make_due(connection_id)) for connection_id in self.batch_connections
            ]
            records = env.enqueue_and_receive(messages)
            handled.extend(records)
            return lambda: env.stack.invoke("RefreshWorkerFunction", {"Records": records})

        self.add(
            f"worker batch of {WORKER_BATCH}",
            f"the worker refreshing {WORKER_BATCH} due connections (one SQS event)",
            self.m.twice(batch, lambda answer: not answer["batchItemFailures"]),
        )
        # What the event source does after a successful batch (not the worker's calls: uncounted).
        sqs, url = env.stack.aws_client("sqs"), env.stack.resources["RefreshQueue"].ref
        for record in handled:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])

    def scheduler_ticks(self) -> None:
        """A tick that finds nothing (its fixed cost), and one with 1,000 connections' share due."""
        env, due = self.env, self.result.tick_due

        def tick() -> Callable[[], Any]:
            return lambda: env.stack.invoke("RefreshSchedulerFunction", dict(SCHEDULE_EVENT))

        self.add(
            "scheduler tick, 0 due", "a tick that finds nothing: one Query per shard", self.m.twice(tick)
        )
        keys = env.write_due_items(due)
        run = self.m.run(tick(), check=lambda answer: answer["enqueued"] == due)
        env.delete_items(keys)
        env.drain_queue()
        self.add(
            f"scheduler tick, {due} due",
            "1,000 connections refreshed hourly: 1/12 due each 5-minute tick",
            (run, run),
        )


def _place_in_window(env: BenchEnvironment, *, fresh: bool) -> None:
    """Wait until the next store call falls where a count wants it in the store's budget window:
    `fresh`, the start of a window nobody has spent in; else a window already opened (one call
    spent here, uncounted) with at least WINDOW_MARGIN_SECONDS left."""
    from cartconnect.adapters import store_rate_limiter

    left = store_rate_limiter.WINDOW_SECONDS - time.time() % store_rate_limiter.WINDOW_SECONDS
    if fresh or left < WINDOW_MARGIN_SECONDS:
        time.sleep(left + 0.05)
    if not fresh and store_rate_limiter.try_acquire(env.store.host, now=time.time()) is not None:
        raise RuntimeError("the store's budget refused a call")


def _sum(phases: dict[str, Run]) -> Run:
    run = Run()
    for phase in phases.values():
        run.calls += phase.calls
        run.store += phase.store
        run.seconds += phase.seconds
        run.log_bytes += phase.log_bytes
    return run


def measure(env: BenchEnvironment, sink: LogSink) -> AwsCallsResult:
    started = time.monotonic()
    result = AwsCallsResult()
    env.drain_queue()
    operations = _Operations(env, sink, result)
    operations.authorization_flow()
    operations.tokens()
    operations.proxied()
    operations.scheduled_refresh()
    operations.worker_batch()
    operations.scheduler_ticks()
    # The connection item as stored (sealed tokens) and its iClient, for their sizes; what the lease adds.
    result.connection_item = env.raw_item(operations.token_connection["id"])
    result.iclient_item = env.raw_item_by_key(f"T#{env.tenant}", f"ICLIENT#{env.iclient_id}")
    from cartconnect.adapters import store_rate_limiter

    budget_key = store_rate_limiter._key(env.store.host)
    result.budget_item = env.raw_item_by_key(budget_key["pk"]["S"], budget_key["sk"]["S"])
    result.lease_attributes = {
        "lease_owner": {"S": "0" * 32},
        "lease_expires_at": {"N": str(int(time.time() * 1000))},
    }
    env.delete_connections(
        operations.token_connection["id"],
        operations.flow_connection["id"],
        operations.scheduled_connection["id"],
        *operations.batch_connections,
        operations.proxy_connection["id"],
    )
    result.seconds = time.monotonic() - started
    log(f"  aws calls: {len(result.operations)} operations counted")
    return result
