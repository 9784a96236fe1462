"""SQS batch of due connections: refresh each (concurrently), report only the failed messages."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import runtime, settings
from cartconnect.adapters.sqs_batch import ConcurrentBatchProcessor
from cartconnect.cold_start import imports_done
from cartconnect.observability import logger, metrics, refresh_outcomes
from cartconnect.usecases import refresh_worker

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("refresh worker", "TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME", "REFRESH_QUEUE_URL")

# Keep this much of the Lambda's time for the writes after the last store call.
SAFETY_SECONDS = 10.0

processor = ConcurrentBatchProcessor(max_workers=10)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    deadline = (
        runtime.current().monotonic() + lambda_context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    )
    result = refresh_worker.handle(record.body, receipt_handle=record.receipt_handle, deadline=deadline)
    return result.outcome.value if result else "dropped"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)
    finally:
        refresh_outcomes.flush()


imports_done()
