"""functions/store_proxy/app.py: what the handler adds around the pipeline (usecases/store_proxy, faked
here): the answer or problem it returns, ProxyCalls by status class, and its one log line."""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from cartconnect.usecases.store_proxy import BudgetSpent, ProxyAnswer, ProxyCall
from cartconnect_dev.gateway.functions import LambdaContext

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = json.loads((ROOT / "events" / "store_proxy-get-products.json").read_text())
QUERY_VALUE = "needle-3f1c"


@pytest.fixture
def app(import_function: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = import_function("store_proxy")
    counted: list[dict[tuple[str, ...], int]] = []
    monkeypatch.setattr(
        module.proxied_calls, "flush", lambda: counted.append(module.proxied_calls.snapshot())
    )
    module.counted = counted
    return module


def _event(raw_path: str | None = None) -> dict[str, Any]:
    event = json.loads(json.dumps(SAMPLE))
    event["rawQueryString"] = f"sku={QUERY_VALUE}"
    if raw_path is not None:
        event["rawPath"] = raw_path
    return event


def _invoke(app: Any, event: dict[str, Any], caplog: pytest.LogCaptureFixture) -> tuple[dict[str, Any], Any]:
    context = LambdaContext(
        "store-proxy",
        "arn:aws:lambda:us-east-1:123456789012:function:p",
        512,
        "req-1",
        int(time.time() * 1000) + 29_000,
    )
    with caplog.at_level(logging.INFO), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Powertools: no application metrics to publish
        result = app.lambda_handler(event, context)
    (line,) = [record for record in caplog.records if record.getMessage() == "proxied call"]
    return result, line


def test_a_refused_path_is_a_4xx_counted_and_logged_without_its_values(app, caplog):
    connection = SAMPLE["pathParameters"]["connection_id"]
    result, line = _invoke(app, _event(f"/v1/connections/{connection}/proxy/products/%2e%2e/stores"), caplog)
    assert result["statusCode"] == 400 and json.loads(result["body"])["errors"][0]["field"] == "path"
    assert app.counted == [{("4xx",): 1}]
    assert (line.method, line.route, line.status, line.store_calls) == (
        "GET",
        "/v1/connections/{connection_id}/proxy/{path+}",
        400,
        0,
    )
    assert QUERY_VALUE not in caplog.text and "stores" not in caplog.text


def test_the_stores_answer_is_returned_with_the_store_calls_the_pipeline_made(app, caplog, monkeypatch):
    def forward(call: ProxyCall, *, deadline: float, on_store_call: Any) -> ProxyAnswer:
        assert call.store_path == f"/api/v1/products?sku={QUERY_VALUE}"
        on_store_call()
        on_store_call()
        return ProxyAnswer(201, "application/json", b'{"id": 7}', {"X-AC-Call-Limit": "2/50"}, 2)

    monkeypatch.setattr(app.store_proxy, "forward", forward)
    result, line = _invoke(app, _event(), caplog)
    assert (result["statusCode"], result["body"], result["headers"]["X-AC-Call-Limit"]) == (
        201,
        '{"id": 7}',
        "2/50",
    )
    assert app.counted == [{("2xx",): 1}]
    assert (line.status, line.store_calls) == (201, 2) and line.latency_ms >= 0


def test_a_failure_after_store_calls_logs_them_and_answers_its_problem(app, caplog, monkeypatch):
    def forward(call: ProxyCall, *, deadline: float, on_store_call: Any) -> ProxyAnswer:
        on_store_call()
        raise BudgetSpent(3.2)

    monkeypatch.setattr(app.store_proxy, "forward", forward)
    result, line = _invoke(app, _event(), caplog)
    assert (result["statusCode"], result["headers"]["Retry-After"]) == (429, "4")
    assert app.counted == [{("4xx",): 1}] and line.store_calls == 1


def test_an_unexpected_error_is_a_500_naming_the_request_and_nothing_of_the_error(app, caplog, monkeypatch):
    def forward(call: ProxyCall, *, deadline: float, on_store_call: Any) -> ProxyAnswer:
        raise RuntimeError("internal detail 9d2e")

    monkeypatch.setattr(app.store_proxy, "forward", forward)
    result, line = _invoke(app, _event(), caplog)
    body = json.loads(result["body"])
    assert (result["statusCode"], body["request_id"]) == (500, "req-1")
    assert "9d2e" not in result["body"]
    assert app.counted == [{("5xx",): 1}] and line.status == 500


def test_an_aws_failure_is_a_503_with_retry_after_when_it_may_pass_else_a_500(
    app, aws_failure, caplog, monkeypatch
):
    def forward(call: ProxyCall, *, deadline: float, on_store_call: Any) -> ProxyAnswer:
        raise aws_failure.error

    monkeypatch.setattr(app.store_proxy, "forward", forward)
    result, line = _invoke(app, _event(), caplog)
    body = json.loads(aws_failure.check(result, caplog, "application/problem+json"))
    assert (body["status"], body["request_id"]) == (aws_failure.status, "req-1")
    assert app.counted == [{("5xx",): 1}] and line.status == aws_failure.status
