"""Figure 3: what connections cost per month at one refresh an hour, from the counts measured in
this run (figure 2), the item sizes, the measured Lambda times, the worker's iClient-secret cache
miss rate (figure 3a, bench/secret_cache.py) and published prices; beside the same model for an
alternative that would also keep each connection's tokens in a Secrets Manager secret of its own.

iClient secrets are in Secrets Manager (docs/decisions/0009): one secret per iClient, $0.40 a month
each, one iClient per connection. That storage fee is the price of the requirement; the target is
that everything else the design spends stays within 2 % of it (TARGET_SHARE_OF_STORAGE), so two
figures are given per 1,000 connections a month: the total, and everything except the storage fee.
Each GetSecretValue the worker's cache does not save costs the API call and the KMS Decrypt Secrets
Manager makes with the stack's customer-managed key (it caches nothing across calls).

Everything a refresh touches is priced, including what the code never calls itself: the SQS event
source's receive/delete (and its idle long polling), the KMS requests DynamoDB makes with the
stack's customer-managed key, CloudWatch Logs for what the functions print, the key itself. Free
tiers are not counted.

A deployment also pays a fixed amount whatever its size (one KMS key, alarms, the dashboard, custom
metrics, the scheduler's empty queries, the event source's idle polls). The cost per 1,000
connections is therefore given two ways: the bill of a deployment of exactly 1,000 connections
(fixed part included in full), and the unit cost at the scale the project is built for, 1,000,000
connections (the fixed part spread over them). The target is judged on the unit cost at 1,000,000
connections; both are printed.

Figure 6's second half prices the store proxy per million calls (`proxy_cost`), from its AWS calls
(figure 2), its measured duration and answer and log sizes (bench/proxy_overhead.py) and the same
prices: one Lambda invocation, one HTTP API request, one GetItem and one budget UpdateItem, KMS once
per environment, log ingestion, X-Ray and the answer's transfer out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.aws_calls import PROXIED, PROXIED_OPENING, WORKER_BATCH, AwsCallsResult
from bench.proxy_overhead import ProxyOverheadResult
from bench.refresh_concurrency import ConcurrencyResult
from bench.scheduler_scale import SchedulerScaleResult
from bench.secret_cache import LIFETIME_HOURS, SecretCacheResult, lru_hours, miss_rate
from cartconnect.refresh_schedule import DUE_SHARDS

# ---- prices: AWS us-east-1 list prices, on-demand, no free tier ---------------------------------
# Dated 2025 (the pricing pages as of that year); DynamoDB's are the on-demand prices after the
# 1 November 2024 cut (50 %), checked on 2026-11-28 against published summaries of that cut (no AWS
# pricing page was reachable from here). Re-check before quoting.
PRICES_AS_OF = "2025 list prices (DynamoDB after the 1 Nov 2024 on-demand cut), checked 2026-11-28"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRU = 0.625 / 1_000_000
DYNAMODB_RRU = 0.125 / 1_000_000
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
# Provisioned capacity (TableBillingMode=PROVISIONED), standard table class: per unit-hour.
DYNAMODB_WCU_HOUR = 0.00065
DYNAMODB_RCU_HOUR = 0.00013
UNIT_HOUR = {"WCU": DYNAMODB_WCU_HOUR, "RCU": DYNAMODB_RCU_HOUR}
KMS_REQUEST = 0.03 / 10_000
KMS_KEY_MONTH = 1.00  # a customer-managed key; rotated key material adds up to $2 more (not counted)
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per 64 KB chunk
SECRET_MONTH = 0.40  # per secret (and per month)
SECRET_API_CALL = 0.05 / 10_000  # GetSecretValue, CreateSecret, PutSecretValue, ...
EVENTBRIDGE_EVENT = 1.00 / 1_000_000  # custom events
CLOUDWATCH_LOGS_GB = 0.50  # ingestion (storage: a 30-day retention of a few GB is cents)
CLOUDWATCH_METRIC_MONTH = 0.30  # per custom metric (a name + dimension values)
CLOUDWATCH_ALARM_MONTH = 0.10  # standard resolution
CLOUDWATCH_DASHBOARD_MONTH = 3.00  # beyond an account's first 3
XRAY_TRACE = 5.00 / 1_000_000  # traces recorded
# HTTP API requests, the first 300 million a month ($0.90 beyond), each metered in 512 KB increments:
# AWS's whitepaper "Best Practices for Designing Amazon API Gateway Private APIs and Private
# Integration", Cost optimization, table 4 (us-east-1), as the API Gateway pricing page's examples.
HTTP_API_REQUEST = 1.00 / 1_000_000
HTTP_API_METERED_BYTES = 512 * 1024

# ---- the workload --------------------------------------------------------------------------------
CONNECTIONS = 1_000
REFRESHES_PER_CONNECTION_MONTH = 24 * 30  # one an hour
TICKS_PER_MONTH = 12 * 24 * 30  # RefreshScheduleExpression rate(5 minutes)
CONNECTIONS_PER_ICLIENT = 1  # an iClient is a store app, created in that store's admin: ~1 per store
BATCH_SIZE = WORKER_BATCH  # worker batches (the SQS event source's BatchSize); assumed full
MAX_WORKER_ENVIRONMENTS = 20  # RefreshWorkerMaxConcurrency's default
# Assumptions where nothing can be measured locally (each one named in the report):
LAMBDA_PLATFORM_LOG_BYTES = 350  # START, END and REPORT lines per invocation
SQS_IDLE_RECEIVES_MONTH = 5 * 3 * 60 * 24 * 30  # the event source's pollers: ~5 long polls of 20 s
# StoreCallLatency, DueBacklog, Enqueued, TickIncomplete, and ~4 Refreshes outcome/reason pairs.
CUSTOM_METRICS = 8
# Alarms are billed per metric they watch (a metric math alarm per metric in it): the template's
# dead letters, worker and scheduler errors, the store proxy's errors and 5xx, needs re-authorization
# (1 each) and the table's throttles (reads and writes of the table and both indexes: 6).
ALARM_METRICS = 12
TABLE_KEY_DECRYPTS_MONTH = 3 * 12 * 24 * 30  # DynamoDB re-decrypts the table key every 5 min per active role
XRAY_SAMPLED_PER_SECOND = 1.0  # X-Ray's default rule: 1 request/s, then 5 %
XRAY_SAMPLED_RATE = 0.05
SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24
DYNAMODB_ITEM_OVERHEAD = 100  # bytes per item and per index entry, for storage
SCALE = 1_000_000  # the deployment size the unit cost is taken at (docs/scaling.md)
# Lambda recycles an environment every few hours: ~6 h assumed (bench/secret_cache.py measures with it).
ENVIRONMENT_LIFETIME_HOURS = LIFETIME_HOURS
# An iClient's secret is created once in its life (CreateSecret: one API call, one GenerateDataKey by
# Secrets Manager); a store app lives for years, a year is assumed. Changing a secret
# (PutSecretValue) is rarer still and left out.
ICLIENT_LIFETIME_MONTHS = 12
# The callback reads the iClient's secret for the code exchange: one authorization a connection a
# year, each one a cache miss (assumed).
AUTHORIZATIONS_PER_CONNECTION_MONTH = 1 / 12
# The target: everything but the iClient secrets' storage fee within 2 % of that fee.
TARGET_SHARE_OF_STORAGE = 0.02
# Provisioned capacity as the template sets it up (TableTargetUtilization, TableWrite/ReadCapacityMin):
# target tracking keeps consumption at 70 % of capacity, never below 5 units per table and index.
TARGET_UTILIZATION = 0.70
MIN_CAPACITY_UNITS = 5
# Auto scaling follows the busiest minutes (it scales in only after 15 quiet ones, and a tick comes
# every 5): a tick's refreshes run over RefreshSpreadPercent (80 %) of it, at 1/0.8 of the average
# rate; the scheduler's own reads of a tick's due items land within a minute.
SPREAD_SHARE = 0.80
ON_DEMAND = "on-demand"
PROVISIONED = "provisioned"


# ---- DynamoDB sizes ------------------------------------------------------------------------------


def attribute_bytes(value: dict[str, Any]) -> int:
    """Size of one attribute value by DynamoDB's rules (strings and binary as stored, numbers about
    one byte per two significant digits plus one, lists and maps 3 bytes plus 1 per element)."""
    kind, data = next(iter(value.items()))
    size: int
    if kind == "S":
        size = len(str(data).encode("utf-8"))
    elif kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        size = math.ceil(len(digits) / 2) + 1
    elif kind == "B":
        size = len(data)
    elif kind in ("BOOL", "NULL"):
        size = 1
    elif kind == "L":
        size = 3 + sum(attribute_bytes(element) + 1 for element in data)
    elif kind == "M":
        size = 3 + sum(len(name.encode()) + attribute_bytes(element) + 1 for name, element in data.items())
    elif kind in ("SS", "NS", "BS"):
        size = sum(attribute_bytes({kind[0]: element}) for element in data)
    else:
        raise ValueError(f"unknown attribute type {kind}")
    return size


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + attribute_bytes(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def strong_read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


# ---- the model -----------------------------------------------------------------------------------


@dataclass
class LineItem:
    service: str
    what: str
    quantity: float  # per month
    unit_price: float
    fixed: bool = False  # per deployment, not per connection
    storage_fee: bool = False  # the iClient secrets' storage fee, what the target is a share of

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class Design:
    name: str
    connections: int
    items: list[LineItem] = field(default_factory=list)

    def add(
        self,
        service: str,
        what: str,
        quantity: float,
        unit_price: float,
        *,
        fixed: bool = False,
        storage_fee: bool = False,
    ) -> None:
        self.items.append(LineItem(service, what, quantity, unit_price, fixed, storage_fee))

    @property
    def total(self) -> float:
        return sum(item.cost for item in self.items)

    @property
    def variable(self) -> float:
        return sum(item.cost for item in self.items if not item.fixed)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.items:
            totals[item.service] = totals.get(item.service, 0.0) + item.cost
        return totals

    @property
    def storage_fee(self) -> float:
        """The iClient secrets' storage fee ($0.40 per secret-month)."""
        return sum(item.cost for item in self.items if item.storage_fee)

    def per_thousand(self) -> float:
        """The total, per 1,000 connections a month."""
        return self.total / self.connections * 1000

    def storage_per_thousand(self) -> float:
        return self.storage_fee / self.connections * 1000

    def except_storage_per_thousand(self) -> float:
        """Everything except the iClient secrets' storage fee, per 1,000 connections a month."""
        return (self.total - self.storage_fee) / self.connections * 1000

    def cost_of(self, marker: str) -> float:
        """What the line items whose description starts with `marker` cost, per 1,000 connections."""
        return sum(item.cost for item in self.items if item.what.startswith(marker)) / self.connections * 1000


