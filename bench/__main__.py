"""`make bench`: run every figure once on the local stack, print the tables and write
docs/benchmarks.md.

    python -m bench             # everything (about 2 minutes on 2 cores)
    python -m bench --no-write  # print only

Every figure is a ratio or a count taken within this one run, so it holds on a noisy machine; the
absolute times beside them are for reading, not for comparing across machines.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from bench import (
    aws_calls,
    cold_start,
    cost_model,
    proxy_overhead,
    refresh_concurrency,
    scheduler_scale,
    secret_cache,
)
from bench.aws_calls import AwsCallsResult
from bench.cold_start import ColdStartResult
from bench.cost_model import CostResult, Design, ProxyCostResult, money
from bench.environment import ROOT, BenchEnvironment, access_log_format, existing_functions, log, machine
from bench.proxy_overhead import ProxyOverheadResult
from bench.refresh_concurrency import ConcurrencyResult
from bench.scheduler_scale import SchedulerScaleResult
from bench.secret_cache import SecretCacheResult

OUTPUT = ROOT / "docs" / "benchmarks.md"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _calls(counter: dict[str, int] | dict[str, float]) -> str:
    return (
        ", ".join(f"{name} {count:g}" for name, count in sorted(counter.items(), key=lambda kv: -kv[1]))
        or "none"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# ---- the summary --------------------------------------------------------------------------------


def summary(
    cold: ColdStartResult,
    calls: AwsCallsResult,
    cost: CostResult,
    concurrency: ConcurrencyResult,
    scale: SchedulerScaleResult,
    *,
    proxy: ProxyOverheadResult,
    proxy_cost: ProxyCostResult,
) -> list[str]:
    rows = []
    for item in cold.functions.values():
        over = f" ({item.ratio / item.target - 1:+.0%})" if not item.met else ""
        low, high = item.interval
        verdict = _verdict(item.met) + (" (within this run's noise)" if item.within_noise else "")
        rows.append(
            [
                f"cold start: {item.name}",
                f"≤ {item.target}×",
                f"{item.ratio:.2f}×{over}; 90 % interval {low:.2f}–{high:.2f}",
                verdict,
            ]
        )
    fresh = calls.operations["token (fresh)"]
    fresh_worst = max(fresh.warm.total, fresh.new_environment.total)
    rows.append(
        [
            "AWS calls: token (fresh)",
            f"≤ {aws_calls.TOKEN_FRESH_TARGET}",
            f"{fresh.warm.total} warm, {fresh.new_environment.total} in a new environment",
            _verdict(fresh_worst <= aws_calls.TOKEN_FRESH_TARGET),
        ]
    )
    share = calls.per_refresh_amortized()
    scale_total = share["worker"] + share["event source"] + scale.calls_per_enqueued
    store = calls.operations["scheduled refresh"].phases["worker"].store_total
    met = (
        share["total"] <= aws_calls.SCHEDULED_REFRESH_TARGET
        and store <= aws_calls.SCHEDULED_REFRESH_STORE_TARGET
    )
    rows.append(
        [
            "AWS calls: one scheduled refresh",
            f"≤ {aws_calls.SCHEDULED_REFRESH_TARGET} + {aws_calls.SCHEDULED_REFRESH_STORE_TARGET} store call",
            f"{share['total']:.2f} + {store} at 1,000 connections; {scale_total:.2f} at {scale.due:,} due a tick",
            _verdict(met),
        ]
    )
    sizes = cost.inputs
    rows.append(
        [
            "connection item size (sealed tokens)",
            "< 1 KB",
            f"{sizes.connection_item_bytes} B; {sizes.connection_item_leased_bytes} B leased; "
            f"~{sizes.deployed_item_bytes} B leased as deployed",
            _verdict(sizes.deployed_item_bytes < 1024),
        ]
    )
    built = cost.built
    rows.append(
        [
            "cost per 1,000 connections a month: all but the iClient secrets' storage fee "
            f"(judged at {cost_model.SCALE:,})",
            f"≤ {cost.share:.0%} of the fee: {money(cost.target)}",
            f"{money(cost.unit_except_storage)} at {cost_model.SCALE:,} connections, table on "
            f"provisioned capacity ({cost.unit_except_storage / cost.target:.2f}×; total "
            f"{money(cost.unit_cost)} with the {money(cost.unit_storage)} fee; "
            f"{money(cost.on_demand_except_storage)} on-demand); a deployment of {built.connections:,} "
            "(on-demand) pays "
            f"{money(built.total)}: {money(built.total - built.storage_fee)} but the fee, "
            f"{money(built.total - built.variable)} of it fixed",
            _verdict(cost.met),
        ]
    )
    rows.append(
        [
            "iClient secret cache: GetSecretValue per worker refresh",
            "(measured)",
            f"{cost.inputs.secret_miss_measured:.1%} measured (figure 3a; formula "
            f"{cost.inputs.secret_miss_formula:.1%}); model {cost_model.Workload(built.connections).secret_miss_rate(cost.inputs.secret_cache_size):.1%} "
            f"at {built.connections:,}, {cost.scale_miss:.1%} at {cost_model.SCALE:,}",
            "-",
        ]
    )
    rows.append(
        [
            "refresh concurrency: batch of 10 ÷ one store call",
            f"≤ {refresh_concurrency.TARGET}",
            f"{concurrency.ratio:.2f}",
            _verdict(concurrency.met),
        ]
    )
    rows.append(
        [
            f"scheduler: AWS calls per enqueued ({scale.due:,} due)",
            "(count)",
            f"{scale.calls_per_enqueued:.3f}; {scale.rate:,.0f} enqueued/s locally",
            "-",
        ]
    )
    rows += proxy_summary(calls, proxy, proxy_cost)
    return ["## Targets", "", *_table(["figure", "target", "this run", ""], rows)]


def proxy_summary(
    calls: AwsCallsResult, proxy: ProxyOverheadResult, cost: ProxyCostResult
) -> list[list[str]]:
    judged, low_high = proxy.judged, proxy.judged.interval
    over = f" ({judged.ratio / proxy_overhead.TARGET - 1:+.0%})" if not proxy.met else ""
    verdict = _verdict(proxy.met) + (" (within this run's noise)" if proxy.within_noise else "")
    proxied = calls.operations[aws_calls.PROXIED]
    opening = calls.operations[aws_calls.PROXIED_OPENING].warm.total
    parts = ", ".join(
        f"{service} {money(value)}" for service, value in cost.figure.service_per_million().items()
    )
    return [
        [
            f"store proxy overhead: proxied GET ÷ direct GET, the store answering in {judged.latency_ms} ms",
            f"≤ {proxy_overhead.TARGET}×",
            f"{judged.ratio:.2f}×{over}; 90 % interval {low_high[0]:.2f}–{low_high[1]:.2f}; the proxy adds "
            f"{_ms(judged.overhead)} to a {_ms(judged.direct_median)} call (the store answering at once: "
            f"+{_ms(proxy.loopback.overhead)}, {proxy.loopback.ratio:.1f}×); within the target for direct "
            f"calls of ≥ {_ms(proxy.break_even_seconds)}",
            verdict,
        ],
        [
            "AWS calls: proxied call",
            f"≤ {aws_calls.PROXY_TARGET} warm",
            f"{proxied.warm.total} warm ({opening} when it opens its store's 10-s budget window), "
            f"{proxied.new_environment.total} in a new environment",
            _verdict(proxied.warm.total <= aws_calls.PROXY_TARGET),
        ],
        [
            "store proxy: cost per 1,000,000 proxied calls",
            "(figure)",
            f"{money(cost.figure.per_million())} at {cost.figure.calls:,} a month ({parts}); "
            f"{money(cost.sparse.per_million())} if every call opens its store's window; "
            f"{money(cost.busy.per_million())} at {cost.busy.calls:,} a month",
            "-",
        ],
    ]


# ---- the figures --------------------------------------------------------------------------------


def cold_start_section(cold: ColdStartResult) -> list[str]:
    lines = [
        f"## 1. Cold start (fresh process, median of {cold.rounds} runs, ÷ the boto3 baseline)",
        "",
        f"Baseline: a fresh process that imports boto3, creates a DynamoDB client and makes one GetItem: "
        f"**{_ms(cold.baseline_median)}** (import {_ms(cold.baseline_import_median)}, client + GetItem "
        f"{_ms(cold.baseline_request_median)}; {len(cold.baseline)} runs interleaved with the functions').",
        "",
    ]
    rows = []
    for item in cold.functions.values():
        failed = f" ({len(item.failures)} failed: {item.failures[0]})" if item.failures else ""
        rows.append(
            [
                item.name,
                item.request,
                _ms(item.median),
                _ms(item.import_median),
                _ms(item.request_median),
                f"{item.ratio:.2f}×",
                f"{item.interval[0]:.2f}–{item.interval[1]:.2f}",
                f"≤ {item.target}×",
                _verdict(item.met) + failed,
            ]
        )
    header = [
        "function",
        "request",
        "process",
        "import app",
        "first request",
        "ratio",
        "90 % interval",
        "target",
        "",
    ]
    lines += _table(header, rows)
    lines += [
        "`process` is the wall time from spawning the interpreter to the answer; `import app` and "
        "`first request` are measured inside it (the rest is the interpreter's own start). The interval "
        "is a bootstrap over this run's own samples (both the function's and the baseline's runs "
        f"resampled, {cold_start.BOOTSTRAP_RESAMPLES:,} times): where noise alone could have put the ratio. "
        "A target inside it is neither reliably met nor reliably missed on this machine.",
        "",
        "Heaviest imports (`python -X importtime`, the handler module alone, the median of 3 runs; top "
        f"{cold_start.TOP_IMPORTS} by cumulative time; each · is one level of nesting), and self time by package:",
        "",
    ]
    for item in cold.functions.values():
        lines.append(f"- **{item.name}**: `import app` {item.import_total_ms:,.0f} ms")
        lines += [
            f"  - {'· ' * row.depth}`{row.module}` {row.cumulative_ms:,.0f} ms (self {row.self_ms:,.0f})"
            for row in item.imports
        ]
        packages = ", ".join(f"{name} {ms:,.0f}" for name, ms in item.import_by_package.items())
        lines.append(f"  - by package (self ms): {packages}")
    return [*lines, ""]


def aws_calls_section(calls: AwsCallsResult, scale: SchedulerScaleResult) -> list[str]:
    lines = [
        "## 2. AWS calls per operation",
        "",
        "Counted in-process (every botocore call) on the local stack. *warm*: the per-process caches "
        "(KMS data key, iClient secret) already filled, as for most requests; *new environment*: the "
        "same operation with them empty. Store calls: the sandbox store's counters.",
        "",
    ]
    rows = []
    for operation in calls.operations.values():
        extra = operation.new_environment.calls - operation.warm.calls
        rows.append(
            [
                operation.name,
                operation.description,
                str(operation.warm.total),
                _calls(operation.warm.calls),
                f"+{sum(extra.values())}: {_calls(extra)}" if extra else "same",
                _calls(operation.warm.store) if operation.warm.store else "0",
            ]
        )
    lines += _table(
        ["operation", "what", "AWS calls", "by service:operation", "new environment", "store calls"], rows
    )
    refresh = calls.operations["scheduled refresh"]
    lines += ["The scheduled refresh, warm, by who makes the calls:", ""]
    lines += _table(
        ["part", "AWS calls", "by service:operation"],
        [[name, str(run.total), _calls(run.calls)] for name, run in refresh.phases.items()],
    )
    share = calls.per_refresh_amortized()
    scale_share = scale.calls_per_enqueued
    lines += [
        "Per scheduled refresh, amortized (the scheduler's tick and the event source's batch shared by "
        "the connections they serve; worker batches of 10):",
        "",
    ]
    lines += _table(
        ["deployment", "worker", "event source", "scheduler", "total", "store calls"],
        [
            [
                f"1,000 connections ({calls.tick_due} due a tick)",
                f"{share['worker']:g}",
                f"{share['event source']:.2f}",
                f"{share['scheduler']:.2f}",
                f"**{share['total']:.2f}**",
                str(refresh.phases["worker"].store_total),
            ],
            [
                f"{scale.due:,} due a tick (figure 5)",
                f"{share['worker']:g}",
                f"{share['event source']:.2f}",
                f"{scale_share:.3f}",
                f"**{share['worker'] + share['event source'] + scale_share:.2f}**",
                str(refresh.phases["worker"].store_total),
            ],
        ],
    )
    return lines


def _size_verdict(size: int) -> str:
    return "under 1 KB" if size < 1024 else f"**over 1 KB** (target < 1 KB, +{size - 1023} bytes)"


def secret_cache_section(result: SecretCacheResult, cost: CostResult) -> list[str]:
    size = result.cache_size
    built, scale = cost_model.Workload(cost.built.connections), cost_model.Workload(cost_model.SCALE)

    def held(hours: int) -> str:
        return f"all {result.lifetime_hours}" if hours >= result.lifetime_hours - 1 else str(hours)

    measured_held = secret_cache.lru_hours(size, result.connections, result.environments)
    rows = [
        [
            "measured: the real worker, GetSecretValue ÷ secret reads",
            f"{result.connections}",
            str(result.environments),
            held(measured_held),
            f"**{result.miss_rate:.1%}** ({result.get_secret_value} / {result.reads})",
        ],
        [
            "the same schedule replayed through a plain LRU",
            f"{result.connections}",
            str(result.environments),
            held(measured_held),
            f"{result.predicted / result.reads:.1%} ({result.predicted}): "
            + ("matches hour by hour" if result.replay_matches else "**differs from the measurement**"),
        ],
        [
            "closed form, the measured configuration",
            f"{result.connections}",
            str(result.environments),
            held(measured_held),
            f"{result.formula:.1%} (± {result.standard_error:.1%} expected sampling error)",
        ],
        [
            f"closed form, a deployment of {built.connections:,} (the model)",
            f"{built.iclients:,}",
            str(built.environments),
            held(built.secret_remembered_hours(size)),
            f"{built.secret_miss_rate(size):.1%}",
        ],
        [
            f"closed form, {scale.connections:,} connections (the model, judged)",
            f"{scale.iclients:,}",
            str(scale.environments),
            held(scale.secret_remembered_hours(size)),
            f"**{scale.secret_miss_rate(size):.1%}**",
        ],
    ]
    return [
        "### 3a. iClient secret reads: the worker's cache, measured",
        "",
        f"{result.connections} connections, each on an iClient (and a Secrets Manager secret) of its own, "
        f"refreshed once an hour for {len(result.hours)} hours through the real worker by "
        f"{result.environments} environments, each its own cache ({size:,}-entry LRU), recycled every "
        f"{result.lifetime_hours} hours with staggered ages; each hour's messages shuffled into batches of "
        f"{cost_model.BATCH_SIZE}, each batch given to an environment at random ({result.invocations} "
        f"invocations in {result.seconds:.0f} s). The first {result.lifetime_hours} hours are warm-up "
        f"({result.warmup_get_secret_value} GetSecretValue / {result.warmup_reads} reads); the rate is "
        f"taken over the {len(result.measured_hours)} hours after. See `bench/secret_cache.py`.",
        "",
        *_table(["", "iClients (N)", "environments (E)", "hours the LRU holds (m)", "miss rate"], rows),
        "From the measurement to the model: a refresh misses unless an earlier refresh of the same "
        "connection, within the environment's life and the last m hours its LRU holds, went to the same "
        "environment: miss = (1/L) Σ_{a=0}^{L−1} (1 − 1/E)^min(a, m), L = "
        f"{result.lifetime_hours} h, m = ⌊C·E/N⌋ (an environment reads about N/E iClients an hour, its LRU "
        f"holds C = {size:,}). The measurement checks the code against the replay (exactly) and the closed "
        f"form against the measurement; at {scale.connections:,} connections and {scale.environments} "
        f"environments an environment reads ~{scale.iclients // scale.environments:,} iClients an hour, "
        "so no version survives until its connection's next refresh, whatever the spread.",
        "",
    ]


def _miss_margin(cost: CostResult) -> str:
    """How much of the worker's secret reads the target leaves room for, at the scale."""
    if cost.break_even_miss >= 1:
        spare = cost.target - cost.unit_except_storage
        return f"The target holds even if every secret read misses the cache ({money(spare)} to spare)."
    return f"At this size the target needs a worker miss rate ≤ {cost.break_even_miss:.1%}."


