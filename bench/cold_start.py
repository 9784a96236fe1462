"""Figure 1: cold start of every Lambda, as a ratio to a bare boto3 process in the same run.

A cold start here is the wall time of a fresh Python process that imports the function's handler
module (functions/<name>/app.py, with the function's own environment from the template, resolved by
the local stack) and serves one representative request against the running local stack. The
baseline is a fresh process that imports boto3, creates a DynamoDB client and makes one GetItem
on the same stack. Runs are interleaved (baseline, then the functions in a rotating order, the
baseline again halfway), so a noisy machine slows both sides alike; the figure is the ratio of the
medians. Setup for each request (ticket, OAuth state and store code, due connection, SQS message)
happens before its process starts, outside the timing; the store proxy's connection is authorized
(with the catalog scope its request reads) before the first process starts.

As in Lambda, where code and layers are read-only, nothing is compiled and kept at run time: the
core package is compiled to bytecode beforehand, as the layer's build does (layers/core/Makefile),
and each function's app.py is compiled by its process, as the deployed function's is.
"""

from __future__ import annotations

import compileall
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.environment import PROXY_SCOPES, ROOT, BenchEnvironment, existing_functions, log
from bench.function_process import LAMBDA_CONTEXT_SOURCE

ROUNDS = 11
TARGETS = {
    "management": 1.6,
    "authorize": 1.3,
    "callback": 1.6,
    "refresh_scheduler": 1.3,
    "refresh_worker": 1.6,
    "store_proxy": 1.6,
}
REQUESTS = {
    "management": "GET /v1/connections/{id} (JWT claims)",
    "authorize": "POST /connect/{ticket}, fresh ticket",
    "callback": "GET /oauth2/callback, valid state + cookie + auth_id + code",
    "refresh_scheduler": "one tick, one due connection",
    "refresh_worker": "SQS event, one due connection (sandbox refresh)",
    "store_proxy": "GET /v1/connections/{id}/proxy/products?count=1, active connection",
}
TOP_IMPORTS = 8
RESULT_MARK = "@@bench-result@@"

# The function's process: import the handler as Lambda's runtime does (its code directory first on
# sys.path), build a context, serve one event, print the result, exit without interpreter teardown
# (a Lambda environment is not torn down after its first request).
FUNCTION_PROCESS = f"""
import json, os, sys, time
started = time.perf_counter()
with open(sys.argv[1]) as f:
    spec = json.load(f)
sys.path.insert(0, spec["code_dir"])
import app
imported = time.perf_counter()

{LAMBDA_CONTEXT_SOURCE}
result = app.lambda_handler(spec["event"], Context())
done = time.perf_counter()
phases = {{"import": imported - started, "request": done - imported}}
sys.stdout.write("\\n{RESULT_MARK}" + json.dumps({{"result": result, "phases": phases}}, default=str) + "\\n")
sys.stdout.flush()
os._exit(0)
"""

# The baseline: the least any Python Lambda that reads DynamoDB does.
BASELINE_PROCESS = f"""
import json, os, sys, time
started = time.perf_counter()
with open(sys.argv[1]) as f:
    spec = json.load(f)
import boto3
imported = time.perf_counter()
client = boto3.client("dynamodb")
found = client.get_item(TableName=spec["table"], Key=spec["key"])
done = time.perf_counter()
phases = {{"import": imported - started, "request": done - imported}}
result = {{"found": "Item" in found}}
sys.stdout.write("\\n{RESULT_MARK}" + json.dumps({{"result": result, "phases": phases}}) + "\\n")
sys.stdout.flush()
os._exit(0)
"""


@dataclass
class ImportRow:
    cumulative_ms: float
    self_ms: float
    depth: int
    module: str


@dataclass
class FunctionColdStart:
    name: str
    request: str
    target: float
    samples: list[float] = field(default_factory=list)
    import_seconds: list[float] = field(default_factory=list)  # inside the process: import app
    request_seconds: list[float] = field(default_factory=list)  # inside the process: the first request
    failures: list[str] = field(default_factory=list)
    imports: list[ImportRow] = field(default_factory=list)
    import_total_ms: float = 0.0
    import_by_package: dict[str, float] = field(default_factory=dict)  # self ms by top-level package
    ratio: float = 0.0
    # 90 % bootstrap interval of the ratio of medians (both sides resampled): how far this run's
    # noise alone could move the figure.
    interval: tuple[float, float] = (0.0, 0.0)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def met(self) -> bool:
        return not self.failures and self.ratio <= self.target

    @property
    def within_noise(self) -> bool:
        """The target lies inside the interval: this run cannot tell met from missed."""
        low, high = self.interval
        return not self.failures and low <= self.target <= high

    @property
    def import_median(self) -> float:
        return statistics.median(self.import_seconds) if self.import_seconds else float("nan")

    @property
    def request_median(self) -> float:
        return statistics.median(self.request_seconds) if self.request_seconds else float("nan")


