"""The local stack: moto's server with the template's resources, the local JWT issuer and the gateway.

    with LocalStack(port=0) as stack:        # port 0: a free port (tests); default $PORT or 3000
        api = stack.client("acme")           # httpx2.Client on stack.api_url with acme's bearer token
        api.get("/v1/scopes")
        stack.aws_client("dynamodb")         # boto3 client for moto
        stack.refresh_due()                  # one refresh-scheduler tick, the queue drained into the worker

    LocalStack(run_schedule=True)            # also run that every schedule_seconds (make dev), like the
                                             # deployed EventBridge schedule (CARTCONNECT_SCHEDULE_SECONDS, 60)

Environment: every function's variables are resolved from template.yaml (Globals.Function
overlaid by the function's own) and merged into this process's os.environ, because all handlers
run in this one process. The functions share the Globals and their own variable names do not
clash; if two functions ever set one name to different values, the later function (template
order) wins and a warning is logged. On top come the local settings (AWS_ENDPOINT_URL pointing at
moto, region, dummy credentials, Powertools tracing/metrics off, PUBLIC_BASE_URL = the API URL),
then `extra_env`. `stop()` restores the previous environment.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx2

from cartconnect.process import reset_process_state
from cartconnect_dev import invoke_secret
from cartconnect_dev.gateway.app import GatewayApp
from cartconnect_dev.gateway.authorizer import JwtAuthorizer
from cartconnect_dev.gateway.functions import HandlerLoadError, LocalFunction
from cartconnect_dev.gateway.server import GatewayServer
from cartconnect_dev.jwt_issuer import AUDIENCE, DEFAULT_PORT, KEY_FILE_NAME, STATE_DIR_NAME, LocalIssuer
from cartconnect_dev.moto_resources import DUMMY_CREDENTIALS, MotoServer, client, create_resources
from cartconnect_dev.scheduler import (
    DEFAULT_SCHEDULE_SECONDS,
    RefreshDueReport,
    ScheduleRunner,
    run_refresh_due,
)
from cartconnect_dev.template import (
    ACCOUNT_ID,
    REGION,
    STACK_NAME,
    Physical,
    Resolver,
    Template,
    load_template,
    project_root,
)

log = logging.getLogger(__name__)

API_ID = "local"


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """One TLS context for every HTTP client the stack and its tests create: building httpx's default
    context (the CA bundle) costs ~40 ms per client; sharing one keeps full certificate checks."""
    return httpx2.create_ssl_context()


def selected_port() -> int:
    """The API port that names the stack a command talks to: $PORT, or 3000 (as for `make dev`)."""
    return int(os.environ.get("PORT") or DEFAULT_PORT)


def state_file(root: Path | None = None, port: int | None = None) -> Path:
    """Where the stack on API port `port` (default: `selected_port()`) keeps its state: one file per
    stack, so two stacks of one checkout never read or remove each other's."""
    return (
        (root or project_root()) / STATE_DIR_NAME / state_file_name(selected_port() if port is None else port)
    )


def state_file_name(port: int) -> str:
    return f"stack-{port}.json"


def read_state(root: Path | None = None, port: int | None = None) -> dict[str, Any] | None:
    """The endpoints (and invoke secret) that `cartconnect-dev up` wrote for the stack on API port
    `port` (default: `selected_port()`), or None if that stack is not running."""
    path = state_file(root, port)
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # stale: that process is gone
        except PermissionError:
            pass
    return state


def not_running(port: int | None = None) -> str:
    """Why a command that needs the stack on API port `port` (default $PORT or 3000) cannot run."""
    port = selected_port() if port is None else port
    start = "make dev" if port == DEFAULT_PORT else f"PORT={port} make dev"
    return (
        f"the local stack on port {port} is not running (PORT picks the stack, default {DEFAULT_PORT}): "
        f"start it with `{start}` in another terminal"
    )


