"""Local stand-ins for EventBridge Scheduler and the SQS event source of the refresh worker.

    run_refresh_due(stack)            # one scheduler tick, then drain the refresh queue into the worker
    run_refresh_due(read_state())     # the same against a running `cartconnect-dev up` (another process)
    drain_refresh_queue(stack)        # only the drain (messages already on the queue)
    take_refresh_messages(stack, ids) # tests and benchmarks: the queue's messages for these connections
    ScheduleRunner(callback, 60)      # call it every 60 s in a background thread (LocalStack(run_schedule=True))

A drain works like Lambda's SQS event source: receive up to 10 messages, invoke the worker with an
SQS event, delete the messages it did not report as batch item failures; repeat until the queue
has nothing visible. Failed messages stay on the queue, invisible until their retry (the worker sets
that), so a drain always ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from cartconnect_dev import invoke_secret
from cartconnect_dev.moto_resources import client
from cartconnect_dev.template import REGION

if TYPE_CHECKING:
    from cartconnect_dev.stack import LocalStack

log = logging.getLogger(__name__)

SCHEDULER_FUNCTION = "RefreshSchedulerFunction"
WORKER_FUNCTION = "RefreshWorkerFunction"
QUEUE = "RefreshQueue"
# What the template's schedule sends (RefreshSchedule.Target.Input).
SCHEDULE_EVENT = {"source": "cartconnect.refresh-schedule"}
DEFAULT_SCHEDULE_SECONDS = 60.0
MAX_BATCHES = 10_000
# take_refresh_messages: receives at most, however many other messages keep coming round.
TAKE_RECEIVES = 500


class _Target(Protocol):
    def invoke(self, function: str, event: Any) -> Any: ...

    @property
    def sqs(self) -> Any: ...

    @property
    def queue_url(self) -> str: ...


@dataclass
class _InProcess:
    """A LocalStack started in this process: handlers are invoked directly."""

    stack: LocalStack

    def invoke(self, function: str, event: Any) -> Any:
        return self.stack.invoke(function, event)

    @property
    def sqs(self) -> Any:
        return self.stack.aws_client("sqs")

    @property
    def queue_url(self) -> str:
        return self.stack.resources[QUEUE].ref


@dataclass
class _Remote:
    """A stack running in another process (its state file): Lambda's Invoke API on the gateway,
    SQS on its moto server."""

    api_url: str
    aws_endpoint: str
    queue: str
    invoke_secret: str = field(repr=False)

    def invoke(self, function: str, event: Any) -> Any:
        import httpx2

        url = f"{self.api_url.rstrip('/')}/2015-03-31/functions/{quote(function, safe='')}/invocations"
        response = httpx2.post(
            url, json=event, headers=invoke_secret.headers(self.invoke_secret), timeout=300
        )
        if response.status_code != 200:
            raise RuntimeError(f"invoking {function} failed: HTTP {response.status_code} {response.text}")
        body = response.json()
        if response.headers.get("x-amz-function-error"):
            raise RuntimeError(f"{function} failed: {body.get('errorType')}: {body.get('errorMessage')}")
        return body

    @property
    def sqs(self) -> Any:
        return client("sqs", self.aws_endpoint)

    @property
    def queue_url(self) -> str:
        return self.queue


@dataclass
class RefreshDueReport:
    """What one `run_refresh_due` did."""

    scheduler: dict[str, Any] = field(default_factory=dict)  # the tick's result (due, enqueued, ...)
    batches: int = 0  # worker invocations
    received: int = 0  # messages handed to the worker
    failed: int = 0  # batch item failures (left on the queue for a retry)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _target(stack_or_state: LocalStack | Mapping[str, Any]) -> _Target:
    if isinstance(stack_or_state, Mapping):
        resources = stack_or_state.get("resources") or {}
        if QUEUE not in resources:
            raise RuntimeError(f"the running stack has no {QUEUE}: restart it with the current template")
        return _Remote(
            str(stack_or_state["api_url"]),
            str(stack_or_state["aws_endpoint"]),
            str(resources[QUEUE]),
            str(stack_or_state.get("invoke_secret", "")),
        )
    return _InProcess(stack_or_state)


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS record as Lambda's event source delivers it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            key: str(value)
            for key, value in (message.get("Attributes") or {}).items()
            if key
            in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def drain(target: _Target, report: RefreshDueReport) -> None:
    sqs = target.sqs
    url = target.queue_url
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    seen: set[str] = set()
    for _ in range(MAX_BATCHES):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            return  # nothing visible (or only messages this drain already handed over)
        seen.update(message["MessageId"] for message in fresh)
        result = target.invoke(WORKER_FUNCTION, {"Records": [_record(message, arn) for message in fresh]})
        failures = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [message for message in fresh if message["MessageId"] not in failures]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(done)
                ],
            )
        report.batches += 1
        report.received += len(fresh)
        report.failed += len(failures)


def take_refresh_messages(
    stack: LocalStack, connection_ids: Collection[str], *, others: str = "release", patience: int = 50
) -> dict[str, dict[str, Any]]:
    """Receive the refresh queue's messages for these connections, the first one of each, as
    {connection id: message}; they stay in flight (invisible) for the caller to handle. Anyone
    else's message is made visible again (`others="release"`) or deleted (`"delete"`: leftovers
    nobody will handle). Gives up after `patience` receives that found the queue empty (moto makes
    a sent message visible at once), or after TAKE_RECEIVES receives in all."""
    if others not in ("release", "delete"):
        raise ValueError("others is 'release' or 'delete'")
    sqs = stack.aws_client("sqs")
    url = stack.resources[QUEUE].ref
    wanted = set(connection_ids)
    ours: dict[str, dict[str, Any]] = {}
    empty = 0
    for _ in range(TAKE_RECEIVES):
        if len(ours) == len(wanted) or empty >= patience:
            break
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            empty += 1
            time.sleep(0.01)
        for message in messages:
            connection_id = json.loads(message["Body"]).get("connection_id")
            if connection_id in wanted and connection_id not in ours:
                ours[connection_id] = message
            elif others == "delete":
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    return ours


def drain_refresh_queue(stack_or_state: LocalStack | Mapping[str, Any]) -> RefreshDueReport:
    """Only the second half of `run_refresh_due`: hand what is on the refresh queue to the worker."""
    report = RefreshDueReport()
    drain(_target(stack_or_state), report)
    return report


def run_refresh_due(stack_or_state: LocalStack | Mapping[str, Any]) -> RefreshDueReport:
    """One scheduler tick, then the refresh queue drained into the worker, synchronously.

    `stack_or_state`: a started LocalStack, or the running stack's state (`stack.read_state()`).
    Raises RuntimeError when a function fails.
    """
    target = _target(stack_or_state)
    report = RefreshDueReport()
    tick = target.invoke(SCHEDULER_FUNCTION, dict(SCHEDULE_EVENT))
    report.scheduler = dict(tick) if isinstance(tick, dict) else {"result": tick}
    drain(target, report)
    return report


class ScheduleRunner:
    """Call `callback` every `interval` seconds in a daemon thread until `stop()`; a failing call is
    logged and the next one still happens (like a schedule)."""

    def __init__(self, callback: Callable[[], object], interval: float) -> None:
        if interval <= 0:
            raise ValueError("the schedule interval must be positive")
        self.callback = callback
        self.interval = interval
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="refresh-schedule", daemon=True)

    def start(self) -> ScheduleRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.monotonic()
            try:
                outcome = self.callback()
            except Exception as exc:
                log.error("refresh schedule: the tick failed: %s", exc)
            else:
                summary = outcome.as_dict() if isinstance(outcome, RefreshDueReport) else outcome
                log.info(
                    "refresh schedule: %s (%.0f ms)",
                    json.dumps(summary, default=str),
                    (time.monotonic() - started) * 1000,
                )
            self.runs += 1
