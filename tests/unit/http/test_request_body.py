"""The body checks in front of the management API's validation (cartconnect/http/request_body.py)."""

from __future__ import annotations

import base64
import json

import pytest

from cartconnect.http.request_body import MAX_DEPTH, MAX_NUMBER_CHARS, check


def _event(body: str | None, content_type: str | None = "application/json", method: str = "POST", **extra):
    headers = {"content-type": content_type} if content_type is not None else {}
    return {"requestContext": {"http": {"method": method}}, "headers": headers, "body": body, **extra}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml",
        "text/xml",
        "multipart/form-data",
        None,
    ],
)
def test_a_body_that_is_not_json_is_415(content_type):
    refused = check(_event("client_secret=s3cret", content_type))
    assert refused is not None and refused.status == 415
    assert "s3cret" not in refused.detail


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_bodies_go_on(content_type):
    assert check(_event('{"name": "x", "scopes": ["orders"]}', content_type)) is None


def test_no_body_and_reads_are_not_checked():
    assert check(_event(None, None)) is None
    assert check(_event("x=1", "text/plain", method="GET")) is None


def test_nesting_beyond_the_limit_is_400():
    assert check(_event("[" * MAX_DEPTH + "]" * MAX_DEPTH)) is None
    deep = check(_event("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)))
    assert deep is not None and deep.status == 400
    assert check(_event(json.dumps({"name": "[[[[[[[[[[[[[[[[[[[["}))) is None  # inside a string


def test_numbers_beyond_a_sane_size_are_400():
    assert check(_event('{"limit": ' + "9" * MAX_NUMBER_CHARS + "}")) is None
    huge = check(_event('{"limit": ' + "9" * 5000 + "}"))
    assert huge is not None and huge.status == 400
    assert check(_event(json.dumps({"name": "9" * 5000}))) is None


def test_a_base64_body_is_checked_decoded():
    encoded = base64.b64encode(("[" * 50 + "]" * 50).encode()).decode()
    refused = check(_event(encoded, isBase64Encoded=True))
    assert refused is not None and refused.status == 400
