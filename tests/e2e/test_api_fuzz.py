"""Fuzzing the management API against its own OpenAPI description (schemathesis, property-based).

For every JWT-protected /v1 route of template.yaml, looked up in the OpenAPI document the running local
stack serves at `GET /v1/openapi.json`:

* `test_operation_with_token[positive|negative-METHOD path]`: schemathesis generates requests from the
  document (positive: valid by the schema; negative: invalid on purpose), sends them with a valid bearer
  token of a fresh tenant, and runs its checks on every response (`case.call_and_validate()`): no 5xx;
  a documented status code, content type, headers and body; invalid input rejected with a 4xx; valid
  input not rejected as invalid (no 400/422 for what the document allows); and, for each 2xx, the same
  request without a token or with a bad one refused (`ignored_auth`).
* `test_operation_without_token[METHOD path]`: the same operations without a token answer 401, and that
  401 conforms to the document too.
* `test_document_describes_exactly_the_jwt_routes`: the document describes those routes, no fewer (a route
  the document forgets cannot escape the fuzzing) and no more.

Deterministic (derandomized Hypothesis, no example database) and bounded: MAX_EXAMPLES per operation and
mode (25; CARTCONNECT_FUZZ_EXAMPLES=200 for a deeper local run), so CI sends the same requests every time. A failure prints the check that failed, the response and a
curl command to reproduce it (the token is filtered: take one from `cartconnect-dev token`).

Where a request is adjusted after generation, the reason is written next to it (`_make_positive_valid`):
only values whose validity depends on the deployment or on server state, never to hide a mismatch
between the document and the code. No check is disabled.

schemathesis' own pytest integration (`schemathesis.pytest.from_fixture`) is not used: with pytest 9.2
it fails on `request.node._nodeid` (gone from pytest's nodes). These tests drive the documented Python API
instead: `schemathesis.openapi.from_dict`, `APIOperation.as_strategy`, `Case.call_and_validate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks

from cartconnect_dev.template import load_template

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_ROUTES = {"GET /v1/openapi.json", "GET /v1/docs"}  # docs/decisions/0001-public-api-docs.md

MAX_EXAMPLES = int(os.environ.get("CARTCONNECT_FUZZ_EXAMPLES", "25"))
MAX_EXAMPLES_WITHOUT_TOKEN = 5
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# Store hosts the local stack accepts without a DNS lookup (hosts under cart.com and americommerce.com;
# a custom domain would be resolved), spelled as a client may send them.
VALID_STORE_HOSTS = ("fuzz-store.cart.com", "https://Fuzz-Shop.AmeriCommerce.com/", "shop-2.cart.com")


def _jwt_routes() -> list[str]:
    """Every JWT-protected /v1 route of template.yaml ("METHOD /path"): what the deployed API serves, so a
    route the OpenAPI document forgets is still a test case (and fails it)."""
    template = load_template(ROOT / "template.yaml")
    # OpenAPI has no greedy path parameter: the store proxy's `{path+}` is documented as `{path}`.
    return sorted(
        {
            route.route_key.replace("+}", "}")
            for route in template.routes
            if route.path.startswith("/v1/") and route.route_key not in PUBLIC_ROUTES
        }
    )


OPERATIONS = _jwt_routes()


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api_document(local_stack: Any) -> dict[str, Any]:
    """The OpenAPI document the running stack serves (public route, no token)."""
    load_all_checks()
    response = local_stack.client().get("/v1/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _load_schema(document: dict[str, Any], api_url: str, token: str | None = None) -> Any:
    """The document loaded into schemathesis and pointed at the stack; with `token`, every generated request
    carries it as the bearerAuth security scheme (except negative cases that drop it on purpose). An
    explicit config: no schemathesis.toml of the developer's is picked up."""
    config: dict[str, Any] = {"auth": {"openapi": {"bearerAuth": {"bearer": token}}}} if token else {}
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))
    schema.config.update(base_url=api_url)
    return schema


@pytest.fixture
def http_session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy from the environment
    yield session
    session.close()


@pytest.fixture
def seeded(local_stack: Any, unique_tenant: str) -> dict[str, str]:
    """A fresh tenant with one iClient and one connection, so generated requests sometimes name real
    objects (and reach the 200/201/204 paths) instead of always answering 404."""
    client = local_stack.client(unique_tenant)
    iclient = client.post(
        "/v1/iclients", json={"name": "Fuzz app", "client_id": "12345", "client_secret": "fuzz-secret"}
    )
    assert iclient.status_code == 201, iclient.text
    connection = client.post(
        "/v1/connections",
        json={
            "name": "Fuzz store",
            "subdomain": VALID_STORE_HOSTS[0],
            "iclient_id": iclient.json()["id"],
            "scopes": ["read_orders"],
        },
    )
    assert connection.status_code == 201, connection.text
    return {
        "tenant": unique_tenant,
        "token": local_stack.token(unique_tenant),
        "iclient_id": iclient.json()["id"],
        "connection_id": connection.json()["id"],
    }


