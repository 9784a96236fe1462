"""Fixtures for flows that reach the sandbox store and read the project's event bus."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import secret_scan

from cartconnect.observability import logger
from cartconnect_dev.sandbox_store import SandboxStore

sys.path.insert(0, str(Path(__file__).parent))  # flow.py helpers


@pytest.fixture(scope="session")
def sandbox_store(local_stack) -> Iterator[SandboxStore]:
    with SandboxStore(port=0) as store:
        # Every test shares this one store host; `sandbox` starts each with a fresh call budget.
        local_stack.update_env({"CARTCONNECT_INSECURE_STORE_HOSTS": store.host})
        yield store


@pytest.fixture
def sandbox(local_stack, sandbox_store: SandboxStore) -> Iterator[SandboxStore]:
    sandbox_store.reset()
    _forget_store_budget(local_stack, sandbox_store.host)
    yield sandbox_store
    # reset() forgets what the store issued: hand it to the run's secret scan first.
    secret_scan.register_sandbox(sandbox_store)


def _forget_store_budget(local_stack, host: str) -> None:
    """Every test starts with the store's budget as a fresh one that has said its limit once (the
    sandbox's 50): no 429 block and no calls spent by an earlier test. A store that has said nothing
    yet is tested in tests/integration/test_refresh_adapters.py."""
    import time

    from cartconnect.adapters import store_rate_limiter

    local_stack.aws_client("dynamodb").delete_item(
        TableName=local_stack.env["TABLE_NAME"], Key={"pk": {"S": f"RATE#{host}"}, "sk": {"S": "BUDGET"}}
    )
    store_rate_limiter.forget_known_limits()
    store_rate_limiter.learn_limit(host, 50, now=time.time())


@pytest.fixture
def tenant(unique_tenant: str) -> str:
    return unique_tenant


@pytest.fixture
def captured_events(local_stack, tenant) -> Callable[[], list[dict]]:
    """Every event the project's bus received for this test's tenant (via a rule to an SQS queue)."""
    events = local_stack.aws_client("events")
    sqs = local_stack.aws_client("sqs")
    bus = local_stack.env["EVENT_BUS_NAME"]
    queue_url = sqs.create_queue(QueueName=f"capture-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule = f"capture-{uuid.uuid4().hex[:10]}"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["cartconnect"], "detail": {"tenant": [tenant]}}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "capture", "Arn": queue_arn}])

    def read() -> list[dict]:
        received: list[dict] = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            batch = messages.get("Messages", [])
            received += [json.loads(message["Body"]) for message in batch]
            if not batch and received:
                break
            if not batch:
                time.sleep(0.05)
        return received

    return read


# ---- token lifecycle ------------------------------------------------------------------------------


@dataclass
class _ClockOffset:
    """How far cartconnect's clock is moved: by shift_clock, and by every wait `waits` skipped."""

    seconds: float = 0.0


@pytest.fixture
def _clock_offset(use_runtime) -> _ClockOffset:
    from datetime import timedelta

    from cartconnect import runtime

    offset = _ClockOffset()
    real = runtime.current().now
    use_runtime(now=lambda: real() + timedelta(seconds=offset.seconds))
    return offset


@dataclass
class Waits:
    """Every wait the refresh pipeline asked for (backoff, Retry-After), none of them slept: the
    clock moves on by it instead, so a store's Retry-After block has passed when the wait ends."""

    offset: _ClockOffset
    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.offset.seconds += seconds


@pytest.fixture
def waits(use_runtime, _clock_offset) -> Waits:
    """Backoff, Retry-After and call-budget waits become instant (and recorded)."""
    recorded = Waits(_clock_offset)
    use_runtime(sleep=recorded)
    return recorded


@pytest.fixture
def shift_clock(_clock_offset) -> Callable[[float], None]:
    """`shift_clock(70)`: cartconnect's clock (scheduler, worker, token API, the store's call
    budget) reads now + 70 s."""

    def shift(seconds: float) -> None:
        _clock_offset.seconds = seconds

    return shift


@pytest.fixture
def authorized(local_stack, sandbox, tenant) -> Iterator[Callable[..., dict]]:
    """`authorized(lifetime=120)`: a new connection on the sandbox store, authorized, its token living
    `lifetime` seconds; returns the connection as GET shows it. Deleted after the test, so no later
    scheduler run in the session finds it due. The connections of one test share one iClient."""
    from flow import APP_ID, APP_SECRET, api, authorize

    client = api(local_stack, tenant)
    made: list[str] = []
    iclients: list[str] = []

    def make(*, lifetime: int = 3600, scopes=("read_orders", "system"), name: str | None = None) -> dict:
        sandbox.configure(token_lifetime_seconds=lifetime, auto_approve=True)
        if not iclients:
            sandbox.register_app(APP_ID, APP_SECRET)
            created = client.post(
                "/v1/iclients", json={"name": "Sandbox app", "client_id": APP_ID, "client_secret": APP_SECRET}
            )
            assert created.status_code == 201, created.text
            iclients.append(created.json()["id"])
        response = client.post(
            "/v1/connections",
            json={
                "name": name or f"store {uuid.uuid4().hex[:8]}",
                "subdomain": sandbox.host,
                "iclient_id": iclients[0],
                "scopes": list(scopes),
            },
        )
        assert response.status_code == 201, response.text
        connection = response.json()
        made.append(connection["id"])
        page = authorize(local_stack, sandbox, connection)
        assert page.status_code == 200, page.text
        stored = client.get(f"/v1/connections/{connection['id']}").json()
        assert stored["status"] == "active", stored
        return stored

    yield make
    for connection_id in made:
        client.delete(f"/v1/connections/{connection_id}")
    client.close()


@dataclass(frozen=True)
class Written:
    """What a test wrote where a secret must never go."""

    events: str  # the tenant's published events, as JSON
    everything: str  # every log record (with its extra fields), stdout, stderr and the events

    def leaked(self, secrets: set[str]) -> list[str]:
        """The secrets found anywhere, by their first characters only."""
        return sorted(secret[:6] + "…" for secret in secrets if secret and secret in self.everything)


@pytest.fixture
def everything_written(caplog, capfd, captured_events) -> Iterator[Callable[[], Written]]:
    """Log at DEBUG everywhere (the root logger too, so botocore, urllib3 and httpx2) while the test
    runs; calling the fixture collects what was written so far."""
    caplog.set_level(logging.DEBUG)
    previous = logger.log_level
    logger.setLevel("DEBUG")

    def collect() -> Written:
        events = json.dumps(captured_events())
        out, err = capfd.readouterr()
        logged = "\n".join(
            record.getMessage() + " " + json.dumps(record.__dict__, default=str) for record in caplog.records
        )
        return Written(events=events, everything="\n".join((logged, out, err, events)))

    yield collect
    logger.setLevel(previous)
