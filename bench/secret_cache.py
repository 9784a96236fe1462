"""Figure 3a: how often the worker finds an iClient's secret in its cache, measured.

The worker reads each refresh's iClient secret through `adapters/iclient_secret.py`: a process
cache keyed by (secret ARN, VersionId), an LRU of `CACHE_SIZE` entries, else one `GetSecretValue`
(and, in AWS, one KMS Decrypt that Secrets Manager makes with the stack's key). With one iClient per
connection, a version is met again only when the same connection's next refresh, an hour later,
lands on the same worker environment, and that environment has neither been recycled nor pushed the
version out of its LRU since.

The measurement, on the local stack through the real worker (`RefreshWorkerFunction`, in-process,
so its module cache can be swapped): `CONNECTIONS` connections, each on an iClient of its own (its
own sandbox app, its own secret in moto's Secrets Manager), refreshed once an "hour" for `HOURS`
hours by a pool of `ENVIRONMENTS` worker environments. An environment is its own cache (the module's
LRU swapped in for its invocations); environment `i` is recycled (a new, empty cache) every
`LIFETIME_HOURS` hours, staggered so that ages are spread as in a steady state. Each hour the
connections' messages are shuffled into batches of 10, each batch going to an environment chosen at
random (SQS spreads messages over the event source's concurrent invocations). Counted: every
`iclient_secret.read` (secret reads) and every `secretsmanager:GetSecretValue` (the botocore hook of
figure 2), over the hours after the first `LIFETIME_HOURS` (before that the caches are younger than
in a steady state; the warm-up's counts are shown too).

The same schedule is replayed through a plain LRU model of the cache (`replay`): it must predict the
measured GetSecretValue count exactly, or the code does not cache the way the model assumes. The
cost model's rate comes from the closed form (`miss_rate`) that the replay's schedule is drawn from:

    miss = (1/L) * sum over ages a = 0..L-1 of (1 - 1/E) ** min(a, m)

an environment of age a hours has had a earlier chances (one per hour, each with probability 1/E)
to be given this connection; only the last m of them are still in its LRU, m = floor(C * E / N)
(it reads about N / E distinct iClients an hour, C fit). The form is exact where the LRU does not
bind (m >= L - 1: figure 3a's configuration, a deployment of 1,000) or binds fully (m = 0); in
between it is an estimate (a busy hour pushes more out). At 1,000,000 connections and 20
environments an environment reads ~50,000 iClients an hour against C = 4,096: m = 0, no version
survives until its connection's next refresh, and every refresh costs a GetSecretValue.
"""

from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from bench.aws_calls import WORKER_BATCH, counting
from bench.environment import BenchEnvironment, log

CONNECTIONS = 20
ENVIRONMENTS = 4
LIFETIME_HOURS = 6  # how long Lambda keeps an environment, assumed (cost_model takes it from here)
HOURS = 2 * LIFETIME_HOURS  # a warm-up lifetime, then one measured lifetime
SEED = 20261201
GET_SECRET_VALUE = "secretsmanager:GetSecretValue"
FIRST_APP_ID = 881000


# ---- the arithmetic (no stack) -------------------------------------------------------------------


def lru_hours(cache_size: int, connections: int, environments: int) -> int:
    """m: how many of an environment's past hours its LRU still holds (it reads ~N / E distinct
    iClients an hour, one iClient per connection)."""
    per_hour = connections / environments
    return math.floor(cache_size / per_hour) if per_hour > 0 else 0


def miss_rate(environments: int, lifetime_hours: int, remembered_hours: int | None = None) -> float:
    """The share of refreshes that find their iClient's version not cached (steady state, hourly
    refreshes, batches spread uniformly over `environments`, each recycled every `lifetime_hours`,
    remembering its last `remembered_hours` hours; None: the LRU never binds)."""
    if environments < 1 or lifetime_hours < 1:
        raise ValueError("at least one environment living at least one hour")
    other = 1 - 1 / environments
    limit = lifetime_hours if remembered_hours is None else remembered_hours
    return sum(other ** min(age, limit) for age in range(lifetime_hours)) / lifetime_hours


def model_miss_rate(connections: int, environments: int, lifetime_hours: int, cache_size: int) -> float:
    return miss_rate(environments, lifetime_hours, lru_hours(cache_size, connections, environments))


@dataclass
class Schedule:
    """Which environment refreshes which connections, hour by hour, and when environments recycle."""

    connections: int
    environments: int
    lifetime_hours: int
    # hours[t] = [(environment, [connection index, ...]), ...]: the batches of hour t
    hours: list[list[tuple[int, list[int]]]] = field(default_factory=list)

    def recycled(self, hour: int, environment: int) -> bool:
        """Environment i starts anew at the hours where (hour + offset_i) % L == 0 (ages staggered)."""
        offset = environment * self.lifetime_hours // self.environments
        return (hour + offset) % self.lifetime_hours == 0


def schedule(
    connections: int, environments: int, lifetime_hours: int, hours: int, *, seed: int = SEED
) -> Schedule:
    rng = random.Random(seed)
    plan = Schedule(connections, environments, lifetime_hours)
    for _ in range(hours):
        order = list(range(connections))
        rng.shuffle(order)
        batches = [order[start : start + WORKER_BATCH] for start in range(0, connections, WORKER_BATCH)]
        plan.hours.append([(rng.randrange(environments), batch) for batch in batches])
    return plan


