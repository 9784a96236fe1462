"""What the local stack's listeners refuse, beside the developer's browser: moto serves no browser and no
CORS preflight, the Invoke API needs the stack's secret and serves no browser, and every listener
answers only requests addressed to its loopback names (DNS rebinding). Our own tools keep working."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import httpx2
import pytest
import secret_scan

from cartconnect_dev import invoke_secret
from cartconnect_dev.sandbox_store import SandboxStore
from cartconnect_dev.stack import LocalStack
from cartconnect_dev.template import project_root

EVENTS = project_root() / "events"

CROSS_SITE = {"Origin": "https://evil.example"}
# A fetch(..., {mode: "no-cors"}) from a page on another site: no Origin on a GET, Sec-Fetch-* always.
NO_CORS_FETCH = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty"}
REBOUND = {"Host": "evil.example"}


def _scan(stack: LocalStack, headers: dict[str, str], method: str = "POST") -> httpx2.Response:
    """DynamoDB's Scan of the stack's table, as a page would send it to moto (unsigned: moto does not
    check signatures, which is why a page could read everything)."""
    return httpx2.request(
        method,
        stack.aws_endpoint,
        headers={
            "Content-Type": "text/plain",
            "X-Amz-Target": "DynamoDB_20120810.Scan",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=00",
            **headers,
        },
        content=json.dumps({"TableName": stack.env["TABLE_NAME"]}),
    )


def _no_cors_headers(response: httpx2.Response) -> None:
    assert not [name for name in response.headers if name.lower().startswith("access-control-")], dict(
        response.headers
    )


# ---------------------------------------------------------------------------------------------
# moto


def test_moto_serves_boto3(local_stack: LocalStack) -> None:
    assert _scan(local_stack, {}).status_code == 200  # the same request without a browser's headers
    ddb = local_stack.aws_client("dynamodb")
    assert local_stack.env["TABLE_NAME"] in ddb.list_tables()["TableNames"]
    kms = local_stack.aws_client("kms")
    sealed = kms.encrypt(KeyId=local_stack.env["KMS_KEY_ID"], Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"x"


@pytest.mark.parametrize("browser", [CROSS_SITE, NO_CORS_FETCH, {"Origin": "null"}])
def test_moto_refuses_browser_requests_without_cors_headers(
    local_stack: LocalStack, browser: dict[str, str]
) -> None:
    response = _scan(local_stack, browser)
    assert response.status_code == 403, response.text
    assert "Items" not in response.text
    _no_cors_headers(response)


def test_moto_refuses_browser_kms_decrypt(local_stack: LocalStack) -> None:
    kms = local_stack.aws_client("kms")
    sealed = kms.encrypt(KeyId=local_stack.env["KMS_KEY_ID"], Plaintext=b"a token")["CiphertextBlob"]

    response = httpx2.post(
        local_stack.aws_endpoint,
        headers={"Content-Type": "text/plain", "X-Amz-Target": "TrentService.Decrypt", **CROSS_SITE},
        content=json.dumps({"CiphertextBlob": base64.b64encode(sealed).decode()}),
    )
    assert response.status_code == 403
    assert "a token" not in response.text and base64.b64encode(b"a token").decode() not in response.text
    _no_cors_headers(response)


@pytest.mark.parametrize("origin", [CROSS_SITE, {}])
def test_moto_answers_no_cors_preflight(local_stack: LocalStack, origin: dict[str, str]) -> None:
    response = httpx2.options(
        local_stack.aws_endpoint,
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-amz-target,content-type",
            **origin,
        },
    )
    assert response.status_code == 403
    _no_cors_headers(response)


def test_moto_refuses_other_host_names(local_stack: LocalStack) -> None:
    assert _scan(local_stack, REBOUND).status_code == 421
    port = local_stack.moto.port
    for name in (f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        assert _scan(local_stack, {"Host": name}).status_code == 200, name
    assert _scan(local_stack, {"Host": "127.0.0.1:1"}).status_code == 421


# ---------------------------------------------------------------------------------------------
# the Invoke API on the gateway


def _invoke_url(stack: LocalStack, function: str = "ManagementFunction") -> str:
    return f"{stack.api_url}/2015-03-31/functions/{function}/invocations"


PLANTED_SECRET = "planted-secret-value"
secret_scan.register(PLANTED_SECRET)


def _planting_event(stack: LocalStack, tenant: str) -> str:
    """A management API event that would create an iClient in `tenant`."""
    body = json.dumps({"name": "planted", "client_id": "1", "client_secret": PLANTED_SECRET})
    return json.dumps(
        {
            "version": "2.0",
            "routeKey": "POST /v1/iclients",
            "rawPath": "/v1/iclients",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": "POST", "path": "/v1/iclients", "sourceIp": "127.0.0.1"},
                "authorizer": {"jwt": {"claims": {stack.tenant_claim: tenant}, "scopes": None}},
                "requestId": "r",
                "routeKey": "POST /v1/iclients",
                "stage": "$default",
            },
            "body": body,
            "isBase64Encoded": False,
        }
    )


def _iclient_names(stack: LocalStack, tenant: str) -> list[str]:
    listed = stack.client(tenant).get("/v1/iclients")
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["items"]]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "text/plain", **CROSS_SITE}, id="cross-site-text-plain-post"),
        pytest.param({"Content-Type": "application/json"}, id="no-secret"),
        pytest.param({invoke_secret.HEADER: "guessed"}, id="wrong-secret"),
    ],
)
def test_invoke_api_refuses_without_the_stacks_secret(
    local_stack: LocalStack, unique_tenant: str, headers: dict[str, str]
) -> None:
    function = local_stack.function("ManagementFunction")
    before = function.invocations
    response = httpx2.post(
        _invoke_url(local_stack), headers=headers, content=_planting_event(local_stack, unique_tenant)
    )
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"
    message = response.json()["Message"]
    assert invoke_secret.HEADER in message or "browsers" in message
    assert function.invocations == before
    assert _iclient_names(local_stack, unique_tenant) == []
    _no_cors_headers(response)


@pytest.mark.parametrize("browser", [CROSS_SITE, NO_CORS_FETCH])
def test_invoke_api_refuses_browsers_even_with_the_secret(
    local_stack: LocalStack, unique_tenant: str, browser: dict[str, str]
) -> None:
    response = httpx2.post(
        _invoke_url(local_stack),
        headers={**invoke_secret.headers(local_stack.invoke_secret), **browser},
        content=_planting_event(local_stack, unique_tenant),
    )
    assert response.status_code == 403
    assert "browsers" in response.json()["Message"]
    assert _iclient_names(local_stack, unique_tenant) == []


def test_invoke_api_answers_no_cors_preflight(local_stack: LocalStack) -> None:
    response = httpx2.options(
        _invoke_url(local_stack),
        headers={"Access-Control-Request-Method": "POST", **CROSS_SITE},
    )
    assert response.status_code in (403, 404)
    _no_cors_headers(response)


def test_invoke_api_serves_the_stacks_own_callers(local_stack: LocalStack, unique_tenant: str) -> None:
    response = httpx2.post(
        _invoke_url(local_stack),
        headers=invoke_secret.headers(local_stack.invoke_secret),
        content=_planting_event(local_stack, unique_tenant),
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["body"])["name"] == "planted"
    assert _iclient_names(local_stack, unique_tenant) == ["planted"]
    lambda_client = invoke_secret.lambda_client(local_stack.api_url, local_stack.invoke_secret)
    answer = lambda_client.invoke(
        FunctionName="ManagementFunction", Payload=(EVENTS / "management-list-scopes.json").read_bytes()
    )
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["statusCode"] == 200


# ---------------------------------------------------------------------------------------------
# the gateway's routes (browsers welcome) and its Host check


def test_gateway_routes_keep_serving_browsers(local_stack: LocalStack) -> None:
    browser = {**NO_CORS_FETCH, "Sec-Fetch-Site": "same-origin", "Origin": local_stack.api_url}
    docs = httpx2.get(f"{local_stack.api_url}/v1/docs", headers=browser)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert httpx2.get(f"{local_stack.api_url}/v1/openapi.json", headers=browser).status_code == 200
    callback = httpx2.get(f"{local_stack.api_url}/oauth2/callback", headers=browser)
    assert callback.status_code == 400  # reached the callback function: no state, no code


@pytest.mark.parametrize(
    "path",
    ["/v1/docs", "/v1/scopes", "/_local/issuer/.well-known/jwks.json", "/2015-03-31/functions/x/invocations"],
)
def test_gateway_refuses_other_host_names(local_stack: LocalStack, path: str) -> None:
    headers = {**REBOUND, **invoke_secret.headers(local_stack.invoke_secret)}
    method = "POST" if "invocations" in path else "GET"
    response = httpx2.request(method, f"{local_stack.api_url}{path}", headers=headers)
    assert response.status_code == 421, response.text


def test_gateway_refuses_an_absolute_form_target_naming_another_host(local_stack: LocalStack) -> None:
    def status(target: str) -> bytes:
        with socket.create_connection(("127.0.0.1", local_stack.port), timeout=10) as sock:
            sock.sendall(
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{local_stack.port}\r\nConnection: close\r\n\r\n".encode()
            )
            return sock.recv(64).split(b"\r\n", 1)[0]

    assert status("http://evil.example/v1/openapi.json") == b"HTTP/1.1 421 Misdirected Request"
    assert status(f"http://127.0.0.1:{local_stack.port}/v1/openapi.json") == b"HTTP/1.1 200 OK"
    # A path that holds "://" is a path (origin-form), routed as any other: here to no route.
    assert status("/v1/openapi.json/https://evil.example/x") == b"HTTP/1.1 404 Not Found"


def test_gateway_answers_its_loopback_names(local_stack: LocalStack) -> None:
    port = local_stack.port
    for name in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        response = httpx2.get(f"{local_stack.api_url}/v1/openapi.json", headers={"Host": name})
        assert response.status_code == 200, name


# ---------------------------------------------------------------------------------------------
# the sandbox store


@pytest.fixture(scope="module")
def store() -> Iterator[SandboxStore]:
    with SandboxStore(port=0, host_names=["mystore.sandbox.test:8765"]) as running:
        yield running


def test_sandbox_store_answers_its_names_only(store: SandboxStore) -> None:
    for name in (store.host, f"localhost:{store.port}", f"[::1]:{store.port}", "mystore.sandbox.test:8765"):
        assert httpx2.get(f"{store.base_url}/_sandbox/config", headers={"Host": name}).status_code == 200, (
            name
        )
    for name in ("evil.example", f"evil.example:{store.port}", "mystore.sandbox.test:1"):
        refused = httpx2.get(f"{store.base_url}/api/oauth", headers={"Host": name})
        assert refused.status_code == 421, name
        posted = httpx2.post(
            f"{store.base_url}/api/oauth/access_token", headers={"Host": name}, json={"client_id": "x"}
        )
        assert posted.status_code == 421
    assert store.calls.get("authorize", 0) == 0


def test_sandbox_store_consent_serves_browsers_but_its_admin_api_does_not(store: SandboxStore) -> None:
    consent = httpx2.get(f"{store.base_url}/api/oauth", headers=NO_CORS_FETCH)
    assert consent.status_code == 400  # reached the consent endpoint: no client id, scope or redirect
    before = dict(json.loads(httpx2.get(f"{store.base_url}/_sandbox/config").text))
    for browser in (CROSS_SITE, NO_CORS_FETCH):
        planted = httpx2.post(
            f"{store.base_url}/_sandbox/config",
            headers={"Content-Type": "text/plain", **browser},
            content=json.dumps({"auto_approve": True}),
        )
        assert planted.status_code == 403
    assert json.loads(httpx2.get(f"{store.base_url}/_sandbox/config").text) == before
