"""Every file in events/ invoked with `cartconnect-dev invoke` against a running stack, as `sam local invoke -e` would."""

from __future__ import annotations

import json

import pytest
from dev_process import ROOT, dev_stack  # noqa: F401 - the fixture

EVENTS = sorted((ROOT / "events").rglob("*.json"))
HTTP_EVENTS = [path for path in EVENTS if path.parent.name == "events"]
SCHEDULED_EVENTS = [path for path in EVENTS if path.parent.name == "refresh"]


# What each sample answers on an empty stack (the ids in the samples do not exist there).
EXPECTED = {
    "authorize-connect.json": 410,
    "authorize-connect-post.json": 410,
    "callback-store-denied.json": 400,
    "management-authorize-link.json": 404,
    "management-create-connection.json": 422,
    "management-create-iclient.json": 201,
    "management-delete-connection.json": 404,
    "management-delete-iclient.json": 404,
    "management-docs.json": 200,
    "management-get-connection.json": 404,
    "management-get-iclient.json": 404,
    "management-issue-token.json": 404,
    "management-refresh-connection.json": 404,
    "management-test-connection.json": 404,
    "management-list-connections.json": 200,
    "management-list-iclients.json": 200,
    "management-list-scopes.json": 200,
    "management-openapi.json": 200,
    "management-update-connection.json": 404,
    "management-update-iclient.json": 404,
}


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


@pytest.mark.parametrize("event_file", HTTP_EVENTS, ids=lambda path: path.name)
def test_sample_event_invokes(dev_stack, event_file):  # noqa: F811
    function = event_file.name.split("-", 1)[0]
    result = dev_stack.cli("invoke", function, "-e", str(event_file))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == EXPECTED[event_file.name], response


def test_scheduler_and_worker_samples_invoke(dev_stack):  # noqa: F811
    assert {path.name for path in SCHEDULED_EVENTS} == {
        "refresh_scheduler-tick.json",
        "refresh_worker-batch.json",
    }
    for event_file in SCHEDULED_EVENTS:
        function = event_file.name.split("-", 1)[0]
        result = dev_stack.cli("invoke", function, "-e", str(event_file))
        assert result.returncode == 0, (event_file.name, result.stderr)
        json.loads(result.stdout)


def test_refresh_due_command_runs_a_pass(dev_stack):  # noqa: F811
    result = dev_stack.cli("refresh-due")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scheduler"]["shards_done"] == report["scheduler"]["shards_total"]