def replay(plan: Schedule, cache_size: int) -> list[int]:
    """Misses per hour of an LRU of `cache_size` per environment, one iClient per connection."""
    caches: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(plan.environments)]
    misses: list[int] = []
    for hour, batches in enumerate(plan.hours):
        for environment in range(plan.environments):
            if plan.recycled(hour, environment):
                caches[environment] = OrderedDict()
        missed = 0
        for environment, batch in batches:
            cache = caches[environment]
            for connection in batch:
                if connection in cache:
                    cache.move_to_end(connection)
                    continue
                missed += 1
                cache[connection] = None
                while len(cache) > cache_size:
                    cache.popitem(last=False)
        misses.append(missed)
    return misses


# ---- the measurement -----------------------------------------------------------------------------


@dataclass
class Hour:
    reads: int
    get_secret_value: int
    predicted: int


@dataclass
class SecretCacheResult:
    connections: int = CONNECTIONS
    environments: int = ENVIRONMENTS
    lifetime_hours: int = LIFETIME_HOURS
    cache_size: int = 0
    hours: list[Hour] = field(default_factory=list)
    invocations: int = 0
    seconds: float = 0.0

    @property
    def measured_hours(self) -> list[Hour]:
        return self.hours[self.lifetime_hours :]

    @property
    def reads(self) -> int:
        return sum(hour.reads for hour in self.measured_hours)

    @property
    def get_secret_value(self) -> int:
        return sum(hour.get_secret_value for hour in self.measured_hours)

    @property
    def predicted(self) -> int:
        return sum(hour.predicted for hour in self.measured_hours)

    @property
    def warmup_reads(self) -> int:
        return sum(hour.reads for hour in self.hours[: self.lifetime_hours])

    @property
    def warmup_get_secret_value(self) -> int:
        return sum(hour.get_secret_value for hour in self.hours[: self.lifetime_hours])

    @property
    def miss_rate(self) -> float:
        """Measured: GetSecretValue calls per secret read, steady state."""
        return self.get_secret_value / self.reads if self.reads else 1.0

    @property
    def formula(self) -> float:
        """The closed form's miss rate for the measured configuration."""
        return model_miss_rate(self.connections, self.environments, self.lifetime_hours, self.cache_size)

    @property
    def standard_error(self) -> float:
        """Of the measured miss rate, were the reads independent (they are nearly so)."""
        p = self.formula
        return math.sqrt(p * (1 - p) / self.reads) if self.reads else 0.0

    @property
    def replay_matches(self) -> bool:
        return all(hour.get_secret_value == hour.predicted for hour in self.hours)


@contextmanager
def _reads_counted() -> Iterator[list[int]]:
    """Count every iclient_secret.read (the worker's secret reads), whatever the cache answers."""
    from cartconnect.adapters import iclient_secret

    original = iclient_secret.read
    count = [0]

    def counted(version: Any) -> str:
        count[0] += 1
        return original(version)

    iclient_secret.read = counted
    try:
        yield count
    finally:
        iclient_secret.read = original


def _connections(env: BenchEnvironment, count: int) -> list[str]:
    """`count` authorized connections, each on an iClient of its own (its own sandbox app)."""
    ids = []
    for index in range(count):
        app_id = str(FIRST_APP_ID + index)
        secret = f"bench-secret-{index}-{SEED}"
        env.store.register_app(app_id, secret)
        iclient = env.create_iclient(f"secret cache app {index}", app_id, secret)
        ids.append(env.authorized_connection(f"secret cache {index}", iclient_id=iclient)["id"])
    return ids


def measure(env: BenchEnvironment) -> SecretCacheResult:
    from cartconnect.adapters import iclient_secret

    started = time.monotonic()
    env.drain_queue()
    connection_ids = _connections(env, CONNECTIONS)
    plan = schedule(CONNECTIONS, ENVIRONMENTS, LIFETIME_HOURS, HOURS)
    result = SecretCacheResult(cache_size=iclient_secret.CACHE_SIZE)
    predicted = replay(plan, iclient_secret.CACHE_SIZE)
    caches: list[OrderedDict[Any, str]] = [OrderedDict() for _ in range(ENVIRONMENTS)]
    own_cache = iclient_secret._cache
    try:
        with _reads_counted() as reads:
            for hour, batches in enumerate(plan.hours):
                for environment in range(ENVIRONMENTS):
                    if plan.recycled(hour, environment):
                        caches[environment] = OrderedDict()  # a new Lambda environment
                reads_before = reads[0]
                calls = 0
                for environment, batch in batches:
                    messages = [
                        (connection_ids[index], env.make_due(connection_ids[index])) for index in batch
                    ]
                    records = env.enqueue_and_receive(messages)
                    iclient_secret._cache = caches[environment]
                    with counting() as counted, redirect_stdout(env.logs):
                        answer = env.stack.invoke("RefreshWorkerFunction", {"Records": records})
                    iclient_secret._cache = own_cache
                    if answer["batchItemFailures"]:
                        raise RuntimeError(f"{len(answer['batchItemFailures'])} refreshes failed")
                    calls += counted[GET_SECRET_VALUE]
                    result.invocations += 1
                result.hours.append(Hour(reads[0] - reads_before, calls, predicted[hour]))
    finally:
        iclient_secret._cache = own_cache
    env.delete_connections(*connection_ids)
    result.seconds = time.monotonic() - started
    log(
        f"  secret cache: {result.get_secret_value} GetSecretValue / {result.reads} reads "
        f"(miss {result.miss_rate:.1%}, formula {result.formula:.1%}, replay "
        f"{'matches' if result.replay_matches else 'DIFFERS'}) in {result.seconds:.0f} s"
    )
    return result
