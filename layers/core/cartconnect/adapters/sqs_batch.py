"""Powertools' BatchProcessor, with the records of one batch handled concurrently in threads.

The record handler, the partial batch response (ReportBatchItemFailures) and the failure bookkeeping
are Powertools' own; only `process` differs: instead of one record after another, up to
`max_workers` at once (a refresh mostly waits on the store, so threads overlap well).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType


class ConcurrentBatchProcessor(BatchProcessor):
    def __init__(self, *, max_workers: int = 10) -> None:
        # raise_on_entire_batch_failure=False: a batch whose every record failed is still a partial
        # response (all ids), not a Lambda error: worker errors then mean bugs, not store outages.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.max_workers = max_workers

    def process(self) -> list[tuple[Any, ...]]:
        records = list(self.records)
        if len(records) <= 1:
            return super().process()
        with ThreadPoolExecutor(
            max_workers=min(self.max_workers, len(records)), thread_name_prefix="batch-record"
        ) as pool:
            # success_handler/failure_handler only append to lists: safe from threads.
            return list(pool.map(self._process_record, records))
