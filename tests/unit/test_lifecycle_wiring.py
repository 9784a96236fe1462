"""Wiring of the token lifecycle that needs no AWS: cold-start imports, metrics, the batch processor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cartconnect.adapters.sqs_batch import ConcurrentBatchProcessor
from cartconnect.observability import DimensionedCounts
from cartconnect_dev.cli import OPENAPI_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_the_management_function_imports_no_refresh_machinery_at_cold_start():
    code = (
        "import sys; sys.path.insert(0, 'functions/management'); import app; "
        "heavy = [m for m in ('cartconnect.provider.americommerce', 'httpx2', 'cartconnect.usecases.token_refresh',"
        " 'cartconnect.usecases.token_access', 'cryptography', 'boto3', 's3transfer')"
        " if m in sys.modules]; print(heavy)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")} | OPENAPI_ENV
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_refresh_outcomes_are_published_with_their_dimensions(monkeypatch, capsys):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "cartconnect/test-stack")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cartconnect")
    counts = DimensionedCounts("Refreshes", ("outcome", "reason"))
    threads = [threading.Thread(target=counts.add, args=("refreshed", "none")) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts.add("failed", "store_unavailable")
    assert counts.snapshot() == {("refreshed", "none"): 20, ("failed", "store_unavailable"): 1}
    capsys.readouterr()
    counts.flush()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    published = {(doc["outcome"], doc["reason"]): doc["Refreshes"] for doc in documents if "Refreshes" in doc}
    assert published == {("refreshed", "none"): [20.0], ("failed", "store_unavailable"): [1.0]}
    (directive,) = documents[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "cartconnect/test-stack"
    assert sorted(directive["Dimensions"][0]) == ["outcome", "reason", "service"]
    assert counts.snapshot() == {}


def test_the_batch_processor_runs_records_concurrently_and_reports_only_failures():
    from aws_lambda_powertools.utilities.batch import process_partial_response

    running, peak, lock = [0], [0], threading.Lock()

    def handler(record):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        if record.body == "fail":
            raise RuntimeError("transient")
        return record.body

    records = [
        {
            "messageId": f"m{index}",
            "receiptHandle": "r",
            "body": "fail" if index in (3, 7) else "ok",
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1",
        }
        for index in range(10)
    ]
    response = process_partial_response(
        event={"Records": records}, record_handler=handler, processor=ConcurrentBatchProcessor(max_workers=10)
    )
    assert sorted(item["itemIdentifier"] for item in response["batchItemFailures"]) == ["m3", "m7"]
    assert peak[0] > 1
    every_one_fails = [dict(record, body="fail") for record in records[:2]]
    response = process_partial_response(
        event={"Records": every_one_fails}, record_handler=handler, processor=ConcurrentBatchProcessor()
    )
    assert len(response["batchItemFailures"]) == 2  # a partial response, not a Lambda error


@pytest.mark.parametrize("function", sorted(path.name for path in (ROOT / "functions").iterdir()))
def test_every_handler_freezes_what_its_imports_built(function):
    code = (
        f"import gc, sys; sys.path.insert(0, 'functions/{function}'); "
        "before = gc.get_freeze_count(); import app; print(before, gc.get_freeze_count())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")} | OPENAPI_ENV
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    before, after = map(int, result.stdout.split()[-2:])
    assert before == 0 and after > 10_000, result.stdout + result.stderr


def test_a_metric_that_cannot_be_published_never_fails_the_work(monkeypatch):
    from aws_lambda_powertools.metrics import MetricUnit

    from cartconnect import observability

    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.setattr(observability.metrics.provider, "namespace", None)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # Powertools serializes the set by itself at its 100th metric, and needs a namespace to.
    for _ in range(150):
        observability.add_metric("StoreCallLatency", MetricUnit.Milliseconds, 1.0)
    observability.metrics.clear_metrics()


def test_the_template_gives_the_scheduler_its_tick_and_spread_as_deployed():
    """The scheduler reads the tick off RefreshScheduleExpression and the share off RefreshSpreadPercent:
    with the template's defaults a tick's refreshes are spread over 240 s of its 300."""
    from cartconnect.settings import Settings
    from cartconnect_dev.template import Physical, Resolver, load_template

    template = load_template()
    physical = {lid: Physical(f"ref:{lid}", {"Arn": f"arn:test:{lid}"}) for lid in template.resources}
    resolver = Resolver(template, physical, {"JwtIssuer": "https://issuer.example", "JwtAudience": "aud"})
    scheduler = template.resources["RefreshSchedulerFunction"]["Properties"]
    variables = resolver.resolve(scheduler["Environment"]["Variables"], "RefreshSchedulerFunction")
    settings = Settings.from_environment({"TABLE_NAME": "t", "KMS_KEY_ID": "k", **variables})
    assert settings.refresh_tick_seconds == 300
    assert settings.refresh_spread.total_seconds() == 240
