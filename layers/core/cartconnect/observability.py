"""The process-wide Powertools Logger: one instance, configured by POWERTOOLS_* environment variables."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

logger = Logger(service="cartconnect")

# At DEBUG these libraries log request bodies and headers (a SecretString, an X-AC-Auth-Token).
# Whatever level the Lambda's log configuration sets, they never log below WARNING.
for _chatty in ("botocore", "boto3", "urllib3", "httpx2", "httpcore", "httpcore2", "s3transfer"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)
