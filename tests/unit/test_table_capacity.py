"""The table's capacity mode (TableBillingMode), read off template.yaml through the local stack's resolver
(cartconnect_dev.template): on-demand by default, with no capacity and no auto scaling anywhere; and
PROVISIONED, with capacity on the table and on every index, and one read and one write scalable target
and target-tracking policy for each, wired to the Table* parameters. Then the local stack's creation code
(cartconnect_dev.moto_resources) making the PROVISIONED table, its indexes' capacity included, and
passing over the auto scaling resources."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from cartconnect_dev.moto_resources import MotoServer, client, create_resources
from cartconnect_dev.template import Physical, Resolver, Template, load_template

TEMPLATE = load_template()
TABLE = "Table"
TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"
POLICY = "AWS::ApplicationAutoScaling::ScalingPolicy"
SCALING = (TARGET, POLICY)
# Parameters without a Default (the local stack passes its own).
REQUIRED = {"JwtIssuer": "https://issuer.example", "JwtAudience": "audience"}
# Each capacity parameter a value of its own: one wired to the wrong property shows.
READ_MIN, READ_MAX, WRITE_MIN, WRITE_MAX, UTILIZATION = 7, 700, 11, 1100, 55
PROVISIONED = {
    "TableBillingMode": "PROVISIONED",
    "TableReadCapacityMin": str(READ_MIN),
    "TableReadCapacityMax": str(READ_MAX),
    "TableWriteCapacityMin": str(WRITE_MIN),
    "TableWriteCapacityMax": str(WRITE_MAX),
    "TableTargetUtilization": str(UTILIZATION),
}
CAPACITY = {"ReadCapacityUnits": READ_MIN, "WriteCapacityUnits": WRITE_MIN}
RANGE = {"Read": (READ_MIN, READ_MAX), "Write": (WRITE_MIN, WRITE_MAX)}


def _deployed(overrides: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Logical id -> (type, resolved Properties) of every resource whose Condition holds with these
    parameters. Every resource stands in as `ref:<id>` (Ref) with an Arn (GetAtt)."""
    physical = {lid: Physical(f"ref:{lid}", {"Arn": f"arn:test:{lid}"}) for lid in TEMPLATE.resources}
    resolver = Resolver(TEMPLATE, physical, {**REQUIRED, **overrides})
    deployed = {}
    for lid, resource in TEMPLATE.resources.items():
        condition = resource.get("Condition")
        if condition and not resolver.condition(str(condition)):
            continue
        kind = str(resource["Type"])
        # Only the table and its auto scaling: the rest would need stand-ins for more attributes.
        wanted = lid == TABLE or kind in SCALING
        deployed[lid] = (kind, resolver.resolve(resource.get("Properties") or {}, lid) if wanted else {})
    return deployed


