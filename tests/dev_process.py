"""`cartconnect-dev up` as a newcomer runs it: a separate process, in an isolated state directory."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "cartconnect-dev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevStack:
    api_url: str
    env: dict[str, str]
    output: list[str]
    log: Path  # what `up` wrote (stdout and stderr)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev_stack(tmp_path_factory.mktemp("dev-root")) as stack:
        yield stack


@contextlib.contextmanager
def running_dev_stack(root: Path, **extra_env: str) -> Iterator[DevStack]:
    """`cartconnect-dev up` in a root of its own (links to the real template and functions, unless the
    root already has its own), which keeps its state file apart from a developer's own `make dev`;
    on free ports unless `extra_env` sets PORT or SANDBOX_PORT. The CLI picks it by its PORT (`cli`)."""
    for name in ("template.yaml", "functions", "pyproject.toml", "events"):
        if not (root / name).exists():
            (root / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "CARTCONNECT_ROOT": str(root),
        "PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    port = int(env["PORT"])
    log_path = root / f"up-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen([str(CLI), "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    api_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while "Ctrl-C stops the stack" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("cartconnect-dev up did not come up:\n" + log_path.read_text())
        time.sleep(0.1)
    output = log_path.read_text().splitlines()
    try:
        yield DevStack(api_url, env, output, log_path)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log_path.read_text()
        log.close()
