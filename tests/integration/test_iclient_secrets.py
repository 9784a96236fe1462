"""iClient secrets in Secrets Manager (docs/decisions/0009), through the management API on the local
stack: where a secret lives, how versions move, and that nothing is left half-written when a step fails."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from botocore.exceptions import ClientError

from cartconnect import aws
from cartconnect.adapters import iclient_secret
from cartconnect.domain.iclient import SecretVersion
from cartconnect.http.request_context import MAX_TENANT_LENGTH

SECRET = "app-secret-Zq8#value"


@pytest.fixture
def client(local_stack, unique_tenant) -> httpx2.Client:
    return local_stack.client(unique_tenant)


@pytest.fixture
def secretsmanager(aws_client):
    return aws_client("secretsmanager")


def _iclient(client: httpx2.Client, secret: str = SECRET, name: str = "Store app") -> dict:
    response = client.post("/v1/iclients", json={"name": name, "client_id": "4242", "client_secret": secret})
    assert response.status_code == 201, response.text
    return response.json()


def _connect(client: httpx2.Client, iclient_id: str, name: str) -> None:
    body = {"name": name, "subdomain": "mystore.cart.com", "iclient_id": iclient_id, "scopes": ["orders"]}
    response = client.post("/v1/connections", json=body)
    assert response.status_code == 201, response.text


def _item(local_stack, tenant: str, iclient_id: str) -> dict:
    key = {"pk": {"S": f"T#{tenant}"}, "sk": {"S": f"ICLIENT#{iclient_id}"}}
    return (
        local_stack.aws_client("dynamodb")
        .get_item(TableName=local_stack.env["TABLE_NAME"], Key=key, ConsistentRead=True)
        .get("Item", {})
    )


def _tenant_items(local_stack, tenant: str) -> list[dict]:
    return local_stack.aws_client("dynamodb").query(
        TableName=local_stack.env["TABLE_NAME"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}"}},
        ConsistentRead=True,
    )["Items"]


def _all_secrets(secretsmanager) -> list[dict]:
    pages = secretsmanager.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True)
    return [secret for page in pages for secret in page["SecretList"]]


def _tagged(secretsmanager, tenant_tag: str) -> list[dict]:
    return [
        secret
        for secret in _all_secrets(secretsmanager)
        if {"Key": "cartconnect:tenant", "Value": tenant_tag} in secret.get("Tags", [])
    ]


def _version_of(item: dict) -> SecretVersion:
    return SecretVersion(item["secret_arn"]["S"], item["secret_version"]["S"])


class _FailingSecretsManager:
    """Secrets Manager that refuses the named operations and passes every other one to the real one."""

    def __init__(self, real: Any, refused: set[str]) -> None:
        self._real, self._refused = real, refused

    def __getattr__(self, name: str) -> Any:
        if name in self._refused:

            def refuse(**_kwargs: Any) -> Any:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, name
                )

            return refuse
        return getattr(self._real, name)


@pytest.fixture
def refuse_secrets(monkeypatch):
    real_client = aws.client

    def refuse(*operations: str) -> None:
        failing = _FailingSecretsManager(real_client("secretsmanager"), set(operations))
        monkeypatch.setattr(
            aws, "client", lambda service: failing if service == "secretsmanager" else real_client(service)
        )

    return refuse


def test_one_secret_per_iclient_under_the_stack_prefix_with_its_arn_and_version_on_the_item(
    local_stack, client, unique_tenant, secretsmanager
):
    created = _iclient(client)
    assert created["client_secret"] == "********"
    assert SECRET not in json.dumps(client.get(f"/v1/iclients/{created['id']}").json())
    item = _item(local_stack, unique_tenant, created["id"])
    assert SECRET not in json.dumps(_tenant_items(local_stack, unique_tenant), default=repr)
    assert "sealed_secret" not in item

    version = _version_of(item)
    described = secretsmanager.describe_secret(SecretId=version.arn)
    prefix = local_stack.env["SECRET_PREFIX"]
    assert described["Name"].startswith(prefix) and described["Name"].endswith(f"/{created['id']}")
    assert unique_tenant not in described["Name"]
    assert described["KmsKeyId"] == local_stack.env["KMS_KEY_ID"]
    assert {tag["Key"]: tag["Value"] for tag in described["Tags"]} == {
        "cartconnect:tenant": unique_tenant,
        "cartconnect:iclient": created["id"],
    }
    # The item's version is the secret's current one, and holds the value.
    assert described["VersionIdsToStages"][version.version_id] == ["AWSCURRENT"]
    value = secretsmanager.get_secret_value(SecretId=version.arn, VersionId=version.version_id)
    assert json.loads(value["SecretString"]) == {"client_secret": SECRET}


@pytest.mark.parametrize(
    "tenant",
    ["org:acme/team|eu", "tenant#with#hashes", "t" * MAX_TENANT_LENGTH, "租户-ü"],
    ids=["colon-and-pipe", "hashes", "long", "unicode"],
)
def test_the_secret_name_is_valid_for_any_tenant_id(local_stack, secretsmanager, tenant):
    client = local_stack.client(tenant)
    created = _iclient(client)
    version = _version_of(_item(local_stack, tenant, created["id"]))
    described = secretsmanager.describe_secret(SecretId=version.arn)
    assert tenant not in described["Name"]
    name_part = described["Name"].removeprefix(local_stack.env["SECRET_PREFIX"])
    assert all(char.isascii() and (char.isalnum() or char in "/_+=.@-") for char in name_part)
    tags = {tag["Key"]: tag["Value"] for tag in described["Tags"]}
    assert tags["cartconnect:tenant"] == iclient_secret.tenant_tag(tenant)
    assert client.delete(f"/v1/iclients/{created['id']}").status_code == 204


def test_a_new_secret_is_a_new_version_and_the_item_moves_to_it(
    local_stack, client, unique_tenant, secretsmanager
):
    created = _iclient(client)
    before = _version_of(_item(local_stack, unique_tenant, created["id"]))
    patched = client.patch(
        f"/v1/iclients/{created['id']}", json={"name": "Renamed", "client_secret": "rotated-secret-4d1"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed" and patched.json()["client_secret"] == "********"
    after = _version_of(_item(local_stack, unique_tenant, created["id"]))
    assert after.arn == before.arn and after.version_id != before.version_id
    stages = secretsmanager.describe_secret(SecretId=after.arn)["VersionIdsToStages"]
    assert stages[after.version_id] == ["AWSCURRENT"] and stages[before.version_id] == ["AWSPREVIOUS"]
    # Each version keeps its own value: a cache keyed by (ARN, VersionId) can never be stale.
    iclient_secret.forget_cache()
    assert iclient_secret.read(after) == "rotated-secret-4d1"
    assert iclient_secret.read(before) == SECRET
    # A PATCH without a secret leaves the version where it is.
    assert client.patch(f"/v1/iclients/{created['id']}", json={"name": "Again"}).status_code == 200
    assert _version_of(_item(local_stack, unique_tenant, created["id"])) == after


def test_concurrent_secret_changes_leave_the_item_on_a_version_one_of_them_wrote(
    local_stack, client, unique_tenant
):
    created = _iclient(client)
    start = threading.Barrier(6)
    sent = [f"concurrent-secret-{index}" for index in range(6)]

    def patch(secret: str) -> int:
        start.wait()
        other = local_stack.client(unique_tenant)
        return other.patch(f"/v1/iclients/{created['id']}", json={"client_secret": secret}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = Counter(pool.map(patch, sent))
    assert set(statuses) <= {200, 409} and statuses[200] >= 1
    iclient_secret.forget_cache()
    assert iclient_secret.read(_version_of(_item(local_stack, unique_tenant, created["id"]))) in sent


def test_deleting_an_iclient_schedules_its_secret_for_deletion_with_a_7_day_window(
    local_stack, client, unique_tenant, secretsmanager
):
    created = _iclient(client)
    version = _version_of(_item(local_stack, unique_tenant, created["id"]))
    deleted_at = datetime.now(UTC)
    assert client.delete(f"/v1/iclients/{created['id']}").status_code == 204
    assert _item(local_stack, unique_tenant, created["id"]) == {}
    described = secretsmanager.describe_secret(SecretId=version.arn)
    assert "DeletedDate" in described
    # moto reports the planned deletion date as DeletedDate: seven days out.
    planned = described["DeletedDate"].astimezone(UTC)
    assert abs(planned - (deleted_at + timedelta(days=7))) < timedelta(minutes=5)
    # Restorable within the window (docs/operations.md): the value is all there.
    secretsmanager.restore_secret(SecretId=version.arn)
    value = secretsmanager.get_secret_value(SecretId=version.arn, VersionId=version.version_id)
    assert json.loads(value["SecretString"])["client_secret"] == SECRET


def test_an_iclient_in_use_keeps_its_secret(local_stack, client, unique_tenant, secretsmanager):
    created = _iclient(client)
    version = _version_of(_item(local_stack, unique_tenant, created["id"]))
    _connect(client, created["id"], "Main")
    assert client.delete(f"/v1/iclients/{created['id']}").status_code == 409
    assert "DeletedDate" not in secretsmanager.describe_secret(SecretId=version.arn)


def test_a_delete_that_loses_the_race_with_a_new_connection_restores_the_secret(
    local_stack, client, unique_tenant, secretsmanager, monkeypatch
):
    created = _iclient(client)
    version = _version_of(_item(local_stack, unique_tenant, created["id"]))
    real_schedule = iclient_secret.schedule_deletion

    def schedule_then_a_connection_arrives(arn: str) -> None:
        real_schedule(arn)
        assert "DeletedDate" in secretsmanager.describe_secret(SecretId=arn)
        _connect(local_stack.client(unique_tenant), created["id"], "Late")

    monkeypatch.setattr(iclient_secret, "schedule_deletion", schedule_then_a_connection_arrives)
    assert client.delete(f"/v1/iclients/{created['id']}").status_code == 409
    assert _item(local_stack, unique_tenant, created["id"]) != {}
    assert "DeletedDate" not in secretsmanager.describe_secret(SecretId=version.arn)


def test_a_failed_item_write_deletes_the_new_secret_at_once(
    local_stack, client, unique_tenant, secretsmanager, monkeypatch
):
    from cartconnect.adapters import iclient_repository

    def refuse(_iclient):
        raise RuntimeError("table unavailable")

    monkeypatch.setattr(iclient_repository, "insert", refuse)
    response = client.post("/v1/iclients", json={"name": "x", "client_id": "1", "client_secret": "s3cr3t-x"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "table unavailable" not in response.text
    assert _tenant_items(local_stack, unique_tenant) == []
    # Gone without a recovery window: not even listed as planned for deletion.
    assert _tagged(secretsmanager, unique_tenant) == []


def _assert_unavailable(response: httpx2.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["title"] == "Service unavailable"
    assert "ThrottlingException" not in response.text and "Rate exceeded" not in response.text


def test_secrets_manager_failing_on_create_writes_nothing(
    local_stack, client, unique_tenant, secretsmanager, refuse_secrets
):
    refuse_secrets("create_secret")
    _assert_unavailable(
        client.post("/v1/iclients", json={"name": "x", "client_id": "1", "client_secret": "never-stored-1"})
    )
    assert _tenant_items(local_stack, unique_tenant) == []
    assert _tagged(secretsmanager, unique_tenant) == []


def test_secrets_manager_failing_on_a_new_secret_changes_nothing(
    local_stack, client, unique_tenant, refuse_secrets
):
    created = _iclient(client)
    before = _item(local_stack, unique_tenant, created["id"])
    refuse_secrets("put_secret_value")
    _assert_unavailable(
        client.patch(
            f"/v1/iclients/{created['id']}", json={"name": "New name", "client_secret": "never-stored-2"}
        )
    )
    assert _item(local_stack, unique_tenant, created["id"]) == before


def test_secrets_manager_failing_on_delete_keeps_the_iclient(
    local_stack, client, unique_tenant, secretsmanager, refuse_secrets
):
    created = _iclient(client)
    version = _version_of(_item(local_stack, unique_tenant, created["id"]))
    refuse_secrets("delete_secret")
    _assert_unavailable(client.delete(f"/v1/iclients/{created['id']}"))
    assert _item(local_stack, unique_tenant, created["id"]) != {}
    assert "DeletedDate" not in secretsmanager.describe_secret(SecretId=version.arn)


class _CountingSecretsManager:
    def __init__(self, real: Any) -> None:
        self._real = real
        self.reads: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def get_secret_value(self, **kwargs: Any) -> Any:
        with self.lock:
            self.reads[kwargs["SecretId"], kwargs["VersionId"]] += 1
        time.sleep(0.2)  # a slow answer: every thread asks before the first one comes back
        return self._real.get_secret_value(**kwargs)


def test_reads_are_cached_per_version_and_single_flight(local_stack, client, unique_tenant, monkeypatch):
    first = _version_of(_item(local_stack, unique_tenant, _iclient(client)["id"]))
    other = _iclient(client, secret="second-app-secret-9", name="Other app")
    second = _version_of(_item(local_stack, unique_tenant, other["id"]))
    real_client = aws.client
    counting = _CountingSecretsManager(real_client("secretsmanager"))
    monkeypatch.setattr(
        aws, "client", lambda service: counting if service == "secretsmanager" else real_client(service)
    )
    iclient_secret.forget_cache()  # a new environment
    start = threading.Barrier(10)

    def read(index: int) -> str:
        start.wait()
        return iclient_secret.read(first if index % 2 else second)

    with ThreadPoolExecutor(max_workers=10) as pool:
        values = list(pool.map(read, range(10)))
    assert values == ["second-app-secret-9", SECRET] * 5
    assert counting.reads == {(first.arn, first.version_id): 1, (second.arn, second.version_id): 1}
    # Warm: no call at all.
    assert iclient_secret.read(first) == SECRET
    assert sum(counting.reads.values()) == 2


def test_the_cache_is_bounded(local_stack, client, unique_tenant, monkeypatch):
    version = _version_of(_item(local_stack, unique_tenant, _iclient(client)["id"]))
    monkeypatch.setattr(iclient_secret, "CACHE_SIZE", 3)
    iclient_secret.forget_cache()
    for index in range(5):
        iclient_secret._remember(SecretVersion(f"arn:other:{index}", "v1"), f"value {index}")
    assert iclient_secret.read(version) == SECRET
    assert len(iclient_secret._cache) == 3
    assert version in iclient_secret._cache
