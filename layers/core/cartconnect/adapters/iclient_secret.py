"""iClient secrets in Secrets Manager (docs/decisions/0009): one secret per iClient, encrypted with the
stack's KMS key, tagged with its tenant and iClient id, named under the stack's own prefix.

The iClient item holds the secret's ARN and the VersionId of its value, never the value. A read asks
for that exact version, so the process cache below is keyed by (ARN, VersionId): a version never
changes, the cache needs no TTL and is never stale, and a rotated secret (a new version, the item
moved to it) is read by the very next refresh. Powertools' SecretsProvider is not used: its cache
key is the secret's name alone, whatever VersionId is asked for.

Every Secrets Manager failure leaves here as one of two errors: SecretGone (the secret or the
version no longer exists: only setting the secret again helps) or SecretStoreUnavailable (throttled,
unreachable, access or KMS trouble: it may pass, so a refresh treats it as transient).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict

from botocore.exceptions import BotoCoreError, ClientError

from cartconnect import aws
from cartconnect.domain.iclient import SecretVersion
from cartconnect.errors import ServiceUnavailable
from cartconnect.settings import SettingsError, get_settings

# A deleted iClient's secret stays restorable for a week (docs/operations.md: restoring one).
RECOVERY_WINDOW_DAYS = 7
# Values kept per process. A worker meets one iClient per store it refreshes; 4,096 small strings
# are well under a megabyte, and a version pushed out is read again with one call.
CACHE_SIZE = 4096
TENANT_TAG = "cartconnect:tenant"
ICLIENT_TAG = "cartconnect:iclient"
# What a tag value may hold (letters, digits, spaces and + - = . _ : / @, at most 256 characters).
_TAG_VALUE = re.compile(r"[\w +\-=._:/@]{1,256}")
# Secrets Manager's answers for a secret or version that is not there, or is scheduled for deletion.
_GONE = frozenset({"ResourceNotFoundException", "InvalidRequestException"})


class SecretGone(Exception):
    """The secret or this version of it no longer exists (or is scheduled for deletion)."""


class SecretStoreUnavailable(ServiceUnavailable):
    """Secrets Manager did not do what was asked; nothing was written. Safe to show."""

    def __init__(self, action: str) -> None:
        super().__init__(f"the secret store could not {action}; nothing was changed, retry later")


def _tenant_digest(tenant: str) -> str:
    return hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]


def secret_name(tenant: str, iclient_id: str) -> str:
    """Valid for any tenant id: the tenant appears only as a digest (a tenant id may hold characters
    a secret name may not, and names are visible to whoever may list secrets)."""
    prefix = get_settings().secret_prefix
    if not prefix:
        raise SettingsError("not set: SECRET_PREFIX")
    return f"{prefix}{_tenant_digest(tenant)}/{iclient_id}"


def tenant_tag(tenant: str) -> str:
    """The tenant as a tag value: itself where the tag rules allow it, else its digest."""
    return tenant if _TAG_VALUE.fullmatch(tenant) else f"sha256:{_tenant_digest(tenant)}"


def create(tenant: str, iclient_id: str, client_secret: str) -> SecretVersion:
    # The request token makes a retried CreateSecret (the SDK retries) idempotent, and becomes the
    # value's VersionId.
    token = str(uuid.uuid4())
    try:
        response = aws.client("secretsmanager").create_secret(
            Name=secret_name(tenant, iclient_id),
            ClientRequestToken=token,
            KmsKeyId=get_settings().kms_key_id,
            SecretString=_payload(client_secret),
            Description="cartconnect iClient secret (the store app's App secret)",
            Tags=[
                {"Key": TENANT_TAG, "Value": tenant_tag(tenant)},
                {"Key": ICLIENT_TAG, "Value": iclient_id},
            ],
        )
    except (ClientError, BotoCoreError):
        raise SecretStoreUnavailable("store the client secret") from None
    version = SecretVersion(response["ARN"], response.get("VersionId") or token)
    _remember(version, client_secret)
    return version


def put_version(arn: str, client_secret: str) -> SecretVersion:
    """A new version of the secret's value; the caller moves the iClient item to it."""
    token = str(uuid.uuid4())
    try:
        response = aws.client("secretsmanager").put_secret_value(
            SecretId=arn, ClientRequestToken=token, SecretString=_payload(client_secret)
        )
    except (ClientError, BotoCoreError):
        raise SecretStoreUnavailable("store the new client secret") from None
    version = SecretVersion(arn, response.get("VersionId") or token)
    _remember(version, client_secret)
    return version


def read(version: SecretVersion) -> str:
    """The client secret of exactly this version: from the process cache, else one GetSecretValue."""
    with _lock:
        cached = _cache.get(version)
        if cached is not None:
            _cache.move_to_end(version)
            return cached
        # One GetSecretValue per version however many threads want it (a cold worker's batch).
        reading = _reading.setdefault(version, threading.Lock())
    with reading:
        with _lock:
            cached = _cache.get(version)
        if cached is not None:
            return cached
        try:
            value = _fetch(version)
            _remember(version, value)
        finally:
            with _lock:
                _reading.pop(version, None)
        return value


def _fetch(version: SecretVersion) -> str:
    try:
        response = aws.client("secretsmanager").get_secret_value(
            SecretId=version.arn, VersionId=version.version_id
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _GONE:
            raise SecretGone("the iClient's secret is no longer in the secret store") from None
        raise SecretStoreUnavailable("read the client secret") from None
    except BotoCoreError:
        raise SecretStoreUnavailable("read the client secret") from None
    try:
        value = json.loads(response["SecretString"])["client_secret"]
    except (KeyError, TypeError, ValueError):
        raise SecretGone("the iClient's secret holds no client secret") from None
    if not isinstance(value, str):
        raise SecretGone("the iClient's secret holds no client secret")
    return value


def schedule_deletion(arn: str) -> None:
    try:
        aws.client("secretsmanager").delete_secret(SecretId=arn, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)
    except ClientError as error:
        # Already scheduled (a concurrent delete of the same iClient): that is the state asked for.
        if error.response.get("Error", {}).get("Code") != "InvalidRequestException":
            raise SecretStoreUnavailable("delete the client secret") from None
    except BotoCoreError:
        raise SecretStoreUnavailable("delete the client secret") from None


def restore(arn: str) -> None:
    """Cancel a scheduled deletion (an iClient delete that lost a race with a new connection)."""
    try:
        aws.client("secretsmanager").restore_secret(SecretId=arn)
    except (ClientError, BotoCoreError):
        raise SecretStoreUnavailable("restore the client secret") from None


def delete_now(arn: str) -> None:
    """Delete a secret that no item ever referenced (a create whose item write failed)."""
    aws.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def forget_cache() -> None:
    """Drop every cached value, as a new Lambda environment starts (benchmarks, tests)."""
    with _lock:
        _cache.clear()


def _payload(client_secret: str) -> str:
    return json.dumps({"client_secret": client_secret})


_lock = threading.Lock()
_cache: OrderedDict[SecretVersion, str] = OrderedDict()
_reading: dict[SecretVersion, threading.Lock] = {}


def _remember(version: SecretVersion, value: str) -> None:
    with _lock:
        _cache[version] = value
        _cache.move_to_end(version)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
