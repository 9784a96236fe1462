"""Small fixes to SAM CLI for `sam local` here: Docker without a bridge network, and the project's tests.

Installed into the SAM tool environment only (.tools/, by scripts/sam-local.sh): linked into its
site-packages with a `.pth` file that imports it at interpreter start-up. It never goes into the
project's .venv and nothing deployed uses it. It changes nothing until SAM imports the two modules
below, and then only what is described here (checked against aws-sam-cli 1.170.0):

1. Host networking (`sam local ... --docker-network host`). SAM always creates the function's
   container on Docker's default bridge and publishes the emulator's port 8080 to
   127.0.0.1:<random>; for `--docker-network host` it only skips connecting another network. Where
   dockerd runs with `--bridge=none` the container then has no network at all, and every invoke ends
   in "Timed out while attempting to establish a connection to the container" (exit code 0). With
   this fix a container on the host network gets host networking and no published ports, and its
   runtime interface emulator listens on 127.0.0.1:<SAM's chosen port> (where SAM connects to it),
   with the Lambda runtime API on 127.0.0.1:<a free port> (the default 9001 would clash between
   two containers on the one host network).

2. The `--env-vars` file. SAM only overrides variables the template declares for the function and
   drops every other name in the file. The local runs need a few more (AWS_ENDPOINT_URL pointing
   at the local AWS stand-in, dummy credentials, CARTCONNECT_INSECURE_STORE_HOSTS for the sandbox
   store), which a deployed template must never declare. With this fix every name in the file
   reaches the function; values from the template and the shell are resolved as before.

3. Layer images. For a function with layers SAM builds an image (the runtime plus the layers) tagged
   after the layers' names, and rebuilds it on every invoke when a layer is defined in the template,
   as its content may have changed: 15 to 20 s per `sam local invoke` for the core layer here. With
   this fix the tag also carries a digest of the layers' files (paths, sizes, modification times), and
   an image already built under that tag, i.e. for exactly those files, is used as it is.

4. `sam local start-api`'s access log (werkzeug's) prints every request's whole URL: the OAuth
   callback's query carries the store's code and auth_id, and /connect/{ticket} a one-time link ticket,
   which must never reach a log. With this fix they are logged as `?…` and `/connect/…` (API Gateway's
   access log names the route template, not the path, for the same reason).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

CONTAINER_MODULE = "samcli.local.docker.container"
ENV_VARS_MODULE = "samcli.local.lambdafn.env_vars"
IMAGE_MODULE = "samcli.local.docker.lambda_image"
CONTENT_TAG = "-files"
RIE = "/var/rapid/aws-lambda-rie"


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _HostNetworkContainers:
    """Docker's container collection, creating containers on the host network without published
    ports (docker-py refuses port bindings with host networking)."""

    def __init__(self, containers: Any) -> None:
        self._containers = containers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._containers, name)

    def create(self, image: str, **kwargs: Any) -> Any:
        kwargs.pop("ports", None)
        kwargs["network_mode"] = "host"
        return self._containers.create(image, **kwargs)


class _HostNetworkClient:
    """SAM's Docker client, with the container collection above; everything else is passed through."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @property
    def containers(self) -> _HostNetworkContainers:
        return _HostNetworkContainers(self._client.containers)


def patch_container(module: ModuleType) -> None:
    """Fix 1: `Container.create` with host networking when the network is `host`."""
    container_class = module.Container
    original_create = container_class.create

    def create(self: Any, context: Any) -> Any:
        if self.network_id != "host":
            return original_create(self, context)
        entrypoint = list(self._entrypoint or [])
        if entrypoint[:1] == [RIE]:  # not for debugger entry points: leave those as SAM made them
            self._entrypoint = [
                *entrypoint,
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.rapid_port_host}",
                "--runtime-api-address",
                f"127.0.0.1:{_free_loopback_port()}",
            ]
        # SAM's docker_client property returns this attribute once it is set: swap in the host-network
        # client for this one create call.
        client = self.docker_client
        self._validated_docker_client = _HostNetworkClient(client)
        try:
            return original_create(self, context)
        finally:
            self._validated_docker_client = client

    if not getattr(container_class, "_cartconnect_host_network", False):
        container_class.create = create
        container_class._cartconnect_host_network = True


def patch_env_vars(module: ModuleType) -> None:
    """Fix 2: every variable of the `--env-vars` file reaches the function."""
    env_class = module.EnvironmentVariables
    original_resolve = env_class.resolve

    def resolve(self: Any) -> dict[str, str]:
        result: dict[str, str] = original_resolve(self)
        for name, value in (self.override_values or {}).items():
            if name not in (self.variables or {}):
                result[name] = self._stringify_value(value)
        return result

    if not getattr(env_class, "_cartconnect_env_file", False):
        env_class.resolve = resolve
        env_class._cartconnect_env_file = True


def _files_digest(directory: str) -> str:
    """A digest of every file below `directory`: relative path, size and modification time."""
    digest = hashlib.sha256()
    for parent, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            stat = os.lstat(path)
            digest.update(
                f"{os.path.relpath(path, directory)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()[:16]


def patch_lambda_image(module: ModuleType) -> None:
    """Fix 3: a layer image is built once per content of the layers, not on every invoke."""
    import docker.errors  # SAM's own dependency, already imported by the module being patched

    not_found = docker.errors.ImageNotFound
    image_class = module.LambdaImage
    original_version = image_class._generate_docker_image_version
    original_build = image_class._build_image

    def version(layers: list[Any], runtime_image_tag: str) -> str:
        tag = str(original_version(layers, runtime_image_tag))
        directories = [layer.codeuri for layer in layers if layer.codeuri and os.path.isdir(layer.codeuri)]
        if len(directories) != len(layers):
            return tag  # a layer SAM did not unpack here: leave the tag (and the rebuild) as they were
        return tag + CONTENT_TAG + "".join(_files_digest(directory) for directory in directories)[:16]

    def build(self: Any, base_image: str, docker_tag: str, *rest: Any, **options: Any) -> Any:
        if CONTENT_TAG in docker_tag and not self.force_image_build:
            try:
                self.docker_client.images.get(docker_tag)
                return None  # built before from exactly these files
            except not_found:
                pass
        return original_build(self, base_image, docker_tag, *rest, **options)

    if not getattr(image_class, "_cartconnect_layer_digest", False):
        image_class._generate_docker_image_version = staticmethod(version)
        image_class._build_image = build
        image_class._cartconnect_layer_digest = True


class _NoCredentialsInUrls(logging.Filter):
    """Fix 4: `"GET /oauth2/callback?code=...&auth_id=... HTTP/1.1"` is logged as
    `"GET /oauth2/callback?… HTTP/1.1"`, and `/connect/<ticket>` as `/connect/…`."""

    _QUERY = re.compile(r"\?[^\s\"]*")
    _TICKET = re.compile(r"/connect/[^\s\"?]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._TICKET.sub("/connect/…", self._QUERY.sub("?…", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    CONTAINER_MODULE: patch_container,
    ENV_VARS_MODULE: patch_env_vars,
    IMAGE_MODULE: patch_lambda_image,
}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the two SAM modules it asks the other finders, and patches the
    module right after it has been executed. Every other import is left alone."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(existing, _NoCredentialsInUrls) for existing in werkzeug.filters):
        werkzeug.addFilter(_NoCredentialsInUrls())
    for name, patch in PATCHES.items():
        if name in sys.modules:  # already imported (should not happen at start-up): patch in place
            patch(sys.modules[name])
    if not any(isinstance(finder, _PatchAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport())


install()
