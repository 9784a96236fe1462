"""The local gateway without sockets: payload v2.0 events, route matching, responses, the app's
authorization and Invoke API paths, and the template reader/resolver they are built from."""

from __future__ import annotations

import base64
import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cartconnect_dev import invoke_secret
from cartconnect_dev.gateway.app import GatewayApp
from cartconnect_dev.gateway.authorizer import JwtAuthorizer
from cartconnect_dev.gateway.events import build_event, stringify_claim
from cartconnect_dev.gateway.functions import LocalFunction
from cartconnect_dev.gateway.messages import HttpRequest
from cartconnect_dev.gateway.responses import MalformedResponseError, to_http_response
from cartconnect_dev.gateway.routes import RouteTable
from cartconnect_dev.jwt_issuer import LocalIssuer
from cartconnect_dev.template import (
    Physical,
    Resolver,
    Route,
    UnresolvedReferenceError,
    load_template,
    project_root,
)

ROUTE = Route("GET", "/v1/connections/{id}", "Fn", authorizer="JwtAuthorizer")


def _request(**kwargs: Any) -> HttpRequest:
    defaults: dict[str, Any] = {
        "method": "GET",
        "path": "/v1/connections/c-1",
        "headers": [("Host", "127.0.0.1:3000"), ("User-Agent", "pytest/1")],
        "server_port": 3000,
    }
    defaults.update(kwargs)
    return HttpRequest(**defaults)


# ---------------------------------------------------------------------------------------------
# build_event


