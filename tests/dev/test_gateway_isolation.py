"""Concurrent requests through the local gateway each see their own event.

Lambda runs one request per execution environment; the local gateway runs concurrent requests in
threads of one process. Powertools' resolver keeps the request's event and context on a class
attribute (`BaseRouter.current_event`), shared by every resolver in the process, and the routers of
cartconnect/http/routes are imported once per process: without the gateway's isolation, one
request could read another's event, and so another tenant's."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver


@pytest.fixture
def overlapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every resolve waits a moment between taking its event and routing it, so that concurrent
    requests overlap where they would read each other's event."""
    real = ApiGatewayResolver._resolve

    def slow(self: ApiGatewayResolver):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return real(self)

    monkeypatch.setattr(ApiGatewayResolver, "_resolve", slow)


def test_concurrent_requests_of_two_tenants_each_see_their_own_tenant(api, overlapping) -> None:
    tenants = {f"isolation-{side}-{time.time_ns()}": side for side in ("a", "b")}
    for tenant, side in tenants.items():
        created = api(tenant).post(
            "/v1/iclients", json={"name": f"app of {side}", "client_id": "4242", "client_secret": "s3cret-x"}
        )
        assert created.status_code == 201, created.text
    clients = {tenant: api(tenant) for tenant in tenants}
    start = threading.Barrier(len(tenants) * 2)

    def names(tenant: str) -> tuple[str, set[str]]:
        start.wait()
        listed = clients[tenant].get("/v1/iclients")
        assert listed.status_code == 200, listed.text
        return tenant, {item["name"] for item in listed.json()["items"]}

    with ThreadPoolExecutor(max_workers=len(tenants) * 2) as pool:
        seen = list(pool.map(names, [*tenants, *tenants]))
    for tenant, listed in seen:
        assert listed == {f"app of {tenants[tenant]}"}, (tenant, listed)
