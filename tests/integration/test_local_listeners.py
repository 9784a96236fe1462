"""What the local stack's listeners refuse, beside the developer's browser: moto serves no browser and no
CORS preflight, and answers only requests addressed to its loopback names (DNS rebinding). Our own
tools keep working."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest

from cartconnect_dev.stack import LocalStack

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
