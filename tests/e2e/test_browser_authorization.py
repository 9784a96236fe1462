"""A real browser: headless Chromium opens the authorize link, reads what is granted, clicks
Continue, approves on the sandbox store's consent page and lands on the success page; the API then
shows the connection active."""

from __future__ import annotations

import shutil

import pytest
from flow import api, new_connection

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--no-sandbox",  # tests run as root
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def _continue(page, connection, local_stack, sandbox):
    """Open the link, check the page, click its one button: the browser is on the store's consent page."""
    page.goto(connection["authorize_url"])
    assert page.url == connection["authorize_url"]  # the page itself: nothing spent, no redirect
    assert page.locator("h1").inner_text() == f"Connect the store {sandbox.host}"
    assert page.locator("li code").all_inner_texts() == ["read_orders", "system"]
    page.click("#continue")
    page.wait_for_load_state()
    assert page.url.startswith(f"{sandbox.base_url}/api/oauth")


def test_admin_approves_in_a_real_browser(local_stack, sandbox, tenant, browser, tmp_path):
    connection = new_connection(local_stack, sandbox, tenant)
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    page.goto(connection["authorize_url"])
    assert context.cookies(local_stack.api_url) == []  # opening the link sets nothing
    page.screenshot(path=str(tmp_path / "link-page.png"))
    _continue(page, connection, local_stack, sandbox)
    # The CSP allowed the inline style, the form's POST and its 303 to the store: no violation.
    assert violations == []
    # The binding cookie was set on the API's origin before the browser left for the store.
    cookies = context.cookies(local_stack.api_url)
    assert [cookie["name"][:15] for cookie in cookies] == ["__Host-cc_auth_"]
    assert cookies[0]["httpOnly"] and cookies[0]["secure"] and cookies[0]["sameSite"] == "Lax"

    page.click("#approve")
    page.wait_for_load_state()
    assert page.url.startswith(f"{local_stack.api_url}/oauth2/callback")
    assert page.locator("h1").inner_text() == "Connection authorized"
    page.screenshot(path=str(tmp_path / "authorized.png"))
    assert context.cookies(local_stack.api_url) == []  # the attempt is over: its cookie is cleared
    context.close()

    stored = api(local_stack, tenant).get(f"/v1/connections/{connection['id']}").json()
    assert stored["status"] == "active"
    assert sandbox.calls["access_token"] == 1


def test_the_page_reads_the_same_after_reloads_and_the_back_button(local_stack, sandbox, tenant, browser):
    connection = new_connection(local_stack, sandbox, tenant)
    context = browser.new_context()
    page = context.new_page()
    for _ in range(3):  # previews and reloads spend nothing
        page.goto(connection["authorize_url"])
        assert page.locator("#continue").is_visible()
    _continue(page, connection, local_stack, sandbox)
    page.go_back()  # no-store: the page is asked for again, and the ticket is spent now
    assert page.locator("h1").inner_text() == "This link was already used"
    assert page.locator("form").count() == 0
    context.close()


def test_a_link_opened_in_another_browser_is_refused(local_stack, sandbox, tenant, browser):
    connection = new_connection(local_stack, sandbox, tenant)
    first = browser.new_context()
    page = first.new_page()
    _continue(page, connection, local_stack, sandbox)
    consent_url = page.url
    first.close()
    # Someone else's browser continues the flow from the consent page: no binding cookie there.
    other = browser.new_context()
    page = other.new_page()
    page.goto(consent_url)
    page.click("#approve")
    page.wait_for_load_state()
    assert "another browser" in page.locator("h1").inner_text()
    other.close()
    assert sandbox.calls["access_token"] == 0
    stored = api(local_stack, tenant).get(f"/v1/connections/{connection['id']}").json()
    assert stored["status"] == "pending_authorization"


def test_swagger_ui_works_under_its_csp(local_stack, browser):
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    requests: list[str] = []
    failures: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: failures.append(request.url))
    docs = page.goto(f"{local_stack.api_url}/v1/docs")
    assert docs is not None and docs.status == 200
    csp = docs.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert docs.headers["cache-control"] == "no-cache"
    page.locator(".opblock-summary-path", has_text="/v1/scopes").first.click()
    page.locator(".try-out__btn").first.click()
    page.locator(".execute").first.click()
    # "Try it out" reached the API (connect-src 'self'): the gateway's 401, no token was given.
    status = page.locator(".live-responses-table tr.response td.response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("401")
    assert page.locator('link[rel="icon"]').get_attribute("href") == "data:,"
    context.close()
    assert [text for text in console if "Content Security Policy" in text] == []
    assert failures == []
    # Nothing but the API itself (and data: URIs): no CDN, no validator badge, no /favicon.ico.
    assert [url for url in requests if not url.startswith(("data:", local_stack.api_url))] == []
    assert not [url for url in requests if url.endswith("/favicon.ico")]