def cost_section(cost: CostResult, secrets: SecretCacheResult) -> list[str]:
    inputs = cost.inputs
    lines = [
        "## 3. Cost per 1,000 connections a month (one refresh an hour)",
        "",
        f"Prices: us-east-1, {cost_model.PRICES_AS_OF} (constants in `bench/cost_model.py`).",
        "",
        f"Measured inputs: the connection item is **{inputs.connection_item_bytes} bytes** with its sealed "
        f"tokens, **{inputs.connection_item_leased_bytes} bytes** while leased, about "
        f"**{inputs.deployed_item_bytes} bytes** leased as deployed (AWS KMS's "
        f"{cost_model.KMS_DATA_KEY_CIPHERTEXT_BYTES}-byte data key ciphertext, the API's callback URL): "
        f"{_size_verdict(inputs.deployed_item_bytes)}, so each write of the item costs "
        f"{cost_model.write_units(inputs.deployed_item_bytes)} WRU. The iClient item "
        f"{inputs.iclient_item_bytes} bytes; a `due_for_refresh` entry {inputs.index_entry_bytes} bytes of keys. "
        f"Worker, per refresh (a warm batch of {cost_model.BATCH_SIZE}): {_calls(inputs.worker_calls)} and "
        f"{inputs.store_calls_per_refresh:g} store call; a batch of 10 takes {_ms(inputs.worker_batch_seconds)} "
        f"(figure 4, 200 ms store) at {inputs.worker_memory_mb} MB; a tick with {inputs.tick_due} due takes "
        f"{_ms(inputs.tick_seconds)} at {inputs.scheduler_memory_mb} MB; logs: "
        f"{inputs.log_bytes_per_refresh:,.0f} bytes per refresh (log lines + EMF metrics, a batch's share). "
        f"iClient secret reads: the worker's cache miss rate of figure 3a "
        f"({inputs.secret_miss_measured:.1%} measured), by its closed form at each size.",
        "",
        f"Assumptions: {cost_model.CONNECTIONS_PER_ICLIENT} iClient (one Secrets Manager secret) per "
        "connection (a store app is created in its store's admin); full worker batches of 10; worker "
        f"environments live ~{cost_model.ENVIRONMENT_LIFETIME_HOURS} hours, up to "
        f"{cost_model.MAX_WORKER_ENVIRONMENTS} of them, batches spread over them at random; each "
        "GetSecretValue costs one KMS Decrypt (the stack's customer-managed key); the callback's read at "
        "an authorization (one a connection a year) always misses; a secret is created once per "
        f"iClient lifetime ({cost_model.ICLIENT_LIFETIME_MONTHS} months assumed: CreateSecret + its "
        "GenerateDataKey), secret changes (PutSecretValue) left out; ~5 idle SQS long polls by the event "
        "source; 350 bytes of platform log lines per invocation; DynamoDB re-decrypts its table key every "
        "5 minutes per active role; free tiers ignored.",
        "",
    ]
    designs: list[Design] = [
        cost.built,
        cost.tokens_in_secrets_manager,
        cost.at_scale,
        cost.at_scale_on_demand,
        cost.tokens_in_secrets_manager_at_scale,
    ]
    headers = [f"{design.name}, {design.connections:,} connections" for design in designs]
    services = list(dict.fromkeys(service for design in designs for service in design.by_service()))
    rows = [
        [service, *[money(design.by_service().get(service, 0.0)) for design in designs]]
        for service in services
    ]
    rows.append(["**total a month**", *[f"**{money(design.total)}**" for design in designs]])
    rows.append(
        ["of which fixed per deployment", *[money(design.total - design.variable) for design in designs]]
    )
    rows.append(["of which iClient secrets' storage fee", *[money(design.storage_fee) for design in designs]])
    rows.append(
        ["**per 1,000 connections: total**", *[f"**{money(design.per_thousand())}**" for design in designs]]
    )
    rows.append(
        [
            "**per 1,000 connections: all but the storage fee**",
            *[f"**{money(design.except_storage_per_thousand())}**" for design in designs],
        ]
    )
    lines += _table(["service", *headers], rows)
    at_scale, built = cost.at_scale, cost.built
    reads = at_scale.cost_of(cost_model.WORKER_READS) + at_scale.cost_of(cost_model.WORKER_DECRYPTS)
    lines += [
        "The table's billing mode is a deployment parameter (`TableBillingMode`, "
        "[decision 0013](decisions/0013-table-capacity.md)): on-demand, the default, is what a deployment "
        "of unknown or changing size should run; provisioned capacity with auto scaling costs less "
        f"from about {cost.provisioned_from:,} connections on (the same model, both ways), and "
        f"docs/scaling.md's checklist for {cost_model.SCALE:,} connections sets it. Provisioned capacity "
        f"is billed per unit-hour at what target tracking keeps: the busiest minutes' consumption at "
        f"{cost_model.TARGET_UTILIZATION:.0%}, at least {cost_model.MIN_CAPACITY_UNITS} units per table "
        "and index; the refreshes run at 1.25 times their average rate (spread over 80 % of each tick, "
        "docs/lifecycle.md), the scheduler reads a tick's due items within a minute.",
        "",
        f"Per 1,000 connections a month at {cost_model.SCALE:,} connections (as built, provisioned): **total "
        f"{money(cost.unit_cost)}**, of which the iClient secrets' storage fee {money(cost.unit_storage)}; "
        f"**everything but the storage fee {money(cost.unit_except_storage)}**, of it {money(reads)} the "
        f"worker's secret reads ({cost.scale_miss:.1%} of refreshes miss its cache: GetSecretValue + KMS "
        f"Decrypt) and {money(cost.unit_except_storage - reads)} the rest. Target: all but the storage fee "
        f"≤ {cost.share:.0%} of it, {money(cost.target)}, judged at {cost_model.SCALE:,} connections: "
        f"{_verdict(cost.met)} ({cost.unit_except_storage / cost.target:.2f}×). {_miss_margin(cost)} "
        "On-demand at the same size: "
        f"{money(cost.on_demand_except_storage)} "
        f"({cost.on_demand_except_storage / cost.target:.2f}× the target).",
        "",
        f"A deployment of exactly {built.connections:,} connections (on-demand) pays {money(built.total)} a month: "
        f"{money(built.storage_fee)} storage fee, {money(built.total - built.storage_fee)} everything else "
        f"({money(built.total - built.variable)} of it what any deployment pays; "
        f"{money(built.except_storage_per_thousand() - (built.total - built.variable))} for its connections).",
        "",
        f"Line items at {cost_model.SCALE:,} connections, as built (provisioned):",
        "",
    ]
    lines += _table(
        ["service", "item", "quantity / month", "cost", "per 1,000 connections"],
        [
            [
                item.service,
                item.what + (" (fixed)" if item.fixed else ""),
                f"{item.quantity:,.0f}",
                money(item.cost),
                money(item.cost / cost.at_scale.connections * 1000),
            ]
            for item in cost.at_scale.items
        ],
    )
    lines += [f"On-demand at {cost_model.SCALE:,} connections, DynamoDB's lines are instead:", ""]
    lines += _table(
        ["item", "quantity / month", "cost", "per 1,000 connections"],
        [
            [item.what, f"{item.quantity:,.0f}", money(item.cost), money(item.cost / cost_model.SCALE * 1000)]
            for item in cost.at_scale_on_demand.items
            if item.service == "DynamoDB"
        ],
    )
    lines += secret_cache_section(secrets, cost)
    lines += [
        "What the design's parts cost (the same model at "
        f"{cost_model.SCALE:,} connections, each part left out in turn; none of these is built, "
        "each is what a safety property or an access pattern costs):",
        "",
    ]
    lines += _table(
        ["left out", "per 1,000 connections: all but the storage fee", "saves"],
        [["nothing (as built)", money(cost.unit_except_storage), "-"]]
        + [
            [
                name,
                money(design.except_storage_per_thousand()),
                money(cost.unit_except_storage - design.except_storage_per_thousand()),
            ]
            for name, design in cost.parts
        ],
    )
    return lines


