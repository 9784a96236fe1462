"""docs/openapi.json is the document the management function serves at GET /v1/openapi.json
(`make openapi-check` compares the two; this asserts it without make); and how the function answers
an AWS call that failed."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from cartconnect.adapters import connection_repository
from cartconnect_dev import cli
from cartconnect_dev.gateway.functions import LambdaContext

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "openapi.json"


@pytest.fixture
def management(import_function: Any) -> Any:
    """functions/management/app.py, imported as Lambda would (a fresh module, the openapi env)."""
    return import_function("management")


def _invoke(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext("management", "arn:aws:lambda:us-east-1:123456789012:function:m", 512, "r", 2**62)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Powertools: no application metrics to publish
        return module.lambda_handler(event, context)


def test_cartconnect_dev_openapi_prints_docs_openapi_json_byte_for_byte():
    assert cli.openapi_json(ROOT) == COMMITTED.read_text()


def test_the_served_document_is_docs_openapi_json(management):
    # The sample event is what API Gateway sends for the route (events/, `sam local invoke -e`).
    event = json.loads((ROOT / "events" / "management-openapi.json").read_text())
    response = _invoke(management, event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == json.loads(COMMITTED.read_text())


def _docs_event(query: dict[str, str] | None = None) -> dict[str, Any]:
    docs = json.loads((ROOT / "events" / "management-openapi.json").read_text())
    docs["routeKey"] = docs["requestContext"]["routeKey"] = "GET /v1/docs"
    docs["rawPath"] = docs["requestContext"]["http"]["path"] = "/v1/docs"
    if query:
        docs["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
        docs["queryStringParameters"] = query
    return docs


def test_swagger_ui_embeds_the_same_document(management):
    event = json.loads((ROOT / "events" / "management-openapi.json").read_text())
    swagger = _invoke(management, _docs_event({"format": "json"}))
    assert swagger["statusCode"] == 200
    # Registering the Swagger UI route must not change the served document either.
    served = _invoke(management, event)
    assert json.loads(swagger["body"]) == json.loads(served["body"]) == json.loads(COMMITTED.read_text())


def _inline_hashes(html: str, tag: str) -> set[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
    return {"'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks}


@pytest.mark.parametrize("query", [None, {"format": "oauth2-redirect"}])
def test_swagger_ui_pages_allow_exactly_their_own_inline_blocks(management, query):
    page = _invoke(management, _docs_event(query))
    assert page["statusCode"] == 200
    headers = page["headers"]
    directives = {}
    for directive in headers["Content-Security-Policy"].split("; "):
        name, _, sources = directive.partition(" ")
        directives[name] = sources
    scripts = _inline_hashes(page["body"], "script")
    assert scripts and set(directives["script-src"].split()) == scripts
    assert set(directives["style-src"].split()) == (_inline_hashes(page["body"], "style") or {"'none'"})
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert (headers["X-Content-Type-Options"], headers["Cache-Control"]) == ("nosniff", "no-cache")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    if query is None:
        assert '<link rel="icon" href="data:,">' in page["body"]  # no /favicon.ico request, no 404


def test_the_document_served_by_the_docs_route_is_nosniff_and_unframeable(management):
    headers = _invoke(management, _docs_event({"format": "json"}))["headers"]
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_aws_failure_is_a_503_with_retry_after_when_it_may_pass_else_a_500(
    management, aws_failure, caplog, monkeypatch
):
    def get(tenant: str, connection_id: str) -> Any:
        raise aws_failure.error

    monkeypatch.setattr(connection_repository, "get", get)
    event = json.loads((ROOT / "events" / "management-get-connection.json").read_text())
    body = json.loads(aws_failure.check(_invoke(management, event), caplog, "application/problem+json"))
    slug = "service-unavailable" if aws_failure.status == 503 else "internal-error"
    assert (body["type"], body["status"], body["request_id"]) == (
        f"https://cartconnect.dev/problems/{slug}",
        aws_failure.status,
        "r",
    )
