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
