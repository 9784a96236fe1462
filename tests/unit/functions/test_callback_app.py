"""functions/callback/app.py around its use case (usecases/authorization/callback, faked here): how it
answers a failure no refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from cartconnect.http import flow_pages
from cartconnect.usecases.authorization.flow import FlowRefused, Refusal
from cartconnect_dev.gateway.functions import LambdaContext

STATE = "cd" * 32


@pytest.fixture
def callback(import_function: Any) -> Any:
    return import_function("callback")


def _event() -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /oauth2/callback",
        "rawPath": "/oauth2/callback",
        "rawQueryString": f"state={STATE}&auth_id=7&code=c0de",
        "cookies": ["__Host-cc_auth_x=y"],
        "headers": {},
        "requestContext": {"http": {"method": "GET"}, "requestId": "r"},
        "isBase64Encoded": False,
    }


def test_an_aws_failure_is_the_try_again_page_with_503_when_it_may_pass_else_a_500(
    callback, aws_failure, caplog, monkeypatch
):
    def complete(query: dict[str, list[str]], cookies: dict[str, str]) -> Any:
        assert query["state"] == [STATE] and cookies == {"__Host-cc_auth_x": "y"}
        raise aws_failure.error

    monkeypatch.setattr(callback, "complete", complete)
    context = LambdaContext("callback", "arn:aws:lambda:us-east-1:123456789012:function:c", 256, "r", 2**62)
    result = callback.lambda_handler(_event(), context)
    body = aws_failure.check(result, caplog, "text/html; charset=utf-8")
    # The attempt may not be over (the state may be unspent): its cookie stays.
    assert "cookies" not in result and STATE not in body
    if aws_failure.status == 503:
        # The page the callback shows when the secret store does not answer, with Retry-After.
        unavailable = flow_pages.refused(FlowRefused(Refusal.SECRET_STORE_UNAVAILABLE))
        assert body == unavailable["body"] and unavailable["statusCode"] == 503
    else:
        assert "The connection was not authorized" in body
