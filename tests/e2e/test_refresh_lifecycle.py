"""Scheduled token refresh on the local stack: scheduler tick -> SQS -> worker -> sandbox store.

The clock cartconnect reads is shifted forward (`shift_clock`) instead of sleeping until a token is
due; backoff and Retry-After waits are recorded, not slept (`waits`).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from botocore.exceptions import ClientError
from flow import APP_SECRET, api
from lifecycle import (
    Paused,
    hook_store_refresh,
    invoke_worker,
    of_type,
    raw_item,
    receive_ours,
    refresh_via_worker,
    run_in_thread,
    set_attributes,
    stored_tokens,
)

from cartconnect.adapters import refresh_queue, refresh_repository, store_rate_limiter
from cartconnect.provider.errors import ProviderUnavailable
from cartconnect.refresh_policy import BACKOFF_CAP_SECONDS, STORE_ATTEMPTS
from cartconnect.usecases import token_refresh
from cartconnect.usecases.token_refresh import Outcome


def wait_until(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _get(stack, tenant, connection_id) -> dict:
    return api(stack, tenant).get(f"/v1/connections/{connection_id}").json()


def test_the_schedule_refreshes_a_short_lived_token_before_it_expires(
    local_stack, sandbox, tenant, authorized, shift_clock, captured_events, monkeypatch
):
    client = api(local_stack, tenant)
    connection = authorized(lifetime=120)
    first_expiry = _iso(connection["expires_at"])
    assert connection["next_refresh_at"] < connection["expires_at"]
    before = client.post(f"/v1/connections/{connection['id']}/test")
    assert before.status_code == 200 and before.json()["online"] is True

    # Nothing is due yet: a tick enqueues nothing of ours.
    local_stack.refresh_due()
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 1

    # 70 s later (by cartconnect's clock) the token is due: 60 s of its 120 s life remain.
    shift_clock(70)
    report = local_stack.refresh_due()
    assert report.scheduler["enqueued"] >= 1 and report.received >= 1
    shift_clock(0)  # back to the real clock: the store's new token lives 120 s of real time

    refreshed = _get(local_stack, tenant, connection["id"])
    assert refreshed["token_version"] == 2
    assert refreshed["status"] == "active" and refreshed["consecutive_failures"] == 0
    assert refreshed["last_refreshed_at"] is not None
    assert _iso(refreshed["expires_at"]) > first_expiry
    assert datetime.now(UTC) < first_expiry, "refreshed before the old token expired"
    body = sandbox.last_request("/api/oauth/refresh").json()
    assert set(body) == {"client_id", "refresh_token", "signature"}

    after = client.post(f"/v1/connections/{connection['id']}/test")
    assert after.status_code == 200 and after.json()["online"] is True
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 2  # the test needed no refresh
    kinds = [event["detail-type"] for event in captured_events()]
    assert kinds == ["connection.authorized"], "a plain refresh publishes nothing"


def test_each_refresh_uses_the_newest_refresh_token(local_stack, sandbox, tenant, authorized, shift_clock):
    connection = authorized(lifetime=120)
    used = []
    for round_ in (1, 2, 3):
        shift_clock(70 * round_)
        result = token_refresh.refresh(tenant, connection["id"])
        assert result.outcome is Outcome.REFRESHED, result
        used.append(sandbox.last_request("/api/oauth/refresh").json()["refresh_token"])
        assert stored_tokens(tenant, connection["id"]).refresh_token == result.tokens.refresh_token
    assert len(set(used)) == 3
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 4


def test_a_token_that_never_expires_is_never_due(local_stack, sandbox, tenant, authorized, shift_clock):
    connection = authorized(scopes=("read_orders", "no_expiry"))
    assert connection["expires_at"] is None and connection["next_refresh_at"] is None
    item = raw_item(tenant, connection["id"])
    assert "due_pk" not in item and "due_sk" not in item
    shift_clock(10 * 365 * 86400)
    before = sandbox.calls["refresh"]
    result = token_refresh.refresh(tenant, connection["id"])
    assert (result.outcome, result.reason) == (Outcome.NOT_NEEDED, "not_due")
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 1
    assert sandbox.calls["refresh"] == before


def test_a_token_of_unknown_lifetime_is_refreshed_on_the_default_one(
    local_stack, sandbox, tenant, authorized, shift_clock
):
    sandbox.configure(expires_format="absent")
    connection = authorized()
    assert connection["expires_at"] is None and connection["next_refresh_at"] is not None
    item = raw_item(tenant, connection["id"])
    assert "due_pk" in item and item["due_sk"] == item["refresh_due_at"]  # the scheduler finds it
    # One connection only (not a whole scheduler pass at a shifted clock, which would sweep every
    # connection the session left behind).
    shift_clock(40 * 60)  # before issued_at + 60 min - 15 min lead
    assert token_refresh.refresh(tenant, connection["id"]).reason == "not_due"
    shift_clock(46 * 60)
    before = sandbox.calls["refresh"]
    refresh_via_worker(local_stack, tenant, connection)
    refreshed = _get(local_stack, tenant, connection["id"])
    assert sandbox.calls["refresh"] == before + 1
    assert refreshed["token_version"] == 2 and refreshed["expires_at"] is None
    assert refreshed["next_refresh_at"] > connection["next_refresh_at"]


def test_enqueuing_a_connection_twice_is_harmless(local_stack, sandbox, tenant, authorized, shift_clock):
    connection = authorized(lifetime=120)
    shift_clock(70)
    message = refresh_queue.RefreshMessage(tenant, connection["id"], 1)
    assert refresh_queue.send([message, message]) == 2
    before = sandbox.calls["refresh"]
    local_stack.refresh_due()
    assert sandbox.calls["refresh"] == before + 1
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 2


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        ({"status_5xx": 500}, "store_unavailable", 500),
        ({"status_5xx": 503}, "store_unavailable", 503),
        ({"latency_ms": 600}, "store_unreachable", None),
        ({"malformed_json": True}, "bad_store_response", 200),
        ({"html_body": True}, "bad_store_response", 200),
    ],
)
def test_transient_failures_are_retried_then_recorded(
    local_stack,
    sandbox,
    tenant,
    authorized,
    shift_clock,
    waits,
    captured_events,
    use_runtime,
    fault,
    code,
    status,
):
    connection = authorized(lifetime=120)
    sandbox.configure(**fault)
    if "latency_ms" in fault:  # the store answers after 600 ms; the client gives up after 200 ms
        use_runtime(store_timeout=httpx2.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0))
    shift_clock(70)
    before = sandbox.calls["refresh"]
    report = refresh_via_worker(local_stack, tenant, connection)
    assert report.failed >= 1
    # A delayed answer is counted when the store sends it, after the client gave up: wait for all 3.
    assert wait_until(lambda: sandbox.calls["refresh"] - before >= STORE_ATTEMPTS)
    assert sandbox.calls["refresh"] - before == STORE_ATTEMPTS
    assert len(waits.seconds) == STORE_ATTEMPTS - 1
    assert all(0 <= wait <= BACKOFF_CAP_SECONDS for wait in waits.seconds)

    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active" and stored["token_version"] == 1
    assert stored["last_error"]["code"] == code
    assert stored["consecutive_failures"] == 1 and stored["failing_since"] is not None
    assert _iso(stored["next_refresh_at"]) > datetime.now(UTC) + timedelta(seconds=70)
    (failed,) = of_type(captured_events(), "connection.refresh_failed")
    assert failed["code"] == code and failed["transient"] is True
    assert failed["attempts"] == STORE_ATTEMPTS and failed["http_status"] == status
    assert failed["consecutive_failures"] == 1
    # The message went back to the queue, invisible until the next attempt.
    sqs = local_stack.aws_client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=local_stack.resources["RefreshQueue"].ref,
        AttributeNames=["ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) >= 1


@pytest.mark.parametrize("retry_after_format", ["seconds", "http-date"])
def test_429_waits_for_retry_after_within_the_lease(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, captured_events, retry_after_format
):
    connection = authorized(lifetime=120)
    sandbox.configure(
        rate_limit_token_endpoints=True, retry_after_format=retry_after_format, retry_after_seconds=7
    )
    shift_clock(70)
    before = sandbox.calls["refresh"]
    report = refresh_via_worker(local_stack, tenant, connection)
    assert report.failed >= 1
    assert sandbox.calls["refresh"] - before == STORE_ATTEMPTS
    # Each retry waited for Retry-After (7 s; an HTTP date has 1 s resolution: 6 to 8 s from now),
    # then for the store's block to end: nobody calls before Retry-After plus the margin.
    assert len(waits.seconds) == 2 * (STORE_ATTEMPTS - 1), waits.seconds
    retry_afters, block_ends = waits.seconds[0::2], waits.seconds[1::2]
    assert all(6 <= wait <= 8 for wait in retry_afters), waits.seconds
    margin = store_rate_limiter.RETRY_AFTER_MARGIN_SECONDS
    assert all(
        7 + margin - 1 <= a + b <= 7 + margin + 1 for a, b in zip(retry_afters, block_ends, strict=True)
    )
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active" and stored["last_error"]["code"] == "rate_limited"
    (failed,) = of_type(captured_events(), "connection.refresh_failed")
    assert failed["code"] == "rate_limited" and failed["http_status"] == 429


def test_429_with_a_retry_after_beyond_the_lease_gives_the_message_back(
    local_stack, sandbox, tenant, authorized, shift_clock, waits
):
    connection = authorized(lifetime=120)
    sandbox.configure(rate_limit_token_endpoints=True, retry_after_seconds=600)
    shift_clock(70)
    before = sandbox.calls["refresh"]
    report = refresh_via_worker(local_stack, tenant, connection)
    assert report.failed >= 1
    assert sandbox.calls["refresh"] - before == 1  # no wait of 10 minutes inside a 60 s lease
    assert waits.seconds == []
    stored = _get(local_stack, tenant, connection["id"])
    # The next attempt honours Retry-After.
    assert _iso(stored["next_refresh_at"]) >= datetime.now(UTC) + timedelta(seconds=70 + 590)


def test_a_refused_grant_needs_reauthorization_at_once(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, captured_events
):
    connection = authorized(lifetime=120)
    sandbox.configure(refuse_grants=True)
    shift_clock(70)
    before = sandbox.calls["refresh"]
    refresh_via_worker(local_stack, tenant, connection)
    assert sandbox.calls["refresh"] - before == 1 and waits.seconds == []
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "needs_reauthorization"
    assert stored["last_error"]["code"] == "grant_refused" and stored["next_refresh_at"] is None
    item = raw_item(tenant, connection["id"])
    assert "due_pk" not in item and "sealed_tokens" not in item and "lease_owner" not in item
    events = captured_events()
    (event,) = of_type(events, "connection.needs_reauthorization")
    assert event["code"] == "grant_refused" and event["http_status"] == 401
    assert of_type(events, "connection.refresh_failed") == []
    # Nothing left to refresh until a new authorization.
    shift_clock(3600)
    assert token_refresh.refresh(tenant, connection["id"]).outcome is Outcome.INACTIVE
    assert sandbox.calls["refresh"] - before == 1


def test_failing_longer_than_the_window_needs_reauthorization(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, captured_events
):
    connection = authorized(lifetime=120)
    five_days_ago = (datetime.now(UTC) - timedelta(days=5)).isoformat().replace("+00:00", "Z")
    set_attributes(tenant, connection["id"], failing_since=five_days_ago, consecutive_failures=40)
    sandbox.configure(status_5xx=502)
    shift_clock(70)
    refresh_via_worker(local_stack, tenant, connection)
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "needs_reauthorization"
    assert stored["last_error"]["code"] == "failing_too_long" and stored["consecutive_failures"] == 41
    (event,) = of_type(captured_events(), "connection.needs_reauthorization")
    assert event["code"] == "failing_too_long" and "HTTP 502" in event["detail"]


def test_a_connection_that_recovers_publishes_recovered(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, captured_events
):
    connection = authorized(lifetime=3600)
    sandbox.configure(status_5xx=500)
    shift_clock(46 * 60)  # due 15 minutes before expiry
    assert token_refresh.refresh(tenant, connection["id"]).outcome is Outcome.FAILED
    failed = _get(local_stack, tenant, connection["id"])
    sandbox.configure(status_5xx=None)
    # Until the next attempt time, the connection is not due (its token is still valid for 14 minutes).
    assert token_refresh.refresh(tenant, connection["id"]).outcome is Outcome.NOT_NEEDED
    shift_clock(46 * 60 + 31 * 60)
    result = token_refresh.refresh(tenant, connection["id"])
    assert result.outcome is Outcome.REFRESHED
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["consecutive_failures"] == 0 and stored["last_error"] is None
    assert stored["failing_since"] is None and stored["token_version"] == 2
    (recovered,) = of_type(captured_events(), "connection.recovered")
    assert recovered["failures"] == 1 and recovered["token_version"] == 2
    assert _iso(recovered["failing_since"]) == _iso(failed["failing_since"])


def test_dynamodb_failing_after_the_store_rotated_still_stores_the_new_token(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, monkeypatch
):
    connection = authorized(lifetime=120)
    shift_clock(70)
    real = refresh_repository.store_refreshed
    calls = []

    class Throttled:
        def update_item(self, **_kwargs):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "UpdateItem",
            )

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            # DynamoDB itself refuses the first write: the error crosses the adapter's boundary.
            with monkeypatch.context() as patch:
                patch.setattr(refresh_repository.table, "client", Throttled)
                return real(*args, **kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(refresh_repository, "store_refreshed", flaky)
    before = sandbox.calls["refresh"]
    result = token_refresh.refresh(tenant, connection["id"])
    assert result.outcome is Outcome.REFRESHED
    assert len(calls) == 2 and len(waits.seconds) == 1
    assert sandbox.calls["refresh"] - before == 1  # the store was not asked again
    assert stored_tokens(tenant, connection["id"]).access_token == result.tokens.access_token
    assert _get(local_stack, tenant, connection["id"])["token_version"] == 2


def test_kms_throttled_while_opening_the_tokens_is_a_transient_failure_not_unreadable_tokens(
    local_stack, sandbox, tenant, authorized, shift_clock, monkeypatch
):
    from cartconnect.adapters import envelope
    from cartconnect.process import reset_process_state

    connection = authorized(lifetime=120)
    shift_clock(70)
    reset_process_state()  # a new environment: the tokens' data key must come from KMS
    real = envelope.Envelope._decrypt
    throttled = []

    def throttle_once(self, encrypted):
        if not throttled:
            throttled.append(1)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Decrypt")
        return real(self, encrypted)

    monkeypatch.setattr(envelope.Envelope, "_decrypt", throttle_once)
    before = sandbox.calls["refresh"]
    first = token_refresh.refresh(tenant, connection["id"])
    assert first.outcome is Outcome.FAILED and first.reason == "aws_error"
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active" and stored["last_error"]["code"] == "aws_error"
    assert sandbox.calls["refresh"] == before  # nothing was sent to the store
    second = token_refresh.refresh(tenant, connection["id"], force=True)
    assert second.outcome is Outcome.REFRESHED
    assert _get(local_stack, tenant, connection["id"])["last_error"] is None


def test_an_iclient_secret_gone_from_the_secret_store_needs_the_secret_set_again(
    local_stack, sandbox, tenant, authorized, shift_clock
):
    from cartconnect.adapters import iclient_secret, table

    connection = authorized(lifetime=120)
    shift_clock(70)
    iclient_secret.forget_cache()
    # The item points at a version the secret does not have (deleted out of band).
    table.client().update_item(
        TableName=table.table_name(),
        Key=table.key(f"T#{tenant}", f"ICLIENT#{connection['iclient_id']}"),
        UpdateExpression="SET secret_version = :gone",
        ExpressionAttributeValues={":gone": {"S": "00000000-0000-4000-8000-000000000000"}},
    )
    before = sandbox.calls["refresh"]
    result = token_refresh.refresh(tenant, connection["id"])
    assert result.outcome is Outcome.NEEDS_REAUTHORIZATION and result.reason == "iclient_secret_unreadable"
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["last_error"]["code"] == "iclient_secret_unreadable"
    assert sandbox.calls["refresh"] == before  # nothing was signed or sent


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetSecretValue"),
        ClientError({"Error": {"Code": "InternalServiceError", "Message": "oops"}}, "GetSecretValue"),
        ClientError({"Error": {"Code": "DecryptionFailure", "Message": "kms"}}, "GetSecretValue"),
    ],
    ids=["throttled", "unavailable", "kms"],
)
def test_secrets_manager_failing_during_a_refresh_is_transient_not_reauthorization(
    local_stack, sandbox, tenant, authorized, shift_clock, monkeypatch, failure
):
    from cartconnect import aws
    from cartconnect.adapters import iclient_secret

    connection = authorized(lifetime=120)
    shift_clock(70)
    iclient_secret.forget_cache()  # a new environment: the secret must come from Secrets Manager
    real_client = aws.client

    class Failing:
        def get_secret_value(self, **_kwargs):
            raise failure

    monkeypatch.setattr(
        aws, "client", lambda service: Failing() if service == "secretsmanager" else real_client(service)
    )
    before = sandbox.calls["refresh"]
    first = token_refresh.refresh(tenant, connection["id"])
    assert first.outcome is Outcome.FAILED and first.reason == "aws_error"
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active" and stored["last_error"]["code"] == "aws_error"
    assert sandbox.calls["refresh"] == before  # nothing was signed or sent
    monkeypatch.setattr(aws, "client", real_client)
    second = token_refresh.refresh(tenant, connection["id"], force=True)
    assert second.outcome is Outcome.REFRESHED
    assert _get(local_stack, tenant, connection["id"])["last_error"] is None


def test_a_rotated_secret_signs_the_very_next_refresh(local_stack, sandbox, tenant, authorized):
    from flow import APP_ID

    from cartconnect.adapters import iclient_secret

    connection = authorized(lifetime=3600)
    client = api(local_stack, tenant)
    # Warm: this process has read (and cached) the current version.
    assert token_refresh.refresh(tenant, connection["id"], force=True).outcome is Outcome.REFRESHED
    assert iclient_secret._cache
    try:
        # The App secret is regenerated in the store's admin, then set on the iClient.
        sandbox.register_app(APP_ID, "rotated-app-secret-77b2")
        patched = client.patch(
            f"/v1/iclients/{connection['iclient_id']}", json={"client_secret": "rotated-app-secret-77b2"}
        )
        assert patched.status_code == 200, patched.text
        before = sandbox.calls["refresh"]
        result = token_refresh.refresh(tenant, connection["id"], force=True)
        assert result.outcome is Outcome.REFRESHED, result.reason
        assert sandbox.calls["refresh"] == before + 1  # one call, signed with the new secret
    finally:
        sandbox.register_app(APP_ID, APP_SECRET)


# -- races -----------------------------------------------------------------------------------------


def test_a_lease_that_expires_mid_refresh_loses_to_the_newer_token(
    local_stack, sandbox, tenant, authorized, shift_clock, monkeypatch
):
    connection = authorized(lifetime=120)
    shift_clock(70)
    paused = Paused("stale-worker")
    hook_store_refresh(monkeypatch, paused)
    stale, stale_result = run_in_thread(
        "stale-worker", lambda: token_refresh.refresh(tenant, connection["id"])
    )
    assert paused.inside.wait(10)
    # The stale worker's lease runs out while it waits on the store; another worker takes over.
    set_attributes(tenant, connection["id"], lease_expires_at=0)
    fresh = token_refresh.refresh(tenant, connection["id"])
    assert fresh.outcome is Outcome.REFRESHED
    paused.resume()
    stale.join(10)
    (outcome,) = stale_result
    assert outcome.outcome is Outcome.SUPERSEDED, outcome
    assert sandbox.calls["refresh"] >= 2  # both asked the store...
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["token_version"] == 2  # ...only the newer one was written
    assert stored_tokens(tenant, connection["id"]).access_token == fresh.tokens.access_token
    assert "lease_owner" not in raw_item(tenant, connection["id"])


def test_a_connection_deleted_mid_refresh_stays_deleted(
    local_stack, sandbox, tenant, authorized, shift_clock, monkeypatch, captured_events
):
    connection = authorized(lifetime=120)
    shift_clock(70)
    client = api(local_stack, tenant)

    def delete_it(kwargs):
        assert client.delete(f"/v1/connections/{connection['id']}").status_code == 204

    hook_store_refresh(monkeypatch, delete_it)
    result = token_refresh.refresh(tenant, connection["id"])
    assert result.outcome is Outcome.SUPERSEDED
    assert raw_item(tenant, connection["id"]) is None
    assert client.get(f"/v1/connections/{connection['id']}").status_code == 404
    deleted = of_type(captured_events(), "connection.deleted")
    assert [event["connection_id"] for event in deleted] == [connection["id"]]


def test_reauthorization_during_a_refresh_wins(
    local_stack, sandbox, tenant, authorized, shift_clock, monkeypatch
):
    from flow import Browser, consent, to_store

    connection = authorized(lifetime=120)
    shift_clock(70)
    client = api(local_stack, tenant)
    authorized_tokens = []

    def reauthorize(kwargs):
        link = client.post(f"/v1/connections/{connection['id']}/authorize-link").json()["authorize_url"]
        browser = Browser()
        page = browser.get(consent(browser, sandbox, to_store(browser, link).headers["location"]))
        assert page.status_code == 200, page.text
        authorized_tokens.append(stored_tokens(tenant, connection["id"]).access_token)

    hook_store_refresh(monkeypatch, reauthorize)
    result = token_refresh.refresh(tenant, connection["id"])
    assert result.outcome is Outcome.SUPERSEDED
    stored = _get(local_stack, tenant, connection["id"])
    assert stored["status"] == "active" and stored["token_version"] == 2
    # The new authorization's token is kept; the refresh's (older) answer was not written over it.
    assert stored_tokens(tenant, connection["id"]).access_token == authorized_tokens[0]
    assert "lease_owner" not in raw_item(tenant, connection["id"])


# -- the worker's batches ----------------------------------------------------------------------------


def test_a_batch_with_mixed_outcomes_reports_only_the_failed_messages(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, monkeypatch
):
    good = authorized(lifetime=120)
    also_good = authorized(lifetime=120)
    bad = authorized(lifetime=120)
    gone = authorized(lifetime=120)
    shift_clock(70)
    bad_refresh_token = stored_tokens(tenant, bad["id"]).refresh_token

    def fail_bad(kwargs):
        if kwargs["refresh_token"] == bad_refresh_token:
            raise ProviderUnavailable("refresh", "store unavailable", status_code=503)

    hook_store_refresh(monkeypatch, fail_bad)
    connections = [good, also_good, bad, gone]
    refresh_queue.send([refresh_queue.RefreshMessage(tenant, c["id"], 1) for c in connections])
    api(local_stack, tenant).delete(f"/v1/connections/{gone['id']}")
    messages = receive_ours(local_stack, {c["id"] for c in connections})
    by_connection = {json.loads(m["Body"])["connection_id"]: m["MessageId"] for m in messages}

    response = invoke_worker(local_stack, messages)
    assert response == {"batchItemFailures": [{"itemIdentifier": by_connection[bad["id"]]}]}
    assert _get(local_stack, tenant, good["id"])["token_version"] == 2
    assert _get(local_stack, tenant, also_good["id"])["token_version"] == 2
    assert _get(local_stack, tenant, bad["id"])["last_error"]["code"] == "store_unavailable"


def test_a_malformed_message_is_dropped_not_retried(local_stack):
    sqs = local_stack.aws_client("sqs")
    url = local_stack.resources["RefreshQueue"].ref
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": '{"tenant": "t", "connection_id": "c", "token_version": "1", "extra": true}',
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }
    assert local_stack.invoke("RefreshWorkerFunction", {"Records": [record]}) == {"batchItemFailures": []}


def test_a_secret_never_reaches_the_refresh_events(
    local_stack, sandbox, tenant, authorized, shift_clock, waits, captured_events
):
    connection = authorized(lifetime=120)
    sandbox.configure(status_5xx=500)
    shift_clock(70)
    token_refresh.refresh(tenant, connection["id"])
    sandbox.configure(status_5xx=None, refuse_grants=True)
    shift_clock(70 + 3600)
    token_refresh.refresh(tenant, connection["id"])
    published = json.dumps(captured_events())
    secrets = sandbox.issued_secrets() | {APP_SECRET}
    assert [secret[:6] for secret in secrets if secret in published] == []