def test_event_has_the_v2_shape() -> None:
    event = build_event(
        _request(query="a=1"), ROUTE, {"id": "c-1"}, claims={"sub": "u"}, request_id="r-1", now=1700000000.123
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/connections/{id}"
    assert event["rawPath"] == "/v1/connections/c-1"
    assert event["rawQueryString"] == "a=1"
    assert event["pathParameters"] == {"id": "c-1"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "local"
    assert context["domainName"] == "127.0.0.1:3000"
    assert context["domainPrefix"] == "127"
    assert context["http"] == {
        "method": "GET",
        "path": "/v1/connections/c-1",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest/1",
    }
    assert context["requestId"] == "r-1"
    assert context["routeKey"] == "GET /v1/connections/{id}"
    assert context["stage"] == "$default"
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["timeEpoch"] == 1700000000123


def test_request_id_is_a_fresh_uuid_per_event() -> None:
    first = build_event(_request(), ROUTE)["requestContext"]["requestId"]
    second = build_event(_request(), ROUTE)["requestContext"]["requestId"]
    assert first != second
    assert re.fullmatch(r"[0-9a-f-]{36}", first)


def test_headers_are_lower_cased_and_repeats_comma_joined() -> None:
    request = _request(headers=[("Host", "h:1"), ("X-Thing", "a"), ("x-thing", "b"), ("Accept", "*/*")])
    headers = build_event(request, ROUTE)["headers"]
    assert headers["x-thing"] == "a,b"
    assert headers["accept"] == "*/*"
    assert headers["host"] == "h:1"
    assert all(name == name.lower() for name in headers)
    # Added by API Gateway.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")


def test_cookies_become_a_list_and_leave_the_headers() -> None:
    request = _request(headers=[("Host", "h"), ("Cookie", "a=1; b=2"), ("Cookie", "c=3")])
    event = build_event(request, ROUTE)
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_no_cookies_no_query_no_path_parameters_means_the_keys_are_absent() -> None:
    event = build_event(_request(path="/v1/scopes"), Route("GET", "/v1/scopes", "Fn"))
    assert "cookies" not in event
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "authorizer" not in event["requestContext"]


def test_repeated_query_parameters_are_comma_joined_and_decoded() -> None:
    event = build_event(_request(query="status=active&status=pending&q=a%20b&flag&plus=a+b"), ROUTE)
    assert event["rawQueryString"] == "status=active&status=pending&q=a%20b&flag&plus=a+b"
    assert event["queryStringParameters"] == {
        "status": "active,pending",
        "q": "a b",
        "flag": "",
        "plus": "a+b",
    }


def test_text_body_is_passed_as_is() -> None:
    body = json.dumps({"name": "Zoë"}).encode()
    request = _request(
        method="POST", headers=[("Content-Type", "application/json; charset=utf-8")], body=body
    )
    event = build_event(request, ROUTE)
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"name": "Zoë"}


@pytest.mark.parametrize(
    "content_type", [None, "application/octet-stream", "image/png", "application/x-www-form-urlencoded"]
)
def test_other_bodies_are_base64(content_type: str | None) -> None:
    body = b"\x00\xffa=b"
    headers = [("Content-Type", content_type)] if content_type else []
    event = build_event(_request(method="POST", headers=headers, body=body), ROUTE)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_undecodable_text_body_falls_back_to_base64() -> None:
    event = build_event(
        _request(method="POST", headers=[("Content-Type", "text/plain")], body=b"\xff\xfe"), ROUTE
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_jwt_claims_are_stringified_like_api_gateway() -> None:
    claims = {
        "sub": "u-1",
        "exp": 1700000000,
        "ratio": 1.5,
        "admin": True,
        "aud": ["a", "b"],
        "nested": {"y": 2, "x": "1"},
        "tenant_id": "acme",
    }
    jwt = build_event(_request(), ROUTE, claims=claims, scopes=["read", "write"])["requestContext"][
        "authorizer"
    ]["jwt"]
    assert jwt["claims"] == {
        "sub": "u-1",
        "exp": "1700000000",
        "ratio": "1.5",
        "admin": "true",
        "aud": "[a b]",
        "nested": "map[x:1 y:2]",
        "tenant_id": "acme",
    }
    assert jwt["scopes"] == ["read", "write"]
    assert all(isinstance(value, str) for value in jwt["claims"].values())


def test_stringify_claim_edge_cases() -> None:
    assert stringify_claim(3.0) == "3"
    assert stringify_claim(False) == "false"
    assert stringify_claim([]) == "[]"


# ---------------------------------------------------------------------------------------------
# Route matching


def _table(*keys: str) -> RouteTable:
    routes = []
    for key in keys:
        method, _, path = key.partition(" ")
        routes.append(Route(method, path, key) if path else Route("ANY", "$default", key))
    return RouteTable(routes)


def _matched(table: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = table.match(method, path)
    return (found[0].function_id, found[1]) if found else None


def test_literal_beats_parameter_beats_greedy() -> None:
    table = _table("GET /a/{proxy+}", "GET /a/{id}", "GET /a/b")
    assert _matched(table, "GET", "/a/b") == ("GET /a/b", {})
    assert _matched(table, "GET", "/a/c") == ("GET /a/{id}", {"id": "c"})
    assert _matched(table, "GET", "/a/c/d/e") == ("GET /a/{proxy+}", {"proxy": "c/d/e"})


def test_specific_method_beats_any_and_other_methods_are_404() -> None:
    table = _table("ANY /items/{id}", "GET /items/{id}", "POST /orders")
    assert _matched(table, "GET", "/items/1") == ("GET /items/{id}", {"id": "1"})
    assert _matched(table, "DELETE", "/items/1") == ("ANY /items/{id}", {"id": "1"})
    assert _matched(table, "GET", "/orders") is None
    assert _matched(table, "post", "/orders") == ("POST /orders", {})


def test_segments_must_match_exactly() -> None:
    table = _table("GET /v1/connections", "GET /v1/connections/{id}")
    assert _matched(table, "GET", "/v1/connections/") is None
    assert _matched(table, "GET", "/v1/connections/a/b") is None
    assert _matched(table, "GET", "/v1/Connections") is None
    assert _matched(table, "GET", "/v1") is None


def test_path_parameters_are_url_decoded() -> None:
    table = _table("GET /things/{name}")
    assert _matched(table, "GET", "/things/a%20b%2Fc") == ("GET /things/{name}", {"name": "a b/c"})


def test_default_route_catches_the_rest() -> None:
    table = _table("GET /a", "$default")
    assert _matched(table, "GET", "/a") == ("GET /a", {})
    assert _matched(table, "PUT", "/zzz") == ("$default", {})
    assert Route("ANY", "$default", "x").route_key == "$default"


def test_greedy_variable_must_be_last() -> None:
    with pytest.raises(ValueError, match="greedy"):
        _table("GET /{proxy+}/x")


def test_template_routes_are_read_with_their_authorizers() -> None:
    template = load_template()
    routes = {route.route_key: route for route in template.routes}
    assert routes["GET /v1/scopes"].authorizer == "JwtAuthorizer"
    assert routes["GET /v1/openapi.json"].authorizer is None
    assert routes["GET /v1/docs"].authorizer is None
    management = template.function("management")
    assert management.logical_id == "ManagementFunction"
    assert management.module_path(project_root()) == project_root() / "functions/management/app.py"
    assert routes["GET /v1/connections"].function_id == "ManagementFunction"
    table = RouteTable(template.routes)
    found = table.match("DELETE", "/v1/iclients/ic-1")
    assert found is not None
    route, params = found
    assert route.route_key.startswith("DELETE /v1/iclients/{")
    assert list(params.values()) == ["ic-1"]
    assert route.authorizer == "JwtAuthorizer"


# ---------------------------------------------------------------------------------------------
# Handler results -> HTTP


def test_bare_dict_or_string_is_200_json() -> None:
    response = to_http_response({"ok": True})
    assert (response.status, response.header("content-type"), json.loads(response.body)) == (
        200,
        "application/json",
        {"ok": True},
    )
    assert to_http_response("hello").body == b'"hello"'


def test_structured_response_with_cookies_and_multi_value_headers() -> None:
    response = to_http_response(
        {
            "statusCode": 302,
            "headers": {"Location": "https://example.com/", "X-Count": 2},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["a=1; Secure", "b=2"],
            "body": "",
        }
    )
    assert response.status == 302
    assert ("Location", "https://example.com/") in response.headers
    assert ("X-Count", "2") in response.headers
    assert [v for k, v in response.headers if k == "X-Many"] == ["a", "b"]
    assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1; Secure", "b=2"]


def test_base64_response_body_is_decoded() -> None:
    payload = bytes(range(256))
    response = to_http_response(
        {"statusCode": 200, "body": base64.b64encode(payload).decode(), "isBase64Encoded": True}
    )
    assert response.body == payload


@pytest.mark.parametrize(
    "result",
    [{"statusCode": "abc"}, {"statusCode": 200, "body": {"a": 1}}, {"statusCode": True}, {1, 2}],
)
def test_malformed_results(result: Any) -> None:
    with pytest.raises(MalformedResponseError):
        to_http_response(result)


# ---------------------------------------------------------------------------------------------
# GatewayApp with a fake function and a throwaway issuer


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(
        "http://127.0.0.1:1/_local/issuer", key_path=tmp_path / "key.pem", tenant_claim="tenant_id"
    )


class Recorder:
    def __init__(self, result: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.result = result

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result if self.result is not None else {"statusCode": 200, "body": "ok"}


def _app(issuer: LocalIssuer, recorder: Recorder) -> GatewayApp:
    routes = [
        Route("GET", "/private/{id}", "Fake", authorizer="Jwt"),
        Route("POST", "/public", "Fake", authorizer=None),
        Route("GET", "/scoped", "Fake", authorizer="Jwt", authorization_scopes=("admin",)),
    ]
    authorizer = JwtAuthorizer(issuer.issuer, ["cartconnect-local"], issuer.public_key_set())
    function = LocalFunction("Fake", handler=recorder, short_name="fake")
    return GatewayApp(
        routes, {"Fake": function}, {"Jwt": authorizer}, issuer=issuer, invoke_secret=INVOKE_SECRET
    )


INVOKE_SECRET = "the-stacks-invoke-secret"


def _invoke(name: str, body: bytes) -> HttpRequest:
    return _request(
        method="POST",
        path=f"/2015-03-31/functions/{name}/invocations",
        headers=[("Host", "127.0.0.1:3000"), (invoke_secret.HEADER, INVOKE_SECRET)],
        body=body,
    )


def test_valid_token_reaches_the_handler_with_claims(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    app = _app(issuer, recorder)
    token = issuer.issue_token("acme", extra_claims={"scope": "a b"})
    response = app.handle(_request(path="/private/x1", headers=[("Authorization", f"Bearer {token}")]))
    assert response.status == 200
    assert response.body == b"ok"
    assert response.header("apigw-requestid")
    (event,) = recorder.events
    assert event["pathParameters"] == {"id": "x1"}
    jwt = event["requestContext"]["authorizer"]["jwt"]
    assert jwt["claims"]["tenant_id"] == "acme"
    assert jwt["claims"]["iss"] == issuer.issuer
    assert isinstance(jwt["claims"]["exp"], str)
    assert jwt["scopes"] == ["a", "b"]
    context = recorder.contexts[0]
    assert context.function_name == "cartconnect-local-Fake"
    assert context.invoked_function_arn.endswith(":function:cartconnect-local-Fake")
    assert 0 < context.get_remaining_time_in_millis() <= 3000
    assert context.aws_request_id


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer e30.e30.e30"],
)
def test_missing_or_garbage_token_is_401_without_invoking(
    issuer: LocalIssuer, authorization: str | None
) -> None:
    recorder = Recorder()
    headers = [("Authorization", authorization)] if authorization is not None else []
    response = _app(issuer, recorder).handle(_request(path="/private/x", headers=headers))
    assert response.status == 401
    assert json.loads(response.body) == {"message": "Unauthorized"}
    assert (response.header("www-authenticate") or "").startswith("Bearer")
    assert recorder.events == []


def test_required_scopes_are_enforced_with_403(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    app = _app(issuer, recorder)
    token = issuer.issue_token("acme", extra_claims={"scope": "read"})
    response = app.handle(_request(path="/scoped", headers=[("Authorization", f"Bearer {token}")]))
    assert response.status == 403
    assert recorder.events == []
    token = issuer.issue_token("acme", extra_claims={"scope": "read admin"})
    assert app.handle(_request(path="/scoped", headers=[("Authorization", f"Bearer {token}")])).status == 200


def test_public_route_needs_no_token_and_has_no_authorizer_context(issuer: LocalIssuer) -> None:
    recorder = Recorder({"hello": "world"})
    response = _app(issuer, recorder).handle(_request(method="POST", path="/public", body=b"{}"))
    assert response.status == 200
    assert json.loads(response.body) == {"hello": "world"}
    assert "authorizer" not in recorder.events[0]["requestContext"]


def test_unknown_route_and_wrong_method_are_404(issuer: LocalIssuer) -> None:
    app = _app(issuer, Recorder())
    for method, path in [("GET", "/nope"), ("GET", "/public"), ("GET", "/")]:
        response = app.handle(_request(method=method, path=path))
        assert (response.status, json.loads(response.body)) == (404, {"message": "Not Found"})


def test_handler_exception_and_malformed_result_are_500(issuer: LocalIssuer) -> None:
    for result in (RuntimeError("boom"), {"statusCode": "nope"}):
        response = _app(issuer, Recorder(result)).handle(_request(method="POST", path="/public"))
        assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})


def test_issuer_documents(issuer: LocalIssuer) -> None:
    app = _app(issuer, Recorder())
    config = json.loads(app.handle(_request(path="/_local/issuer/.well-known/openid-configuration")).body)
    assert config["issuer"] == issuer.issuer
    assert config["jwks_uri"] == f"{issuer.issuer}/.well-known/jwks.json"
    jwks = json.loads(app.handle(_request(path="/_local/issuer/.well-known/jwks.json")).body)
    assert [key["kid"] for key in jwks["keys"]] == [issuer.kid]
    assert "d" not in jwks["keys"][0]  # never the private part


def test_invoke_api_passes_the_raw_event(issuer: LocalIssuer) -> None:
    recorder = Recorder({"result": 42})
    app = _app(issuer, recorder)
    for name in (
        "Fake",
        "fake",
        "cartconnect-local-Fake",
        "arn:aws:lambda:us-east-1:123456789012:function:Fake",
    ):
        response = app.handle(_invoke(name, b'{"raw": true}'))
        assert response.status == 200, name
        assert json.loads(response.body) == {"result": 42}
    assert recorder.events[-1] == {"raw": True}


def test_invoke_api_errors(issuer: LocalIssuer) -> None:
    app = _app(issuer, Recorder(ValueError("bad input")))
    missing = app.handle(_invoke("Nope", b"{}"))
    assert missing.status == 404
    assert missing.header("x-amzn-errortype") == "ResourceNotFoundException"
    not_json = app.handle(_invoke("Fake", b"{"))
    assert not_json.status == 400
    failed = app.handle(_invoke("Fake", b""))
    assert failed.status == 200
    assert failed.header("x-amz-function-error") == "Unhandled"
    error = json.loads(failed.body)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad input")


def test_routes_must_refer_to_known_functions(issuer: LocalIssuer) -> None:
    with pytest.raises(ValueError, match="Ghost"):
        GatewayApp([Route("GET", "/x", "Ghost")], {})


def test_module_functions_are_imported_per_environment_and_reloaded_when_edited(tmp_path: Path) -> None:
    module = tmp_path / "fn" / "app.py"
    module.parent.mkdir()
    module.write_text(
        "import itertools\nLOADS = itertools.count()\ndef lambda_handler(e, c):\n    return 'v1'\n"
    )
    function = LocalFunction("Fn", module_path=module)
    assert function.invoke({}) == "v1"
    assert function.invoke({}) == "v1"
    assert function._loaded == 1  # the environment is reused
    module.write_text("def lambda_handler(e, c):\n    return 'v2'\n")
    os.utime(module, (module.stat().st_atime, module.stat().st_mtime + 5))
    assert function.invoke({}) == "v2"


# ---------------------------------------------------------------------------------------------
# template.yaml reading and resolution


TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Audiences: {Type: CommaDelimitedList, Default: "a,b"}
  NoDefault: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: 9
    Environment:
      Variables:
        TABLE: !Ref Table
        KEY_ARN: !GetAtt Key.Arn
        PREFIX: !Sub "x/${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${AWS::Partition}"
        MODE: !If [IsProd, strict, relaxed]
        JOINED: !Join ["-", [!Ref Stage, !Select [1, !Ref Audiences]]]
        LITERAL: !Sub "${!NotAVar}-${Table.Arn}"
        FLAG: true
Resources:
  Table: {Type: AWS::DynamoDB::Table, Properties: {}}
  Key: {Type: AWS::KMS::Key, Properties: {}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn
      Handler: app.lambda_handler
      Environment:
        Variables: {OWN: !Ref Stage}
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: /x}}
        Any: {Type: HttpApi}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/broken
      Handler: app.lambda_handler
      Environment:
        Variables: {A: !Ref Missing, B: !Ref NoDefault, C: !GetAtt Table.StreamArn}
"""

PHYSICAL = {
    "Table": Physical("local-table", {"Arn": "arn:table"}),
    "Key": Physical("key-id", {"Arn": "arn:key"}),
}


def _template(tmp_path: Path) -> Any:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(TEMPLATE))
    return load_template(path)


def test_function_environment_resolves_locally(tmp_path: Path) -> None:
    template = _template(tmp_path)
    env = Resolver(template, PHYSICAL).function_env(template.functions["Fn"])
    assert env == {
        "TABLE": "local-table",
        "KEY_ARN": "arn:key",
        "PREFIX": "x/cartconnect-local/us-east-1/123456789012/aws",
        "MODE": "relaxed",
        "JOINED": "dev-b",
        "LITERAL": "${NotAVar}-arn:table",
        "FLAG": "true",
        "OWN": "dev",
    }
    prod = Resolver(template, PHYSICAL, {"Stage": "prod"}).function_env(template.functions["Fn"])
    assert (prod["MODE"], prod["OWN"]) == ("strict", "prod")


def test_unknown_references_are_all_named(tmp_path: Path) -> None:
    template = _template(tmp_path)
    with pytest.raises(UnresolvedReferenceError) as raised:
        Resolver(template, PHYSICAL).function_env(template.functions["Broken"])
    message = str(raised.value)
    assert "!Ref Missing (not declared in template.yaml)" in message
    assert "!Ref NoDefault (parameter without Default or override)" in message
    assert "!GetAtt Table.StreamArn" in message
    assert "Broken's environment" in message


def test_functions_routes_and_globals(tmp_path: Path) -> None:
    template = _template(tmp_path)
    function = template.functions["Fn"]
    assert function.timeout == 9
    assert [route.route_key for route in function.routes] == ["GET /x", "$default"]
    assert function.routes[0].authorizer is None  # no API auth declared
    assert template.parameter_defaults() == {"Stage": "dev", "Audiences": "a,b"}
    assert Resolver(template, PHYSICAL).resolve({"Ref": "Audiences"}) == ["a", "b"]
