"""`make dev` keeps tokens alive by itself: the scheduler runs on an interval and the worker drains the queue."""

from __future__ import annotations

import time

import httpx2
from dev_process import running_dev_stack


def test_a_short_lived_token_is_refreshed_with_nobody_touching_anything(tmp_path):
    with running_dev_stack(tmp_path, CARTCONNECT_SCHEDULE_SECONDS="1") as stack:
        sandbox_url = f"http://127.0.0.1:{stack.env['SANDBOX_PORT']}"
        # Tokens that live 6 s are due halfway through their life.
        assert (
            httpx2.post(f"{sandbox_url}/_sandbox/config", json={"token_lifetime_seconds": 6}).status_code
            == 200
        )
        demo = stack.cli("demo")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        tenant = next(line.split()[2] for line in demo.stdout.splitlines() if line.startswith("done: tenant"))
        connection_id = next(word for word in demo.stdout.split() if word.startswith("con_"))
        token = stack.cli("token", "--tenant", tenant).stdout.strip()
        api = httpx2.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
        first = api.get(f"/v1/connections/{connection_id}").json()
        # Wait (bounded) for the schedule to act; what is asserted is the outcome, not the timing.
        deadline = time.monotonic() + 60
        current = first
        while current["token_version"] < first["token_version"] + 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            current = api.get(f"/v1/connections/{connection_id}").json()
        assert current["token_version"] >= first["token_version"] + 2, current
        assert current["status"] == "active" and current["last_error"] is None
        assert current["expires_at"] > first["expires_at"]
        assert any("refresh" in line.lower() for line in stack.log.read_text().splitlines())
