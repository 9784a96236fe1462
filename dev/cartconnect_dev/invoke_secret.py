"""The per-stack secret that Lambda's Invoke API on the local gateway requires.

The Invoke API runs any function with any event, so whoever reaches it can write into any tenant.
`cartconnect-dev up` makes a new secret each start and keeps it only in that stack's state file
(mode 0600); its own callers (the CLI, the scheduler pass, tests) send it in `HEADER`. A web page
cannot read the state file, so it cannot send the secret; browsers are refused besides.

    headers(secret)                    # for httpx: {HEADER: secret}
    lambda_client(api_url, secret)     # boto3's lambda client, sending the secret on every call
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from cartconnect_dev.moto_resources import DUMMY_CREDENTIALS
from cartconnect_dev.template import REGION

HEADER = "x-cartconnect-invoke-secret"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def headers(secret: str) -> dict[str, str]:
    return {HEADER: secret}


def matches(presented: str | None, expected: str | None) -> bool:
    """Whether `presented` is the stack's secret (constant time); never without an expected secret."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def lambda_client(api_url: str, secret: str) -> Any:
    """A boto3 lambda client for the local gateway's Invoke API, sending the stack's secret."""
    import boto3

    client = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client("lambda", endpoint_url=api_url)

    def add_secret(request: Any, **_: Any) -> None:
        request.headers[HEADER] = secret

    client.meta.events.register("before-sign.lambda", add_secret)
    return client
