"""The pure rules of the token lifecycle: classification, backoff, Retry-After, due times, messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st

from cartconnect.adapters.refresh_queue import RefreshMessage
from cartconnect.adapters.store_rate_limiter import window_budget
from cartconnect.aws import call_failed
from cartconnect.hosts import UnsafeStoreHost
from cartconnect.provider.americommerce import parse_retry_after
from cartconnect.provider.errors import (
    AccessTokenRejected,
    GrantRefused,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from cartconnect.refresh_policy import (
    BACKOFF_CAP_SECONDS,
    MAX_VISIBILITY_SECONDS,
    RETRY_CAP_SECONDS,
    Failure,
    FailureKind,
    backoff_delay,
    classify,
    failing_too_long,
    next_attempt_delay,
    retry_delay,
    wait_fits,
)
from cartconnect.refresh_schedule import (
    DUE_SHARDS,
    due_bound,
    due_keys,
    due_partition,
    needs_refresh,
    refresh_due_at,
    shard_of,
    spread_delay,
)
from cartconnect.settings import Settings, SettingsError

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


# -- classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind", "code", "retry_now"),
    [
        (GrantRefused("refresh", "refused", status_code=401), FailureKind.PERMANENT, "grant_refused", False),
        (
            GrantRefused("refresh", "bad signature", status_code=403),
            FailureKind.PERMANENT,
            "grant_refused",
            False,
        ),
        (
            RateLimited("refresh", "slow down", retry_after_seconds=7),
            FailureKind.RATE_LIMITED,
            "rate_limited",
            True,
        ),
        (
            ProviderUnavailable("refresh", "down", status_code=500),
            FailureKind.TRANSIENT,
            "store_unavailable",
            True,
        ),
        (ProviderUnavailable("refresh", "timed out"), FailureKind.TRANSIENT, "store_unreachable", True),
        (
            ProviderResponseError("refresh", "HTML instead of JSON", status_code=200),
            FailureKind.TRANSIENT,
            "bad_store_response",
            True,
        ),
        (
            RequestRejected("refresh", "not found", status_code=404),
            FailureKind.TRANSIENT,
            "request_rejected",
            False,
        ),
        (
            AccessTokenRejected("stores", "rejected", status_code=401),
            FailureKind.TRANSIENT,
            "store_error",
            True,
        ),
        (UnsafeStoreHost("subdomain", "does not resolve"), FailureKind.TRANSIENT, "unsafe_store_host", False),
        # AWS's errors as the adapters raise them (aws.translated()).
        (
            call_failed(ClientError({"Error": {"Code": "ThrottlingException"}}, "GetSecretValue")),
            FailureKind.TRANSIENT,
            "aws_error",
            True,
        ),
        (
            call_failed(EndpointConnectionError(endpoint_url="https://kms")),
            FailureKind.TRANSIENT,
            "aws_error",
            True,
        ),
    ],
)
def test_classify(error, kind, code, retry_now):
    failure = classify(error)
    assert failure is not None
    assert (failure.kind, failure.code, failure.retry_now) == (kind, code, retry_now)
    assert failure.permanent is (kind is FailureKind.PERMANENT)


def test_classify_keeps_status_and_retry_after_and_leaves_bugs_alone():
    failure = classify(RateLimited("refresh", "slow down", retry_after_seconds=12.0))
    assert failure.status_code == 429 and failure.retry_after_seconds == 12.0
    assert (
        classify(
            ProviderUnavailable("refresh", "down", status_code=503, retry_after_seconds=3)
        ).retry_after_seconds
        == 3
    )
    assert classify(KeyError("bug")) is None
    assert classify(ValueError("bug")) is None


def test_failure_detail_is_the_providers_safe_text():
    error = ProviderUnavailable(
        "refresh", "store unavailable", status_code=502, provider_message="Bad Gateway"
    )
    assert classify(error).detail == "refresh: HTTP 502: store unavailable (store said: Bad Gateway)"


# -- backoff and waits -----------------------------------------------------------------------------


@given(attempt=st.integers(min_value=1, max_value=50), fraction=st.floats(min_value=0, max_value=1))
def test_backoff_is_capped_and_jittered(attempt, fraction):
    delay = backoff_delay(attempt, rand=lambda: fraction)
    assert 0 <= delay <= min(BACKOFF_CAP_SECONDS, 0.5 * 2 ** (attempt - 1))


def test_backoff_grows_then_caps():
    top = [backoff_delay(attempt, rand=lambda: 1.0) for attempt in range(1, 7)]
    assert top == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(3, rand=lambda: 0.0) == 0.0


@given(failures=st.integers(min_value=0, max_value=200), fraction=st.floats(min_value=0, max_value=1))
def test_retry_delay_is_never_immediate_and_capped(failures, fraction):
    delay = retry_delay(failures, rand=lambda: fraction)
    step = min(RETRY_CAP_SECONDS, 30 * 2 ** max(failures - 1, 0))
    assert step / 2 <= delay <= step <= RETRY_CAP_SECONDS


def test_next_attempt_honours_a_longer_retry_after_within_sqs_bounds():
    rate_limited = Failure(FailureKind.RATE_LIMITED, "rate_limited", "x", 429, retry_after_seconds=600)
    assert next_attempt_delay(rate_limited, 1, rand=lambda: 0.0) == 600
    short = Failure(FailureKind.RATE_LIMITED, "rate_limited", "x", 429, retry_after_seconds=2)
    assert next_attempt_delay(short, 1, rand=lambda: 0.0) == 15  # the backoff is longer
    huge = Failure(FailureKind.RATE_LIMITED, "rate_limited", "x", 429, retry_after_seconds=10**9)
    assert next_attempt_delay(huge, 1) == MAX_VISIBILITY_SECONDS


@pytest.mark.parametrize(
    ("wait", "remaining", "fits"),
    [(7, 55, True), (40, 55, True), (41, 55, False), (600, 55, False), (0, 14, False), (-1, 55, False)],
)
def test_a_wait_fits_only_with_a_whole_attempt_left(wait, remaining, fits):
    assert wait_fits(wait, remaining_seconds=remaining, attempt_budget_seconds=15) is fits


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("2.5", 2.5),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),  # a date in the past: now
        ("Sat, 01 Mar 2025 12:00:09 -0000", 9.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("-3", None),
    ],
)
def test_retry_after_seconds_or_http_date(header, expected):
    assert parse_retry_after(header, NOW) == expected


def test_failing_too_long():
    window = timedelta(days=4)
    assert not failing_too_long(None, NOW, window)
    assert not failing_too_long(NOW - timedelta(days=3, hours=23), NOW, window)
    assert failing_too_long(NOW - timedelta(days=4), NOW, window)


# -- due times -------------------------------------------------------------------------------------


def test_refresh_due_is_the_lead_before_expiry():
    issued = NOW
    assert refresh_due_at(issued_at=issued, expires_at=issued + timedelta(hours=1)) == issued + timedelta(
        minutes=45
    )
    assert refresh_due_at(
        issued_at=issued, expires_at=issued + timedelta(hours=1), lead=timedelta(minutes=5)
    ) == issued + timedelta(minutes=55)


def test_a_short_token_is_refreshed_halfway_and_a_never_expiring_one_never():
    assert refresh_due_at(issued_at=NOW, expires_at=NOW + timedelta(seconds=120)) == NOW + timedelta(
        seconds=60
    )
    assert refresh_due_at(issued_at=NOW, expires_at=NOW - timedelta(seconds=5)) == NOW - timedelta(seconds=5)
    assert refresh_due_at(issued_at=NOW, expires_at=None) is None


def test_needs_refresh():
    later = NOW + timedelta(minutes=10)
    assert needs_refresh(refresh_due_at=NOW, expires_at=later, now=NOW)
    assert not needs_refresh(refresh_due_at=later, expires_at=later + timedelta(hours=1), now=NOW)
    # A retry time in the future, but the token about to expire: refresh.
    assert needs_refresh(
        refresh_due_at=later,
        expires_at=NOW + timedelta(seconds=30),
        now=NOW,
        min_validity=timedelta(seconds=60),
    )
    assert not needs_refresh(refresh_due_at=None, expires_at=None, now=NOW + timedelta(days=3650))


TICK, SPREAD = timedelta(minutes=5), timedelta(minutes=4)


def test_spreading_holds_the_newest_due_longest_and_the_overdue_not_at_all():
    def delay(age: timedelta) -> int:
        return spread_delay(due_at=NOW - age, now=NOW, tick=TICK, spread=SPREAD)

    assert delay(timedelta(0)) == 240
    assert delay(timedelta(seconds=150)) == 120
    assert delay(TICK) == 0 and delay(timedelta(hours=3)) == 0  # a backlog goes at once
    assert delay(-timedelta(seconds=5)) == 240  # a clock a little ahead: never past the spread
    assert spread_delay(due_at=NOW, now=NOW, tick=TICK, spread=timedelta(0)) == 0
    assert spread_delay(due_at=NOW, now=NOW, tick=timedelta(0), spread=SPREAD) == 0  # tick unknown


@given(st.integers(min_value=0, max_value=299_999))
def test_a_spread_refresh_runs_between_the_spread_and_a_tick_after_its_due_time(age_ms):
    age = timedelta(milliseconds=age_ms)
    held = spread_delay(due_at=NOW - age, now=NOW, tick=TICK, spread=SPREAD)
    assert 0 <= held <= SPREAD.total_seconds()
    lateness = age.total_seconds() + held
    assert SPREAD.total_seconds() - 0.5 <= lateness <= TICK.total_seconds() + 0.5


def test_a_ticks_refreshes_come_out_at_an_even_rate_over_the_spread():
    # One connection came due every second of the last tick; a burst would put them all at 0 s.
    delays = [
        spread_delay(due_at=NOW - timedelta(seconds=age), now=NOW, tick=TICK, spread=SPREAD)
        for age in range(300)
    ]
    per_10_seconds = [sum(1 for d in delays if start <= d < start + 10) for start in range(0, 240, 10)]
    average = len(delays) / 24
    assert max(per_10_seconds) <= average + 2 and min(per_10_seconds) >= average - 2
    assert max(delays) == 240 and min(delays) == 1


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("", 0)],
)
def test_the_tick_is_read_from_the_schedules_rate_expression(expression, seconds):
    env = {"TABLE_NAME": "t", "KMS_KEY_ID": "k", "REFRESH_SCHEDULE_EXPRESSION": expression}
    assert Settings.from_environment(env).refresh_tick_seconds == seconds


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("REFRESH_SCHEDULE_EXPRESSION", "cron(0/5 * * * ? *)", "rate expression"),
        ("REFRESH_SCHEDULE_EXPRESSION", "rate(0 minutes)", "rate expression"),
        ("REFRESH_SPREAD_PERCENT", "95", "<= 90"),
        ("REFRESH_SPREAD_PERCENT", "-1", ">= 0"),
    ],
)
def test_a_malformed_schedule_or_spread_is_refused_naming_it(variable, value, named):
    with pytest.raises(SettingsError, match=named) as refused:
        Settings.from_environment({"TABLE_NAME": "t", "KMS_KEY_ID": "k", variable: value})
    assert variable in str(refused.value)


def test_the_spread_is_its_share_of_the_tick_and_never_past_sqs_longest_delay():
    def spread(expression: str, percent: str) -> timedelta:
        env = {
            "TABLE_NAME": "t",
            "KMS_KEY_ID": "k",
            "REFRESH_SCHEDULE_EXPRESSION": expression,
            "REFRESH_SPREAD_PERCENT": percent,
        }
        return Settings.from_environment(env).refresh_spread

    assert spread("rate(5 minutes)", "80") == timedelta(seconds=240)
    assert spread("rate(1 hour)", "80") == timedelta(minutes=15)
    assert spread("rate(5 minutes)", "0") == timedelta(0)
    assert spread("", "80") == timedelta(0)


def test_due_keys_sort_by_time_and_the_bound_includes_exactly_the_due():
    keys = due_keys("con_a", NOW)
    assert keys["due_pk"] == due_partition(shard_of("con_a"))
    assert keys["due_sk"] == "2025-03-01T12:00:00.000Z"
    bound = due_bound(NOW)
    assert keys["due_sk"] < bound
    assert due_keys("con_zzzz", NOW)["due_sk"] < bound
    assert due_keys("con_a", NOW + timedelta(milliseconds=1))["due_sk"] > bound
    assert due_keys("con_a", NOW - timedelta(days=400))["due_sk"] < bound


def test_shards_spread_connections():
    shards = {shard_of(f"con_{index:05d}") for index in range(2000)}
    assert shards == set(range(DUE_SHARDS))
    assert due_partition(3) == "DUE#03"


# -- messages and the call budget ------------------------------------------------------------------


def test_refresh_message_round_trip_and_refusals():
    message = RefreshMessage("acme", "con_x", 4)
    assert RefreshMessage.from_json(message.to_json()) == message
    for body in (
        "not json",
        "[]",
        '{"tenant": "acme", "connection_id": "con_x"}',
        '{"tenant": "acme", "connection_id": "con_x", "token_version": "4"}',
        '{"tenant": "acme", "connection_id": "con_x", "token_version": true}',
        '{"tenant": "", "connection_id": "con_x", "token_version": 4}',
        '{"tenant": "acme", "connection_id": "con_x", "token_version": 4, "more": 1}',
    ):
        with pytest.raises(ValueError):
            RefreshMessage.from_json(body)


@pytest.mark.parametrize(("limit", "budget"), [(50, 25), (20, 10), (10, 5), (5, 2), (2, 1)])
def test_a_window_spends_half_the_limit_so_no_ten_seconds_exceed_it(limit, budget):
    assert window_budget(limit) == budget
    assert 2 * window_budget(limit) <= limit
