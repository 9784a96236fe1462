"""Lambda functions run in-process: each a pool of execution environments (separate imports of the
handler module), each running one invocation at a time, as Lambda runs them."""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cartconnect_dev.gateway.isolation import isolate_requests
from cartconnect_dev.template import ACCOUNT_ID, REGION, STACK_NAME, FunctionDef

# One logger for the whole gateway package: its name is what `make dev`'s lines show.
log = logging.getLogger("cartconnect_dev.gateway")

HandlerFn = Callable[[Any, Any], Any]


class HandlerLoadError(Exception):
    """The handler module cannot be imported (Lambda's Runtime.ImportModuleError)."""


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def import_from_path(path: Path, module_name: str) -> ModuleType:
    """Import the file at `path` as a new module named `module_name` (registered in sys.modules).

    The file's directory is appended to sys.path, as /var/task is on Lambda, so a handler can import
    its sibling modules. Raises HandlerLoadError when the file is missing or fails to import.
    """
    if not path.is_file():
        raise HandlerLoadError(f"Unable to import module: {path} does not exist")
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.append(code_dir)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise HandlerLoadError(f"Unable to import module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise HandlerLoadError(f"Unable to import module {path}: {exc!r}") from exc
    return module


class LocalFunction:
    """One Lambda function: a pool of execution environments, each running one invocation at a time.

    Built from a template function (`from_definition`, imports functions/<dir>/<module>.py) or from
    a plain callable (`handler=`, for tests).
    """

    def __init__(
        self,
        logical_id: str,
        *,
        module_path: Path | None = None,
        handler_name: str = "lambda_handler",
        handler: HandlerFn | None = None,
        short_name: str | None = None,
        function_name: str | None = None,
        timeout: int = 3,
        memory_size: int = 128,
        max_environments: int = 64,
    ) -> None:
        if (module_path is None) == (handler is None):
            raise ValueError("give exactly one of module_path or handler")
        self.logical_id = logical_id
        self.short_name = short_name or logical_id
        self.function_name = function_name or f"{STACK_NAME}-{logical_id}"
        self.module_path = module_path
        self.handler_name = handler_name
        self.timeout = timeout
        self.memory_size = memory_size
        self.invocations = 0
        self._handler = handler
        self._idle: list[tuple[HandlerFn, float]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_environments)
        self._loaded = 0

    @classmethod
    def from_definition(
        cls, definition: FunctionDef, root: Path, function_name: str | None = None
    ) -> LocalFunction:
        return cls(
            definition.logical_id,
            module_path=definition.module_path(root),
            handler_name=definition.handler_function,
            short_name=definition.short_name,
            function_name=function_name,
            timeout=definition.timeout,
            memory_size=definition.memory_size,
        )

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def names(self) -> set[str]:
        """Every name the Invoke API accepts for this function."""
        return {
            self.logical_id,
            self.short_name,
            self.short_name.replace("_", "-"),
            self.function_name,
        }

    def preload(self) -> None:
        """Import one environment now (raises HandlerLoadError); it is then reused."""
        handler, mtime = self._load()
        with self._lock:
            self._idle.append((handler, mtime))

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        request_id = request_id or str(uuid.uuid4())
        with self._lock:
            self.invocations += 1
        if self._handler is not None:
            return self._handler(event, self._context(request_id))
        self._slots.acquire()
        try:
            handler, mtime = self._acquire()
            started = time.monotonic()
            try:
                return handler(event, self._context(request_id))
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.timeout:
                    log.warning(
                        "%s ran %.1f s, over its %d s timeout (Lambda would have stopped it)",
                        self.logical_id,
                        elapsed,
                        self.timeout,
                    )
                with self._lock:
                    self._idle.append((handler, mtime))
        finally:
            self._slots.release()

    def _context(self, request_id: str) -> LambdaContext:
        return LambdaContext(
            function_name=self.function_name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_size,
            aws_request_id=request_id,
            deadline_ms=int(time.time() * 1000) + self.timeout * 1000,
            log_group_name=f"/aws/lambda/{self.function_name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
        )

    def _acquire(self) -> tuple[HandlerFn, float]:
        current = self._mtime()
        with self._lock:
            while self._idle:
                handler, mtime = self._idle.pop()
                if mtime == current:
                    return handler, mtime
                # The handler file changed: drop stale environments, import afresh.
        return self._load()

    def _mtime(self) -> float:
        try:
            return self.module_path.stat().st_mtime if self.module_path else 0.0
        except OSError:
            return 0.0

    def _load(self) -> tuple[HandlerFn, float]:
        path = self.module_path
        if path is None:
            raise HandlerLoadError("function has no module")
        mtime = self._mtime()
        isolate_requests()  # environments share this process; concurrent requests must not share an event
        with self._lock:
            self._loaded += 1
            name = f"_cartconnect_local_{self.logical_id}_{path.stem}_{self._loaded}"
        module = import_from_path(path, name)
        handler = getattr(module, self.handler_name, None)
        if not callable(handler):
            raise HandlerLoadError(f"Handler {self.handler_name!r} missing in {path}")
        log.debug("%s: new execution environment (%s)", self.logical_id, name)
        return handler, mtime
