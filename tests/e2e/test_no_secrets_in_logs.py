"""Run the whole flow with DEBUG logging everywhere and scan what was logged and published."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from flow import APP_SECRET, Browser, api, authorize, consent, new_connection, to_store


def test_no_secret_reaches_logs_or_events(local_stack, sandbox, tenant, everything_written):
    sent: set[str] = {APP_SECRET}
    connection = new_connection(local_stack, sandbox, tenant)
    sent.add(connection["authorize_url"].rsplit("/", 1)[1])  # the link ticket
    assert authorize(local_stack, sandbox, connection).status_code == 200

    # A second attempt that the store denies, and a replayed callback.
    client = api(local_stack, tenant)
    link = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
    sent.add(link.rsplit("/", 1)[1])
    browser = Browser()
    store_url = to_store(browser, link).headers["location"]
    callback_url = consent(browser, sandbox, store_url)
    assert browser.get(callback_url).status_code == 200
    assert browser.get(callback_url).status_code == 400
    client.patch(f"/v1/iclients/{connection['iclient_id']}", json={"client_secret": "rotated-secret-value-x"})
    sent.add("rotated-secret-value-x")

    for request in sandbox.captured:
        for name, values in parse_qs(urlsplit(request.path).query).items():
            if name in {"state", "redirect_uri"}:
                sent.update(re.findall(r"[0-9a-f]{64}", " ".join(values)))
        if request.body:
            body = request.json()
            sent.update(str(body[key]) for key in ("signature", "auth_id", "refresh_token") if key in body)
    sent |= sandbox.issued_secrets()
    sent.update(browser.cookies.values())
    assert len(sent) >= 10

    written = everything_written()
    assert "connection.authorized" in written.events and "connection authorized" in written.everything
    assert written.leaked(sent) == []
