"""The process-wide Powertools Logger and Metrics: one instance each, configured by POWERTOOLS_* variables."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.exceptions import MetricValueError, SchemaValidationError
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger(service="cartconnect")
# Powertools Metrics instances share one metric set per process: a handler's own `Metrics()` and its
# `@metrics.log_metrics` flush what is added here.
metrics = Metrics()

# At DEBUG these libraries log request bodies and headers (a SecretString, an X-AC-Auth-Token).
# Whatever level the Lambda's log configuration sets, they never log below WARNING.
for _chatty in ("botocore", "boto3", "urllib3", "httpx2", "httpcore", "httpcore2", "s3transfer"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

_lock = threading.Lock()


def add_metric(name: str, unit: MetricUnit, value: float) -> None:
    """Add to the invocation's metric set (thread-safe: the worker refreshes in threads).

    A metric never fails the work it measures: Powertools flushes the set by itself at its 100th
    metric, and that flush raises when the namespace is missing (a process whose metrics were set up
    before its environment was); the metric is dropped with a warning instead."""
    with _lock:
        try:
            metrics.add_metric(name=name, unit=unit, value=value)
        except (SchemaValidationError, MetricValueError) as error:
            logger.warning("metric dropped", extra={"metric": name, "error": type(error).__name__})


def count(name: str, value: int = 1) -> None:
    """Add `value` to the count metric `name` (callers need no Powertools types)."""
    add_metric(name, MetricUnit.Count, value)


def milliseconds(name: str, seconds: float) -> None:
    """Record a duration given in seconds as the milliseconds metric `name`."""
    add_metric(name, MetricUnit.Milliseconds, seconds * 1000)


class DimensionedCounts:
    """Counts by a few low-cardinality dimensions (e.g. outcome and reason), collected from threads
    and published at the end of an invocation as one EMF document per combination."""

    def __init__(self, name: str, dimension_names: Iterable[str]) -> None:
        self.name = name
        self.dimension_names = tuple(dimension_names)
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        if len(values) != len(self.dimension_names):
            raise ValueError(f"{self.name} takes {len(self.dimension_names)} dimension values")
        with self._lock:
            self._counts[values] += 1

    def snapshot(self) -> dict[tuple[str, ...], int]:
        with self._lock:
            return dict(self._counts)

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        for values, count in counts.items():
            provider = AmazonCloudWatchEMFProvider()  # a metric set of its own: its own dimensions
            for name, value in zip(self.dimension_names, values, strict=True):
                provider.add_dimension(name=name, value=value)
            provider.add_metric(name=self.name, unit=MetricUnit.Count, value=count)
            provider.flush_metrics()  # a no-op when POWERTOOLS_METRICS_DISABLED is set


# Token refreshes by outcome and reason (usecases/token_refresh.py); every handler that refreshes
# flushes it at the end of its invocation.
refresh_outcomes = DimensionedCounts("Refreshes", ("outcome", "reason"))
