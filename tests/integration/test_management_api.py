"""The management API against the local stack's moto server: conditional writes and races (the
iClient secrets in Secrets Manager: test_iclient_secrets.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx2
import pytest

SECRET = "app-secret-Zq8#value"


@pytest.fixture
def client(local_stack, unique_tenant) -> httpx2.Client:
    return local_stack.client(unique_tenant)


def _iclient(client: httpx2.Client, secret: str = SECRET) -> dict:
    response = client.post(
        "/v1/iclients", json={"name": "Store app", "client_id": "4242", "client_secret": secret}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _connection(client: httpx2.Client, iclient_id: str, name: str = "Main store", **extra) -> httpx2.Response:
    body = {
        "name": name,
        "subdomain": "mystore.cart.com",
        "iclient_id": iclient_id,
        "scopes": ["read_orders"],
    }
    return client.post("/v1/connections", json={**body, **extra})


def _table_items(local_stack, tenant: str) -> list[dict]:
    ddb = boto3.client("dynamodb", endpoint_url=local_stack.aws_endpoint)
    response = ddb.query(
        TableName=local_stack.env["TABLE_NAME"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}"}},
    )
    return response["Items"]


def _iclient_item(local_stack, tenant: str, iclient_id: str) -> dict:
    ddb = boto3.client("dynamodb", endpoint_url=local_stack.aws_endpoint)
    key = {"pk": {"S": f"T#{tenant}"}, "sk": {"S": f"ICLIENT#{iclient_id}"}}
    return ddb.get_item(TableName=local_stack.env["TABLE_NAME"], Key=key, ConsistentRead=True).get("Item", {})


def test_twenty_concurrent_creates_of_one_name_yield_one_connection(local_stack, client, unique_tenant):
    iclient = _iclient(client)
    start = threading.Barrier(20)

    def create(index: int) -> int:
        start.wait()
        # Same name in different cases: uniqueness ignores case.
        name = "Race Store" if index % 2 else "race store"
        return _connection(local_stack.client(unique_tenant), iclient["id"], name=name).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = Counter(pool.map(create, range(20)))
    assert statuses == {201: 1, 409: 19}
    assert client.get(f"/v1/iclients/{iclient['id']}").json()["connection_count"] == 1
    names = [
        item for item in _table_items(local_stack, unique_tenant) if item["sk"]["S"].startswith("CONNAME#")
    ]
    assert len(names) == 1


def test_iclient_in_use_cannot_be_deleted_even_under_a_race(local_stack, unique_tenant):
    client = local_stack.client(unique_tenant)
    for round_ in range(8):
        iclient = _iclient(client)
        barrier = threading.Barrier(2)

        def create_connection(iclient_id=iclient["id"], round_=round_, barrier=barrier) -> int:
            barrier.wait()
            return _connection(
                local_stack.client(unique_tenant), iclient_id, name=f"race-{round_}"
            ).status_code

        def delete_iclient(iclient_id=iclient["id"], barrier=barrier) -> int:
            barrier.wait()
            return local_stack.client(unique_tenant).delete(f"/v1/iclients/{iclient_id}").status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            created, deleted = pool.submit(create_connection), pool.submit(delete_iclient)
            created_status, deleted_status = created.result(), deleted.result()
        # Exactly one side wins; never a connection that points at a deleted iClient.
        assert (created_status, deleted_status) in {(201, 409), (422, 204)}


def test_delete_in_use_then_free(client):
    iclient = _iclient(client)
    connection = _connection(client, iclient["id"]).json()
    conflict = client.delete(f"/v1/iclients/{iclient['id']}")
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert client.delete(f"/v1/connections/{connection['id']}").status_code == 204
    assert client.get(f"/v1/connections/{connection['id']}").status_code == 404
    assert client.delete(f"/v1/iclients/{iclient['id']}").status_code == 204


def test_rename_clash_changes_nothing_and_rename_frees_the_old_name(client):
    iclient = _iclient(client)
    first = _connection(client, iclient["id"], name="First").json()
    second = _connection(client, iclient["id"], name="Second").json()
    clash = client.patch(f"/v1/connections/{second['id']}", json={"name": "FIRST"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "name"
    assert client.get(f"/v1/connections/{second['id']}").json()["name"] == "Second"

    renamed = client.patch(f"/v1/connections/{first['id']}", json={"name": "  Renamed  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    assert _connection(client, iclient["id"], name="first").status_code == 201


def test_changing_authorization_fields_returns_to_pending(client):
    iclient = _iclient(client)
    other = _iclient(client)
    connection = _connection(client, iclient["id"]).json()
    assert connection["status"] == "pending_authorization"
    moved = client.patch(
        f"/v1/connections/{connection['id']}",
        json={
            "subdomain": "https://Other.Cart.com/",
            "iclient_id": other["id"],
            "scopes": ["orders", "orders"],
        },
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["subdomain"], body["iclient_id"], body["scopes"]) == (
        "other.cart.com",
        other["id"],
        ["orders"],
    )
    assert body["status"] == "pending_authorization"
    assert body["token_version"] == connection["token_version"] + 1
    assert client.get(f"/v1/iclients/{iclient['id']}").json()["connection_count"] == 0
    assert client.get(f"/v1/iclients/{other['id']}").json()["connection_count"] == 1
    # A PATCH that changes only the name keeps the authorization as it is.
    renamed = client.patch(f"/v1/connections/{connection['id']}", json={"name": "New name"}).json()
    assert renamed["token_version"] == body["token_version"]


def test_invalid_patch_writes_nothing(client):
    iclient = _iclient(client)
    connection = _connection(client, iclient["id"]).json()
    del connection["authorize_url"]
    for body, field in (
        ({"subdomain": "10.0.0.1"}, "subdomain"),
        ({"scopes": ["orders", "bogus"]}, "scopes"),
        ({"iclient_id": "icl_doesnotexist"}, "iclient_id"),
        ({"name": None}, "name"),
        ({"callback_url": "http://evil.example/cb"}, "callback_url"),
    ):
        response = client.patch(f"/v1/connections/{connection['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    stored = client.get(f"/v1/connections/{connection['id']}").json()
    assert stored.pop("store_rate_limit")["calls_per_10_seconds"] is None  # no store was ever called
    assert stored == connection


def test_pagination_and_status_filter(local_stack, client, unique_tenant):
    iclient = _iclient(client)
    created = [_connection(client, iclient["id"], name=f"store {index}").json()["id"] for index in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/connections", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == created  # creation order
    assert pages == 3
    pending = client.get("/v1/connections", params={"status": "pending_authorization", "limit": 100}).json()
    assert [item["id"] for item in pending["items"]] == created
    assert client.get("/v1/connections", params={"status": "active"}).json()["items"] == []
    bad_status = client.get("/v1/connections", params={"status": "sleeping"})
    assert bad_status.status_code == 422 and bad_status.json()["errors"][0]["field"] == "query.status"

    # A cursor is bound to its tenant: another tenant cannot page through this one.
    first_page = client.get("/v1/connections", params={"limit": 2}).json()
    foreign = local_stack.client(f"{unique_tenant}-other").get(
        "/v1/connections", params={"cursor": first_page["next_cursor"]}
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "cursor"


def test_names_are_one_name_in_either_unicode_form(client):
    iclient = _iclient(client)
    composed = _connection(client, iclient["id"], name="Caf\u00e9 store")
    assert composed.status_code == 201, composed.text
    decomposed = _connection(client, iclient["id"], name="Cafe\u0301 store")
    assert decomposed.status_code == 409, decomposed.text
    renamed = _connection(client, iclient["id"], name="Other").json()
    clash = client.patch(f"/v1/connections/{renamed['id']}", json={"name": "CAFE\u0301 STORE"})
    assert clash.status_code == 409


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u00a0", "\u3000", "\u200b"])
def test_names_refuse_separators_and_invisible_characters(client, separator):
    response = client.post(
        "/v1/iclients", json={"name": f"Store{separator}app", "client_id": "1", "client_secret": "s3cret-x"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "name"


@pytest.mark.parametrize("secret", [" ", "   \t  ", "\u3000"])
def test_a_client_secret_of_white_space_only_is_refused(client, secret):
    response = client.post("/v1/iclients", json={"name": "App", "client_id": "1", "client_secret": secret})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "client_secret"
    iclient = _iclient(client)
    patched = client.patch(f"/v1/iclients/{iclient['id']}", json={"client_secret": secret})
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == "client_secret"


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/xml", "multipart/form-data"],
)
def test_a_body_that_is_not_json_is_415_and_echoes_nothing(local_stack, client, unique_tenant, content_type):
    response = client.post(
        "/v1/iclients",
        content="name=App&client_id=1&client_secret=form-secret-9f3",
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "form-secret-9f3" not in response.text
    assert client.get("/v1/iclients").json()["items"] == []


def test_deep_nesting_and_huge_numbers_are_400_not_500(client):
    deep = client.post(
        "/v1/iclients", content="[" * 100_000 + "]" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert deep.status_code == 400, deep.text
    huge = client.post(
        "/v1/iclients",
        content='{"name": "x", "client_id": "1", "client_secret": "s", "n": ' + "9" * 10_000 + "}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 400, huge.text


def test_a_body_of_many_unknown_keys_answers_a_bounded_problem(client):
    body = {f"unknown_key_{index:06d}_" + "k" * 40: "v" for index in range(20_000)}
    body.update({"name": "App", "client_id": "1", "client_secret": "bounded-secret-2"})
    response = client.post("/v1/iclients", json=body)
    assert response.status_code in (201, 422), response.text[:300]
    assert len(response.content) < 10_000
    assert "bounded-secret-2" not in response.text


def test_a_tampered_cursor_is_422_never_500(client):
    import base64

    _iclient(client)
    forged = base64.urlsafe_b64encode(
        json.dumps({"pk": "T#x", "sk": "ICLIENT#x", "lease_owner": "me"}).encode()
    ).decode()
    for cursor in (forged, "%%%", "A" * 3000):
        response = client.get("/v1/iclients", params={"cursor": cursor})
        assert response.status_code in (400, 422), response.text
        assert response.json()["errors"][0]["field"] in ("cursor", "query.cursor")
