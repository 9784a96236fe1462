"""Helpers that walk the authorization flow over real HTTP: API, gateway, sandbox store, callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import httpx2
import secret_scan

from cartconnect_dev.stack import shared_tls

APP_ID = "777001"
APP_SECRET = "sandbox-app-secret-1f9e"


def api(stack, tenant: str) -> httpx2.Client:
    return httpx2.Client(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {stack.token(tenant)}"},
        timeout=30,
        verify=shared_tls(),
    )


@dataclass
class Browser:
    """A browser stand-in: follows nothing by itself and keeps cookies the way Chromium does on
    loopback (it sends `Secure` cookies to http://127.0.0.1, which httpx's jar would not)."""

    cookies: dict[str, str] = field(default_factory=dict)
    http: httpx2.Client = field(
        default_factory=lambda: httpx2.Client(follow_redirects=False, timeout=30, verify=shared_tls())
    )

    def get(self, url: str) -> httpx2.Response:
        return self.request("GET", url)

    def post(self, url: str, data: dict[str, str] | None = None, **headers: str) -> httpx2.Response:
        """A form submission, as the link page's button sends it (urlencoded, empty by default)."""
        sent = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Sec-Fetch-Site": "same-origin",
            **headers,
        }
        return self.request("POST", url, data=data or {}, headers=sent)

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs
    ) -> httpx2.Response:
        sent = dict(headers or {})
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if header:
            sent["Cookie"] = header
        response = self.http.request(method, url, headers=sent, **kwargs)
        for raw in response.headers.get_list("set-cookie"):
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


def new_connection(
    stack, sandbox, tenant: str, *, scopes=("read_orders", "system"), name="Sandbox store"
) -> dict:
    client = api(stack, tenant)
    sandbox.register_app(APP_ID, APP_SECRET)
    iclient = client.post(
        "/v1/iclients", json={"name": "Sandbox app", "client_id": APP_ID, "client_secret": APP_SECRET}
    )
    assert iclient.status_code == 201, iclient.text
    created = client.post(
        "/v1/connections",
        json={
            "name": name,
            "subdomain": sandbox.host,
            "iclient_id": iclient.json()["id"],
            "scopes": list(scopes),
        },
    )
    assert created.status_code == 201, created.text
    secret_scan.register(created.json()["authorize_url"].rsplit("/", 1)[1])  # the link ticket
    return created.json()


def open_link(browser: Browser, authorize_url: str) -> httpx2.Response:
    """Open the authorize link: a page that shows what is granted, with one button; nothing spent."""
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    assert "<form method=post><button type=submit id=continue>" in page.text
    assert "set-cookie" not in page.headers
    return page


def to_store(browser: Browser, authorize_url: str) -> httpx2.Response:
    """Open the authorize link and click its button: the POST answers 303 to the store's consent page."""
    open_link(browser, authorize_url)
    response = browser.post(authorize_url)
    assert response.status_code == 303, response.text
    return response


def consent(browser: Browser, sandbox, store_url: str) -> str:
    """The admin approves on the sandbox store (auto-approve); returns the callback URL it sends back."""
    sandbox.configure(auto_approve=True)
    response = browser.get(store_url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def authorize(stack, sandbox, connection: dict, browser: Browser | None = None) -> httpx2.Response:
    browser = browser or Browser()
    callback_url = consent(
        browser, sandbox, to_store(browser, connection["authorize_url"]).headers["location"]
    )
    return browser.get(callback_url)
