"""Least privilege for the iClient secrets, read off template.yaml: who may do what in Secrets Manager,
only under the stack's prefix, and KMS for secrets only through Secrets Manager (docs/decisions/0009)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cartconnect_dev.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PREFIX_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "cartconnect/${AWS::StackName}/iclients/*"
)
# Read a secret to sign an exchange or a refresh (the store proxy refreshes after a store 401).
READERS = ("CallbackFunction", "RefreshWorkerFunction", "StoreProxyFunction")
FUNCTIONS = [name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::Serverless::Function"]


def _statements(function: str) -> list[dict[str, Any]]:
    policies = RESOURCES[function]["Properties"].get("Policies", [])
    return [statement for policy in policies for statement in policy.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _secret_actions(function: str) -> dict[str, dict[str, Any]]:
    """Each secretsmanager action the role allows, with the statement that allows it."""
    return {
        action: statement
        for statement in _statements(function)
        for action in _actions(statement)
        if action.startswith("secretsmanager:")
    }


def test_the_functions_are_told_the_prefix_their_roles_are_limited_to():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SECRET_PREFIX"] == {"Fn::Sub": "cartconnect/${AWS::StackName}/iclients/"}
    assert PREFIX_ARN.endswith(variables["SECRET_PREFIX"]["Fn::Sub"] + "*")


def test_only_the_management_function_writes_secrets_and_only_what_it_needs():
    assert set(_secret_actions("ManagementFunction")) == {
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:GetSecretValue",
    }
    for reader in READERS:
        assert set(_secret_actions(reader)) == {"secretsmanager:GetSecretValue"}
    for other in set(FUNCTIONS) - {"ManagementFunction", *READERS}:
        assert _secret_actions(other) == {}


@pytest.mark.parametrize("function", ["ManagementFunction", *READERS])
def test_every_secret_permission_is_under_the_stack_prefix(function):
    for action, statement in _secret_actions(function).items():
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] == {"Fn::Sub": PREFIX_ARN}, action


def test_creating_and_tagging_require_the_stack_key_and_both_tags():
    actions = _secret_actions("ManagementFunction")
    create = actions["secretsmanager:CreateSecret"]["Condition"]
    assert create["StringEquals"]["secretsmanager:KmsKeyId"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}
    for statement in (actions["secretsmanager:CreateSecret"], actions["secretsmanager:TagResource"]):
        condition = statement["Condition"]
        assert condition["Null"] == {
            "aws:RequestTag/cartconnect:tenant": "false",
            "aws:RequestTag/cartconnect:iclient": "false",
        }
        assert condition["ForAllValues:StringLike"] == {"aws:TagKeys": ["cartconnect:*"]}
    maintain = actions["secretsmanager:PutSecretValue"]["Condition"]
    assert maintain == {"Null": {"secretsmanager:ResourceTag/cartconnect:iclient": "false"}}


@pytest.mark.parametrize("function", ["ManagementFunction", *READERS])
def test_kms_for_secrets_only_through_secrets_manager(function):
    secret_key_statements = [
        s for s in _statements(function) if s["Sid"] == "IClientSecretKeyThroughSecretsManager"
    ]
    assert len(secret_key_statements) == 1
    condition = secret_key_statements[0]["Condition"]
    assert condition["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    assert condition["StringLike"]["kms:EncryptionContext:SecretARN"] == {"Fn::Sub": PREFIX_ARN}
    expected = {"kms:Decrypt", "kms:GenerateDataKey"} if function == "ManagementFunction" else {"kms:Decrypt"}
    assert set(_actions(secret_key_statements[0])) == expected
    # No direct KMS use other than the token vault's own context.
    for statement in _statements(function):
        if (
            any(action.startswith("kms:") for action in _actions(statement))
            and statement is not secret_key_statements[0]
        ):
            condition = statement.get("Condition", {}).get("StringEquals", {})
            assert condition.get("kms:EncryptionContext:cartconnect") == "token-sealing" or condition.get(
                "kms:ViaService"
            ) == {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}, statement["Sid"]


def test_the_key_policy_lets_secrets_manager_use_the_key_only_for_the_stacks_secrets():
    statements = RESOURCES["KmsKey"]["Properties"]["KeyPolicy"]["Statement"]
    through = next(
        s
        for s in statements
        if isinstance(s, dict) and s.get("Sid") == "UseThroughSecretsManagerForProjectSecrets"
    )
    assert set(through["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert through["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    assert through["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"] == {"Fn::Sub": PREFIX_ARN}
