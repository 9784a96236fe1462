"""Every file in events/ invoked with `cartconnect-dev invoke` against a running stack, as `sam local invoke -e`
would, after `cartconnect-dev seed` made what the samples refer to (tests/sam/ does the same under Docker)."""

from __future__ import annotations

import json

import pytest
from dev_process import ROOT, dev_stack  # noqa: F401 - the fixture
from sample_events import AFTER_SEED, EVENTS, HTTP_EVENTS, SCHEDULED_EVENTS, check_answer, function_of


def test_every_route_of_the_template_has_a_sample_event():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    routes = {
        f"{event['Properties']['Method']} {event['Properties']['Path']}"
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    }
    sampled = {json.loads(path.read_text())["routeKey"] for path in HTTP_EVENTS}
    assert routes <= sampled, sorted(routes - sampled)
    assert {path.name for path in EVENTS} == set(AFTER_SEED), "every sample has an expected answer"
    assert {path.name for path in SCHEDULED_EVENTS} == {
        "refresh_scheduler-tick.json",
        "refresh_worker-batch.json",
    }


def seed(stack) -> str:
    result = stack.cli("seed")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_is_idempotent(dev_stack):  # noqa: F811
    first = seed(dev_stack)
    assert "con_00000000000000000000000001: authorized on the sandbox store: active" in first
    second = seed(dev_stack)
    assert "created" not in second and "authorized" not in second, second
    assert second.count(": kept") == 4 and "active (kept)" in second, second


@pytest.mark.parametrize("event_file", EVENTS, ids=lambda path: path.name)
def test_sample_event_answers_after_seed(dev_stack, event_file):  # noqa: F811
    seed(dev_stack)
    result = dev_stack.cli("invoke", function_of(event_file), "-e", str(event_file))
    assert result.returncode == 0, result.stderr
    check_answer(event_file, json.loads(result.stdout))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ('{"version": "2.0",', "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
    ids=["empty", "blank", "truncated", "not-an-object"],
)
def test_invoke_with_a_bad_event_file_says_why(dev_stack, tmp_path, content, says):  # noqa: F811
    event = tmp_path / "event.json"
    event.write_text(content)
    result = dev_stack.cli("invoke", "management", "-e", str(event))
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr + result.stdout, result.stderr


def test_invoke_with_a_missing_event_file_says_why(dev_stack, tmp_path):  # noqa: F811
    result = dev_stack.cli("invoke", "management", "-e", str(tmp_path / "nowhere.json"))
    assert result.returncode == 2
    assert "cannot read the event" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_invoke_of_a_failing_handler_answers_one_line_not_a_traceback(dev_stack, tmp_path):  # noqa: F811
    event = tmp_path / "event.json"
    event.write_text('{"not": "an API Gateway event"}')
    result = dev_stack.cli("invoke", "management", "-e", str(event))
    assert result.returncode == 1
    assert "management failed: KeyError" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "stackTrace" not in result.stdout


def test_refresh_due_command_runs_a_pass(dev_stack):  # noqa: F811
    result = dev_stack.cli("refresh-due")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scheduler"]["shards_done"] == report["scheduler"]["shards_total"]
