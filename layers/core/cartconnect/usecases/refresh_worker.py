"""The refresh worker: one SQS message = one connection to refresh, a batch refreshed concurrently.

A message that fails transiently goes back to the queue (a batch item failure) and stays invisible
until the connection's next attempt; after 5 receives SQS moves it to the dead-letter queue (the
scheduler keeps picking the connection up at its next due time regardless). A message the store's
call budget could not serve is sent again with a delay instead: running out of budget is not a
failure of the connection and must not push it towards the dead-letter queue.
"""

from __future__ import annotations

from cartconnect.adapters import refresh_queue
from cartconnect.adapters.refresh_queue import RefreshMessage
from cartconnect.observability import count, logger
from cartconnect.usecases import token_refresh
from cartconnect.usecases.token_refresh import Outcome, RefreshResult

# A redelivered message arrives a little after the due time it waits for.
_REDELIVERY_SLACK_SECONDS = 1.0
# SQS DelaySeconds is at most 15 minutes.
_MAX_SEND_DELAY_SECONDS = 900


class RetryLater(Exception):
    """Raised for a message to report as a batch item failure. Its text is safe to log."""

    def __init__(self, result: RefreshResult) -> None:
        super().__init__(f"refresh {result.outcome.value} ({result.reason}); retry later")
        self.result = result


def handle(body: str, *, receipt_handle: str, deadline: float) -> RefreshResult | None:
    """Refresh the connection a message names; raise RetryLater to give the message back."""
    try:
        message = RefreshMessage.from_json(body)
    except ValueError:
        # Not something the scheduler sent: retrying cannot fix it.
        logger.error("malformed refresh message dropped")
        count("MalformedRefreshMessages")
        return None
    result = token_refresh.refresh(
        message.tenant, message.connection_id, expected_version=message.token_version, deadline=deadline
    )
    if result.outcome is Outcome.FAILED:
        refresh_queue.delay(receipt_handle, (result.retry_after_seconds or 0) + _REDELIVERY_SLACK_SECONDS)
        raise RetryLater(result)
    if result.outcome is Outcome.DEFERRED:
        delay = min((result.retry_after_seconds or 1) + _REDELIVERY_SLACK_SECONDS, _MAX_SEND_DELAY_SECONDS)
        refresh_queue.send([message], delay_seconds=round(delay))
    return result
