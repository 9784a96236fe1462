"""Helpers for the token lifecycle tests: read what is stored, change it behind the API's back,
and intercept the refresh call the pipeline makes to the store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from cartconnect.adapters import refresh_queue, refresh_repository, table, token_vault
from cartconnect.adapters.connection_repository import item_key
from cartconnect.domain.tokens import TokenSet
from cartconnect.provider.americommerce import AmeriCommerceClient
from cartconnect.usecases import store_budget
from cartconnect_dev.scheduler import (
    WORKER_FUNCTION,
    RefreshDueReport,
    _record,
    drain_refresh_queue,
    take_refresh_messages,
)


def stored_tokens(tenant: str, connection_id: str) -> token_vault.Tokens:
    found = refresh_repository.read_with_tokens(tenant, connection_id)
    assert found is not None and found[1] is not None
    return token_vault.unseal(tenant, connection_id, found[1])


def raw_item(tenant: str, connection_id: str) -> dict[str, Any] | None:
    raw = (
        table.client()
        .get_item(TableName=table.table_name(), Key=item_key(tenant, connection_id), ConsistentRead=True)
        .get("Item")
    )
    return table.unmarshal(raw) if raw else None


def set_attributes(tenant: str, connection_id: str, **values: Any) -> None:
    """Overwrite attributes of a connection item directly (test setup only)."""
    names = {f"#{name}": name for name in values}
    table.client().update_item(
        TableName=table.table_name(),
        Key=item_key(tenant, connection_id),
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=table.marshal({f":{name}": value for name, value in values.items()}),
    )


def hook_store_refresh(monkeypatch, hook: Callable[[dict[str, Any]], None]) -> None:
    """Run `hook(kwargs)` inside a refresh's store call, right before the request is sent."""

    class Hooked(AmeriCommerceClient):
        def refresh(self, base_url: str, **kwargs: Any) -> TokenSet:
            hook(kwargs)
            return super().refresh(base_url, **kwargs)

    monkeypatch.setattr(store_budget, "AmeriCommerceClient", Hooked)


class Paused:
    """Pause the thread named `thread_name` inside its store call until `resume()`."""

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self.inside = threading.Event()
        self._resume = threading.Event()

    def __call__(self, kwargs: dict[str, Any]) -> None:
        if threading.current_thread().name == self.thread_name:
            self.inside.set()
            assert self._resume.wait(30), "never resumed"

    def resume(self) -> None:
        self._resume.set()


def run_in_thread(name: str, target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(target())
        except BaseException as error:  # surfaced by the test
            result.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, result


def receive_ours(stack, connection_ids: set[str], *, attempts: int = 50) -> list[dict[str, Any]]:
    """Receive the refresh queue's messages for these connections (others are made visible again)."""
    ours = take_refresh_messages(stack, connection_ids, patience=attempts)
    assert set(ours) == connection_ids, f"messages missing for {connection_ids - set(ours)}"
    return list(ours.values())


def invoke_worker(stack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    sqs = stack.aws_client("sqs")
    url = stack.resources["RefreshQueue"].ref
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    result: dict[str, Any] = stack.invoke(WORKER_FUNCTION, {"Records": [_record(m, arn) for m in messages]})
    return result


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [event["detail"] for event in events if event["detail-type"] == detail_type]


def refresh_via_worker(stack, tenant: str, connection: dict[str, Any]) -> RefreshDueReport:
    """What a scheduler tick does for one due connection, without querying every shard: enqueue its
    message, then drain the queue into the worker (as the SQS event source would)."""
    refresh_queue.send([refresh_queue.RefreshMessage(tenant, connection["id"], connection["token_version"])])
    return drain_refresh_queue(stack)
