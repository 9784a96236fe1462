"""Each request's own event in Powertools' event handler, while the local gateway runs requests
concurrently in threads of one process.

Powertools' resolver keeps the request it resolves on class attributes (`BaseRouter.current_event
= ...`, `BaseRouter.lambda_context = ...` in `resolve`), which every resolver and router of the
process reads, and cartconnect's routers (cartconnect/http/routes) are imported once per process.
In Lambda that is sound: an execution environment serves one request at a time. In the local
gateway, two concurrent requests (two environments, one process) would read each other's event, and
so each other's tenant. `isolate_requests()` makes those two attributes the calling thread's: the
gateway runs each invocation in its request's thread from start to end.
"""

from __future__ import annotations

import threading
from typing import Any

PER_REQUEST = ("current_event", "lambda_context")

_values = threading.local()
_lock = threading.Lock()


class _PerThread:
    """A data descriptor whose value is the calling thread's (unset: AttributeError, as before)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        try:
            return getattr(_values, self.name)
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(_values, self.name, value)


def isolate_requests() -> None:
    """Make BaseRouter's per-request attributes per thread, once per process (idempotent).

    Read through an instance (`app.current_event`), Python finds the descriptor in BaseRouter's
    class dict; assigned on the class (`BaseRouter.current_event = ...`, as `resolve` does), it finds
    the one on BaseRouter's metaclass, swapped for a subclass that has it. Both keep the value in a
    thread-local."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    with _lock:
        metaclass = type(BaseRouter)
        if all(isinstance(metaclass.__dict__.get(name), _PerThread) for name in PER_REQUEST):
            return
        for name in PER_REQUEST:
            type.__setattr__(BaseRouter, name, _PerThread(name))
        per_thread = {name: _PerThread(name) for name in PER_REQUEST}
        # A class's __class__ is its metaclass (mypy reads this as replacing a method).
        BaseRouter.__class__ = type(f"PerThread{metaclass.__name__}", (metaclass,), per_thread)  # type: ignore[method-assign]
