"""`sam local` against the local AWS stand-in: fixtures for tests/sam (marker `sam`).

Run by `make sam-test` (scripts/sam-local.sh test), which starts Docker, builds the Lambda base image
stand-in, runs `sam build` and exports where everything is (CARTCONNECT_SAM_*). Here, in this process:
the local stack (moto with template.yaml's resources; tests/conftest.py's `local_stack`) and the sandbox
store, then `cartconnect-dev seed`'s objects; outside it, `sam local start-api` (one per session) and
one `sam local invoke` per call, with an --env-vars file generated from the local stack's own
resolution of template.yaml. Everything stays on 127.0.0.1.

`sam local invoke` exits 0 even when the handler crashed or the container never answered: every
answer is judged by what it says (tests/sample_events.py), never by the exit code alone. sam's output
is kept in files under the session's temporary directory, never printed (answers carry tokens).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import secret_scan
from dev_process import free_port

from cartconnect_dev.cli import SANDBOX_APP
from cartconnect_dev.sandbox_store import SandboxStore
from cartconnect_dev.seed import SandboxApp, seed
from cartconnect_dev.stack import LocalStack
from cartconnect_dev.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
INVOKE_TIMEOUT = 90


@functools.cache
def _template() -> Template:
    return load_template(ROOT / "template.yaml")


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the sam tests with `make sam-test` (scripts/sam-local.sh test)")
    return value


@dataclass
class Sam:
    """`sam local` on the session's local AWS: invoke functions, and a running start-api."""

    template: Path
    parameters: str
    layer_cache: str
    env_file: Path
    logs: Path
    sandbox: SandboxStore
    api_url: str = ""
    outputs: list[Path] = field(default_factory=list)

    def common_args(self) -> list[str]:
        return [
            "--template",
            str(self.template),
            "--env-vars",
            str(self.env_file),
            "--parameter-overrides",
            self.parameters,
            "--docker-network",
            "host",
            "--skip-pull-image",
            "--layer-cache-basedir",
            self.layer_cache,
        ]

    def invoke(self, function: str, event_file: Path) -> Any:
        """`sam local invoke` of a function (logical id or directory name) with an event; its answer.

        Fails when the answer is missing or not JSON (a crash, a container that never answered),
        whatever the exit code; sam's output goes to a log file, never into the assertion message.
        """
        logical_id = _template().function(function).logical_id
        log = self.logs / f"invoke-{event_file.stem}-{uuid.uuid4().hex[:6]}.log"
        self.outputs.append(log)
        with log.open("w") as stderr:
            result = subprocess.run(
                ["sam", "local", "invoke", logical_id, "--event", str(event_file), *self.common_args()],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                timeout=INVOKE_TIMEOUT,
                check=False,
            )
        answer = result.stdout.strip()
        assert result.returncode == 0, f"sam local invoke {logical_id} exited {result.returncode}: see {log}"
        assert answer, f"sam local invoke {logical_id} answered nothing: see {log}"
        try:
            return json.loads(answer.rsplit("\n", 1)[-1])
        except ValueError:
            pytest.fail(f"sam local invoke {logical_id} answered no JSON: see {log}")

    def seed(self) -> None:
        seed(
            SandboxApp(
                self.sandbox.base_url,
                self.sandbox.host,
                SANDBOX_APP["client_id"],
                SANDBOX_APP["client_secret"],
            ),
            origin=self.api_url,
        )

    def written(self) -> str:
        """Everything sam wrote (start-api's log and every invoke's stderr: the functions' own logs)."""
        return "\n".join(path.read_text(errors="replace") for path in self.outputs if path.exists())


@pytest.fixture(scope="session")
def sam(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sam]:
    template = Path(_required("CARTCONNECT_SAM_TEMPLATE"))
    parameters = _required("CARTCONNECT_SAM_PARAMETERS")
    layer_cache = _required("CARTCONNECT_SAM_LAYER_CACHE")
    _required("DOCKER_HOST")
    # sam's output, kept after the run for a look (scripts/sam-local.sh empties it first).
    logs = Path(os.environ.get("CARTCONNECT_SAM_LOGS") or tmp_path_factory.mktemp("sam-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    with SandboxStore(port=0) as store:
        store.register_app(SANDBOX_APP["client_id"], SANDBOX_APP["client_secret"])
        local_stack.update_env({"CARTCONNECT_INSECURE_STORE_HOSTS": store.host})
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        env_file = logs / "env.json"
        # The generated --env-vars file: each function's variables as the local stack resolved them from
        # template.yaml, plus AWS_ENDPOINT_URL, region, dummy credentials and the sandbox's insecure host.
        env_file.write_text(json.dumps(local_stack.sam_env_vars(api_url), indent=2))
        sam = Sam(template, parameters, layer_cache, env_file, logs, store, api_url)
        sam.seed()
        with _start_api(sam, port):
            yield sam
        secret_scan.register_sandbox(store)


@contextlib.contextmanager
def _start_api(sam: Sam, port: int) -> Iterator[None]:
    log = sam.logs / "start-api.log"
    sam.outputs.append(log)
    with log.open("w") as output:
        process = subprocess.Popen(
            ["sam", "local", "start-api", "--host", "127.0.0.1", "--port", str(port), *sam.common_args()],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sam local start-api did not come up: see {log}")
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
