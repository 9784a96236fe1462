"""EventBridge Scheduler tick: enqueue every connection whose token refresh is due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import settings
from cartconnect.cold_start import imports_done
from cartconnect.observability import logger, metrics
from cartconnect.usecases import refresh_scheduler

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("refresh scheduler", "TABLE_NAME", "KMS_KEY_ID", "REFRESH_QUEUE_URL")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = refresh_scheduler.tick(remaining_ms=context.get_remaining_time_in_millis)
    metrics.add_metric(name="DueBacklog", unit=MetricUnit.Count, value=result.due)
    metrics.add_metric(name="Enqueued", unit=MetricUnit.Count, value=result.enqueued)
    metrics.add_metric(name="TickIncomplete", unit=MetricUnit.Count, value=0 if result.complete else 1)
    return result.as_dict()


imports_done()