@dataclass
class Inputs:
    """What the model takes from this run's measurements."""

    connection_item_bytes: int
    connection_item_leased_bytes: int
    iclient_item_bytes: int
    index_entry_bytes: int
    deployed_item_bytes: int  # the same item shaped as in AWS (KMS blob, API callback URL)
    worker_calls: dict[str, float]  # per refresh, from a full warm batch
    store_calls_per_refresh: float  # each one spends the store's call budget: an UpdateItem on its counter
    event_source_calls_per_batch: int
    tick_due: int  # figure 2's tick: 1,000 connections' share of an hour
    tick_calls: dict[str, int]
    tick_seconds: float
    scale_due: int  # figure 5's tick
    scale_calls: dict[str, int]
    scale_seconds: float
    worker_batch_seconds: float  # figure 4: 10 refreshes, store answering in 200 ms
    log_bytes_per_refresh: float  # worker log lines + EMF documents, per refresh of a full batch
    log_bytes_per_tick: int
    worker_memory_mb: int
    scheduler_memory_mb: int
    secret_cache_size: int = 4096  # the worker's LRU of iClient secret versions
    secret_miss_measured: float = 1.0  # figure 3a: GetSecretValue per secret read, measured
    secret_miss_formula: float = 1.0  # the closed form for figure 3a's configuration