def _of_type(deployed: dict[str, tuple[str, dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: props for lid, (found, props) in deployed.items() if found == kind}


def _keys(value: Any) -> Iterator[str]:
    """Every mapping key anywhere in a resolved value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _throughput(props: dict[str, Any]) -> dict[str, int]:
    """The read and write capacity units of a table or index (template or DescribeTable)."""
    return {unit: int(props["ProvisionedThroughput"][unit]) for unit in CAPACITY}


def test_the_table_is_on_demand_unless_provisioned_is_chosen() -> None:
    spec = TEMPLATE.parameters["TableBillingMode"]
    assert spec["Default"] == "PAY_PER_REQUEST"
    assert set(spec["AllowedValues"]) == {"PAY_PER_REQUEST", "PROVISIONED"}


@pytest.mark.parametrize(
    "overrides",
    [{}, {**PROVISIONED, "TableBillingMode": "PAY_PER_REQUEST"}],
    ids=["defaults", "capacity-parameters-set"],
)
def test_on_demand_has_no_capacity_anywhere_and_no_auto_scaling(overrides: dict[str, str]) -> None:
    deployed = _deployed(overrides)
    table = deployed[TABLE][1]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["GlobalSecondaryIndexes"]
    assert "ProvisionedThroughput" not in set(_keys(table))
    assert [lid for lid, (kind, _) in deployed.items() if "AutoScaling" in kind] == []


def test_provisioned_gives_the_table_and_every_index_the_min_capacities() -> None:
    table = _deployed(PROVISIONED)[TABLE][1]
    assert table["BillingMode"] == "PROVISIONED"
    assert _throughput(table) == CAPACITY
    indexes = table["GlobalSecondaryIndexes"]
    assert indexes
    for index in indexes:
        assert "ProvisionedThroughput" in index, f"index {index['IndexName']} has no capacity"
        assert _throughput(index) == CAPACITY, index["IndexName"]


def _scaled() -> list[tuple[str, str]]:
    """(ResourceId, ScalableDimension) of every capacity that must scale: the table's and each index's
    reads and writes, as Application Auto Scaling names them."""
    table = _deployed(PROVISIONED)[TABLE][1]
    name = f"ref:{TABLE}"
    places = [(f"table/{name}", "table")] + [
        (f"table/{name}/index/{index['IndexName']}", "index") for index in table["GlobalSecondaryIndexes"]
    ]
    return [(resource, f"dynamodb:{kind}:{unit}CapacityUnits") for resource, kind in places for unit in RANGE]


def test_provisioned_scales_reads_and_writes_of_the_table_and_of_every_index_once() -> None:
    targets = _of_type(_deployed(PROVISIONED), TARGET)
    found = Counter((props["ResourceId"], props["ScalableDimension"]) for props in targets.values())
    assert found == Counter(_scaled())
    for lid, props in targets.items():
        assert props["ServiceNamespace"] == "dynamodb", lid
        # No role: Application Auto Scaling uses (and creates) DynamoDB's service-linked role.
        assert "RoleARN" not in props, lid


def test_each_scalable_target_ranges_between_the_min_and_max_parameters() -> None:
    for lid, props in _of_type(_deployed(PROVISIONED), TARGET).items():
        unit = props["ScalableDimension"].rpartition(":")[2].removesuffix("CapacityUnits")
        assert (int(props["MinCapacity"]), int(props["MaxCapacity"])) == RANGE[unit], lid


def test_each_scalable_target_has_one_target_tracking_policy_at_the_target_utilization() -> None:
    deployed = _deployed(PROVISIONED)
    targets = {f"ref:{lid}": props for lid, props in _of_type(deployed, TARGET).items()}
    policies = _of_type(deployed, POLICY)
    assert Counter(props["ScalingTargetId"] for props in policies.values()) == Counter(list(targets))
    for lid, props in policies.items():
        target = targets[props["ScalingTargetId"]]
        unit = target["ScalableDimension"].rpartition(":")[2].removesuffix("CapacityUnits")
        tracking = props["TargetTrackingScalingPolicyConfiguration"]
        assert props["PolicyType"] == "TargetTrackingScaling", lid
        assert tracking["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": f"DynamoDB{unit}CapacityUtilization"
        }, lid
        assert float(tracking["TargetValue"]) == UTILIZATION, lid
        # Out quickly under load, in more slowly (DynamoDB allows a table few decreases a day).
        assert 0 < int(tracking["ScaleOutCooldown"]) <= int(tracking["ScaleInCooldown"]), lid
    assert len({props["PolicyName"] for props in policies.values()}) == len(policies)


# ---------------------------------------------------------------------------------------------
# The local stack's creation code, in moto


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = MotoServer(0)
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def test_the_local_stack_creates_a_provisioned_table_with_its_indexes_capacity(moto_endpoint: str) -> None:
    # The table, its key and its auto scaling, as template.yaml declares them; under a name of its own:
    # moto's state is shared by every server in this process, the session's local stack included.
    resources = {
        lid: resource
        for lid, resource in TEMPLATE.resources.items()
        if lid in ("KmsKey", TABLE) or resource["Type"] in SCALING
    }
    scaling = {lid: resource["Type"] for lid, resource in resources.items() if resource["Type"] in SCALING}
    declared = resources[TABLE]["Properties"]
    name = f"capacity-{uuid.uuid4().hex[:12]}"
    resources[TABLE] = {**resources[TABLE], "Properties": {**declared, "TableName": name}}
    template = Template(path=TEMPLATE.path, data={**TEMPLATE.data, "Resources": resources})

    created = create_resources(template, moto_endpoint, {**REQUIRED, **PROVISIONED})
    dynamodb = client("dynamodb", moto_endpoint)
    try:
        assert set(created.physical) == {"KmsKey", TABLE}
        assert scaling
        assert created.skipped == scaling
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        assert _throughput(table) == CAPACITY
        indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
        assert set(indexes) == {index["IndexName"] for index in declared["GlobalSecondaryIndexes"]}
        for index in indexes.values():
            assert _throughput(index) == CAPACITY, index["IndexName"]
    finally:
        # Gone again, so that nothing else in this process finds a second table in moto.
        dynamodb.update_table(TableName=name, DeletionProtectionEnabled=False)
        dynamodb.delete_table(TableName=name)


def test_the_throttle_alarm_sums_reads_and_writes_of_the_table_and_of_every_index():
    alarm = TEMPLATE.resources["TableThrottlesAlarm"]
    assert "Condition" not in alarm  # on-demand tables throttle too (a partition's limit)
    properties = alarm["Properties"]
    metrics = properties["Metrics"]
    [expression] = [metric for metric in metrics if "Expression" in metric]
    assert expression["Expression"] == "SUM(METRICS())" and expression["ReturnData"] is True
    watched = Counter()
    for metric in metrics:
        if "MetricStat" not in metric:
            continue
        assert metric["ReturnData"] is False
        stat = metric["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Stat"], stat["Period"]) == ("AWS/DynamoDB", "Sum", 60)
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dimensions.pop("TableName") == {"Ref": TABLE}
        watched[(dimensions.get("GlobalSecondaryIndexName"), stat["Metric"]["MetricName"])] += 1
    indexes = [
        None,
        *(i["IndexName"] for i in TEMPLATE.resources[TABLE]["Properties"]["GlobalSecondaryIndexes"]),
    ]
    kinds = ("ReadThrottleEvents", "WriteThrottleEvents")
    assert watched == Counter({(index, kind): 1 for index in indexes for kind in kinds})
    # Sustained: every one of 5 minutes, not the single throttles the SDK's retries absorb.
    assert (properties["EvaluationPeriods"], properties["DatapointsToAlarm"]) == (5, 5)
    assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")
