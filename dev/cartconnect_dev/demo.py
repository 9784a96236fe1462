"""`cartconnect-dev demo`: the whole authorization flow against the sandbox store, step by step.

It talks to a running local stack over HTTP, exactly as a platform and a store admin's browser
would, and prints each step. No secret is printed beyond a short prefix.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx2

from cartconnect_dev.jwt_issuer import LocalIssuer
from cartconnect_dev.stack import not_running, read_state


def _prefix(secret: str) -> str:
    return f"{secret[:6]}…"


class DemoFailed(Exception):
    pass


class Browser:
    """Follows no redirect by itself and keeps the cookies a browser would keep on loopback."""

    def __init__(self) -> None:
        self.http = httpx2.Client(follow_redirects=False, timeout=30, trust_env=False)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx2.Response:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.http.request(method, url, headers=sent, **kwargs)
        for raw in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return response


def _expect(response: httpx2.Response, status: int, step: str) -> httpx2.Response:
    if response.status_code != status:
        raise DemoFailed(f"{step}: expected HTTP {status}, got {response.status_code}: {response.text[:300]}")
    return response


def _patiently(call: Callable[[], httpx2.Response], tries: int = 4) -> httpx2.Response:
    """`call` again after a 429's Retry-After, as a client of the proxy should: a store's call budget
    is shared with the scheduled refreshes, and a store whose limit is not learned yet allows few."""
    response = call()
    for _ in range(tries - 1):
        if response.status_code != 429:
            break
        wait = response.headers.get("Retry-After", "1")
        time.sleep(min(float(wait), 10.0) if wait.isdigit() else 1.0)  # the proxy's own: whole seconds
        response = call()
    return response


def approve_on_sandbox(request: Callable[..., httpx2.Response], consent_url: str, base_url: str) -> str:
    """An admin's Approve on the sandbox store's consent page at `consent_url` (a store configured to
    auto-approve answers at once); returns the callback URL the store sends the browser back to."""
    consent = request("GET", consent_url)
    if consent.status_code != 302:
        _expect(consent, 200, "consent page")
        found = re.search(r'name="request_id" value="([^"]+)"', consent.text)
        if not found:
            raise DemoFailed("consent page: no request id in the form")
        consent = request(
            "POST",
            f"{base_url}/api/oauth/decision",
            data={"request_id": found.group(1), "decision": "approve"},
        )
    return str(_expect(consent, 302, "approve").headers["location"])


def run(out: Any = sys.stdout) -> int:
    state = read_state()
    if not state:
        print(f"cartconnect-dev demo: {not_running()}", file=sys.stderr)
        return 1
    sandbox = state.get("sandbox")
    if not sandbox:
        print(
            "cartconnect-dev demo: the running stack has no sandbox store (started with --no-sandbox?)",
            file=sys.stderr,
        )
        return 1
    issuer = LocalIssuer(
        state["issuer"],
        key_path=Path(state["key_path"]),
        audience=state["audience"],
        tenant_claim=state["tenant_claim"],
    )
    tenant = f"demo-{uuid.uuid4().hex[:8]}"
    api = httpx2.Client(
        base_url=state["api_url"],
        headers={"Authorization": f"Bearer {issuer.issue_token(tenant)}"},
        timeout=30,
        trust_env=False,
    )

    def step(number: int, text: str) -> None:
        print(f"{number}. {text}", file=out, flush=True)

    try:
        iclient = _expect(
            api.post(
                "/v1/iclients",
                json={
                    "name": "Sandbox app",
                    "client_id": sandbox["client_id"],
                    "client_secret": sandbox["client_secret"],
                },
            ),
            201,
            "create iClient",
        ).json()
        step(
            1,
            f"iClient {iclient['id']} (client id {iclient['client_id']}, secret {iclient['client_secret']})",
        )

        connection = _expect(
            api.post(
                "/v1/connections",
                json={
                    "name": "Sandbox store",
                    "subdomain": sandbox["host"],
                    "iclient_id": iclient["id"],
                    "scopes": ["read_orders", "read_catalog", "system"],
                },
            ),
            201,
            "create connection",
        ).json()
        step(2, f"connection {connection['id']} for {connection['subdomain']}: {connection['status']}")
        ticket = connection["authorize_url"].rsplit("/", 1)[1]
        step(
            3,
            f"authorize link {connection['authorize_url'].rsplit('/', 1)[0]}/{_prefix(ticket)} (one use, 10 minutes)",
        )

        browser = Browser()
        link_page = _expect(browser.request("GET", connection["authorize_url"]), 200, "open the link")
        heading = re.search(r"<h1[^>]*>([^<]+)</h1>", link_page.text)
        granted = re.findall(r"<li><code>([^<]+)</code>", link_page.text)
        step(
            4,
            f"the link's page says {heading.group(1) if heading else '?'!r}, permissions "
            f"{', '.join(granted)} (opening it spent nothing): clicking Continue",
        )
        to_store = _expect(
            browser.request(
                "POST",
                connection["authorize_url"],
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Sec-Fetch-Site": "same-origin",
                },
            ),
            303,
            "continue to the store",
        )
        step(5, f"consent page on the store ({sandbox['base_url']}/api/oauth): clicking Approve")
        callback_url = approve_on_sandbox(browser.request, to_store.headers["location"], sandbox["base_url"])
        page = _expect(browser.request("GET", callback_url), 200, "callback")
        title = re.search(r"<h1[^>]*>([^<]+)</h1>", page.text)
        step(
            6,
            f"callback: the store returned the browser; result page says {title.group(1) if title else '?'!r}",
        )

        stored = _expect(api.get(f"/v1/connections/{connection['id']}"), 200, "read connection").json()
        step(
            7,
            f"connection {stored['id']}: {stored['status']}, token version {stored['token_version']}, "
            f"expires {stored['expires_at']}, next refresh {stored['next_refresh_at']}",
        )
        if stored["status"] != "active":
            raise DemoFailed(f"the connection is {stored['status']}, not active")

        # The store's API first: its answer teaches the budget the store's limit (until then the
        # smallest plan's is assumed, and short-lived tokens' refreshes would spend it).
        proxied = f"/v1/connections/{connection['id']}/proxy/products?count=5"
        page = _expect(_patiently(lambda: api.get(proxied)), 200, "a call through the store proxy").json()
        step(
            8,
            f"GET {proxied}: {len(page['products'])} of {page['total_count']} products, "
            f"next page {page['next_page']}",
        )

        token = api.post(f"/v1/connections/{connection['id']}/token")
        if token.status_code == 200:
            step(9, f"access token for the platform: {_prefix(token.json()['access_token'])} (prefix only)")
    except (DemoFailed, httpx2.HTTPError) as failure:
        print(f"cartconnect-dev demo: {failure}", file=sys.stderr)
        return 1
    print(
        f"done: tenant {tenant} has an active connection {connection['id']} to the sandbox store.", file=out
    )
    return 0
