"""README's walk-through, run as written (bash, curl, jq) against `cartconnect-dev up`; then the demo.

The stack runs on free ports, never 3000 and 8765, with PORT and SANDBOX_PORT set as a developer who
changed them would: a snippet that hard-codes a port fails here."""

from __future__ import annotations

import json
import os
import re
import subprocess

from dev_process import CLI, ROOT, dev_stack  # noqa: F401 - the fixture

README = (ROOT / "README.md").read_text()


def _bash(stack, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _setup(tenant: str) -> str:
    """The walk-through's first two lines (API, TOKEN), with a token for `tenant`."""
    api, token = _walkthrough().splitlines()[:2]
    assert token == "TOKEN=$(.venv/bin/cartconnect-dev token --tenant acme)"
    return f"{api}\n{token.replace('acme', tenant)}\n"


def _walkthrough() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    matching = [block for block in blocks if "TOKEN=$(" in block and "/v1/iclients" in block]
    assert len(matching) == 1, "README has exactly one walk-through block"
    return matching[0]


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S).group(1)
    assert first_block.splitlines()[0].startswith("make dev")
    assert first_block.splitlines()[1].startswith("make test")


def test_walkthrough_works_as_written(dev_stack):  # noqa: F811
    assert dev_stack.env["PORT"] != "3000"
    result = _bash(dev_stack, _walkthrough())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        '"Main store"',
        "{",
        '  "name": "Main store",',
        '  "subdomain": "mystore.cart.com",',
        '  "status": "pending_authorization"',
        "}",
        '"Main store (US)"',
        "204",
        "204",
    ]


def test_error_example_names_the_field(dev_stack):  # noqa: F811
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    example = next(block for block in blocks if "jq .errors" in block)
    result = _bash(dev_stack, _setup("acme") + example)
    assert result.returncode == 0, result.stderr
    assert '"field": "subdomain"' in result.stdout


def test_demo_runs_the_whole_flow(dev_stack):  # noqa: F811
    result = dev_stack.cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: tenant" in result.stdout
    assert re.search(
        r"^4\. the link's page says 'Connect the store [^']+', permissions read_orders, read_catalog, system",
        result.stdout,
        flags=re.M,
    )
    assert re.search(r"^7\. connection con_\w+: active", result.stdout, flags=re.M)
    # No secret beyond a prefix: the sandbox app secret and full tickets never appear.
    assert "sandbox-app-secret" not in result.stdout
    assert not re.search(r"[0-9a-f]{64}", result.stdout)


def test_proxy_snippet_pages_the_sandbox_stores_products(dev_stack):  # noqa: F811
    demo = dev_stack.cli("demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    done = next(line for line in demo.stdout.splitlines() if line.startswith("done: tenant"))
    tenant, connection = done.split()[2], re.search(r"con_\w+", done).group(0)
    (snippet,) = [block for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S) if "/proxy/" in block]
    result = _bash(dev_stack, _setup(tenant) + f"CONNECTION={connection}\n" + snippet)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["total_count"] == 25 and answer["first"] == "Sandbox Product 01"
    assert (
        answer["next_page"]
        == f"{dev_stack.api_url}/v1/connections/{connection}/proxy/products?page=2&count=10"
    )


def test_sandbox_snippet_prints_a_working_authorize_link(dev_stack):  # noqa: F811
    import httpx2

    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    snippet = next(block for block in blocks if "sandbox-app-secret" in block)
    sandbox_host = f"127.0.0.1:{dev_stack.env['SANDBOX_PORT']}"
    assert dev_stack.env["SANDBOX_PORT"] != "8765"
    result = _bash(dev_stack, _setup("readme-sandbox") + snippet)
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith(f"{dev_stack.api_url}/connect/")
    opened = httpx2.get(link, follow_redirects=False, timeout=30)
    assert opened.status_code == 200  # the page that shows what is granted, with one button
    assert sandbox_host in opened.text and "10001" in opened.text and "<form method=post>" in opened.text
    clicked = httpx2.post(link, follow_redirects=False, timeout=30)
    assert clicked.status_code == 303
    assert clicked.headers["location"].startswith(f"http://{sandbox_host}/api/oauth?client_id=10001&")


def test_sandbox_config_example_reaches_the_running_sandbox(dev_stack):  # noqa: F811
    (example,) = re.findall(r"`(curl [^`]*/_sandbox/config[^`]*)`", README)
    result = _bash(dev_stack, example + " | jq .token_lifetime_seconds")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "120"
    _bash(dev_stack, example.replace("120", "3600"))  # as it was, for the module's other tests


def test_env_lets_boto3_inspect_the_running_stacks_secrets(dev_stack):  # noqa: F811
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    snippet = next(block for block in blocks if "cartconnect-dev env" in block)
    create = (
        'curl -sf -X POST "$API/v1/iclients" -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' "
        """-d '{"name": "Env app", "client_id": "4711", "client_secret": "env-app-secret-31c"}' | jq -r .id\n"""
    )
    created = _bash(dev_stack, _setup("readme-env") + create)
    assert created.returncode == 0, created.stderr
    iclient_id = created.stdout.strip()
    # A shell with none of the stack's settings: everything comes from `env`.
    clean = {name: value for name, value in dev_stack.env.items() if not name.startswith("AWS_")}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet],
        cwd=ROOT,
        env={**clean, "AWS_PROFILE": "some-real-profile"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = result.stdout.splitlines()
    assert any(
        name.startswith("cartconnect/cartconnect-local/iclients/") and name.endswith(f"/{iclient_id}")
        for name in names
    ), names
    assert "env-app-secret-31c" not in result.stdout


def test_env_says_when_no_stack_runs(tmp_path):
    result = subprocess.run(
        [str(CLI), "env"],
        cwd=ROOT,
        env={**os.environ, "CARTCONNECT_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "not running" in result.stderr and "export" not in result.stdout