# ---- helpers ---------------------------------------------------------------------------------


def _operation(schema: Any, label: str) -> Any:
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} (a route of template.yaml) is missing from the OpenAPI document"
    return operation


def _without(headers: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    return {name: value for name, value in (headers or {}).items() if name.lower() not in names}


def _addressed_to_the_stack(case: Any) -> None:
    """Drop a generated `Host`: it names the server, not the request. The local gateway answers a
    foreign one 421 (DNS rebinding, docs/architecture.md "Threat model"), as API Gateway answers a
    host it does not serve with its own error; neither is the API's to document."""
    case.headers = _without(case.headers, "host")


def _make_positive_valid(case: Any, draw: Callable[..., Any], seeded: dict[str, str]) -> None:
    """Adjust a positive case where validity depends on the deployment or on server state, not on the
    request's shape. Each adjustment keeps the case valid by the schema (so it stays a positive case)."""
    # Real ids, half of the time: a generated id is well-formed but names nothing (404, which the checks
    # accept); a seeded one reaches the success paths and their response schemas.
    for name in ("iclient_id", "connection_id"):
        if (
            case.path_parameters
            and name in case.path_parameters
            and draw(st.booleans(), label=f"real {name}")
        ):
            case.path_parameters[name] = seeded[name]
    body = case.body
    if isinstance(body, dict) and case.operation.path.startswith("/v1/connections"):
        # The store host must be under an allowed store domain or, unless the deployment sets
        # AllowCustomStoreDomains=false, a custom domain that resolves to public addresses. That is policy
        # and DNS, not syntax, and cannot be in the static document: a generated host is replaced with an
        # allowed one (that needs no DNS lookup).
        if "subdomain" in body:
            body["subdomain"] = draw(st.sampled_from(VALID_STORE_HOSTS), label="store host")
        # callback_url must be listed in AllowedCallbackUrls (deployment configuration) or be this
        # deployment's own callback: a generated one is left out (it is optional; null in a PATCH resets it).
        body.pop("callback_url", None)
        # iclient_id must name an existing iClient of the caller's tenant: state, not shape (a well-formed
        # id naming nothing is a 422 on the field, by design: README, "Validation").
        if "iclient_id" in body:
            body["iclient_id"] = seeded["iclient_id"]
    # `cursor` is opaque: only a next_cursor this API returned is valid, and no schema can describe that
    # set. A generated one is left out of positive cases (negative cases still send arbitrary cursors and
    # must get a 4xx).
    if case.query and "cursor" in case.query:
        del case.query["cursor"]


# ---- tests -----------------------------------------------------------------------------------


def test_document_describes_exactly_the_jwt_routes(local_stack: Any, api_document: dict[str, Any]) -> None:
    schema = _load_schema(api_document, local_stack.api_url)
    served = {result.ok().label for result in schema.get_all_operations()}
    assert set(OPERATIONS) - served == set(), "routes of template.yaml missing from the OpenAPI document"
    assert served - set(OPERATIONS) == set(), "documented operations that template.yaml routes nowhere"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_with_token(
    local_stack: Any,
    api_document: dict[str, Any],
    http_session: requests.Session,
    seeded: dict[str, str],
    label: str,
    mode: GenerationMode,
) -> None:
    operation = _operation(_load_schema(api_document, local_stack.api_url, seeded["token"]), label)
    strategy = operation.as_strategy(generation_mode=mode)

    @FUZZ_SETTINGS
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        _addressed_to_the_stack(case)
        if mode is GenerationMode.POSITIVE:
            _make_positive_valid(case, data.draw, seeded)
        case.call_and_validate(session=http_session)

    fuzz()


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_without_token(
    local_stack: Any, api_document: dict[str, Any], http_session: requests.Session, label: str
) -> None:
    operation = _operation(_load_schema(api_document, local_stack.api_url), label)
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)

    @settings(FUZZ_SETTINGS, max_examples=MAX_EXAMPLES_WITHOUT_TOKEN)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        _addressed_to_the_stack(case)
        case.headers = _without(case.headers, "authorization")
        response = case.call(session=http_session)
        assert response.status_code == 401, (
            f"{label} without a token: expected 401, got {response.status_code}: {response.text[:300]}"
        )
        assert "authorization" not in {name.lower() for name in response.request.headers}
        # The 401 itself must be what the document says (status, content type, body).
        case.validate_response(response)

    fuzz()