def inputs_from(
    calls: AwsCallsResult,
    concurrency: ConcurrencyResult,
    scale: SchedulerScaleResult,
    memory: dict[str, int],
    secrets: SecretCacheResult,
) -> Inputs:
    refresh = calls.operations["scheduled refresh"]
    batch = calls.worker_batch
    tick = calls.operations[f"scheduler tick, {calls.tick_due} due"].warm
    idle = calls.operations["scheduler tick, 0 due"].warm
    if sum(idle.calls.values()) != idle.calls.get("dynamodb:Query", 0):
        raise RuntimeError("an empty tick should only query the index")
    item = calls.connection_item
    index_keys: dict[str, Any] = {
        name: item[name] for name in ("pk", "sk", "due_pk", "due_sk") if name in item
    }
    return Inputs(
        connection_item_bytes=item_bytes(item),
        connection_item_leased_bytes=item_bytes({**item, **calls.lease_attributes}),
        iclient_item_bytes=item_bytes(calls.iclient_item),
        index_entry_bytes=item_bytes(index_keys),
        deployed_item_bytes=item_bytes({**item, **calls.lease_attributes}) + deployed_growth(item),
        worker_calls=calls.worker_per_refresh(),
        store_calls_per_refresh=batch.store_total / WORKER_BATCH,
        event_source_calls_per_batch=refresh.phases["event source"].total,
        tick_due=calls.tick_due,
        tick_calls=dict(tick.calls),
        tick_seconds=tick.seconds,
        scale_due=scale.enqueued,
        scale_calls=dict(scale.calls),
        scale_seconds=scale.tick_seconds,
        worker_batch_seconds=concurrency.batch,
        log_bytes_per_refresh=batch.log_bytes / WORKER_BATCH,
        log_bytes_per_tick=idle.log_bytes,
        worker_memory_mb=memory["refresh_worker"],
        scheduler_memory_mb=memory["refresh_scheduler"],
        secret_cache_size=secrets.cache_size,
        secret_miss_measured=secrets.miss_rate,
        secret_miss_formula=secrets.formula,
    )


# In AWS the KMS ciphertext of a 256-bit data key is about 184 bytes (moto's is shorter), and the
# default callback URL is the API's execute-api domain.
KMS_DATA_KEY_CIPHERTEXT_BYTES = 184
DEPLOYED_CALLBACK_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/oauth2/callback"


def deployed_growth(item: dict[str, Any]) -> int:
    """How many bytes the measured item gains when deployed: the sealed blob carries AWS KMS's longer
    data key ciphertext, the callback URL is the API's own domain."""
    growth = 0
    blob = item.get("sealed_tokens", {}).get("B")
    if blob is not None:
        local_key = int.from_bytes(bytes(blob)[1:3], "big")
        growth += KMS_DATA_KEY_CIPHERTEXT_BYTES - local_key
    callback = item.get("callback_url", {}).get("S")
    if callback is not None:
        growth += len(DEPLOYED_CALLBACK_URL) - len(callback)
    return growth


@dataclass
class Workload:
    """One deployment's month: `connections` refreshed hourly."""

    connections: int
    tokens_in_secrets_manager: bool = False  # the alternative: a token secret per connection
    without: frozenset[str] = frozenset()  # parts of the design left out, to show their share (WITHOUT)
    capacity: str = ON_DEMAND  # the table's billing mode (TableBillingMode)

    @property
    def refreshes(self) -> int:
        return self.connections * REFRESHES_PER_CONNECTION_MONTH

    @property
    def due_per_tick(self) -> float:
        return self.refreshes / TICKS_PER_MONTH

    @property
    def refreshes_per_second(self) -> float:
        return self.refreshes / SECONDS_PER_MONTH

    @property
    def batches(self) -> float:
        return self.refreshes / BATCH_SIZE

    @property
    def iclients(self) -> int:
        return max(1, math.ceil(self.connections / CONNECTIONS_PER_ICLIENT))

    @property
    def environments(self) -> int:
        """Worker environments a tick keeps busy: one per batch, up to the concurrency cap."""
        return min(MAX_WORKER_ENVIRONMENTS, max(1, math.ceil(self.due_per_tick / BATCH_SIZE)))

    def secret_remembered_hours(self, cache_size: int) -> int:
        """How many past hours of iClient versions an environment's LRU still holds."""
        return lru_hours(cache_size, self.iclients, self.environments)

    def secret_miss_rate(self, cache_size: int) -> float:
        """GetSecretValue per worker refresh: figure 3a's closed form at this deployment's size."""
        return miss_rate(
            self.environments, ENVIRONMENT_LIFETIME_HOURS, self.secret_remembered_hours(cache_size)
        )


