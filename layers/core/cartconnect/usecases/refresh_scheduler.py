"""The refresh scheduler: one tick finds the connections whose refresh is due and enqueues them.

Due connections come from the sparse, sharded `due_for_refresh` index (never a Scan): the shards
are queried in parallel threads, one each, page by page, oldest due first, and each page is
enqueued at once (SendMessageBatch, 10 per request). A tick is bounded in time: it stops starting pages when the
Lambda's remaining time runs low, and whatever it did not reach is still due at the next tick.
Enqueuing a connection twice is harmless: the worker re-reads it under its lease.

Each message is held back in the queue in proportion to how recently its connection came due
(`refresh_schedule.spread_delay`), so the refreshes of a tick run over most of the time until the
next one at an even rate rather than in a burst: the table's capacity and the workers' concurrency
follow the average rate, not the peak (docs/lifecycle.md, "Spreading").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cartconnect import clock
from cartconnect.adapters import due_index, refresh_queue
from cartconnect.adapters.refresh_queue import RefreshMessage
from cartconnect.domain.connection import ConnectionStatus
from cartconnect.observability import logger
from cartconnect.refresh_schedule import DUE_SHARDS, spread_delay
from cartconnect.settings import get_settings

# Stop starting pages when less than this remains of the Lambda's time.
RESERVE_MS = 10_000
PAGE_SIZE = 500
PARALLEL_SHARDS = DUE_SHARDS

T = TypeVar("T")


@dataclass
class TickResult:
    due: int = 0  # due connections found (index entries whose item is still due)
    enqueued: int = 0
    held: int = 0  # of the enqueued, sent with a delay (spread over the tick)
    stale: int = 0  # index entries whose item has moved on (refreshed, deleted, inactive)
    shards_done: int = 0
    shards_total: int = DUE_SHARDS
    complete: bool = True  # False: time ran out; the rest is reached next tick

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


class _Tick:
    """Shard threads query pages of due keys; keys and messages are pooled across shards, so a
    BatchGetItem carries up to 100 keys and a SendMessageBatch 10 messages whichever shards they
    came from (with few due per shard, per-shard batches would be nearly empty)."""

    def __init__(
        self,
        now: datetime,
        remaining_ms: Callable[[], int],
        reserve_ms: int,
        page_size: int,
        *,
        tick: timedelta,
        spread: timedelta,
    ) -> None:
        self.now = now
        self.tick = tick
        self.spread = spread
        self.remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms
        self.page_size = page_size
        self.result = TickResult()
        self._lock = threading.Lock()
        self._keys: list[dict[str, object]] = []
        self._messages: list[tuple[RefreshMessage, int]] = []

    def time_left(self) -> bool:
        return self.remaining_ms() > self.reserve_ms

    def shard(self, shard: int) -> None:
        start: dict[str, object] | None = None
        while True:
            if not self.time_left():
                with self._lock:
                    self.result.complete = False
                return
            keys, start = due_index.query_page(shard, now=self.now, limit=self.page_size, start_key=start)
            self._add_keys(keys, flush=False)
            if start is None:
                with self._lock:
                    self.result.shards_done += 1
                return

    def finish(self) -> None:
        """Read and send what is left in the pools (after every shard thread is done)."""
        self._add_keys([], flush=True)
        self._add_messages([], flush=True)

    def _add_keys(self, keys: list[dict[str, object]], *, flush: bool) -> None:
        with self._lock:
            self._keys.extend(keys)
            chunks = _take(self._keys, due_index.BATCH_GET_LIMIT, flush)
        for chunk in chunks:
            candidates = due_index.read(chunk)
            due = [
                (
                    RefreshMessage(c.tenant, c.connection_id, c.token_version),
                    spread_delay(due_at=c.refresh_due_at, now=self.now, tick=self.tick, spread=self.spread),
                )
                for c in candidates
                if c.status == ConnectionStatus.ACTIVE.value
                and c.refresh_due_at is not None
                and c.refresh_due_at <= self.now
            ]
            with self._lock:
                self.result.due += len(due)
                self.result.stale += len(chunk) - len(due)
            self._add_messages(due, flush=False)

    def _add_messages(self, messages: list[tuple[RefreshMessage, int]], *, flush: bool) -> None:
        with self._lock:
            self._messages.extend(messages)
            batches = _take(self._messages, refresh_queue.BATCH_SIZE, flush)
        for batch in batches:
            accepted = refresh_queue.send_delayed(batch)
            with self._lock:
                self.result.enqueued += len(accepted)
                self.result.held += sum(1 for _, delay in accepted if delay > 0)


def _take(pool: list[T], size: int, everything: bool) -> list[list[T]]:
    """Remove and return the full chunks of `size` from `pool` (and the rest too if `everything`)."""
    end = len(pool) if everything else len(pool) - len(pool) % size
    chunks = [pool[offset : min(offset + size, end)] for offset in range(0, end, size)]
    del pool[:end]
    return chunks


def tick(
    *,
    remaining_ms: Callable[[], int],
    reserve_ms: int = RESERVE_MS,
    page_size: int = PAGE_SIZE,
    parallel: int = PARALLEL_SHARDS,
) -> TickResult:
    """Enqueue every connection due now (as far as the time allows), spread over the tick."""
    settings = get_settings()
    run = _Tick(
        clock.utc_now(),
        remaining_ms,
        reserve_ms,
        page_size,
        tick=timedelta(seconds=settings.refresh_tick_seconds),
        spread=settings.refresh_spread,
    )
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="due-shard") as pool:
        futures = [pool.submit(run.shard, shard) for shard in range(DUE_SHARDS)]
    errors = [error for error in (future.exception() for future in futures) if error is not None]
    run.finish()
    logger.info("refresh tick", extra={**run.result.as_dict(), "failed_shards": len(errors)})
    if errors:
        # The other shards were served; the failed ones are still due at the next tick.
        raise errors[0]
    return run.result
