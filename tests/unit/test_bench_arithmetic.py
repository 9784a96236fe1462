"""The benchmark's own arithmetic (bench/): what turns measurements into the figures in
docs/benchmarks.md."""

from __future__ import annotations

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
