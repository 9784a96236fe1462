"""The store proxy's greedy routes (`/v1/connections/{connection_id}/proxy/{path+}`) in the local gateway,
as API Gateway HTTP API serves them: the route matches any depth below `proxy/`, `rawPath` is the path
exactly as received (percent-escapes and dot segments kept, nothing normalized), and only the path
parameters are decoded. The proxy judges the raw path (it refuses `..`), so the gateway must not have
cleaned it up first: checked on the application and on the wire, through the real HTTP server."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from cartconnect_dev.gateway.app import GatewayApp
from cartconnect_dev.gateway.functions import LocalFunction
from cartconnect_dev.gateway.messages import HttpRequest
from cartconnect_dev.gateway.routes import RouteTable
from cartconnect_dev.gateway.server import GatewayServer
from cartconnect_dev.template import Route, load_template

PROXY_PATH = "/v1/connections/{connection_id}/proxy/{path+}"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Raw path below /v1/connections/, then what API Gateway hands the function as path parameters.
RAW_PATHS = [
    ("con_1/proxy/products", {"connection_id": "con_1", "path": "products"}),
    ("con_1/proxy/products/3/images", {"connection_id": "con_1", "path": "products/3/images"}),
    ("con_1/proxy/products%2F3", {"connection_id": "con_1", "path": "products/3"}),
    ("con_1/proxy/%2e%2e/%2E%2E/stores", {"connection_id": "con_1", "path": "../" * 2 + "stores"}),
    ("con_1/proxy/products/../../../admin", {"connection_id": "con_1", "path": "products/../../../admin"}),
    ("con_1/proxy/./products//3", {"connection_id": "con_1", "path": "./products//3"}),
    ("con_1/proxy/a%20b%3Fc%23d", {"connection_id": "con_1", "path": "a b?c#d"}),
    ("con%5F1/proxy/products", {"connection_id": "con_1", "path": "products"}),
]


def _proxy_routes() -> list[Route]:
    return [route for route in load_template().routes if route.path == PROXY_PATH]


def test_the_template_routes_the_five_methods_to_the_store_proxy_behind_the_jwt_authorizer() -> None:
    routes = _proxy_routes()
    assert sorted(route.method for route in routes) == sorted(METHODS)
    assert {route.function_id for route in routes} == {"StoreProxyFunction"}
    assert {route.authorizer for route in routes} == {"JwtAuthorizer"}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("raw", "params"), RAW_PATHS)
def test_greedy_paths_of_any_depth_reach_the_proxy_with_decoded_parameters(
    method: str, raw: str, params: dict[str, str]
) -> None:
    found = RouteTable(load_template().routes).match(method, f"/v1/connections/{raw}")
    assert found is not None
    route, matched = found
    assert (route.route_key, matched) == (f"{method} {PROXY_PATH}", params)


@pytest.mark.parametrize(
    "raw", ["/v1/connections/con_1/proxy", "/v1/connections/con_1/proxy/", "/v1/connections//proxy/x"]
)
def test_no_path_below_proxy_or_no_connection_is_no_route(raw: str) -> None:
    assert RouteTable(load_template().routes).match("GET", raw) is None


def test_the_proxy_routes_never_shadow_the_other_connection_routes() -> None:
    table = RouteTable(load_template().routes)
    for method, raw, key in [
        ("GET", "/v1/connections/con_1", "GET /v1/connections/{connection_id}"),
        ("POST", "/v1/connections/con_1/test", "POST /v1/connections/{connection_id}/test"),
    ]:
        found = table.match(method, raw)
        assert found is not None and found[0].route_key == key


class _Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "forwarded"}


def _app(recorder: _Recorder) -> GatewayApp:
    """The template's proxy routes, without their authorizer (what is checked here is the path), on a
    function that records its events."""
    routes = [dataclasses.replace(route, function_id="Proxy", authorizer=None) for route in _proxy_routes()]
    return GatewayApp(routes, {"Proxy": LocalFunction("Proxy", handler=recorder, short_name="proxy")}, {})


@pytest.mark.parametrize(("raw", "params"), RAW_PATHS)
def test_the_event_keeps_the_raw_path_exactly_and_decodes_only_the_parameters(
    raw: str, params: dict[str, str]
) -> None:
    recorder = _Recorder()
    path = f"/v1/connections/{raw}"
    request = HttpRequest("GET", path, "count=2&q=a%2Fb", [("Host", "127.0.0.1:3000")], server_port=3000)
    assert _app(recorder).handle(request).status == 200
    (event,) = recorder.events
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == path
    assert event["rawQueryString"] == "count=2&q=a%2Fb"
    assert event["queryStringParameters"] == {"count": "2", "q": "a/b"}
    assert event["pathParameters"] == params
    assert event["routeKey"] == f"GET {PROXY_PATH}"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[GatewayServer, _Recorder]]:
    recorder = _Recorder()
    server = GatewayServer(_app(recorder))
    server.start()
    try:
        yield server, recorder
    finally:
        server.stop()


@pytest.fixture
def server(gateway: tuple[GatewayServer, _Recorder]) -> tuple[GatewayServer, _Recorder]:
    gateway[1].events.clear()
    return gateway


def _send_raw(port: int, method: str, target: str) -> bytes:
    """One request with the request target written byte for byte (HTTP clients normalize dot segments)."""
    request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    request += "Content-Length: 0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request.encode("ascii"))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("raw", "params"), RAW_PATHS)
def test_on_the_wire_the_server_passes_the_request_target_unchanged(
    server: tuple[GatewayServer, _Recorder], method: str, raw: str, params: dict[str, str]
) -> None:
    gateway, recorder = server
    path = f"/v1/connections/{raw}"
    answer = _send_raw(gateway.port, method, f"{path}?count=2")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
    (event,) = recorder.events
    assert (event["rawPath"], event["rawQueryString"]) == (path, "count=2")
    assert event["requestContext"]["http"]["method"] == method
    assert event["pathParameters"] == params
