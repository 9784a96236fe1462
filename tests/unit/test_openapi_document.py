"""docs/openapi.json is the document the management function serves at GET /v1/openapi.json
(`make openapi-check` compares the two; this asserts it without make)."""

from __future__ import annotations

import copy
import json
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

from cartconnect_dev import cli
from cartconnect_dev.gateway import LambdaContext, import_from_path
from cartconnect_dev.stack import drop_cached_settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"


@pytest.fixture
def management(monkeypatch: pytest.MonkeyPatch) -> Any:
    """functions/management/app.py, imported as Lambda would (a fresh module, the openapi env)."""
    for name, value in cli.OPENAPI_ENV.items():
        monkeypatch.setenv(name, value)
    drop_cached_settings()
    name = f"_openapi_test_{uuid.uuid4().hex}"
    module = import_from_path(ROOT / "functions" / "management" / "app.py", name)
    yield module
    sys.modules.pop(name, None)
    drop_cached_settings()


def _invoke(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext("management", "arn:aws:lambda:us-east-1:123456789012:function:m", 512, "r", 2**62)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Powertools: no application metrics to publish
        return module.lambda_handler(event, context)


def test_cartconnect_dev_openapi_prints_docs_openapi_json_byte_for_byte():
    assert cli.openapi_json(ROOT) == COMMITTED.read_text()


def test_the_served_document_is_docs_openapi_json(management):
    # The sample event is what API Gateway sends for the route (events/, `sam local invoke -e`).
    event = json.loads((ROOT / "events" / "management-openapi.json").read_text())
    response = _invoke(management, event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == json.loads(COMMITTED.read_text())


def test_swagger_ui_embeds_the_same_document(management):
    event = json.loads((ROOT / "events" / "management-openapi.json").read_text())
    docs = copy.deepcopy(event)
    docs["routeKey"] = docs["requestContext"]["routeKey"] = "GET /v1/docs"
    docs["rawPath"] = docs["requestContext"]["http"]["path"] = "/v1/docs"
    docs["rawQueryString"], docs["queryStringParameters"] = "format=json", {"format": "json"}
    swagger = _invoke(management, docs)
    assert swagger["statusCode"] == 200
    # Registering the Swagger UI route must not change the served document either.
    served = _invoke(management, event)
    assert json.loads(swagger["body"]) == json.loads(served["body"]) == json.loads(COMMITTED.read_text())
