"""iClient secrets in Secrets Manager: one secret per iClient, encrypted with the project's KMS key."""

from __future__ import annotations

import json

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