# Parts of the design the model can leave out, to show what each costs (never built that way):
NO_BUDGET_WRITE = "without the store call budget write (no shared per-store rate limit)"
NO_LEASE_WRITE = "without the lease write (scheduled refreshes fenced on the token version only)"
AS_BUILT = "as built (tokens sealed on the item)"
TOKENS_IN_SECRETS_MANAGER = "alternative: tokens in Secrets Manager too"
NO_INDEX_MOVE = "without moving the due-index entry (no time-ordered index to find due connections)"
WITHOUT = (NO_BUDGET_WRITE, NO_LEASE_WRITE, NO_INDEX_MOVE)


def build(
    inputs: Inputs,
    *,
    connections: int = CONNECTIONS,
    tokens_in_secrets_manager: bool = False,
    without: frozenset[str] = frozenset(),
    capacity: str = ON_DEMAND,
) -> Design:
    """The monthly bill of one deployment with `connections` connections refreshed hourly."""
    work = Workload(connections, tokens_in_secrets_manager, without, capacity)
    name = TOKENS_IN_SECRETS_MANAGER if tokens_in_secrets_manager else AS_BUILT
    design = Design(f"{name}, {capacity}", connections)
    tick_calls, tick_seconds = scheduler_tick(inputs, work.due_per_tick)
    _lambda(design, inputs, work, tick_seconds)
    _dynamodb(design, inputs, work, tick_calls)
    _sqs(design, inputs, work, tick_calls)
    _kms_and_secrets(design, inputs, work)
    # A routine refresh publishes nothing (failures, recoveries and authorizations do).
    design.add(
        "EventBridge", "events: 1 authorization / connection / year", connections / 12, EVENTBRIDGE_EVENT
    )
    _observability(design, inputs, work)
    return design


def _lambda(design: Design, inputs: Inputs, work: Workload, tick_seconds: float) -> None:
    """The worker (batches of 10, each as long as figure 4's batch) and the scheduler's ticks."""
    worker_gb_s = work.batches * inputs.worker_batch_seconds * inputs.worker_memory_mb / 1024
    design.add("Lambda", "worker duration (GB-s)", worker_gb_s, LAMBDA_ARM_GB_SECOND)
    design.add("Lambda", "worker invocations", work.batches, LAMBDA_REQUEST)
    scheduler_gb_s = TICKS_PER_MONTH * tick_seconds * inputs.scheduler_memory_mb / 1024
    design.add("Lambda", "scheduler duration (GB-s)", scheduler_gb_s, LAMBDA_ARM_GB_SECOND)
    design.add("Lambda", "scheduler invocations", TICKS_PER_MONTH, LAMBDA_REQUEST, fixed=True)


def _dynamodb(design: Design, inputs: Inputs, work: Workload, tick_calls: dict[str, float]) -> None:
    """The worker's writes: the lease and the token write on the connection item (each billed for
    the larger of the item before and after: the leased item, as deployed), the call budget counter
    (a small item, one write per store call), and moving the due index entry (a changed index key is
    a delete and a put in the index: 2 writes); its iClient read; the scheduler's keys-only index
    queries and its eventually consistent reads of the due items. Billed per request (on-demand) or
    as the capacity auto scaling keeps for them (provisioned, `_provisioned`)."""
    updates = inputs.worker_calls.get("dynamodb:UpdateItem", 0.0)
    budget = 0.0 if NO_BUDGET_WRITE in work.without else inputs.store_calls_per_refresh
    on_item = updates - inputs.store_calls_per_refresh - (1 if NO_LEASE_WRITE in work.without else 0)
    index = 0 if NO_INDEX_MOVE in work.without else 2
    item_wru = write_units(inputs.deployed_item_bytes)
    per_refresh = on_item * item_wru + budget + index
    reads = inputs.worker_calls.get("dynamodb:GetItem", 0.0) + inputs.worker_calls.get(
        "dynamodb:BatchGetItem", 0.0
    )
    iclient_rru = reads * strong_read_units(inputs.iclient_item_bytes)
    queries = tick_calls["dynamodb:Query"]
    query_rru = max(0.5, math.ceil(work.due_per_tick / queries * inputs.index_entry_bytes / 4096) * 0.5)
    if work.capacity == PROVISIONED:
        _provisioned(
            design,
            work,
            table_wru=per_refresh - index,
            index_wru=index,
            iclient_rru=iclient_rru,
            queries=queries * query_rru,
        )
    else:
        what = (
            f"writes: {per_refresh:g} WRU / refresh ({on_item:g} × {item_wru} item, {budget:g} budget, "
            f"{index} index)"
        )
        design.add("DynamoDB", what, work.refreshes * per_refresh, DYNAMODB_WRU)
        design.add(
            "DynamoDB",
            f"reads: {iclient_rru:g} RRU / refresh (iClient)",
            work.refreshes * iclient_rru,
            DYNAMODB_RRU,
        )
        empty_ticks_rru = TICKS_PER_MONTH * DUE_SHARDS * 0.5  # the queries of a tick that finds nothing
        design.add(
            "DynamoDB",
            f"scheduler: {DUE_SHARDS} index queries a tick (RRU)",
            empty_ticks_rru,
            DYNAMODB_RRU,
            fixed=True,
        )
        if queries * query_rru > DUE_SHARDS * 0.5:
            extra = TICKS_PER_MONTH * queries * query_rru - empty_ticks_rru
            design.add("DynamoDB", "scheduler: more index pages (RRU)", extra, DYNAMODB_RRU)
        design.add("DynamoDB", "scheduler: 0.5 RRU / due item read", work.refreshes * 0.5, DYNAMODB_RRU)
    stored_gb = (
        work.connections * (inputs.connection_item_bytes + 4 * DYNAMODB_ITEM_OVERHEAD + 200)
        + work.iclients * (inputs.iclient_item_bytes + DYNAMODB_ITEM_OVERHEAD)
    ) / 1e9
    design.add(
        "DynamoDB", "storage + PITR (GB-month)", stored_gb, DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH
    )


