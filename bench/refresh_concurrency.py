"""Figure 4: one worker batch of 10 due connections against a store that answers after 200 ms.

The worker refreshes a batch's records concurrently (adapters/sqs_batch.py). With every store
answer delayed by 200 ms (sandbox fault `latency_ms`), a serial worker would need at least 10 store
calls' time for a batch of 10; a concurrent one little more than one. The figure is the batch's
time divided by one store call's time, both measured in the same run: the store call is a direct
POST to the sandbox's refresh endpoint (a new HTTP client, as each refresh uses); the batch is the
handler's time in a warm worker environment of its own process (bench.function_process.FunctionProcess),
invoked with an SQS event of 10 records received from the real queue.

The same batch with no store latency shows what the local stack itself adds: moto serves the
batch's 40 DynamoDB calls one at a time in one Python process.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import httpx2

from bench.environment import APP_ID, BenchEnvironment, log
from bench.function_process import FunctionProcess

BATCH = 10
LATENCY_MS = 200
BATCHES = 3
STORE_CALLS = 5
TARGET = 1.5


@dataclass
class ConcurrencyResult:
    latency_ms: int = LATENCY_MS
    batch_size: int = BATCH
    store_call_seconds: list[float] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)
    single_seconds: list[float] = field(default_factory=list)
    no_latency_batch_seconds: list[float] = field(default_factory=list)
    first_batch_seconds: float = 0.0  # the environment's first batch (clients, caches), no latency
    batch_cpu_seconds: list[float] = field(default_factory=list)  # the worker process's CPU per batch
    store_calls_per_batch: int = 0
    seconds: float = 0.0

    @property
    def store_call(self) -> float:
        return statistics.median(self.store_call_seconds)

    @property
    def batch(self) -> float:
        return statistics.median(self.batch_seconds)

    @property
    def single(self) -> float:
        return statistics.median(self.single_seconds)

    @property
    def no_latency_batch(self) -> float:
        return statistics.median(self.no_latency_batch_seconds)

    @property
    def batch_cpu(self) -> float:
        return statistics.median(self.batch_cpu_seconds)

    @property
    def ratio(self) -> float:
        return self.batch / self.store_call

    @property
    def met(self) -> bool:
        return self.ratio <= TARGET


def _store_call(env: BenchEnvironment) -> float:
    """One refresh call's round trip to the store (refused signature: the same delay, no state)."""
    started = time.perf_counter()
    response = httpx2.post(
        f"{env.store.base_url}/api/oauth/refresh",
        json={"client_id": APP_ID, "refresh_token": "bench", "signature": "0" * 64},
        timeout=10,
    )
    elapsed = time.perf_counter() - started
    if response.status_code < 400:
        raise RuntimeError("the sandbox accepted a refresh it should have refused")
    return elapsed


def _refresh_batch(
    env: BenchEnvironment, worker: FunctionProcess, connection_ids: list[str]
) -> tuple[float, int, float]:
    """Make them due, put their messages on the queue, invoke the worker with the batch: the
    handler's time and the store calls it made."""
    messages = [(connection_id, env.make_due(connection_id)) for connection_id in connection_ids]
    records = env.enqueue_and_receive(messages)
    calls_before = env.store.calls["refresh"]
    invocation = worker.invoke({"Records": records})
    if invocation.result.get("batchItemFailures"):
        raise RuntimeError(f"{len(invocation.result['batchItemFailures'])} refreshes of the batch failed")
    for connection_id, version in messages:
        if env.get_connection(connection_id)["token_version"] != version + 1:
            raise RuntimeError(f"{connection_id} was not refreshed")
    return invocation.seconds, env.store.calls["refresh"] - calls_before, invocation.cpu_seconds


def measure(env: BenchEnvironment) -> ConcurrencyResult:
    started = time.monotonic()
    result = ConcurrencyResult()
    connections = [env.authorized_connection(f"concurrency {index}")["id"] for index in range(BATCH)]
    with FunctionProcess(env, "refresh_worker", "RefreshWorkerFunction") as worker:
        # The environment's first batch creates its clients and caches: not the figure, but shown.
        result.first_batch_seconds = _refresh_batch(env, worker, connections)[0]
        for _ in range(BATCHES):
            result.no_latency_batch_seconds.append(_refresh_batch(env, worker, connections)[0])
        env.store.configure(latency_ms=LATENCY_MS)
        try:
            for _ in range(STORE_CALLS):
                result.store_call_seconds.append(_store_call(env))
            for _ in range(BATCHES):
                result.single_seconds.append(_refresh_batch(env, worker, connections[:1])[0])
                elapsed, store_calls, cpu = _refresh_batch(env, worker, connections)
                result.batch_seconds.append(elapsed)
                result.batch_cpu_seconds.append(cpu)
                result.store_calls_per_batch = store_calls
        finally:
            env.store.configure(latency_ms=0)
    env.delete_connections(*connections)
    result.seconds = time.monotonic() - started
    log(
        f"  refresh concurrency: batch {result.batch * 1000:.0f} ms, store call {result.store_call * 1000:.0f} ms"
    )
    return result
