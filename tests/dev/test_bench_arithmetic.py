"""The benchmark's own arithmetic (bench/): what turns measurements into the figures in
docs/benchmarks.md."""

from __future__ import annotations

import math
import statistics

from bench.cold_start import ratio_interval
from bench.cost_model import attribute_bytes, item_bytes, strong_read_units, write_units


def test_the_ratio_interval_brackets_the_ratio_of_medians_and_is_reproducible():
    samples = [0.40, 0.42, 0.39, 0.45, 0.41, 0.43, 0.60, 0.40, 0.44, 0.41, 0.42]
    baseline = [0.27, 0.28, 0.26, 0.30, 0.27, 0.29, 0.27, 0.28, 0.35, 0.27, 0.28, 0.26]
    low, high = ratio_interval(samples, baseline)
    ratio = statistics.median(samples) / statistics.median(baseline)
    assert low < ratio < high
    assert (low, high) == ratio_interval(samples, baseline)  # a fixed seed: the same runs, the same interval
    # Less noise, a narrower interval.
    quiet_low, quiet_high = ratio_interval([0.42] * 10 + [0.43], [0.28] * 11 + [0.281])
    assert quiet_high - quiet_low < (high - low) / 5


def test_dynamodb_item_sizes_follow_its_rules():
    assert attribute_bytes({"S": "héllo"}) == 6  # UTF-8 bytes
    assert attribute_bytes({"N": "1795000000123"}) == 8  # 13 significant digits: 7 + 1
    assert attribute_bytes({"N": "0"}) == 2
    assert attribute_bytes({"B": b"\x00" * 200}) == 200
    assert attribute_bytes({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (2 + 1) + (1 + 1)
    assert attribute_bytes({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert item_bytes({"pk": {"S": "T#a"}, "sk": {"S": "CONN#b"}}) == 2 + 3 + 2 + 6
    assert [write_units(size) for size in (1, 1024, 1025, 2048)] == [1, 1, 2, 2]
    assert [strong_read_units(size) for size in (1, 4096, 4097)] == [1, 1, 2]


# ---- iClient secrets in Secrets Manager: the cache's miss rate and the cost figures ---------------

from bench import cost_model  # noqa: E402
from bench.secret_cache import Schedule, lru_hours, miss_rate, model_miss_rate, replay, schedule  # noqa: E402


def _inputs(**changes: object) -> cost_model.Inputs:
    values: dict[str, object] = {
        "connection_item_bytes": 786,
        "connection_item_leased_bytes": 853,
        "iclient_item_bytes": 417,
        "index_entry_bytes": 97,
        "deployed_item_bytes": 973,
        "worker_calls": {"dynamodb:UpdateItem": 3.0, "dynamodb:GetItem": 1.0},
        "store_calls_per_refresh": 1.0,
        "event_source_calls_per_batch": 2,
        "tick_due": 84,
        "tick_calls": {"dynamodb:Query": 8, "sqs:SendMessageBatch": 9},
        "tick_seconds": 0.36,
        "scale_due": 10_000,
        "scale_calls": {"dynamodb:Query": 24, "sqs:SendMessageBatch": 1000},
        "scale_seconds": 18.0,
        "worker_batch_seconds": 0.48,
        "log_bytes_per_refresh": 70.0,
        "log_bytes_per_tick": 300,
        "worker_memory_mb": 512,
        "scheduler_memory_mb": 256,
        "secret_cache_size": 4096,
        "secret_miss_measured": 0.5,
        "secret_miss_formula": 0.55,
    }
    values.update(changes)
    return cost_model.Inputs(**values)  # type: ignore[arg-type]


def test_the_miss_rate_closed_form():
    # One environment that lives one hour never sees a version twice: every read misses.
    assert miss_rate(1, 1) == 1.0
    # One environment living 6 h: only the first hour of its life misses.
    assert miss_rate(1, 6) == 1 / 6
    # 4 environments, 6 h: (1/6) * sum_{a<6} 0.75^a.
    assert abs(miss_rate(4, 6) - sum(0.75**a for a in range(6)) / 6) < 1e-12
    assert abs(miss_rate(20, 6) - (1 - 0.95**6) / 0.05 / 6) < 1e-12  # ~88 %
    # An LRU that holds no past hour: everything misses; one that holds 1 hour: (1 + 5 * 0.75) / 6.
    assert miss_rate(4, 6, 0) == 1.0
    assert abs(miss_rate(4, 6, 1) - (1 + 5 * 0.75) / 6) < 1e-12
    # m = floor(C * E / N): at 1M connections and 20 environments 4,096 entries hold no hour.
    assert lru_hours(4096, 1_000_000, 20) == 0
    assert lru_hours(4096, 1_000, 9) == 36
    assert model_miss_rate(1_000_000, 20, 6, 4096) == 1.0
    assert model_miss_rate(1_000, 9, 6, 4096) == miss_rate(9, 6)


def test_the_replay_counts_lru_misses_and_recycled_environments():
    # 2 connections, 1 environment living 2 h, 3 hours: hour 0 misses both, hour 1 hits both,
    # hour 2 the environment is new again.
    plan = Schedule(2, 1, 2, hours=[[(0, [0, 1])], [(0, [1, 0])], [(0, [0, 1])]])
    assert replay(plan, cache_size=10) == [2, 0, 2]
    # An LRU of 1 keeps only the last read (connection 1): hour 1 finds it, not connection 0.
    assert replay(plan, cache_size=1) == [2, 1, 2]
    # Ages are staggered: of 3 environments living 3 h, one is recycled each hour.
    staggered = Schedule(1, 3, 3)
    assert [sum(staggered.recycled(hour, e) for e in range(3)) for hour in range(6)] == [1] * 6


def test_the_replay_agrees_with_the_closed_form_on_a_long_random_schedule():
    plan = schedule(200, 4, 6, 60, seed=7)
    misses = replay(plan, cache_size=4096)[6:]
    measured = sum(misses) / (200 * 54)
    assert abs(measured - miss_rate(4, 6)) < 0.02
    # An LRU far smaller than an environment's hour of reads (200 / 4 = 50): m = 0, all but no hits.
    assert sum(replay(plan, cache_size=5)[6:]) / (200 * 54) > 0.99
    # One holding about an hour (C = 60, m = 1): between the closed form's m = 1 and m = 0 (the
    # closed form is exact only where the LRU does not bind, or binds fully, as at 1M).
    bounded = sum(replay(plan, cache_size=60)[6:]) / (200 * 54)
    assert miss_rate(4, 6, 1) - 0.02 < bounded < 1.0
    assert bounded > measured + 0.15


def test_get_secret_value_count_follows_the_miss_rate():
    design = cost_model.build(_inputs(), connections=1_000_000)
    work = cost_model.Workload(1_000_000)
    assert work.environments == 20
    reads = next(item for item in design.items if item.what.startswith(cost_model.WORKER_READS))
    decrypts = next(item for item in design.items if item.what.startswith(cost_model.WORKER_DECRYPTS))
    assert reads.quantity == 1_000_000 * 720 * 1.0  # nothing survives the hour at 1M
    assert decrypts.quantity == reads.quantity
    small = cost_model.Workload(1_000)
    assert small.environments == 9
    built = cost_model.build(_inputs(), connections=1_000)
    reads = next(item for item in built.items if item.what.startswith(cost_model.WORKER_READS))
    assert abs(reads.quantity - 1_000 * 720 * miss_rate(9, 6)) < 1e-6
    assert abs(cost_model.reads_per_thousand(1.0) - 720_000 * 0.08 / 10_000) < 1e-9  # $5.76


def test_the_two_figures_and_the_two_percent_target():
    result = cost_model.model(_inputs())
    scale = result.at_scale
    assert abs(result.unit_storage - 400.0) < 1e-9  # 1,000 secrets at $0.40
    assert abs(result.target - 8.0) < 1e-9
    assert abs(result.unit_cost - result.unit_except_storage - 400.0) < 1e-9
    storage = [item for item in scale.items if item.storage_fee]
    assert len(storage) == 1 and storage[0].quantity == 1_000_000
    assert result.met == (result.unit_except_storage <= 8.0)
    # Everything but storage includes the worker's reads: $5.76 of it at a 100 % miss rate.
    assert result.unit_except_storage > cost_model.reads_per_thousand(1.0)
    # The break-even miss rate: with it, everything but storage is exactly the target.
    rest = result.unit_except_storage - cost_model.reads_per_thousand(result.scale_miss)
    assert abs(rest + cost_model.reads_per_thousand(result.break_even_miss) - 8.0) < 1e-9
    # The alternative keeps tokens in secrets too: a second secret per connection, not in the fee.
    alternative = result.tokens_in_secrets_manager_at_scale
    assert alternative.storage_fee == scale.storage_fee
    assert alternative.except_storage_per_thousand() > scale.except_storage_per_thousand() + 400
    # No per-tenant data keys any more.
    assert not any("data keys opened" in item.what for item in scale.items)
    assert not hasattr(cost_model, "CONNECTIONS_PER_TENANT")


def test_provisioned_capacity_is_the_spread_rate_at_70_percent_per_table_and_index():
    inputs = _inputs()
    design = cost_model.build(inputs, connections=1_000_000, capacity=cost_model.PROVISIONED)
    capacity = {
        item.what.split(":")[0]: item for item in design.items if item.what.startswith("provisioned ")
    }
    assert len(capacity) == 6  # read and write for the table and each of its two indexes
    per_second = 1_000_000 / 3600 / 0.8  # hourly refreshes, run over 80 % of each tick
    # The table: lease + token write (1 WRU each, 973 B) + the budget counter; the index: 2 (the move).
    table_writes = capacity["provisioned table writes"]
    assert table_writes.quantity == math.ceil(per_second * 3 / 0.7) * 720
    assert abs(table_writes.unit_price - 0.00065) < 1e-12
    assert (
        capacity["provisioned due_for_refresh index writes"].quantity == math.ceil(per_second * 2 / 0.7) * 720
    )
    # Reads: the iClient (1 RRU, strongly consistent) spread, plus a tick's due items within a minute.
    tick_reads = 1_000_000 / 12 * 0.5 / 60
    assert capacity["provisioned table reads"].quantity == math.ceil((per_second + tick_reads) / 0.7) * 720
    for unused in ("provisioned by_status index writes", "provisioned by_status index reads"):
        assert capacity[unused].quantity == 5 * 720 and capacity[unused].fixed
    # No request-priced DynamoDB lines on a provisioned table.
    assert not any(
        item.unit_price in (cost_model.DYNAMODB_WRU, cost_model.DYNAMODB_RRU) for item in design.items
    )


def test_the_model_pays_for_every_metric_the_templates_alarms_watch():
    from cartconnect_dev.template import load_template

    alarms = load_template().resources_of_type("AWS::CloudWatch::Alarm")
    watched = 0
    for resource in alarms.values():
        properties = resource["Properties"]
        watched += 1 if "MetricName" in properties else sum("MetricStat" in m for m in properties["Metrics"])
    assert watched == cost_model.ALARM_METRICS


def test_the_judged_figure_is_provisioned_at_scale_and_on_demand_is_shown_beside_it():
    result = cost_model.model(_inputs())
    assert result.at_scale.name.endswith(cost_model.PROVISIONED)
    assert result.at_scale_on_demand.name.endswith(cost_model.ON_DEMAND)
    assert result.built.name.endswith(cost_model.ON_DEMAND)  # the template's default below the break-even
    dynamodb = {d.name: d.by_service()["DynamoDB"] for d in (result.at_scale, result.at_scale_on_demand)}
    assert dynamodb[result.at_scale.name] < dynamodb[result.at_scale_on_demand.name] * 0.6
    # Everything else is billed the same.
    for service in ("Lambda", "SQS", "KMS", "Secrets Manager", "CloudWatch"):
        assert result.at_scale.by_service()[service] == result.at_scale_on_demand.by_service()[service]
    # The break-even: provisioned costs less from there on, and not just below it.
    size = result.provisioned_from
    assert 1_000 < size < 1_000_000

    def saving(connections: int) -> float:
        on_demand = cost_model.build(_inputs(), connections=connections).total
        return (
            on_demand
            - cost_model.build(_inputs(), connections=connections, capacity=cost_model.PROVISIONED).total
        )

    assert saving(size) > 0 and saving(size - 1_000) <= 0


# ---- the store proxy: its overhead figure's checks and its cost per million calls ---------------

from bench.proxy_overhead import OverheadRun, ProxyOverheadResult, published  # noqa: E402


def test_published_sums_a_metric_over_the_emf_documents_only():
    emf = (
        '{"_aws":{"CloudWatchMetrics":[]},"ProxyBudgetWaits":[1.0,2.0],"ProxyStoreLatency":[3.5]}\n'
        "not json at all\n"
        '{"level":"INFO","ProxyBudgetWaits":9}\n'  # a log line, not a metric document
        '{"_aws":{"CloudWatchMetrics":[]},"ProxyBudgetWaits":1}\n'
    )
    assert published(emf, "ProxyBudgetWaits") == 4.0
    assert published(emf, "ProxyStoreLatency") == 3.5
    assert published(emf, "ProxyBudgetRefused") == 0.0
    assert published("", "ProxyBudgetWaits") == 0.0


def test_the_overhead_figure_is_the_ratio_of_medians_and_its_break_even_latency():
    run = OverheadRun(200, direct=[0.200, 0.202, 0.204], proxied=[0.230, 0.222, 0.226])
    assert abs(run.ratio - 0.226 / 0.202) < 1e-12
    assert abs(run.overhead - 0.024) < 1e-12
    result = ProxyOverheadResult(rounds=3, judged=run)
    assert result.met  # 1.12 ≤ 1.3
    # 24 ms of overhead is within 1.3 times any direct call of at least 80 ms.
    assert abs(result.break_even_seconds - 0.080) < 1e-9


def _proxy_inputs(**changes: object) -> cost_model.ProxyInputs:
    values: dict[str, object] = {
        "warm_calls": {"dynamodb:GetItem": 1.0, "dynamodb:UpdateItem": 1.0},
        "opening_calls": {"dynamodb:GetItem": 1.0, "dynamodb:UpdateItem": 2.0},
        "new_environment_calls": {"kms:Decrypt": 1.0},
        "connection_item_bytes": 973,
        "budget_item_bytes": 75,
        "seconds": 0.2241,
        "store_latency_ms": 200,
        "answer_bytes": 4018,
        "log_bytes": 1132.0,
        "access_log_bytes": 334,
        "memory_mb": 512,
    }
    values.update(changes)
    return cost_model.ProxyInputs(**values)  # type: ignore[arg-type]


def test_the_access_log_line_is_the_template_format_filled_in():
    log_format = (
        '{"requestId":"$context.requestId","status":"$context.status","err":"$context.authorizer.error"}'
    )
    assert cost_model.access_log_bytes(log_format, {"requestId": "abc", "status": "200"}) == len(
        '{"requestId":"abc","status":"200","err":"-"}'
    )


def test_xray_samples_the_first_call_each_second_then_five_percent():
    assert cost_model.xray_sampled(0.4) == 0.4
    assert cost_model.xray_sampled(1.0) == 1.0
    assert abs(cost_model.xray_sampled(41.0) - (1.0 + 0.05 * 40)) < 1e-12


def test_proxy_environments_are_the_busy_ones_recycled_every_six_hours():
    # A million calls a month of 0.2 s keep less than one environment busy: one, 120 a month.
    assert cost_model.proxy_environments(1_000_000, 0.2) == 120
    # 100 million of 0.2 s: 7.7 busy on average, 8 at once.
    assert cost_model.proxy_environments(100_000_000, 0.2) == 8 * 120


def test_a_million_proxied_calls_priced_part_by_part():
    inputs = _proxy_inputs()
    design = cost_model.proxy_cost(inputs)
    parts = design.service_per_million()
    # Lambda: the request, and 225 ms (rounded up to the millisecond) at 0.5 GB.
    assert abs(parts["Lambda"] - (0.20 + 0.225 * 0.5 * 0.0000133334 * 1e6)) < 1e-9
    # API Gateway: one request per call (4 KB < 512 KB), and the answer's 4.018 GB out.
    assert abs(parts["API Gateway"] - (1.00 + 4.018 * 0.09)) < 1e-9
    # DynamoDB: 1 RRU (the connection, strongly consistent, < 4 KB) and 1 WRU (the budget, < 1 KB).
    assert abs(parts["DynamoDB"] - (0.125 + 0.625)) < 1e-9
    # KMS: one Decrypt per environment, 120 environments a month.
    assert abs(parts["KMS"] - 120 * 0.03 / 10_000) < 1e-12
    # Logs: the handler's bytes, the platform's 350 and the access log line, at $0.50 a GB.
    assert abs(parts["CloudWatch"] - (1132 + 350 + 334) / 1e9 * 1e6 * 0.50) < 1e-9
    # At 0.39 calls a second X-Ray traces every one.
    assert abs(parts["X-Ray"] - 5.00) < 1e-9
    assert abs(design.per_million() - sum(parts.values())) < 1e-9
    # Every call opening its store's window: one more (refused) UpdateItem, one more WRU.
    sparse = cost_model.proxy_cost(inputs, opening_share=1.0)
    assert abs(sparse.per_million() - design.per_million() - 0.625) < 1e-9
    # A busy month spreads X-Ray's first-each-second and the environments' Decrypts thinner.
    busy = cost_model.proxy_cost(inputs, calls_per_month=100_000_000).service_per_million()
    rate = 100_000_000 / cost_model.SECONDS_PER_MONTH
    assert abs(busy["X-Ray"] - (1 + 0.05 * (rate - 1)) / rate * 5.00) < 1e-9
    assert busy["KMS"] < parts["KMS"]
    # An answer over 512 KB is metered as more requests.
    big = cost_model.proxy_cost(_proxy_inputs(answer_bytes=600 * 1024)).service_per_million()
    assert abs(big["API Gateway"] - (2.00 + 600 * 1024 / 1e9 * 1e6 * 0.09)) < 1e-9
