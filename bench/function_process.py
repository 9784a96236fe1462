"""A warm Lambda execution environment of one function in its own Python process: its handler is
imported once, then invoked once per request, with the function's own environment (resolved by the
local stack). Its CPU work does not share this process's GIL with moto's server and the sandbox
store, and it reports each invocation's time, CPU time and AWS calls.

    with FunctionProcess(env, "refresh_worker", "RefreshWorkerFunction") as worker:
        invocation = worker.invoke({"Records": records})
        invocation.seconds, invocation.cpu_seconds, invocation.calls
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from bench.environment import BenchEnvironment

# A warm Lambda environment in its own process: the handler is imported once, then invoked once per
# JSON line on stdin; each answer line carries the result, the handler's time and the AWS calls it
# made. Handler logs go to stderr (a file), the protocol to the original stdout.
# The Lambda context object, as source for the child processes (they read `spec` and import `time`).
LAMBDA_CONTEXT_SOURCE = """
class Context:
    function_name = spec["function_name"]
    function_version = "$LATEST"
    memory_limit_in_mb = spec["memory"]
    invoked_function_arn = spec["arn"]
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/" + spec["function_name"]
    log_stream_name = "bench"
    def __init__(self):
        self._deadline = time.monotonic() + spec["timeout"]
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)
"""

_WARM_PROCESS = (
    """
import json, sys, threading, time
from collections import Counter
protocol, sys.stdout = sys.stdout, sys.stderr
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["code_dir"])
import app
from botocore.client import BaseClient

calls = Counter()
lock = threading.Lock()
original = BaseClient._make_api_call

def counted(self, operation, params):
    with lock:
        calls[self.meta.service_model.service_name + ":" + operation] += 1
    return original(self, operation, params)

BaseClient._make_api_call = counted

"""
    + LAMBDA_CONTEXT_SOURCE
    + """
protocol.write(json.dumps({"ready": True}) + "\\n")
protocol.flush()
for line in sys.stdin:
    request = json.loads(line)
    calls.clear()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        answer = {"result": app.lambda_handler(request["event"], Context())}
    except Exception as error:
        answer = {"error": type(error).__name__ + ": " + str(error)}
    answer["seconds"] = time.perf_counter() - started
    answer["cpu_seconds"] = time.process_time() - cpu
    answer["calls"] = dict(calls)
    protocol.write(json.dumps(answer, default=str) + "\\n")
    protocol.flush()
"""
)


@dataclass
class Invocation:
    result: Any
    seconds: float
    calls: dict[str, int]
    cpu_seconds: float  # the process's CPU time during the invocation (all its threads)


class FunctionProcess:
    """One warm execution environment of a function, in its own Python process (so its CPU work
    does not share this process's GIL with moto's server and the sandbox store)."""

    def __init__(
        self,
        env: BenchEnvironment,
        short_name: str,
        logical_id: str,
        *,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        function = env.stack.function(logical_id)
        definition = env.stack.template.functions[logical_id]
        spec = {
            "code_dir": str(env.code_dir(short_name)),
            "function_name": function.function_name,
            "arn": function.arn,
            "memory": definition.memory_size,
            "timeout": definition.timeout,
        }
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WARM_PROCESS, json.dumps(spec)],
            env={**env.function_env(logical_id), **(extra_env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._read()  # ready: imported

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise RuntimeError(f"the function process ended: {' | '.join(tail)}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: dict[str, Any]) -> Invocation:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"event": event}) + "\n")
        self._process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"the handler raised {answer['error']}")
        return Invocation(
            answer["result"], float(answer["seconds"]), dict(answer["calls"]), float(answer["cpu_seconds"])
        )

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