BOOTSTRAP_RESAMPLES = 2000


def ratio_interval(samples: list[float], baseline: list[float], *, seed: int = 5) -> tuple[float, float]:
    """The 5th and 95th percentiles of median(samples) / median(baseline) over bootstrap resamples
    (a fixed seed: the same runs give the same interval)."""
    rng = random.Random(seed)
    ratios = sorted(
        statistics.median(rng.choices(samples, k=len(samples)))
        / statistics.median(rng.choices(baseline, k=len(baseline)))
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return ratios[int(0.05 * len(ratios))], ratios[int(0.95 * len(ratios)) - 1]


@dataclass
class ColdStartResult:
    rounds: int
    baseline: list[float] = field(default_factory=list)
    baseline_import_seconds: list[float] = field(default_factory=list)
    baseline_request_seconds: list[float] = field(default_factory=list)
    functions: dict[str, FunctionColdStart] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def baseline_import_median(self) -> float:
        return statistics.median(self.baseline_import_seconds)

    @property
    def baseline_request_median(self) -> float:
        return statistics.median(self.baseline_request_seconds)


Check = Callable[[dict[str, Any]], str | None]


class _Requests:
    """Prepares one representative request per function (outside the timing) and checks its answer."""

    def __init__(self, env: BenchEnvironment) -> None:
        self.env = env
        self.read_connection = env.authorized_connection("cold start: read")
        self.link_connection = env.create_connection("cold start: authorize")
        self.callback_connection = env.create_connection("cold start: callback")
        self.scheduled_connection = env.authorized_connection("cold start: scheduler")
        self.worker_connection = env.authorized_connection("cold start: worker")
        self.proxy_connection = env.authorized_connection("cold start: proxy", scopes=PROXY_SCOPES)

    def connection_ids(self) -> list[str]:
        connections = (
            self.read_connection,
            self.link_connection,
            self.callback_connection,
            self.scheduled_connection,
            self.worker_connection,
            self.proxy_connection,
        )
        return [connection["id"] for connection in connections]

    def prepare(self, name: str) -> tuple[dict[str, Any], Check]:
        return getattr(self, f"_{name}")()  # type: ignore[no-any-return]

    def _management(self) -> tuple[dict[str, Any], Check]:
        connection_id = self.read_connection["id"]

        def check(result: dict[str, Any]) -> str | None:
            body = json.loads(result.get("body") or "{}")
            ok = result.get("statusCode") == 200 and body.get("id") == connection_id
            return None if ok else f"answered {result.get('statusCode')}"

        return self.env.get_connection_event(connection_id), check

    def _authorize(self) -> tuple[dict[str, Any], Check]:
        ticket = self.env.new_ticket(self.link_connection["id"])

        def check(result: dict[str, Any]) -> str | None:
            location = (result.get("headers") or {}).get("Location", "")
            ok = result.get("statusCode") == 303 and "/api/oauth?" in location
            return None if ok else f"answered {result.get('statusCode')}"

        return self.env.authorize_event(ticket), check

    def _callback(self) -> tuple[dict[str, Any], Check]:
        query, cookies = self.env.prepared_callback(self.callback_connection["id"])

        def check(result: dict[str, Any]) -> str | None:
            ok = result.get("statusCode") == 200 and "Connection authorized" in (result.get("body") or "")
            return None if ok else f"answered {result.get('statusCode')}"

        return self.env.callback_event(query, cookies), check

    def _refresh_scheduler(self) -> tuple[dict[str, Any], Check]:
        self.env.make_due(self.scheduled_connection["id"])

        def check(result: dict[str, Any]) -> str | None:
            ok = result.get("due") == 1 and result.get("enqueued") == 1
            return None if ok else f"tick found {result.get('due')} due, enqueued {result.get('enqueued')}"

        return {"source": "cartconnect.refresh-schedule"}, check

    def _refresh_worker(self) -> tuple[dict[str, Any], Check]:
        connection_id = self.worker_connection["id"]
        version = self.env.make_due(connection_id)
        records = self.env.enqueue_and_receive([(connection_id, version)])

        def check(result: dict[str, Any]) -> str | None:
            if result.get("batchItemFailures"):
                return "the refresh failed"
            now = self.env.get_connection(connection_id)["token_version"]
            return None if now == version + 1 else f"token version {now}, expected {version + 1}"

        return {"Records": records}, check

    def _store_proxy(self) -> tuple[dict[str, Any], Check]:
        def check(result: dict[str, Any]) -> str | None:
            ok = result.get("statusCode") == 200 and '"products"' in (result.get("body") or "")
            return None if ok else f"answered {result.get('statusCode')}"

        return self.env.proxy_event(self.proxy_connection["id"], "products", "count=1"), check


def _run_process(
    code: str, spec: dict[str, Any], env: dict[str, str]
) -> tuple[float, dict[str, Any] | None, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
        path = Path(handle.name)
    try:
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.perf_counter() - started
    finally:
        path.unlink(missing_ok=True)
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return elapsed, json.loads(line[len(RESULT_MARK) :]), ""
    return elapsed, None, (process.stderr.strip().splitlines() or ["no output"])[-1]


def _function_spec(
    env: BenchEnvironment, name: str, logical_id: str, event: dict[str, Any]
) -> dict[str, Any]:
    function = env.stack.function(logical_id)
    definition = env.stack.template.functions[logical_id]
    return {
        "code_dir": str(env.code_dir(name)),
        "function_name": function.function_name,
        "arn": function.arn,
        "memory": definition.memory_size,
        "timeout": definition.timeout,
        "event": event,
    }


IMPORT_PROFILE_RUNS = 3


def import_profile(
    env: BenchEnvironment, name: str, logical_id: str
) -> tuple[float, list[ImportRow], dict[str, float]]:
    """`python -X importtime` of the handler module alone (the median of 3 runs by total): its total,
    the heaviest imports by cumulative time (the handler module itself left out) and self time by
    top-level package."""
    runs = sorted(
        (_import_run(env, name, logical_id) for _ in range(IMPORT_PROFILE_RUNS)), key=lambda run: run[0]
    )
    return runs[len(runs) // 2]


def _import_run(
    env: BenchEnvironment, name: str, logical_id: str
) -> tuple[float, list[ImportRow], dict[str, float]]:
    code = f"import sys; sys.path.insert(0, {str(env.code_dir(name))!r}); import app"
    process = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=False,
        env=env.function_env(logical_id),
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows: list[ImportRow] = []
    by_package: dict[str, float] = {}
    total = 0.0
    for line in process.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, module = line.split(":", 1)[1].split("|")
        depth = (len(module) - len(module.lstrip(" ")) - 1) // 2
        row = ImportRow(int(cumulative_us) / 1000, int(self_us) / 1000, depth, module.strip())
        package = row.module.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + row.self_ms
        if row.module == "app" and depth == 0:
            total = row.cumulative_ms
            continue
        rows.append(row)
    rows.sort(key=lambda row: row.cumulative_ms, reverse=True)
    heaviest = dict(sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:TOP_IMPORTS])
    return total, rows[:TOP_IMPORTS], heaviest


def compile_layer() -> None:
    """Compile the core package to bytecode as `sam build` does for the layer (layers/core/Makefile),
    so the functions' processes load it as Lambda does: compiled once, at build time. (Timestamp
    checks here, where the sources change; the deployed layer skips them.)"""
    if not compileall.compile_dir(ROOT / "layers" / "core" / "cartconnect", quiet=1, workers=0):
        raise RuntimeError("the core package does not compile")


def measure(env: BenchEnvironment, rounds: int = ROUNDS) -> ColdStartResult:
    started = time.monotonic()
    compile_layer()
    functions = existing_functions(env.stack.template)
    requests = _Requests(env)
    result = ColdStartResult(rounds=rounds)
    for name in functions:
        result.functions[name] = FunctionColdStart(name, REQUESTS[name], TARGETS[name])
    baseline_key = {"pk": {"S": f"T#{env.tenant}"}, "sk": {"S": f"CONN#{requests.read_connection['id']}"}}
    baseline_spec = {"table": env.stack.env["TABLE_NAME"], "key": baseline_key}
    baseline_env = env.function_env(next(iter(functions.values())))

    def baseline() -> None:
        elapsed, answer, error = _run_process(BASELINE_PROCESS, baseline_spec, baseline_env)
        if answer is None or not answer["result"].get("found"):
            raise RuntimeError(f"the baseline process failed: {error or answer}")
        result.baseline.append(elapsed)
        result.baseline_import_seconds.append(answer["phases"]["import"])
        result.baseline_request_seconds.append(answer["phases"]["request"])

    names = list(functions)
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        baseline()
        for position, name in enumerate(order):
            if position == len(order) // 2:
                baseline()
            event, check = requests.prepare(name)
            spec = _function_spec(env, name, functions[name], event)
            elapsed, answer, error = _run_process(FUNCTION_PROCESS, spec, env.function_env(functions[name]))
            problem = error if answer is None else check(answer["result"])
            cold = result.functions[name]
            if problem or answer is None:
                cold.failures.append(problem or "no answer")
            else:
                cold.samples.append(elapsed)
                cold.import_seconds.append(answer["phases"]["import"])
                cold.request_seconds.append(answer["phases"]["request"])
        log(f"  cold start: round {round_index + 1}/{rounds} done")
    env.drain_queue()
    env.delete_connections(*requests.connection_ids())
    for name, logical_id in functions.items():
        cold = result.functions[name]
        cold.import_total_ms, cold.imports, cold.import_by_package = import_profile(env, name, logical_id)
        cold.ratio = cold.median / result.baseline_median if cold.samples else float("inf")
        if cold.samples:
            cold.interval = ratio_interval(cold.samples, result.baseline)
    result.seconds = time.monotonic() - started
    return result