def provisioned_units(busiest_per_second: float) -> int:
    """The capacity target tracking keeps for a load whose busiest minutes consume this much a
    second: consumption at TARGET_UTILIZATION of it, never below the minimum."""
    return max(MIN_CAPACITY_UNITS, math.ceil(busiest_per_second / TARGET_UTILIZATION))


def _provisioned(
    design: Design, work: Workload, *, table_wru: float, index_wru: float, iclient_rru: float, queries: float
) -> None:
    """The table and its two indexes on provisioned capacity, each with its own read and write
    capacity (six scalable targets), billed per unit-hour. The refreshes' writes and iClient reads
    run at 1/SPREAD_SHARE of the average rate (the spread); the scheduler reads a tick's due items
    (0.5 RRU each) and queries the index within a minute. `by_status` is written only when a
    connection's status changes: its minimum."""
    spread_rate = work.refreshes_per_second / SPREAD_SHARE
    tick_reads = work.due_per_tick * 0.5 / 60
    capacities = [
        ("table writes", "WCU", spread_rate * table_wru),
        ("table reads", "RCU", spread_rate * iclient_rru + tick_reads),
        ("due_for_refresh index writes", "WCU", spread_rate * index_wru),
        ("due_for_refresh index reads", "RCU", queries / 60),
        ("by_status index writes", "WCU", 0.0),
        ("by_status index reads", "RCU", 0.0),
    ]
    for what, kind, busiest in capacities:
        units = provisioned_units(busiest)
        design.add(
            "DynamoDB",
            f"provisioned {what}: {units:,} {kind} (busiest {busiest:,.1f}/s at {TARGET_UTILIZATION:.0%}) (unit-hours)",
            units * HOURS_PER_MONTH,
            UNIT_HOUR[kind],
            fixed=units == MIN_CAPACITY_UNITS,
        )


def _sqs(design: Design, inputs: Inputs, work: Workload, tick_calls: dict[str, float]) -> None:
    """The scheduler's sends (as measured per tick), the event source's receive and delete per
    batch, and its idle long polling."""
    sends = TICKS_PER_MONTH * tick_calls.get("sqs:SendMessageBatch", 0)
    design.add("SQS", "SendMessageBatch (scheduler)", sends, SQS_REQUEST)
    source = work.batches * inputs.event_source_calls_per_batch
    design.add("SQS", "receive + delete (event source)", source, SQS_REQUEST)
    design.add("SQS", "event source idle long polls", SQS_IDLE_RECEIVES_MONTH, SQS_REQUEST, fixed=True)


# Line item descriptions the report and the tests look up.
ICLIENT_STORAGE = "iClient secrets, 1 per iClient"
WORKER_READS = "GetSecretValue: worker"
WORKER_DECRYPTS = "Decrypt by Secrets Manager: worker"


def _kms_and_secrets(design: Design, inputs: Inputs, work: Workload) -> None:
    """One customer-managed key (the table, the sealed tokens, the secrets, the logs). Token sealing
    with data keys cached per environment (a GenerateDataKey an hour, a Decrypt per other
    environment's data key met) or, in the alternative, a token secret per connection read and
    written on every refresh. iClient secrets in Secrets Manager (docs/decisions/0009): the storage
    fee, the worker's GetSecretValue on a cache miss (figure 3a's rate at this size) and the KMS
    Decrypt each one costs, the callback's reads, and each secret's creation."""
    design.add("KMS", "customer-managed key", 1, KMS_KEY_MONTH, fixed=True)
    design.add("KMS", "DynamoDB table key decrypts", TABLE_KEY_DECRYPTS_MONTH, KMS_REQUEST, fixed=True)
    if work.tokens_in_secrets_manager:
        design.add("Secrets Manager", "token secrets, 1 per connection", work.connections, SECRET_MONTH)
        design.add(
            "Secrets Manager", "token Get + PutSecretValue / refresh", work.refreshes * 2, SECRET_API_CALL
        )
        design.add(
            "KMS",
            "token secrets: Decrypt + GenerateDataKey by Secrets Manager",
            work.refreshes * 2,
            KMS_REQUEST,
        )
    else:
        sealing = work.environments * (1 + work.environments) * 24 * 30
        design.add("KMS", "token sealing data keys (cached)", sealing, KMS_REQUEST)
    design.add(
        "Secrets Manager",
        f"{ICLIENT_STORAGE} ({CONNECTIONS_PER_ICLIENT} connection each)",
        work.iclients,
        SECRET_MONTH,
        storage_fee=True,
    )
    miss = work.secret_miss_rate(inputs.secret_cache_size)
    reads = work.refreshes * miss
    design.add(
        "Secrets Manager", f"{WORKER_READS}, {miss:.1%} of refreshes miss the cache", reads, SECRET_API_CALL
    )
    design.add("KMS", f"{WORKER_DECRYPTS}, 1 per GetSecretValue", reads, KMS_REQUEST)
    callback = work.connections * AUTHORIZATIONS_PER_CONNECTION_MONTH
    design.add("Secrets Manager", "GetSecretValue: callback, 1 / authorization", callback, SECRET_API_CALL)
    design.add("KMS", "Decrypt by Secrets Manager: callback", callback, KMS_REQUEST)
    creates = work.iclients / ICLIENT_LIFETIME_MONTHS
    design.add(
        "Secrets Manager",
        f"CreateSecret: 1 per iClient lifetime ({ICLIENT_LIFETIME_MONTHS} months)",
        creates,
        SECRET_API_CALL,
    )
    design.add("KMS", "GenerateDataKey by Secrets Manager: CreateSecret", creates, KMS_REQUEST)