def concurrency_section(result: ConcurrencyResult) -> list[str]:
    serial = result.single * result.batch_size
    rows = [
        ["one store call (direct POST, 200 ms latency)", _ms(result.store_call)],
        ["one refresh through the worker (batch of 1)", _ms(result.single)],
        [f"batch of {result.batch_size} through the worker", _ms(result.batch)],
        [f"batch of {result.batch_size}, store answering at once", _ms(result.no_latency_batch)],
        ["the same, the environment's first batch (no latency)", _ms(result.first_batch_seconds)],
        ["serial equivalent (10 × one refresh)", _ms(serial)],
        ["**batch ÷ one store call**", f"**{result.ratio:.2f}** (target ≤ {refresh_concurrency.TARGET})"],
        [
            "(batch − batch without latency) ÷ one store call",
            f"{(result.batch - result.no_latency_batch) / result.store_call:.2f}",
        ],
        ["store calls in the batch", str(result.store_calls_per_batch)],
        ["worker CPU time for the batch (its process, all threads)", _ms(result.batch_cpu)],
    ]
    return [
        f"## 4. Refresh concurrency (a worker batch of {result.batch_size}, store latency {result.latency_ms} ms)",
        "",
        *_table(["", "median"], rows),
        f"Target: {_verdict(result.met)}. The batch without store latency is what the local stack adds: "
        "moto answers the batch's DynamoDB calls one at a time from one Python process.",
        "",
    ]


