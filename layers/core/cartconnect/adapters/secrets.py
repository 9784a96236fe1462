"""iClient secrets in Secrets Manager: one secret per iClient, encrypted with the project's KMS key."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cartconnect import aws
from cartconnect.settings import get_settings

# Deleted secrets stay recoverable for a week: a mistaken delete of an iClient is reversible by an operator.
RECOVERY_WINDOW_DAYS = 7


def secret_name(iclient_id: str) -> str:
    return f"{get_settings().secret_prefix}{iclient_id}"


def create(tenant: str, iclient_id: str, client_secret: str) -> str:
    """Store a new secret and return its ARN."""
    settings = get_settings()
    response = aws.secretsmanager().create_secret(
        Name=secret_name(iclient_id),
        KmsKeyId=settings.kms_key_id,
        SecretString=json.dumps({"client_secret": client_secret}),
        Description="cartconnect iClient secret (store app secret)",
        Tags=[
            {"Key": "cartconnect:tenant", "Value": tenant},
            {"Key": "cartconnect:iclient", "Value": iclient_id},
        ],
    )
    return response["ARN"]


def replace(secret_ref: str, client_secret: str) -> None:
    aws.secretsmanager().put_secret_value(
        SecretId=secret_ref, SecretString=json.dumps({"client_secret": client_secret})
    )


def delete(secret_ref: str, *, force: bool = False) -> None:
    """Schedule deletion; `force` only for a secret that was never referenced (a rolled-back create)."""
    if force:
        aws.secretsmanager().delete_secret(SecretId=secret_ref, ForceDeleteWithoutRecovery=True)
    else:
        aws.secretsmanager().delete_secret(SecretId=secret_ref, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)


# A rotated secret (PATCH /v1/iclients/{id}) is picked up by warm functions within this many seconds.
SECRET_CACHE_SECONDS = 300


@cache
def _provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws.secretsmanager())


def read(secret_ref: str) -> str:
    """The iClient's client secret, cached per process for a few minutes."""
    value = _provider().get(secret_ref, transform="json", max_age=SECRET_CACHE_SECONDS)
    return str(value["client_secret"])
