"""The public routes through `sam local start-api`, and one whole authorization on the sandbox store.

`sam local start-api` runs no JWT authorizer: the /v1 data routes are exercised through
`sam local invoke` with events that carry the claims (test_invoke.py, and the read-back below).
"""

from __future__ import annotations

import json
import re

import httpx2
import pytest
import secret_scan
from sample_events import ROOT, SEEDED_PENDING

from cartconnect_dev.demo import Browser, approve_on_sandbox
from cartconnect_dev.seed import SAMPLE_TICKET

# The setup (start-api, then every sample through sam local invoke) takes minutes on a busy machine.
pytestmark = [pytest.mark.sam, pytest.mark.timeout(600)]


def test_openapi_document_is_public(sam):
    response = httpx2.get(f"{sam.api_url}/v1/openapi.json", timeout=60, trust_env=False)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.") and "/v1/connections" in document["paths"]


def test_docs_page_is_public(sam):
    response = httpx2.get(f"{sam.api_url}/v1/docs", timeout=60, trust_env=False)
    assert response.status_code == 200 and "swagger-ui" in response.text


def test_data_routes_fail_closed_without_an_authorizer(sam):
    """start-api runs no JWT authorizer, so no claims reach the function: no tenant, 403 (never data)."""
    response = httpx2.get(
        f"{sam.api_url}/v1/connections", headers={"Authorization": "Bearer x"}, timeout=60, trust_env=False
    )
    assert response.status_code == 403 and "tenant" in response.json()["detail"]


def test_unknown_ticket_answers_the_used_link_page(sam):
    response = httpx2.get(f"{sam.api_url}/connect/{'f' * 64}", timeout=60, trust_env=False)
    assert response.status_code == 410 and "This link was already used" in response.text


def test_callback_without_state_is_refused(sam):
    response = httpx2.get(f"{sam.api_url}/oauth2/callback?code=x&auth_id=y", timeout=60, trust_env=False)
    assert response.status_code == 400 and "It carries no state" in response.text


def test_whole_authorization_through_start_api_ends_active(sam, tmp_path):
    sam.seed()  # the pending connection and its link ticket
    before = _read_connection(sam, tmp_path, SEEDED_PENDING)
    assert before["status"] == "pending_authorization"

    browser = Browser()
    link = f"{sam.api_url}/connect/{SAMPLE_TICKET}"
    page = browser.request("GET", link)  # what a link preview sees too: it spends nothing
    assert page.status_code == 200 and "<form" in page.text, page.status_code
    assert not browser.cookies
    to_store = browser.request(
        "POST",
        link,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"},
    )
    assert to_store.status_code == 303, to_store.status_code
    assert to_store.headers["location"].startswith(f"{sam.sandbox.base_url}/api/oauth?")
    assert any(name.startswith("__Host-cc_auth_") for name in browser.cookies), "no browser-binding cookie"

    callback_url = approve_on_sandbox(browser.request, to_store.headers["location"], sam.sandbox.base_url)
    assert callback_url.startswith(f"{sam.api_url}/oauth2/callback?")
    done = browser.request("GET", callback_url)
    assert done.status_code == 200 and "Connection authorized" in done.text, done.status_code

    after = _read_connection(sam, tmp_path, SEEDED_PENDING)
    assert after["status"] == "active" and after["token_version"] >= 1, after["status"]

    replay = browser.request("GET", callback_url)  # the state was spent: one exchange only
    assert replay.status_code == 400 and "already completed" in replay.text


def _read_connection(sam, tmp_path, connection_id: str) -> dict:
    """GET /v1/connections/{id} through `sam local invoke`, with the sample's claims."""
    event = json.loads((ROOT / "events" / "management-get-connection.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/connections/{connection_id}"
    event["pathParameters"] = {"connection_id": connection_id}
    path = tmp_path / f"get-{connection_id}.json"
    path.write_text(json.dumps(event))
    answer = sam.invoke("management", path)
    assert answer.get("statusCode") == 200, answer.get("statusCode")
    return json.loads(answer["body"])


def test_no_secret_reached_sam_or_function_logs(sam):
    """Last in the session: nothing the sandbox store issued or was sent (codes, auth ids, tokens,
    signatures, the app secret) appears in anything sam or the functions wrote."""
    secrets = {s for s in sam.sandbox.issued_secrets() | sam.sandbox.registered_secrets() if len(s) >= 8}
    assert secrets, "the session handled no secrets: nothing was checked"
    written = sam.written()
    assert written, "sam wrote nothing"
    leaked = sorted(secret[:6] + "…" for secret in secrets if secret in written)
    assert not leaked, f"secrets in sam's output: {leaked}"
    # start-api's access log names no link ticket and no OAuth state (scripts/sam_host_network.py, fix 4).
    assert not re.search(r"/connect/[0-9a-f]{64}|cc_state=[0-9a-f]{64}", written), (
        "a ticket or state in sam's log"
    )
    assert "GET /connect/…" in written and "GET /oauth2/callback?…" in written, "the access log changed shape"
    secret_scan.register(*secrets)