def scale_section(result: SchedulerScaleResult) -> list[str]:
    rows = [
        [
            "due connections written (BatchWriteItem, untimed)",
            f"{result.due:,} in {result.write_seconds:.1f} s",
        ],
        ["enqueued by one tick", f"{result.enqueued:,} (complete: {result.tick.get('complete')})"],
        ["AWS calls", f"{sum(result.calls.values()):,}: {_calls(result.calls)}"],
        ["**AWS calls per enqueued connection**", f"**{result.calls_per_enqueued:.3f}**"],
        ["tick time (handler, warm environment)", f"{result.tick_seconds:.1f} s"],
        [
            "scheduler CPU time for the tick",
            f"{result.tick_cpu_seconds:.1f} s ({result.tick_cpu_seconds / result.enqueued * 1000:.2f} ms per enqueued)",
        ],
        ["**enqueue rate**", f"**{result.rate:,.0f} connections/s** (local stack: a floor)"],
    ]
    return [
        f"## 5. Scheduler scale ({result.due:,} due connections, one pass)",
        "",
        *_table(["", ""], rows),
        "DynamoDB is moto; SQS is a constant-time SendMessageBatch stand-in (moto's SQS slows with the "
        "square of its queue length). See `bench/scheduler_scale.py`.",
        "",
    ]


