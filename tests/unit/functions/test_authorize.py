"""The authorize link's page and handler without a stack: what the page shows and allows, and which
requests may reach the use case that spends the ticket."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from cartconnect.http import pages
from cartconnect.process import reset_process_state
from cartconnect_dev import cli
from cartconnect_dev.gateway.functions import import_from_path

ROOT = Path(__file__).resolve().parents[3]
TICKET = "ab" * 32


def _csp(headers: dict[str, str]) -> dict[str, str]:
    directives = [part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")]
    return {name: value for name, value in directives}


def test_the_page_names_host_client_and_scopes_escaped():
    body = pages.render_grant('shop.example<script>"', "7&<b>", ("read_orders", "system", "<x>"))
    assert "<script>" not in body and "<b>" not in body and "<x>" not in body
    assert "shop.example&lt;script&gt;&quot;" in body and "7&amp;&lt;b&gt;" in body
    assert "<li><code>read_orders</code>: Read orders" in body and "<code>system</code>" in body
    assert "<code>&lt;x&gt;</code>: Unknown scope" in body
    # One form, posting to the page's own URL: no action attribute, so no ticket in the body.
    assert body.count("<form") == 1 and "<form method=post>" in body and "action" not in body
    assert body.count("<button") == 1 and "<script" not in body and "<a " not in body


def test_the_page_allows_its_form_and_the_stores_origin_only():
    headers = pages.grant_headers("https://Shop.Example:8443")
    csp = _csp(headers)
    assert csp["form-action"] == "'self' https://shop.example:8443"
    assert (
        csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    )
    style = re.search(r"<style>(.*?)</style>", pages.render_grant("h", "1", ("system",))).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'"
    for name in ("Cache-Control", "Referrer-Policy", "X-Content-Type-Options", "X-Frame-Options"):
        assert headers[name] == pages.SECURITY_HEADERS[name]
    # Result pages keep allowing no form at all.
    assert _csp(pages.SECURITY_HEADERS)["form-action"] == "'none'"


@pytest.mark.parametrize(
    "origin", ["https://a.example; script-src *", "https://a.example 'unsafe-inline'", "javascript:x", ""]
)
def test_an_origin_that_could_widen_the_policy_is_left_out(origin):
    assert _csp(pages.grant_headers(origin))["form-action"] == "'self'"


@pytest.fixture
def handler(monkeypatch):
    """functions/authorize/app.py with its use cases replaced by recorders (the environment a
    deployed function has: it refuses to start without its settings)."""
    for name, value in cli.OPENAPI_ENV.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    module = import_from_path(ROOT / "functions/authorize/app.py", "_authorize_link_page_test_app")
    from cartconnect.usecases.authorization.redirect import Grant, Redirect

    calls: list[tuple[str, str]] = []

    def preview(ticket: str) -> Grant:
        calls.append(("preview", ticket))
        return Grant("shop.example", "https://shop.example", "1001", ("read_orders",))

    def start(ticket: str) -> Redirect:
        calls.append(("start", ticket))
        return Redirect("https://shop.example/api/oauth?client_id=1001", "__Host-cc_auth_x=y; Secure")

    monkeypatch.setattr(module, "preview", preview)
    monkeypatch.setattr(module, "start", start)
    module.calls = calls
    return module


def _event(method: str, **headers: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} /connect/{{ticket}}",
        "headers": headers,
        "requestContext": {"http": {"method": method}, "requestId": "r"},
        "pathParameters": {"ticket": TICKET},
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "authorize"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:authorize"
    aws_request_id = "r"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_anything_but_post_only_reads(handler, method):
    result = handler.lambda_handler(_event(method), _Context())
    assert result["statusCode"] == 200 and "cookies" not in result
    assert handler.calls == [("preview", TICKET)]
    assert TICKET not in result["body"]


@pytest.mark.parametrize("site", [None, "same-origin", "none"])
def test_the_admins_post_spends_and_answers_303(handler, site):
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if site is not None:
        headers["sec-fetch-site"] = site
    event = {
        **_event("POST", **headers),
        "body": base64.b64encode(b"continue=1").decode(),
        "isBase64Encoded": True,
    }
    result = handler.lambda_handler(event, _Context())
    assert result["statusCode"] == 303
    assert result["headers"]["Location"].startswith("https://shop.example/api/oauth?")
    assert result["cookies"] == ["__Host-cc_auth_x=y; Secure"]
    assert handler.calls == [("start", TICKET)]


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site"])
def test_a_post_from_another_site_touches_nothing(handler, site):
    result = handler.lambda_handler(_event("POST", **{"sec-fetch-site": site}), _Context())
    assert result["statusCode"] == 403 and "cookies" not in result and "Location" not in result["headers"]
    assert handler.calls == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_aws_failure_is_the_try_again_page_with_503_when_it_may_pass_else_a_500(
    handler, aws_failure, caplog, monkeypatch, method
):
    def failing(ticket: str) -> Any:
        raise aws_failure.error

    monkeypatch.setattr(handler, "preview" if method == "GET" else "start", failing)
    result = handler.lambda_handler(_event(method), _Context())
    body = aws_failure.check(result, caplog, "text/html; charset=utf-8")
    assert "cookies" not in result and "Location" not in result["headers"]
    said = "Try the link again in a few seconds." if aws_failure.status == 503 else "in a minute"
    assert said in body and TICKET not in body
