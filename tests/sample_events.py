"""The sample events in events/ and what each answers once `cartconnect-dev seed` has run.

Shared by tests/e2e/test_sample_events.py (the Docker-less stack, `cartconnect-dev invoke`) and
tests/sam/ (`sam local invoke`): both must see the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = sorted((ROOT / "events").rglob("*.json"))
HTTP_EVENTS = [path for path in EVENTS if path.parent.name == "events"]
SCHEDULED_EVENTS = [path for path in EVENTS if path.parent.name == "refresh"]

SEEDED_ACTIVE = "con_00000000000000000000000001"
SEEDED_PENDING = "con_00000000000000000000000002"


def function_of(event_file: Path) -> str:
    """`management-get-connection.json` -> `management`: the function a sample is for."""
    return event_file.name.split("-", 1)[0]


def _json(result: dict[str, Any]) -> Any:
    return json.loads(result["body"])


def _html_title(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda result: text in result["body"]


@dataclass(frozen=True)
class Expected:
    status: int | None  # None: not an HTTP answer (the refresh functions)
    check: Callable[[dict[str, Any]], bool]
    about: str


def _is_active(result: dict[str, Any]) -> bool:
    body = _json(result)
    return bool(body["id"] == SEEDED_ACTIVE and body["status"] == "active")


# After a seed, for each sample: its status and what its body must show. A check never puts a body
# into an assertion message (some carry tokens).
AFTER_SEED: dict[str, Expected] = {
    # Opening the link shows what is granted and spends nothing (link previews open links too).
    "authorize-connect.json": Expected(
        200,
        lambda r: "<form method=post>" in r["body"] and not r.get("cookies"),
        "the link's page with its one button, no cookie set",
    ),
    "authorize-connect-post.json": Expected(
        303,
        lambda r: r["headers"]["Location"].split("?")[0].endswith("/api/oauth") and bool(r.get("cookies")),
        "303 to the sandbox store's consent page, with the browser-binding cookie",
    ),
    # The store denied the grant: the callback's error page is the documented answer (not a 2xx).
    "callback-store-denied.json": Expected(
        400, _html_title("The store did not authorize the connection"), "the store-denied page"
    ),
    "management-authorize-link.json": Expected(
        200, lambda r: "/connect/" in _json(r)["authorize_url"], "a fresh authorize link"
    ),
    "management-create-connection.json": Expected(
        201, lambda r: _json(r)["status"] == "pending_authorization", "a new pending connection"
    ),
    "management-create-iclient.json": Expected(
        201, lambda r: _json(r)["client_secret"] != "sample-app-secret", "a new iClient, secret masked"
    ),
    "management-delete-connection.json": Expected(204, lambda r: not r.get("body"), "deleted"),
    "management-delete-iclient.json": Expected(204, lambda r: not r.get("body"), "deleted"),
    "management-docs.json": Expected(200, _html_title("swagger"), "the Swagger UI page"),
    "management-get-connection.json": Expected(200, _is_active, "the seeded active connection"),
    "management-get-iclient.json": Expected(
        200, lambda r: _json(r)["id"] == "icl_00000000000000000000000001", "the seeded iClient"
    ),
    "management-issue-token.json": Expected(
        200, lambda r: bool(_json(r)["access_token"]) and _json(r)["token_version"] >= 1, "an access token"
    ),
    "management-list-connections.json": Expected(
        200,
        lambda r: all(item["status"] == "pending_authorization" for item in _json(r)["items"]),
        "pending connections only",
    ),
    "management-list-iclients.json": Expected(200, lambda r: len(_json(r)["items"]) >= 1, "the iClients"),
    "management-list-scopes.json": Expected(200, lambda r: len(_json(r)["items"]) > 0, "the scope catalog"),
    "management-openapi.json": Expected(200, lambda r: "openapi" in _json(r), "the OpenAPI document"),
    "management-refresh-connection.json": Expected(200, _is_active, "refreshed, still active"),
    "management-test-connection.json": Expected(
        200, lambda r: _json(r)["online"] is True, "online on the sandbox store"
    ),
    "management-update-connection.json": Expected(
        200, lambda r: _json(r)["name"] == "Sample store (US)", "renamed"
    ),
    "management-update-iclient.json": Expected(200, lambda r: _json(r)["name"] == "Renamed app", "renamed"),
    # The store proxy on the active connection (scopes include `catalog`), the sandbox store's answers
    # forwarded: its products 1-25 are seeded; 3 is updated, 25 deleted (once per sandbox store: after
    # that it is gone, 404), each new create adds one. The store's API takes no PATCH (405).
    "store_proxy-get-products.json": Expected(
        200,
        lambda r: [item["id"] for item in _json(r)["products"]] == [1, 2] and _json(r)["total_count"] >= 2,
        "the store's first two products",
    ),
    "store_proxy-create-product.json": Expected(
        200,
        lambda r: _json(r)["item_name"] == "Sample proxied product" and _json(r)["id"] > 25,
        "the product the store created",
    ),
    "store_proxy-update-product.json": Expected(
        200, lambda r: _json(r)["id"] == 3 and _json(r)["price"] == 12.75, "product 3 with its new price"
    ),
    "store_proxy-patch-product.json": Expected(
        405, lambda r: "PATCH is not allowed" in r["body"], "the store's refusal of PATCH, forwarded"
    ),
    "store_proxy-delete-product.json": Expected(
        200, lambda r: not r.get("body"), "deleted by the store (its answer has no body)"
    ),
    "refresh_scheduler-tick.json": Expected(
        None, lambda r: r["complete"] is True and r["shards_done"] == r["shards_total"], "a complete tick"
    ),
    "refresh_worker-batch.json": Expected(None, lambda r: r == {"batchItemFailures": []}, "no failures"),
}


def check_answer(event_file: Path, result: Any) -> None:
    """Assert that `result` (what the function returned) is the sample's documented answer."""
    expected = AFTER_SEED[event_file.name]
    assert isinstance(result, dict), f"{event_file.name}: not a JSON object answer"
    assert "errorType" not in result and "errorMessage" not in result, (
        f"{event_file.name}: the handler failed: {result.get('errorType')}: {result.get('errorMessage')}"
    )
    if expected.status is not None:
        assert result.get("statusCode") == expected.status, (
            f"{event_file.name}: HTTP {result.get('statusCode')}, expected {expected.status} ({expected.about})"
        )
    assert expected.check(result), f"{event_file.name}: the answer is not {expected.about}"