def _observability(design: Design, inputs: Inputs, work: Workload) -> None:
    """The functions' log lines and EMF metric documents (measured), the platform's lines, the
    template's custom metrics, alarms and dashboard, and X-Ray (Tracing: Active, default sampling)."""
    log_gb = (
        work.refreshes * inputs.log_bytes_per_refresh
        + TICKS_PER_MONTH * inputs.log_bytes_per_tick
        + (work.batches + TICKS_PER_MONTH) * LAMBDA_PLATFORM_LOG_BYTES
    ) / 1e9
    design.add("CloudWatch", "log ingestion (GB)", log_gb, CLOUDWATCH_LOGS_GB)
    design.add(
        "CloudWatch",
        f"custom metrics (~{CUSTOM_METRICS})",
        CUSTOM_METRICS,
        CLOUDWATCH_METRIC_MONTH,
        fixed=True,
    )
    design.add(
        "CloudWatch",
        f"alarms ({ALARM_METRICS} alarm metrics)",
        ALARM_METRICS,
        CLOUDWATCH_ALARM_MONTH,
        fixed=True,
    )
    design.add("CloudWatch", "dashboard", 1, CLOUDWATCH_DASHBOARD_MONTH, fixed=True)
    rate = (work.batches + TICKS_PER_MONTH) / SECONDS_PER_MONTH
    design.add("X-Ray", "traces recorded", xray_sampled(rate) * SECONDS_PER_MONTH, XRAY_TRACE)


def xray_sampled(rate: float) -> float:
    """Traces recorded a second at `rate` invocations a second under X-Ray's default rule (the first
    request each second, then 5 %), arrivals taken as steady."""
    return min(rate, XRAY_SAMPLED_PER_SECOND) + XRAY_SAMPLED_RATE * max(0.0, rate - XRAY_SAMPLED_PER_SECOND)


def scheduler_tick(inputs: Inputs, due: float) -> tuple[dict[str, float], float]:
    """One tick's calls and time with `due` connections due: the measured tick nearest in size
    (figure 2's for small deployments, figure 5's beyond), its per-due calls scaled to `due`; the
    index queries stay (one page per shard), more pages once a shard holds over 500 due keys."""
    small = due <= 10 * inputs.tick_due
    calls, measured_due, seconds = (
        (inputs.tick_calls, inputs.tick_due, inputs.tick_seconds)
        if small
        else (inputs.scale_calls, inputs.scale_due, inputs.scale_seconds)
    )
    scaled = {name: count * due / measured_due for name, count in calls.items() if name != "dynamodb:Query"}
    scaled["dynamodb:Query"] = DUE_SHARDS * max(1, math.ceil(due / DUE_SHARDS / 500))
    return scaled, seconds * due / measured_due


def money(value: float) -> str:
    rounded = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"${rounded:,}"


def reads_per_thousand(miss: float) -> float:
    """What the worker's secret reads cost per 1,000 connections a month at a miss rate: a
    GetSecretValue and its KMS Decrypt per miss."""
    return 1000 * REFRESHES_PER_CONNECTION_MONTH * miss * (SECRET_API_CALL + KMS_REQUEST)


@dataclass
class CostResult:
    inputs: Inputs
    built: Design  # a deployment of 1,000 connections, on-demand (the template's default)
    tokens_in_secrets_manager: Design
    at_scale: Design  # 1,000,000 connections, provisioned (docs/scaling.md's checklist at that size)
    at_scale_on_demand: Design  # the same on the default billing mode
    tokens_in_secrets_manager_at_scale: Design
    # At scale, each part of the design left out in turn: what it costs.
    parts: list[tuple[str, Design]] = field(default_factory=list)
    provisioned_from: int = 0  # connections from which provisioned capacity costs less (0: never to SCALE)
    share: float = TARGET_SHARE_OF_STORAGE

    @property
    def unit_cost(self) -> float:
        """The total per 1,000 connections a month at 1,000,000 connections, fixed costs spread."""
        return self.at_scale.per_thousand()

    @property
    def unit_storage(self) -> float:
        return self.at_scale.storage_per_thousand()

    @property
    def unit_except_storage(self) -> float:
        """Everything but the storage fee, per 1,000 connections a month at 1,000,000: the judged figure."""
        return self.at_scale.except_storage_per_thousand()

    @property
    def target(self) -> float:
        """2 % of the storage fee, per 1,000 connections a month ($8.00 at one iClient per connection)."""
        return self.share * self.unit_storage

    @property
    def met(self) -> bool:
        return self.unit_except_storage <= self.target

    @property
    def on_demand_except_storage(self) -> float:
        """The judged figure if the table stayed on-demand at 1,000,000 connections."""
        return self.at_scale_on_demand.except_storage_per_thousand()

    @property
    def scale_miss(self) -> float:
        return Workload(SCALE).secret_miss_rate(self.inputs.secret_cache_size)

    @property
    def break_even_miss(self) -> float:
        """The worker miss rate at which everything but storage would just meet the target at scale."""
        rest = self.unit_except_storage - reads_per_thousand(self.scale_miss)
        return max(0.0, (self.target - rest) / reads_per_thousand(1.0))


