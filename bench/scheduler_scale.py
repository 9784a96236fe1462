"""Figure 5: one scheduler pass over 10,000 due connections.

The due items are written directly (BatchWriteItem, outside the timing): their keys (pk, sk and the
`due_for_refresh` keys, spread over the shards by the connection id's hash as the code does) and
the few attributes the scheduler reads back for each due key (tenant, id, token_version, status,
refresh_due_at: the index projects keys only, so the scheduler reads the token version it puts in
each message from the item; an item with keys alone would be dropped as stale and never enqueued).

One tick runs in a warm scheduler environment of its own process (bench.function_process.FunctionProcess),
which counts every AWS call it makes: calls per enqueued connection, and the enqueue rate
(connections per second of the handler's time). DynamoDB is the local stack's (moto). SQS is not:
moto's SQS scans its whole queue, message by message, on every call (a receive takes ~0.3 s once
500 messages wait, and it grows with the square of the queue), so 10,000 messages would measure
moto, not the scheduler. The scheduler's process is pointed (AWS_ENDPOINT_URL_SQS) at a minimal
stand-in that answers SendMessageBatch in constant time and keeps only a count. The rate is still a
floor: moto answers every DynamoDB call from one Python process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.environment import BenchEnvironment, log
from bench.function_process import FunctionProcess
from cartconnect_dev.scheduler import SCHEDULE_EVENT

DUE = 10_000


@dataclass
class SchedulerScaleResult:
    due: int = DUE
    write_seconds: float = 0.0
    tick_seconds: float = 0.0
    tick_cpu_seconds: float = 0.0  # the scheduler process's CPU time for the tick
    tick: dict[str, int | bool] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    received: int = 0  # messages the SQS stand-in accepted
    seconds: float = 0.0

    @property
    def enqueued(self) -> int:
        return int(self.tick.get("enqueued", 0))

    @property
    def calls_per_enqueued(self) -> float:
        return sum(self.calls.values()) / self.enqueued if self.enqueued else float("inf")

    @property
    def rate(self) -> float:
        return self.enqueued / self.tick_seconds if self.tick_seconds else 0.0


class SendMessageBatchSink:
    """An SQS endpoint on loopback that accepts SendMessageBatch (JSON protocol) and counts the
    messages; nothing is stored. Any other operation is refused."""

    def __init__(self) -> None:
        self.messages = 0
        self.requests = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.headers.get("X-Amz-Target") != "AmazonSQS.SendMessageBatch":
                    self._answer(
                        400, {"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": "bench sink"}
                    )
                    return
                entries = body.get("Entries", [])
                with sink._lock:
                    sink.requests += 1
                    sink.messages += len(entries)
                successful = [
                    {
                        "Id": entry["Id"],
                        "MessageId": str(uuid.uuid4()),
                        "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),
                    }
                    for entry in entries
                ]
                self._answer(200, {"Successful": successful, "Failed": []})

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-sqs-sink", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SendMessageBatchSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def measure(env: BenchEnvironment, due: int = DUE) -> SchedulerScaleResult:
    started = time.monotonic()
    result = SchedulerScaleResult(due=due)
    write_started = time.perf_counter()
    keys = env.write_due_items(due)
    result.write_seconds = time.perf_counter() - write_started
    with (
        SendMessageBatchSink() as sqs,
        FunctionProcess(
            env,
            "refresh_scheduler",
            "RefreshSchedulerFunction",
            extra_env={"AWS_ENDPOINT_URL_SQS": sqs.endpoint},
        ) as scheduler,
    ):
        tick = scheduler.invoke(SCHEDULE_EVENT)
    result.tick_seconds = tick.seconds
    result.tick_cpu_seconds = tick.cpu_seconds
    result.tick = dict(tick.result)
    result.calls = Counter(tick.calls)
    result.received = sqs.messages
    env.delete_items(keys)
    if result.enqueued < due or result.received < due or not result.tick.get("complete"):
        raise RuntimeError(
            f"the tick enqueued {result.enqueued} of {due} (complete: {result.tick.get('complete')})"
        )
    result.seconds = time.monotonic() - started
    log(f"  scheduler scale: {result.enqueued} enqueued in {result.tick_seconds:.1f} s")
    return result
