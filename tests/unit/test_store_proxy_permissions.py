"""The store proxy's role, read off template.yaml: exactly what a proxied call and its one refresh do
(usecases/token_access.py and usecases/token_refresh.py, adapters/store_rate_limiter.py), nothing more.
Its secret and KMS permissions are checked with the other readers' in test_secret_permissions.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cartconnect_dev.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
PROXY: dict[str, Any] = load_yaml(ROOT / "template.yaml")["Resources"]["StoreProxyFunction"]
STATEMENTS: list[dict[str, Any]] = [
    statement for policy in PROXY["Properties"]["Policies"] for statement in policy["Statement"]
]


def _allowed(sid: str) -> set[str]:
    (statement,) = [s for s in STATEMENTS if s["Sid"] == sid]
    assert statement["Effect"] == "Allow"
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_the_role_allows_exactly_the_actions_of_a_proxied_call_and_its_refresh():
    assert {s["Sid"]: _allowed(s["Sid"]) for s in STATEMENTS} == {
        # the connection, its iClient, the store budget; the lease, fenced token writes, budget counters
        "TableItems": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "AuthorizeLinkTickets": {"dynamodb:PutItem"},
        "TableKeyThroughDynamoDB": {"kms:Decrypt", "kms:DescribeKey"},
        "IClientSecretRead": {"secretsmanager:GetSecretValue"},
        "IClientSecretKeyThroughSecretsManager": {"kms:Decrypt"},
        "TokenSealing": {"kms:GenerateDataKey", "kms:Decrypt"},
        "LifecycleEvents": {"events:PutEvents"},
    }


def test_the_table_is_reached_without_its_indexes_and_items_are_put_only_as_link_tickets():
    for sid in ("TableItems", "AuthorizeLinkTickets"):
        (statement,) = [s for s in STATEMENTS if s["Sid"] == sid]
        assert statement["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}, sid
    (tickets,) = [s for s in STATEMENTS if s["Sid"] == "AuthorizeLinkTickets"]
    # adapters/authorization_repository.py: a link ticket's key is TICKET#{sha256(ticket)}.
    assert tickets["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TICKET#*"]}}


def test_events_only_on_the_stacks_bus():
    (events,) = [s for s in STATEMENTS if s["Sid"] == "LifecycleEvents"]
    assert events["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}


def test_reserved_concurrency_only_when_the_parameter_asks_for_it():
    assert PROXY["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasStoreProxyReservedConcurrency",
            {"Ref": "StoreProxyReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