def model(inputs: Inputs) -> CostResult:
    return CostResult(
        inputs=inputs,
        built=build(inputs),
        tokens_in_secrets_manager=build(inputs, tokens_in_secrets_manager=True),
        at_scale=build(inputs, connections=SCALE, capacity=PROVISIONED),
        at_scale_on_demand=build(inputs, connections=SCALE),
        tokens_in_secrets_manager_at_scale=build(
            inputs, connections=SCALE, capacity=PROVISIONED, tokens_in_secrets_manager=True
        ),
        parts=[
            (part, build(inputs, connections=SCALE, capacity=PROVISIONED, without=frozenset({part})))
            for part in WITHOUT
        ],
        provisioned_from=capacity_break_even(inputs),
    )


def capacity_break_even(inputs: Inputs) -> int:
    """The fewest connections (to 1,000) at which provisioned capacity costs less than on-demand."""

    def cheaper(connections: int) -> bool:
        provisioned = build(inputs, connections=connections, capacity=PROVISIONED)
        return provisioned.total < build(inputs, connections=connections).total

    low, high = 1, SCALE // 1000
    if not cheaper(high * 1000):
        return 0  # not even at the scale
    while low < high:
        middle = (low + high) // 2
        if cheaper(middle * 1000):
            high = middle
        else:
            low = middle + 1
    return low * 1000


# ---- the store proxy: what a million proxied calls cost ------------------------------------------
# Where a proxied call goes besides the store: API Gateway's HTTP API (its JWT authorizer is not
# billed apart), the store_proxy Lambda, DynamoDB (the connection read, the store's call budget),
# KMS (the tokens' data key, once per environment), CloudWatch Logs (the function's log line and
# metrics, Lambda's platform lines, the API's access log line), X-Ray (Tracing: Active in Globals),
# and the answer's way out to the caller. Arrivals are taken as steady; free tiers ignored.
PER_MILLION = 1_000_000
PROXY_CALLS_PER_MONTH = 1_000_000  # the figure's volume: 0.39 calls a second
PROXY_BUSY_CALLS_PER_MONTH = 100_000_000  # beside it: 39 a second (X-Ray's 5 %, KMS spread thinner)
# Out to the internet from us-east-1, the first 10 TB a month (AWS's EC2 on-demand pricing page,
# "Data Transfer"; the 100 GB a month free across services ignored). The proxy's answer leaves AWS
# to the caller; what the store sends Lambda comes in free.
DATA_TRANSFER_OUT_GB = 0.09
# An HTTP API access log line's variables for a proxied GET (the template's format fills them): the
# request id and time as long as AWS's, the answer's length and latencies from this run.
ACCESS_LOG_SAMPLE = {
    "requestId": "Xk3Ab1CdEfGhIjK=",
    "identity.sourceIp": "203.0.113.10",
    "requestTime": "02/Dec/2026:03:00:00 +0000",
    "httpMethod": "GET",
    "routeKey": "GET /v1/connections/{connection_id}/proxy/{path+}",
    "status": "200",
    "protocol": "HTTP/1.1",
}


def access_log_bytes(log_format: str, values: dict[str, str]) -> int:
    """The size of one access log line: `log_format` with each $context variable replaced by its
    value in `values`, or "-" (what API Gateway writes for a variable without one)."""
    filled = re.sub(r"\$context\.([A-Za-z.]+)", lambda found: values.get(found.group(1), "-"), log_format)
    return len(filled.encode("utf-8"))


@dataclass
class ProxyInputs:
    """What the proxy's cost takes from this run (figures 2 and 6) and the template."""

    warm_calls: dict[str, float]  # AWS calls of a warm proxied call, its store's window open
    opening_calls: dict[str, float]  # the same call when it opens its store's 10-second window
    new_environment_calls: dict[str, float]  # what a new environment adds: the data key's Decrypt
    connection_item_bytes: int  # the connection item as deployed, leased: what the GetItem reads
    budget_item_bytes: int  # the store's call budget item: what the UpdateItem writes
    seconds: float  # a warm proxied call, the store answering in store_latency_ms (figure 6)
    store_latency_ms: int
    answer_bytes: int  # the proxied answer's body
    log_bytes: float  # the function's log line and EMF documents, per call
    access_log_bytes: int  # the HTTP API's access log line
    memory_mb: int


@dataclass
class ProxyDesign(Design):
    """A month of proxied calls (`connections` unused: the unit is the call)."""

    calls: int = 0

    def per_million(self) -> float:
        return self.total / self.calls * PER_MILLION

    def service_per_million(self) -> dict[str, float]:
        return {service: cost / self.calls * PER_MILLION for service, cost in self.by_service().items()}


def proxy_environments(calls_per_month: float, seconds: float) -> float:
    """Proxy environments started a month: as many at once as the steady load keeps busy (at least
    one), each recycled every ENVIRONMENT_LIFETIME_HOURS."""
    busy = calls_per_month / SECONDS_PER_MONTH * seconds
    return max(1, math.ceil(busy)) * SECONDS_PER_MONTH / 3600 / ENVIRONMENT_LIFETIME_HOURS


