"""The template's real routes behind the local JWT authorizer, over HTTP.

Refusals never reach a handler. Tests that need a route's handler fail if its module
(functions/<dir>/app.py) is missing: a route the template declares must have code behind it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from cartconnect_dev.stack import LocalStack
from cartconnect_dev.template import Route


def _concrete(path: str) -> str:
    """A request path for a route template: every {param} / {param+} filled in."""
    return re.sub(r"\{[^}]+\}", "p-1", path)


def _require_handler(stack: LocalStack, function_id: str) -> None:
    definition = stack.template.functions[function_id]
    if not definition.module_path(stack.root).is_file():
        pytest.fail(f"{definition.module_path(stack.root)} is missing: the template routes to it")


def _routes(stack: LocalStack, *, protected: bool) -> list[Route]:
    return [
        r for r in stack.template.routes if (r.authorizer is not None) == protected and r.path != "$default"
    ]


def test_every_protected_route_refuses_a_missing_or_bad_token(local_stack: LocalStack) -> None:
    routes = _routes(local_stack, protected=True)
    assert routes, "the template declares no JWT-protected route"
    invocations = {fid: local_stack.function(fid).invocations for fid in local_stack.functions}
    bad_tokens = [
        None,
        "Bearer not-a-token",
        f"Bearer {local_stack.token('acme', expires_in=-120)}",
        f"Bearer {local_stack.token('acme', audience='another-app')}",
    ]
    for route in routes:
        method = "GET" if route.method == "ANY" else route.method
        for authorization in bad_tokens:
            headers = {"Authorization": authorization} if authorization else {}
            response = httpx2.request(
                method, f"{local_stack.api_url}{_concrete(route.path)}", headers=headers
            )
            assert response.status_code == 401, (route.route_key, authorization, response.text)
            assert response.json() == {"message": "Unauthorized"}
    assert invocations == {fid: local_stack.function(fid).invocations for fid in local_stack.functions}


def test_public_routes_need_no_token(local_stack: LocalStack) -> None:
    routes = _routes(local_stack, protected=False)
    for route in routes:
        _require_handler(local_stack, route.function_id)
    for route in routes:
        if route.method not in ("GET", "ANY"):
            continue
        response = httpx2.get(f"{local_stack.api_url}{_concrete(route.path)}")
        assert response.status_code != 401, route.route_key
        assert response.status_code < 500, (route.route_key, response.text)


def test_openapi_document_is_public(local_stack: LocalStack) -> None:
    _require_handler(local_stack, "ManagementFunction")
    response = httpx2.get(f"{local_stack.api_url}/v1/openapi.json")
    assert response.status_code == 200
    assert "/v1/connections" in response.json()["paths"]
    # What the running stack serves is what docs/openapi.json says (make openapi-check).
    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert response.json() == json.loads(committed.read_text())


def test_a_valid_token_reaches_the_handler(
    local_stack: LocalStack, api: Callable[..., httpx2.Client], unique_tenant: str
) -> None:
    _require_handler(local_stack, "ManagementFunction")
    function = local_stack.function("ManagementFunction")
    before = function.invocations
    response = api(unique_tenant).get("/v1/scopes")
    assert response.status_code == 200, response.text
    assert function.invocations == before + 1


def test_unknown_routes_and_methods_are_404(local_stack: LocalStack) -> None:
    token = local_stack.token("acme")
    for method, path in [
        ("GET", "/v2/scopes"),
        ("PUT", "/v1/scopes"),
        ("GET", "/v1/connections/a/b"),
        ("GET", "/"),
    ]:
        response = httpx2.request(
            method, f"{local_stack.api_url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), (method, path)


def test_the_authorizer_trusts_the_issuer_it_discovers(local_stack: LocalStack) -> None:
    # API Gateway reads {issuer}/.well-known/openid-configuration and then the JWKS it names.
    config = httpx2.get(f"{local_stack.issuer}/.well-known/openid-configuration").json()
    assert config["issuer"] == local_stack.issuer
    assert config["jwks_uri"].startswith(local_stack.api_url)
    keys = httpx2.get(config["jwks_uri"]).json()["keys"]
    assert [key["kid"] for key in keys] == [local_stack.local_issuer.kid]


def test_many_requests_in_parallel(local_stack: LocalStack) -> None:
    url = f"{local_stack.api_url}/v1/scopes"
    with ThreadPoolExecutor(max_workers=30) as pool:
        refused = list(pool.map(lambda _: httpx2.get(url, timeout=30).status_code, range(30)))
    assert refused == [401] * 30

    _require_handler(local_stack, "ManagementFunction")
    headers = {"Authorization": f"Bearer {local_stack.token('acme')}"}
    with ThreadPoolExecutor(max_workers=25) as pool:
        answered = list(
            pool.map(lambda _: httpx2.get(url, headers=headers, timeout=30).status_code, range(25))
        )
    assert answered == [200] * 25


@pytest.mark.parametrize(
    "claim",
    [
        None,
        True,
        False,
        ["acme", "globex"],
        {"org": "acme"},
        "",
        "   ",
        "<nil>",
        "true",
        "[a b]",
        "map[a:b]",
        "acme corp",
        "acme\u200b",
        "acme\u2028",
        "x" * 129,
        "-acme",
        'acme"',
    ],
    ids=lambda value: repr(value)[:24],
)
def test_a_tenant_claim_that_is_not_a_plain_id_is_refused(local_stack: LocalStack, claim: Any) -> None:
    """Through the gateway, which renders claims as API Gateway does: a null tenant claim reaches the
    handler as `<nil>`, a list as `[a b]`; no token may land in a tenant such a rendering names."""
    token = local_stack.token("ignored", extra_claims={local_stack.tenant_claim: claim})
    response = httpx2.get(
        f"{local_stack.api_url}/v1/iclients", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "tenant", ["acme", "acme-eu_2", "7a1f0c2e-uuid-like", "org:acme/team", "user@acme.com", "租户", "12345"]
)
def test_plain_tenant_ids_are_accepted(local_stack: LocalStack, tenant: str) -> None:
    response = local_stack.client(tenant).get("/v1/iclients")
    assert response.status_code == 200, response.text