class LocalStack:
    def __init__(
        self,
        *,
        port: int | None = None,
        moto_port: int | None = None,
        root: Path | None = None,
        template_path: Path | None = None,
        state_dir: Path | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        write_state: bool = False,
        run_schedule: bool = False,
        schedule_seconds: float | None = None,
    ) -> None:
        self.root = root or (template_path.parent if template_path else project_root())
        self.template_path = template_path or self.root / "template.yaml"
        self.state_dir = state_dir or self.root / STATE_DIR_NAME
        self.requested_port = selected_port() if port is None else port
        self.requested_moto_port = int(os.environ.get("MOTO_PORT", "0")) if moto_port is None else moto_port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.extra_env = dict(extra_env or {})
        self.write_state = write_state
        self.run_schedule = run_schedule
        self.schedule_seconds = (
            float(os.environ.get("CARTCONNECT_SCHEDULE_SECONDS", str(DEFAULT_SCHEDULE_SECONDS)))
            if schedule_seconds is None
            else float(schedule_seconds)
        )
        self._schedule: ScheduleRunner | None = None
        # Written into the state file beside the stack's own fields (cartconnect-dev up: the sandbox store).
        self.state_extra: dict[str, Any] = {}
        self.invoke_secret = ""

        self.template: Template = load_template(self.template_path)
        self.resources: dict[str, Physical] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.env: dict[str, str] = {}
        # logical id -> that function's variables resolved from template.yaml (no local settings)
        self.function_envs: dict[str, dict[str, str]] = {}
        self.parameters: dict[str, str] = {}
        self.jwt_issuer: LocalIssuer | None = None
        self.app: GatewayApp | None = None
        self._moto: MotoServer | None = None
        self._gateway: GatewayServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self._http_clients: list[httpx2.Client] = []
        self._aws_clients: dict[tuple[str, str], Any] = {}
        self._aws_clients_lock = threading.Lock()

    # -- endpoints -----------------------------------------------------------------------------

    @property
    def gateway(self) -> GatewayServer:
        if self._gateway is None:
            raise RuntimeError("the local stack is not started")
        return self._gateway

    @property
    def moto(self) -> MotoServer:
        if self._moto is None:
            raise RuntimeError("the local stack is not started")
        return self._moto

    @property
    def local_issuer(self) -> LocalIssuer:
        if self.jwt_issuer is None:
            raise RuntimeError("the local stack is not started")
        return self.jwt_issuer

    @property
    def api_url(self) -> str:
        return self.gateway.url

    @property
    def port(self) -> int:
        return self.gateway.port

    @property
    def aws_endpoint(self) -> str:
        return self.moto.endpoint

    @property
    def issuer(self) -> str:
        """The local issuer's URL (the `iss` of its tokens)."""
        return self.local_issuer.issuer

    @property
    def audience(self) -> str:
        return self.local_issuer.audience

    @property
    def tenant_claim(self) -> str:
        return self.local_issuer.tenant_claim

    # -- helpers for callers and tests ---------------------------------------------------------

    def token(self, tenant: str, **kwargs: Any) -> str:
        """A bearer token for `tenant` the gateway accepts (kwargs: audience, expires_in, extra_claims)."""
        return self.local_issuer.issue_token(tenant, **kwargs)

    def client(self, tenant: str | None = None, **token_kwargs: Any) -> httpx2.Client:
        """An HTTP client for the API; with `tenant`, it sends a bearer token for that tenant.

        The stack closes its clients when it stops.
        """
        headers = {"Authorization": f"Bearer {self.token(tenant, **token_kwargs)}"} if tenant else {}
        http = httpx2.Client(base_url=self.api_url, headers=headers, timeout=30, verify=shared_tls())
        self._http_clients.append(http)
        return http

    def aws_client(self, service: str) -> Any:
        """A boto3 client for moto (dummy credentials, us-east-1), one per service (clients are
        thread-safe, and creating one takes ~100 ms)."""
        with self._aws_clients_lock:
            key = (service, self.aws_endpoint)
            if key not in self._aws_clients:
                self._aws_clients[key] = client(service, self.aws_endpoint)
            return self._aws_clients[key]

    def function(self, name: str) -> LocalFunction:
        """A function by logical id, CodeUri directory name or function name."""
        if self.app is None:
            raise RuntimeError("the local stack is not started")
        found = self.app.find_function(name)
        if found is None:
            raise KeyError(f"no function {name!r}; known: {', '.join(self.functions)}")
        return found

    def invoke(self, name: str, event: Any) -> Any:
        """Invoke a function in-process with a raw event (like `sam local invoke`)."""
        return self.function(name).invoke(event)

    def refresh_due(self) -> RefreshDueReport:
        """One run of the refresh scheduler, then the refresh queue drained into the worker, now."""
        return run_refresh_due(self)

    def update_env(self, values: Mapping[str, str]) -> None:
        """Set more environment variables for the handlers while the stack runs (e.g. a sandbox
        store's CARTCONNECT_INSECURE_STORE_HOSTS); cached settings are dropped so they take effect."""
        self.extra_env.update(values)
        self.env.update(values)
        self._apply_env(dict(values))

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._moto = MotoServer(self.requested_moto_port)
        self._moto.start()
        # Bind the gateway first: the issuer URL (and so the JwtIssuer parameter) needs its port.
        self._gateway = GatewayServer(port=self.requested_port)
        api_url = self._gateway.url
        issuer_url = f"{api_url}/_local/issuer"

        defaults = {
            "JwtIssuer": issuer_url,
            "JwtAudience": AUDIENCE,
            "PublicBaseUrl": api_url,
            # The local schedule drains the queue right after each tick (scheduler.run_refresh_due):
            # messages held back to spread a tick would wait for the next one.
            "RefreshSpreadPercent": "0",
        }
        overrides = {k: v for k, v in defaults.items() if k in self.template.parameters}
        overrides.update(self.parameter_overrides)

        created = create_resources(self.template, self.aws_endpoint, overrides)
        self.resources = dict(created.physical)
        # Stand-ins for what the gateway itself plays: the HTTP API and the functions.
        physical = dict(self.resources)
        for logical_id in self.template.resources_of_type("AWS::Serverless::HttpApi"):
            physical.setdefault(logical_id, Physical(ref=API_ID, attributes={"ApiId": API_ID}))
        names_resolver = Resolver(self.template, physical, overrides)
        function_names = {
            logical_id: str(names_resolver.resolve(definition.function_name, f"{logical_id}'s FunctionName"))
            if definition.function_name
            else f"{STACK_NAME}-{logical_id}"
            for logical_id, definition in self.template.functions.items()
        }
        for logical_id, name in function_names.items():
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            physical.setdefault(logical_id, Physical(ref=name, attributes={"Arn": arn}))
        resolver = Resolver(self.template, physical, overrides)
        self.parameters = dict(resolver.parameters)

        self.jwt_issuer = LocalIssuer(
            issuer_url,
            key_path=self.state_dir / KEY_FILE_NAME,
            audience=AUDIENCE,
            tenant_claim=self.parameters.get("TenantClaim", "tenant_id"),
        )
        self.env = self._build_env(resolver, api_url)
        self._apply_env(self.env)

        authorizers = {}
        for name, definition in self.template.authorizers.items():
            issuer = str(resolver.resolve(definition.issuer, f"authorizer {name}'s issuer"))
            audience = resolver.resolve(definition.audience, f"authorizer {name}'s audience")
            audiences = [str(a) for a in (audience if isinstance(audience, list) else [audience])]
            if issuer != issuer_url:
                log.warning("authorizer %s trusts %s, not the local issuer: local tokens fail", name, issuer)
            authorizers[name] = JwtAuthorizer(
                issuer,
                audiences,
                self.jwt_issuer.public_key_set(),
                identity_source=definition.identity_source,
            )
        self.functions = {
            logical_id: LocalFunction.from_definition(definition, self.root, function_names[logical_id])
            for logical_id, definition in self.template.functions.items()
        }
        self.invoke_secret = invoke_secret.new_secret()
        self.app = GatewayApp(
            self.template.routes,
            self.functions,
            authorizers,
            issuer=self.jwt_issuer,
            api_id=API_ID,
            invoke_secret=self.invoke_secret,
        )
        self._gateway.app = self.app
        self._gateway.start()
        if self.run_schedule:
            self._schedule = ScheduleRunner(self.refresh_due, self.schedule_seconds).start()
        if self.write_state:
            self._write_state()

    def _build_env(self, resolver: Resolver, api_url: str) -> dict[str, str]:
        self.function_envs = {
            logical_id: resolver.function_env(definition)
            for logical_id, definition in self.template.functions.items()
        }
        env: dict[str, str] = {}
        owner: dict[str, str] = {}
        for logical_id, function_env in self.function_envs.items():
            for name, value in function_env.items():
                if name in env and env[name] != value:
                    log.warning(
                        "%s=%r (%s) overrides %r (%s): all functions share this process's environment",
                        name,
                        value,
                        logical_id,
                        env[name],
                        owner[name],
                    )
                env[name], owner[name] = value, logical_id
        env.update(self.local_env(api_url))
        return env

    def local_env(self, public_base_url: str) -> dict[str, str]:
        """What a local run sets on top of the template's variables: moto's endpoint, region, dummy
        credentials, Powertools tracing and metrics off, this API's URL, then `extra_env`."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **DUMMY_CREDENTIALS,
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "PUBLIC_BASE_URL": public_base_url,
            "CARTCONNECT_STACK_NAME": STACK_NAME,
            **self.extra_env,
        }

    def sam_env_vars(self, public_base_url: str) -> dict[str, dict[str, str]]:
        """An `--env-vars` document for `sam local`: each function's variables as this stack resolved
        them from template.yaml, plus the local settings, with `public_base_url` as the API's URL (that
        of `sam local start-api`). A variable the template adds later appears here by itself."""
        return sam_env_vars(self.function_envs, self.local_env(public_base_url))

    def _apply_env(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        os.environ.pop("AWS_PROFILE", None)
        reset_process_state()  # what the core package read from the old environment

    def _restore_env(self) -> None:
        if not self._saved_env:
            return  # never applied (a start that failed early): nothing to undo
        for name, previous in self._saved_env.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        self._saved_env = {}
        reset_process_state()

    def preload(self) -> dict[str, str]:
        """Import every handler now; returns logical id -> error for those that cannot be imported."""
        errors = {}
        for logical_id, function in self.functions.items():
            try:
                function.preload()
            except HandlerLoadError as exc:
                errors[logical_id] = str(exc)
        return errors

    def _write_state(self) -> None:
        path = self.state_dir / state_file_name(self.port)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "started_at": int(time.time()),
            "api_url": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "invoke_secret": self.invoke_secret,
            "issuer": self.issuer,
            "audience": self.audience,
            "tenant_claim": self.tenant_claim,
            "key_path": str(self.local_issuer.key_path),
            "resources": {lid: p.ref for lid, p in self.resources.items()},
            "secret_prefix": self.env.get("SECRET_PREFIX", ""),
            "refresh_schedule_seconds": self.schedule_seconds if self.run_schedule else None,
            # For `cartconnect-dev seed` and `sam-env`: the handlers' environment (no secret: dummy
            # credentials and resource names) and each function's own variables from the template.
            "env": self.env,
            "function_envs": self.function_envs,
            "local_env": self.local_env(self.api_url),
            **self.state_extra,
        }
        # Readable by this user only: it holds the invoke secret.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(state, indent=2) + "\n")
        temporary.replace(path)

    def _remove_state(self) -> None:
        """Removes this stack's state file, and only if this process wrote it."""
        if self._gateway is None:
            return  # it never listened, so it wrote no state
        path = self.state_dir / state_file_name(self.port)
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        if self._schedule is not None:
            self._schedule.stop()
            self._schedule = None
        for http in self._http_clients:
            http.close()
        self._http_clients = []
        if self.write_state:
            self._remove_state()
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_env()


def sam_env_vars(
    function_envs: Mapping[str, Mapping[str, str]], local: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """{logical id: {variable: value}}, SAM's --env-vars format: the template's variables, then local."""
    return {logical_id: {**env, **local} for logical_id, env in function_envs.items()}
