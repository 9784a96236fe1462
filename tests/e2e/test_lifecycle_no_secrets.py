"""The token lifecycle with DEBUG logging everywhere: no token, secret or signature is ever logged or
published, whatever the path (scheduled refresh, failures, on-demand token, test, re-authorization)."""

from __future__ import annotations

from flow import APP_SECRET, api


def test_no_secret_reaches_logs_or_events(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, everything_written
):
    client = api(local_stack, tenant)
    connection = authorized(lifetime=120)
    path = f"/v1/connections/{connection['id']}"
    assert client.post(f"{path}/test").json()["online"] is True
    shift_clock(70)
    local_stack.refresh_due()  # a scheduled refresh
    token = client.post(f"{path}/token").json()["access_token"]
    sandbox.configure(status_5xx=500)
    assert client.post(f"{path}/refresh").status_code == 502  # a failure, recorded and published
    sandbox.configure(status_5xx=None)
    sandbox.expire_access_token(token)
    assert client.post(f"{path}/test").json()["online"] is True  # a 401, then a refresh
    sandbox.configure(refuse_grants=True)
    assert client.post(f"{path}/refresh").status_code == 409  # needs re-authorization

    sent = {APP_SECRET, token} | sandbox.issued_secrets()
    for request in sandbox.captured:
        if request.body:
            body = request.json()
            sent.update(str(body[key]) for key in ("signature", "auth_id", "refresh_token") if key in body)
    assert len(sent) >= 10
    written = everything_written()
    assert "connection.refresh_failed" in written.events
    assert "connection.needs_reauthorization" in written.events
    assert "token refresh" in written.everything
    assert written.leaked(sent) == []
