"""The process-wide Powertools Logger: one instance, configured by POWERTOOLS_* environment variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="cartconnect")
