"""Every object belongs to its tenant: another tenant's object answers 404, as if it did not exist."""

from __future__ import annotations


def test_tenant_b_cannot_see_or_touch_tenant_a(api, unique_tenant):
    tenant_a, tenant_b = api(unique_tenant), api(f"{unique_tenant}-b")
    iclient = tenant_a.post(
        "/v1/iclients", json={"name": "A app", "client_id": "1", "client_secret": "a-secret"}
    )
    assert iclient.status_code == 201
    iclient_id = iclient.json()["id"]
    connection = tenant_a.post(
        "/v1/connections",
        json={"name": "A store", "subdomain": "a.cart.com", "iclient_id": iclient_id, "scopes": ["orders"]},
    )
    assert connection.status_code == 201
    connection_id = connection.json()["id"]
    before = tenant_a.get(f"/v1/connections/{connection_id}").json()

    for method, path, body in (
        ("GET", f"/v1/iclients/{iclient_id}", None),
        ("PATCH", f"/v1/iclients/{iclient_id}", {"name": "stolen"}),
        ("DELETE", f"/v1/iclients/{iclient_id}", None),
        ("GET", f"/v1/connections/{connection_id}", None),
        ("PATCH", f"/v1/connections/{connection_id}", {"name": "stolen"}),
        ("DELETE", f"/v1/connections/{connection_id}", None),
        ("POST", f"/v1/connections/{connection_id}/authorize-link", None),
    ):
        response = tenant_b.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert tenant_b.get("/v1/iclients").json()["items"] == []
    assert tenant_b.get("/v1/connections").json()["items"] == []
    # Tenant A's iClient cannot be borrowed either.
    borrowed = tenant_b.post(
        "/v1/connections",
        json={"name": "B store", "subdomain": "b.cart.com", "iclient_id": iclient_id, "scopes": ["orders"]},
    )
    assert borrowed.status_code == 422 and borrowed.json()["errors"][0]["field"] == "iclient_id"

    assert tenant_a.get(f"/v1/connections/{connection_id}").json() == before
    assert tenant_a.get(f"/v1/iclients/{iclient_id}").json()["name"] == "A app"


def test_a_token_without_the_tenant_claim_is_forbidden(local_stack, api):
    client = api("ignored", extra_claims={local_stack.tenant_claim: ""})
    response = client.get("/v1/connections")
    assert response.status_code == 403
    assert "tenant" in response.json()["detail"]
