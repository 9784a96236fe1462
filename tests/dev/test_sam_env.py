"""The --env-vars file for `sam local` comes from the local stack's own resolution of template.yaml."""

from __future__ import annotations

from cartconnect_dev.stack import LocalStack

SAM_URL = "http://127.0.0.1:3001"


def test_every_function_gets_its_template_variables_and_the_local_settings(local_stack: LocalStack) -> None:
    document = local_stack.sam_env_vars(SAM_URL)
    local = local_stack.local_env(SAM_URL)  # the local settings (and what tests set) win, as in-process
    assert set(document) == set(local_stack.template.functions)
    for logical_id, variables in document.items():
        # Everything the template declares for the function, resolved the way the Docker-less stack runs it...
        for name, value in local_stack.function_envs[logical_id].items():
            assert variables[name] == local.get(name, value), (logical_id, name)
        # ...pointed at the local AWS and the sam API, with dummy credentials.
        assert variables["AWS_ENDPOINT_URL"] == local_stack.aws_endpoint
        assert variables["AWS_ACCESS_KEY_ID"] == "testing" and variables["AWS_REGION"] == "us-east-1"
        assert variables["PUBLIC_BASE_URL"] == SAM_URL
        assert variables["TABLE_NAME"] == local_stack.resources["Table"].ref
    assert document["RefreshWorkerFunction"]["REFRESH_QUEUE_URL"] == local_stack.resources["RefreshQueue"].ref
    assert "REFRESH_QUEUE_URL" not in document["ManagementFunction"]