def _ms1(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def proxy_section(proxy: ProxyOverheadResult, cost: ProxyCostResult) -> list[str]:
    rows = [
        [
            f"{run.latency_ms} ms",
            _ms1(run.direct_median),
            _ms1(run.proxied_median),
            f"+{_ms1(run.overhead)}",
            f"{run.ratio:.2f}×",
            f"{run.interval[0]:.2f}–{run.interval[1]:.2f}",
            f"≤ {proxy_overhead.TARGET}×: {_verdict(proxy.met)}" if run is proxy.judged else "(not judged)",
        ]
        for run in (proxy.judged, proxy.loopback)
    ]
    calls = ", ".join(f"{name} {count:.2f}" for name, count in sorted(proxy.calls_per_proxied.items()))
    lines = [
        "## 6. Store proxy: overhead and cost per million calls",
        "",
        f"`GET /api/v1/{proxy_overhead.STORE_PATH}?{proxy_overhead.QUERY}` on the sandbox store, sent "
        "*direct* (an httpx2 client with keep-alive, the connection's access token in X-AC-Auth-Token) and "
        "*proxied* (`GET /v1/connections/{id}/proxy/...`: the store_proxy handler invoked in-process in a "
        f"warm environment with a payload v2 event), {proxy.rounds} interleaved rounds after "
        f"{proxy_overhead.WARMUP_ROUNDS} warm-up rounds, at each store latency; medians. What each side "
        "includes: `bench/proxy_overhead.py`.",
        "",
        *_table(
            ["store answers in", "direct", "proxied", "the proxy adds", "ratio", "90 % interval", "target"],
            rows,
        ),
        f"The proxy's part is mostly its two AWS calls: here moto's GetItem of the connection takes "
        f"{_ms1(proxy.moto_get_item)} and the budget's UpdateItem {_ms1(proxy.moto_update_item)} (each "
        "made alone from the bench; DynamoDB in-region answers in a few milliseconds). Not included: "
        "API Gateway and its JWT authorizer, Lambda's invoke, TLS (plain HTTP on loopback on both sides). "
        f"The ratio is within {proxy_overhead.TARGET}× whenever the direct call takes at least "
        f"{_ms(proxy.break_even_seconds)}. AWS calls per proxied call over all rounds: {calls} "
        f"({proxy.window_openings} calls opened the store's 10-second window: a second UpdateItem); no "
        "call waited for the store's budget (no ProxyBudgetWaits published) and every answer was 200. "
        f"Answer: {proxy.direct_answer_bytes:,} bytes direct, {proxy.answer_bytes:,} proxied (the same "
        f"JSON with its paging links pointed at the proxy); per call the handler logs "
        f"{proxy.log_line_bytes:,.0f} bytes (its log line) and publishes {proxy.metric_bytes:,.0f} bytes "
        "of EMF metrics.",
        "",
    ]
    designs = cost.designs()
    services = list(dict.fromkeys(service for _, design in designs for service in design.by_service()))
    table = [
        [service, *[money(design.service_per_million().get(service, 0.0)) for _, design in designs]]
        for service in services
    ]
    table.append(
        ["**per 1,000,000 calls**", *[f"**{money(design.per_million())}**" for _, design in designs]]
    )
    figure, inputs = cost.figure, cost.inputs
    keys = cost_model.MAX_WORKER_ENVIRONMENTS * (cost_model.ENVIRONMENT_LIFETIME_HOURS + 1)
    many_keys = (
        cost_model.proxy_environments(figure.calls, inputs.seconds)
        * keys
        * cost_model.KMS_REQUEST
        / figure.calls
        * cost_model.PER_MILLION
    )
    lines += [
        "What a million proxied calls cost (us-east-1, the prices of figure 3 and the HTTP API's; "
        "`bench/cost_model.py`), per million calls:",
        "",
        *_table(["service", *[name for name, _ in designs]], table),
        f"Line items at {figure.calls:,} calls a month (the figure):",
        "",
        *_table(
            ["service", "item", "quantity / month", "cost"],
            [
                [
                    item.service,
                    item.what,
                    f"{item.quantity:,.{1 if item.quantity < 100 else 0}f}",
                    f"${item.cost:,.3f}",
                ]
                for item in figure.items
            ],
        ),
        f"Measured: the AWS calls of figure 2 (a warm proxied GET, the same opening its store's window, "
        f"what a new environment adds), the proxied call's time at {inputs.store_latency_ms} ms of store "
        f"latency above, the answer's size, the handler's log bytes, the deployed connection item "
        f"({inputs.connection_item_bytes} B: {cost_model.strong_read_units(inputs.connection_item_bytes)} RRU "
        f"strongly consistent) and the budget item ({inputs.budget_item_bytes} B: "
        f"{cost_model.write_units(inputs.budget_item_bytes)} WRU). The duration is this machine's at full speed (Lambda "
        f"gives {inputs.memory_mb} MB about {inputs.memory_mb / 1769:.2f} of a vCPU: the call's few "
        "milliseconds of CPU take longer there) with "
        "moto's answer times in place of DynamoDB's. Assumed: calls arrive steadily; a proxy environment lives "
        f"~{cost_model.ENVIRONMENT_LIFETIME_HOURS} h (as the model's workers), as many at once as the load "
        "keeps busy; the access log line is the template's format filled with this call's values; X-Ray's "
        "default sampling (the first call each second, then 5 %): at 1 million a month every call is "
        "traced. A new environment decrypts each data key it meets once: measured, 1 (one connection); "
        "tokens are sealed under one data key per worker environment and hour, so an environment calling "
        f"many connections could meet up to ~{keys} in its life at {cost_model.SCALE:,} connections: "
        f"${many_keys:.3f} per million calls at {figure.calls:,} a month instead of "
        f"${figure.service_per_million().get('KMS', 0.0):.4f}.",
        "",
    ]
    return lines


def caveats() -> list[str]:
    return [
        "## Reading these numbers",
        "",
        "- Everything runs on loopback: moto answers every AWS call from one Python process, one call at a "
        "time, in a few milliseconds each. Figures that make many AWS calls (the scheduler's shard queries, a "
        "batch's 40 DynamoDB calls) are slower here than in AWS, where those calls overlap.",
        "- The cold-start baseline and the functions talk plain HTTP to moto and to the sandbox store, so "
        "neither side loads a CA bundle here (the store client builds its TLS half at its first https "
        "request). In AWS the baseline's GetItem and every function's AWS calls would set up TLS alike; "
        "the store-calling functions (callback, worker) would also do it once for the store.",
        "- Lambda gives a function CPU in proportion to its memory (1,769 MB is one vCPU): the CPU times "
        "in figures 4 and 5 are this machine's, at full speed.",
        "- Counts (figure 2, 5) do not depend on the machine. Durations feed only the Lambda line of the "
        "cost model, which is small.",
        "",
    ]


# ---- the run ------------------------------------------------------------------------------------


def run(*, write: bool, rounds: int) -> int:
    started = time.monotonic()
    when = datetime.now(UTC)
    host = machine()
    log(f"bench: {host['cpu']}, {host['cores']} cores, Python {host['python']}")
    with BenchEnvironment() as env:
        log("1/6 cold start")
        cold = cold_start.measure(env, rounds=rounds)
        log("2/6 AWS calls per operation")
        calls = aws_calls.measure(env, env.logs)
        log("3a/6 iClient secret cache")
        secrets = secret_cache.measure(env)
        log("4/6 refresh concurrency")
        concurrency = refresh_concurrency.measure(env)
        log("5/6 scheduler scale")
        scale = scheduler_scale.measure(env)
        log("6/6 store proxy overhead")
        proxy = proxy_overhead.measure(env)
        memory = {
            name: env.stack.template.functions[logical_id].memory_size
            for name, logical_id in existing_functions(env.stack.template).items()
        }
        log_format = access_log_format(env.stack.template)
    log("3/6 cost model")
    inputs = cost_model.inputs_from(calls, concurrency, scale, memory, secrets)
    cost = cost_model.model(inputs)
    proxy_cost = cost_model.proxy_model(
        cost_model.proxy_inputs_from(calls, proxy, inputs, memory[proxy_overhead.NAME], log_format)
    )
    seconds = time.monotonic() - started
    header = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`); do not edit by hand. How each figure is taken: "
        "the docstrings of `bench/*.py`. Scaling to 1,000,000 connections: [scaling.md](scaling.md).",
        "",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {host['cpu']}, {host['cores']} cores, {host['platform']}",
        f"- Python {host['python']}; the run took {seconds:.0f} s",
        "- Environment: the local stack (moto, on loopback) and the sandbox store; never AWS",
        "",
    ]
    body = [
        *summary(cold, calls, cost, concurrency, scale, proxy=proxy, proxy_cost=proxy_cost),
        *cold_start_section(cold),
        *aws_calls_section(calls, scale),
        *cost_section(cost, secrets),
        *concurrency_section(concurrency),
        *scale_section(scale),
        *proxy_section(proxy, proxy_cost),
        *caveats(),
    ]
    text = "\n".join([*header, *body]).rstrip() + "\n"
    print(text)
    if write:
        OUTPUT.write_text(text)
        log(f"wrote {OUTPUT.relative_to(ROOT)} ({seconds:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-write", action="store_true", help="print the tables, leave docs/benchmarks.md alone"
    )
    parser.add_argument("--rounds", type=int, default=cold_start.ROUNDS, help="cold start runs per function")
    args = parser.parse_args(argv)
    return run(write=not args.no_write, rounds=args.rounds)


if __name__ == "__main__":
    sys.exit(main())