def proxy_cost(
    inputs: ProxyInputs, *, calls_per_month: int = PROXY_CALLS_PER_MONTH, opening_share: float = 0.0
) -> ProxyDesign:
    """A month of `calls_per_month` proxied GETs, `opening_share` of them the first call of their
    store's 10-second budget window (a refused UpdateItem before the one that opens it)."""
    calls = calls_per_month
    design = ProxyDesign(f"{calls:,} calls a month", 0, calls=calls)
    billed_ms = math.ceil(inputs.seconds * 1000)  # Lambda bills by the millisecond, rounded up
    gb_s = calls * billed_ms / 1000 * inputs.memory_mb / 1024
    design.add("Lambda", "invocations", calls, LAMBDA_REQUEST)
    design.add(
        "Lambda",
        f"duration (GB-s): {billed_ms} ms at {inputs.memory_mb} MB, the store answering in "
        f"{inputs.store_latency_ms} ms",
        gb_s,
        LAMBDA_ARM_GB_SECOND,
    )
    increments = max(1, math.ceil(inputs.answer_bytes / HTTP_API_METERED_BYTES))
    design.add(
        "API Gateway",
        f"HTTP API requests: {increments} per call ({inputs.answer_bytes:,} B answer, 512 KB increments)",
        calls * increments,
        HTTP_API_REQUEST,
    )
    design.add(
        "API Gateway",
        f"data transfer out (GB): the {inputs.answer_bytes:,} B answer to the caller",
        calls * inputs.answer_bytes / 1e9,
        DATA_TRANSFER_OUT_GB,
    )
    gets = inputs.warm_calls.get("dynamodb:GetItem", 0.0)
    rru = strong_read_units(inputs.connection_item_bytes)
    design.add(
        "DynamoDB",
        f"connection GetItem, strongly consistent: {gets:g} × {rru} RRU ({inputs.connection_item_bytes} B item)",
        calls * gets * rru,
        DYNAMODB_RRU,
    )
    updates = inputs.warm_calls.get("dynamodb:UpdateItem", 0.0)
    wru = write_units(inputs.budget_item_bytes)
    design.add(
        "DynamoDB",
        f"call budget UpdateItem: {updates:g} × {wru} WRU ({inputs.budget_item_bytes} B item)",
        calls * updates * wru,
        DYNAMODB_WRU,
    )
    extra = inputs.opening_calls.get("dynamodb:UpdateItem", 0.0) - updates
    if opening_share and extra:
        design.add(
            "DynamoDB",
            f"window openings: {opening_share:.0%} of calls, {extra:+g} UpdateItem (a refused write is billed)",
            calls * opening_share * extra * wru,
            DYNAMODB_WRU,
        )
    environments = proxy_environments(calls, inputs.seconds)
    decrypts = inputs.new_environment_calls.get("kms:Decrypt", 0.0)
    design.add(
        "KMS",
        f"Decrypt: {decrypts:g} per new environment ({environments:,.0f} a month, "
        f"~{ENVIRONMENT_LIFETIME_HOURS} h each)",
        environments * decrypts,
        KMS_REQUEST,
    )
    logged = inputs.log_bytes + LAMBDA_PLATFORM_LOG_BYTES + inputs.access_log_bytes
    design.add(
        "CloudWatch",
        f"log ingestion (GB): {logged:,.0f} B / call ({inputs.log_bytes:,.0f} log line + metrics, "
        f"{LAMBDA_PLATFORM_LOG_BYTES} platform, {inputs.access_log_bytes} access log)",
        calls * logged / 1e9,
        CLOUDWATCH_LOGS_GB,
    )
    rate = calls / SECONDS_PER_MONTH
    design.add(
        "X-Ray",
        f"traces recorded (default sampling at {rate:,.2f} calls/s)",
        xray_sampled(rate) * SECONDS_PER_MONTH,
        XRAY_TRACE,
    )
    return design


@dataclass
class ProxyCostResult:
    inputs: ProxyInputs
    figure: ProxyDesign  # 1M calls a month, each store's window open: the figure
    sparse: ProxyDesign  # the same, every call opening its store's window
    busy: ProxyDesign  # 100M calls a month, windows open

    def designs(self) -> list[tuple[str, ProxyDesign]]:
        return [
            (f"{self.figure.calls / 1e6:,.0f} M calls a month, each store's window open", self.figure),
            ("the same, every call opening its store's window", self.sparse),
            (f"{self.busy.calls / 1e6:,.0f} M calls a month, windows open", self.busy),
        ]


def proxy_model(inputs: ProxyInputs) -> ProxyCostResult:
    return ProxyCostResult(
        inputs=inputs,
        figure=proxy_cost(inputs),
        sparse=proxy_cost(inputs, opening_share=1.0),
        busy=proxy_cost(inputs, calls_per_month=PROXY_BUSY_CALLS_PER_MONTH),
    )


def proxy_inputs_from(
    calls: AwsCallsResult,
    overhead: ProxyOverheadResult,
    inputs: Inputs,
    memory_mb: int,
    access_log_format: str,
) -> ProxyInputs:
    proxied = calls.operations[PROXIED]
    judged = overhead.judged
    latency = f"{judged.proxied_median * 1000:.0f}"
    values = {
        **ACCESS_LOG_SAMPLE,
        "responseLength": str(overhead.answer_bytes),
        "responseLatency": latency,
        "integrationLatency": latency,
    }
    return ProxyInputs(
        warm_calls=dict(proxied.warm.calls),
        opening_calls=dict(calls.operations[PROXIED_OPENING].warm.calls),
        new_environment_calls=dict(proxied.new_environment.calls - proxied.warm.calls),
        connection_item_bytes=inputs.deployed_item_bytes,
        budget_item_bytes=item_bytes(calls.budget_item),
        seconds=judged.proxied_median,
        store_latency_ms=judged.latency_ms,
        answer_bytes=overhead.answer_bytes,
        log_bytes=overhead.log_bytes,
        access_log_bytes=access_log_bytes(access_log_format, values),
        memory_mb=memory_mb,
    )
