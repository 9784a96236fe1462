"""Time, waits and chance as cartconnect reads them: one object, replaced whole by tests.

Every reader asks `current()` at call time (`clock.utc_now` too), so replacing the runtime moves
them all at once: the scheduler, the worker, the token API, the store's call budget, the links'
and states' expiry. Nothing imports a time function it would keep after a replacement.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def _system_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    now: Callable[[], datetime] = _system_now  # aware UTC
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep  # backoff, Retry-After and call-budget waits
    poll: Callable[[float], None] = time.sleep  # waiting for another caller's refresh to finish
    random: Callable[[], float] = random.random  # jitter
    # What a store call may take (an httpx2.Timeout); None: the provider client's default.
    store_timeout: Any = None


SYSTEM = Runtime()
_current = SYSTEM


def current() -> Runtime:
    return _current


def use(runtime: Runtime) -> Runtime:
    """Make `runtime` the one every reader sees; returns the one it replaces."""
    global _current
    previous, _current = _current, runtime
    return previous
