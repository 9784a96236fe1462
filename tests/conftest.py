"""Shared fixtures.

* `local_stack` (session): the whole local stack (moto + template resources + gateway + issuer) on
  free ports, started on first use. `local_stack.client(tenant)` is an httpx2.Client with that
  tenant's bearer token; `local_stack.aws_client("dynamodb")` a boto3 client for moto;
  `local_stack.env` the handlers' resolved environment; `local_stack.token(tenant, ...)`.
* `api(tenant)`: an httpx2.Client on the stack's API with a bearer token for `tenant` (no token
  when `tenant` is None); closed after the test.
* `unique_tenant`: a fresh tenant name, so tests sharing the session stack never see each
  other's data.
* `moto_endpoint`, `aws_env`, `aws_client(service)`: for tests that only need moto.

The stack runs in this process and sets os.environ (AWS_ENDPOINT_URL, TABLE_NAME, ...) while it
runs. Do not use moto's `mock_aws` in a session that also uses `local_stack`: it resets moto's
in-process backends, which the stack's server shares.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
import secret_scan

from cartconnect_dev.stack import LocalStack, shared_tls

# Never reach real AWS from tests, whatever the developer's shell has configured.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(port=0, moto_port=0, state_dir=tmp_path_factory.mktemp("cartconnect-dev"))
    with stack:
        secret_scan.register(stack.invoke_secret)  # it must never be logged
        yield stack


@pytest.fixture
def unique_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(local_stack: LocalStack) -> Iterator[Callable[..., httpx2.Client]]:
    clients: list[httpx2.Client] = []

    def make(tenant: str | None, **token_kwargs: Any) -> httpx2.Client:
        headers = {"Authorization": f"Bearer {local_stack.token(tenant, **token_kwargs)}"} if tenant else {}
        client = httpx2.Client(base_url=local_stack.api_url, headers=headers, timeout=30, verify=shared_tls())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def moto_endpoint(local_stack: LocalStack) -> str:
    return local_stack.aws_endpoint


@pytest.fixture(scope="session")
def aws_env(local_stack: LocalStack) -> dict[str, str]:
    """The environment the handlers run with (TABLE_NAME, KMS_KEY_ID, AWS_ENDPOINT_URL, ...)."""
    return dict(local_stack.env)


@pytest.fixture(scope="session")
def aws_client(local_stack: LocalStack) -> Callable[[str], Any]:
    """`aws_client("dynamodb")`: a boto3 client for the stack's moto server."""
    return local_stack.aws_client


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/sam need Docker, the base image stand-in and a `sam build`, which `make sam-test` prepares
    (and `make test` runs): a plain `pytest` deselects them unless a -m expression names them."""
    if "sam" in (config.option.markexpr or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("sam")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("sam")]


def pytest_configure(config: pytest.Config) -> None:
    # Powertools warns on every invocation that flushes no metrics; metrics are off locally.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def use_runtime() -> Iterator[Callable[..., Any]]:
    """`use_runtime(sleep=..., now=...)`: the runtime every reader in cartconnect sees (time, waits,
    chance: cartconnect/runtime.py), with those parts replaced, until the test ends."""
    from cartconnect import runtime

    previous = runtime.current()

    def replace(**parts: Any) -> runtime.Runtime:
        runtime.use(dataclasses.replace(runtime.current(), **parts))
        return runtime.current()

    yield replace
    runtime.use(previous)
