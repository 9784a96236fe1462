"""Fixtures for flows that reach the sandbox store and read the project's event bus."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cartconnect_dev.sandbox_store import SandboxStore

sys.path.insert(0, str(Path(__file__).parent))  # flow.py helpers


@pytest.fixture(scope="session")
def sandbox_store(local_stack) -> Iterator[SandboxStore]:
    with SandboxStore(port=0) as store:
        local_stack.update_env({"CARTCONNECT_INSECURE_STORE_HOSTS": store.host})
        yield store


@pytest.fixture
def sandbox(sandbox_store: SandboxStore) -> SandboxStore:
    sandbox_store.reset()
    return sandbox_store


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
