"""Two `cartconnect-dev up` in one checkout: each keeps its own state (picked by PORT), a second one
that cannot start names the port that is taken and leaves the running one's state alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx2
from dev_process import CLI, ROOT, DevStack, free_port, running_dev_stack


def _up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A start that fails ends at once; one that wrongly starts would run until the timeout kills it.
    return subprocess.run(
        [str(CLI), "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _aws_endpoint(stack: DevStack) -> str:
    result = stack.cli("env")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("export AWS_ENDPOINT_URL=")]
    return line.partition("=")[2]


def _token_works(stack: DevStack) -> None:
    token = stack.cli("token", "--tenant", "acme")
    assert token.returncode == 0, token.stderr
    answer = httpx2.get(
        f"{stack.api_url}/v1/scopes", headers={"Authorization": f"Bearer {token.stdout.strip()}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text


def test_a_second_stack_that_cannot_start_names_the_taken_port_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    with running_dev_stack(tmp_path) as first:
        endpoint = _aws_endpoint(first)
        api_port, sandbox_port = first.env["PORT"], first.env["SANDBOX_PORT"]

        taken_api = _up({**first.env, "SANDBOX_PORT": str(free_port())})
        assert taken_api.returncode == 1, taken_api.stdout + taken_api.stderr
        assert f"cannot listen on 127.0.0.1:{api_port}: the port is in use" in taken_api.stderr
        assert "PORT=" in taken_api.stderr and "Traceback" not in taken_api.stderr

        taken_sandbox = _up({**first.env, "PORT": str(free_port())})
        assert taken_sandbox.returncode == 1, taken_sandbox.stdout + taken_sandbox.stderr
        assert f"sandbox store cannot listen on 127.0.0.1:{sandbox_port}" in taken_sandbox.stderr
        assert "SANDBOX_PORT=" in taken_sandbox.stderr

        # The first stack's state is whole: its endpoints, its key and its sandbox store.
        assert _aws_endpoint(first) == endpoint
        _token_works(first)
        seeded = first.cli("seed")
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr


def test_two_stacks_run_side_by_side_each_picked_by_its_port(tmp_path: Path) -> None:
    with running_dev_stack(tmp_path) as first:
        first_endpoint = _aws_endpoint(first)
        with running_dev_stack(tmp_path) as second:
            assert first.env["PORT"] != second.env["PORT"]
            assert _aws_endpoint(second) != first_endpoint
            assert _aws_endpoint(first) == first_endpoint
            _token_works(first)
            _token_works(second)
            second_token = second.cli("token", "--tenant", "acme").stdout.strip()
            refused = httpx2.get(
                f"{first.api_url}/v1/scopes", headers={"Authorization": f"Bearer {second_token}"}, timeout=30
            )
            assert refused.status_code == 401  # the other stack's issuer
        # The second one stopped and removed its own state only.
        assert _aws_endpoint(first) == first_endpoint
        _token_works(first)
        gone = second.cli("env")
        assert gone.returncode == 1 and f"port {second.env['PORT']} is not running" in gone.stderr
