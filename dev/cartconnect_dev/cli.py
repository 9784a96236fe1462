"""`cartconnect-dev`: run the local stack and talk to it.

cartconnect-dev up                      # what `make dev` runs: the stack in the foreground
cartconnect-dev token --tenant acme     # a bearer token the running stack accepts
cartconnect-dev invoke ManagementFunction -e events/management-list-scopes.json
cartconnect-dev openapi                 # the management API's OpenAPI document (deterministic)
cartconnect-dev demo                    # the whole authorization flow against the sandbox store
cartconnect-dev refresh-due             # one scheduler pass, then the refresh queue drained into the worker
eval "$(cartconnect-dev env)"           # point the AWS CLI / boto3 in this shell at the running local AWS
cartconnect-dev seed                    # what the events/ samples refer to (fixed ids), on the running stack
cartconnect-dev sam-env -o env.json     # an --env-vars file for `sam local`, pointing at the running stack
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

from cartconnect_dev import invoke_secret
from cartconnect_dev.jwt_issuer import AUDIENCE, LocalIssuer
from cartconnect_dev.loopback import ListenError
from cartconnect_dev.moto_resources import DUMMY_CREDENTIALS
from cartconnect_dev.sandbox_store import SandboxStore
from cartconnect_dev.stack import LocalStack, not_running, read_state
from cartconnect_dev.template import ACCOUNT_ID, REGION, TemplateError, project_root

TOKEN_HINT = ".venv/bin/cartconnect-dev token --tenant acme"
SANDBOX_PORT = 8765
# The sandbox store's one app, known to it from the start so a newcomer can create a matching iClient.
SANDBOX_APP = {"client_id": "10001", "client_secret": "sandbox-app-secret"}
INSECURE_HOSTS = "CARTCONNECT_INSECURE_STORE_HOSTS"
# What to change when a listener's port is taken, by ListenError.listener.
PORT_SETTINGS = {
    "API (gateway)": "PORT=3001 make dev (then run cartconnect-dev commands with PORT=3001 too)",
    "sandbox store": "SANDBOX_PORT=8766 make dev (or --no-sandbox)",
    "local AWS (moto)": "MOTO_PORT=0 make dev (a free port)",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args))
    except TemplateError as exc:
        print(f"cartconnect-dev: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cartconnect-dev", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the local stack in the foreground (make dev)")
    up.add_argument("--port", type=int, default=None, help="API port (default: $PORT or 3000)")
    up.add_argument(
        "--moto-port", type=int, default=None, help="moto's port (default: $MOTO_PORT or a free one)"
    )
    up.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values, like sam deploy's",
    )
    up.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="extra environment variables")
    up.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    up.add_argument(
        "--sandbox-port",
        type=int,
        default=int(os.environ.get("SANDBOX_PORT", str(SANDBOX_PORT))),
        help=f"port of the sandbox AmeriCommerce store (default: $SANDBOX_PORT or {SANDBOX_PORT})",
    )
    up.add_argument("--no-sandbox", action="store_true", help="do not start the sandbox store")
    up.add_argument(
        "--schedule-seconds",
        type=float,
        default=None,
        help="run the refresh scheduler this often (default: $CARTCONNECT_SCHEDULE_SECONDS or 60)",
    )
    up.add_argument("--no-schedule", action="store_true", help="do not run the refresh scheduler")
    up.set_defaults(command=cmd_up)

    token = commands.add_parser("token", help="print a bearer token the running stack accepts")
    token.add_argument("--tenant", required=True)
    token.add_argument("--audience", default=None, help=f"default: {AUDIENCE}")
    token.add_argument("--expires-in", type=int, default=3600, metavar="SECONDS")
    token.add_argument("--claim", nargs="*", default=[], metavar="NAME=VALUE", help="extra claims")
    token.set_defaults(command=cmd_token)

    invoke = commands.add_parser("invoke", help="invoke a function of the running stack with an event")
    invoke.add_argument("function", help="logical id (ManagementFunction) or directory name (management)")
    invoke.add_argument("-e", "--event", default=None, help="event JSON file ('-' for stdin; default: {})")
    invoke.set_defaults(command=cmd_invoke)

    demo = commands.add_parser(
        "demo", help="run the authorization flow against the sandbox store, step by step"
    )
    demo.set_defaults(command=cmd_demo)

    refresh_due = commands.add_parser(
        "refresh-due", help="run one refresh scheduler pass on the running stack and drain the queue now"
    )
    refresh_due.set_defaults(command=cmd_refresh_due)

    env = commands.add_parser(
        "env", help="print export lines that point the AWS CLI and boto3 at the running stack's local AWS"
    )
    env.set_defaults(command=cmd_env)
    seed = commands.add_parser(
        "seed", help="create what the events/ samples refer to (fixed ids) on the running stack; idempotent"
    )
    seed.add_argument(
        "--origin",
        default=None,
        help="the API origin for the connections' callback URL (default: the running stack's API URL)",
    )
    seed.set_defaults(command=cmd_seed)

    sam_env = commands.add_parser(
        "sam-env",
        help="write an --env-vars file for `sam local` that points the functions at the running stack",
    )
    sam_env.add_argument(
        "--public-base-url",
        required=True,
        help="the URL `sam local start-api` serves on (the functions' PUBLIC_BASE_URL)",
    )
    sam_env.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    sam_env.set_defaults(command=cmd_sam_env)

    openapi = commands.add_parser("openapi", help="print the management API's OpenAPI JSON")
    openapi.set_defaults(command=cmd_openapi)
    return parser


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"cartconnect-dev: {what} must be NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


# ---------------------------------------------------------------------------------------------
# up


def cmd_up(args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    extra_env = _pairs(args.env, "--env")
    # The plain-http store hosts the environment already allows are names this sandbox may be reached by.
    allowed = [host.strip() for host in os.environ.get(INSECURE_HOSTS, "").split(",") if host.strip()]
    sandbox = None if args.no_sandbox else SandboxStore(port=args.sandbox_port, host_names=allowed)
    stack = LocalStack(
        port=args.port,
        moto_port=args.moto_port,
        parameter_overrides=_pairs(args.parameter_overrides, "--parameter-overrides"),
        extra_env=extra_env,
        write_state=True,
        run_schedule=not args.no_schedule,
        schedule_seconds=args.schedule_seconds,
    )
    try:
        try:
            if sandbox is not None:
                sandbox.start()
                sandbox.register_app(SANDBOX_APP["client_id"], SANDBOX_APP["client_secret"])
                extra_env[INSECURE_HOSTS] = ",".join([*allowed, sandbox.host])
                stack.extra_env.update(extra_env)
                stack.state_extra["sandbox"] = {
                    "base_url": sandbox.base_url,
                    "host": sandbox.host,
                    **SANDBOX_APP,
                }
            stack.start()
        except ListenError as exc:
            change = PORT_SETTINGS.get(exc.listener, "another port")
            print(
                f"cartconnect-dev: cannot start the local stack: {exc}. Is another `make dev` running? "
                f"Pick another port: {change}.",
                file=sys.stderr,
            )
            return 1
        print(summary(stack, stack.preload(), sandbox), flush=True)
        while not stop.wait(0.5):
            pass
        print("\nstopping the local stack...", file=sys.stderr, flush=True)
    finally:
        stack.stop()
        if sandbox is not None:
            sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped.", file=sys.stderr, flush=True)
    return 0


def _configure_logging(verbose: bool) -> None:
    """The stack's own log (access log, handler errors) on stderr.

    It has its own handler, not the root logger's: Powertools' Logger(service="cartconnect") puts a
    filter on the root handlers that drops every record of a logger whose name contains
    "cartconnect". Handlers' Powertools logs go to stdout as on Lambda.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    own = logging.getLogger("cartconnect_dev")
    own.addHandler(handler)
    own.setLevel(logging.DEBUG if verbose else logging.INFO)
    own.propagate = False
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr)
    # Powertools warns on every invocation that flushes no metrics; metrics are off locally.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def cmd_demo(args: argparse.Namespace) -> int:
    from cartconnect_dev import demo

    return demo.run()


def cmd_refresh_due(args: argparse.Namespace) -> int:
    from cartconnect_dev.scheduler import run_refresh_due

    state = read_state()
    if not state:
        print(f"cartconnect-dev: {not_running()}", file=sys.stderr)
        return 1
    try:
        report = run_refresh_due(state)
    except RuntimeError as failure:
        print(f"cartconnect-dev: {failure}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def summary(stack: LocalStack, load_errors: dict[str, str], sandbox: SandboxStore | None = None) -> str:
    api = stack.api_url
    lines = [
        "cartconnect local stack is up (no Docker, no AWS)",
        "",
        f"  API          {api}",
        f"  API docs     {api}/v1/docs",
        f"  OpenAPI      {api}/v1/openapi.json",
        f"  JWT issuer   {stack.issuer}  (audience {stack.audience}, tenant claim {stack.tenant_claim})",
        f"  AWS (moto)   {stack.aws_endpoint}",
    ]
    for logical_id, physical in stack.resources.items():
        lines.append(f"    {logical_id:<12} {physical.ref}")
    lines += ["", "  Routes:"]
    for route in stack.template.routes:
        auth = "jwt" if route.authorizer else "public"
        lines.append(f"    {route.route_key:<36} {auth:<6} -> {route.function_id}")
    for logical_id, error in load_errors.items():
        lines.append(f"  ! {logical_id} cannot be loaded yet: {error}")
    if sandbox is not None:
        lines += [
            "",
            f"  Sandbox store {sandbox.base_url}  (store host to use as subdomain: {sandbox.host})",
            f"    its app: client id {SANDBOX_APP['client_id']}, client secret {SANDBOX_APP['client_secret']}",
            "    the whole flow, step by step: .venv/bin/cartconnect-dev demo",
        ]
    lines += [
        "",
        "  Get a token:",
        f"    {TOKEN_HINT}",
        f'    curl -H "Authorization: Bearer $({TOKEN_HINT})" {api}/v1/scopes',
        "  Invoke a function directly:",
        "    .venv/bin/cartconnect-dev invoke ManagementFunction -e events/<file>.json",
        "",
        "  Ctrl-C stops the stack (all data lives in memory and is gone after).",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# seed, sam-env


def _running_state() -> dict[str, Any] | None:
    state = read_state()
    if not state:
        print(f"cartconnect-dev: {not_running()}", file=sys.stderr)
        return None
    if "function_envs" not in state:
        print("cartconnect-dev: the running stack is older than this command: restart it", file=sys.stderr)
        return None
    return state


def cmd_seed(args: argparse.Namespace) -> int:
    state = _running_state()
    if state is None:
        return 1
    sandbox = state.get("sandbox")
    if not sandbox:
        print(
            "cartconnect-dev: the running stack has no sandbox store (started with --no-sandbox?)",
            file=sys.stderr,
        )
        return 1
    from cartconnect.observability import logger
    from cartconnect.process import reset_process_state
    from cartconnect_dev import seed

    logger.setLevel("WARNING")  # the use cases' INFO lines would bury the report below
    os.environ.update(state["env"])
    os.environ.pop("AWS_PROFILE", None)
    reset_process_state()
    app = seed.SandboxApp(
        sandbox["base_url"], sandbox["host"], sandbox["client_id"], sandbox["client_secret"]
    )
    try:
        report = seed.seed(app, origin=args.origin or state["api_url"])
    except Exception as failure:  # a clear line, never a traceback (and never a secret: ids only)
        print(f"cartconnect-dev: seeding failed: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    print(f"seeded tenant {seed.TENANT}:")
    for line in report.lines:
        print(f"  {line}")
    return 0


def cmd_sam_env(args: argparse.Namespace) -> int:
    from cartconnect_dev.stack import sam_env_vars

    state = _running_state()
    if state is None:
        return 1
    local = {**state["local_env"], "PUBLIC_BASE_URL": args.public_base_url.rstrip("/")}
    document = json.dumps(sam_env_vars(state["function_envs"], local), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document)
    return 0


# ---------------------------------------------------------------------------------------------
# token


def cmd_token(args: argparse.Namespace) -> int:
    # The token names the running stack's issuer (its port) and is signed with its key: without a
    # running stack there is nothing it would be good for.
    state = read_state()
    if not state:
        print(f"cartconnect-dev: {not_running()}", file=sys.stderr)
        return 1
    issuer = LocalIssuer(
        state["issuer"],
        key_path=Path(state["key_path"]) if state.get("key_path") else None,
        audience=state.get("audience", AUDIENCE),
        tenant_claim=state.get("tenant_claim"),
    )
    extra: dict[str, Any] = {}
    for name, value in _pairs(args.claim, "--claim").items():
        try:
            extra[name] = json.loads(value)
        except ValueError:
            extra[name] = value
    print(
        issuer.issue_token(
            args.tenant,
            audience=args.audience or issuer.audience,
            expires_in=args.expires_in,
            extra_claims=extra,
        )
    )
    return 0


# ---------------------------------------------------------------------------------------------
# env


def cmd_env(_args: argparse.Namespace) -> int:
    state = read_state()
    if not state:
        print(f"cartconnect-dev: {not_running()}", file=sys.stderr)
        return 1
    resources = state.get("resources", {})
    exports = {
        "AWS_ENDPOINT_URL": state["aws_endpoint"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **DUMMY_CREDENTIALS,
        # What the functions see, for scripts: the table, and where the iClient secrets are named.
        "CARTCONNECT_TABLE_NAME": resources.get("Table", ""),
        "CARTCONNECT_SECRET_PREFIX": state.get("secret_prefix", ""),
    }
    print('# the running local stack\'s AWS (moto): eval "$(.venv/bin/cartconnect-dev env)"')
    print("unset AWS_PROFILE")
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


# ---------------------------------------------------------------------------------------------
# invoke


def cmd_invoke(args: argparse.Namespace) -> int:
    import httpx2

    state = read_state()
    if not state:
        print(f"cartconnect-dev: {not_running()}", file=sys.stderr)
        return 1
    api_url = str(state["api_url"])
    payload = _read_event(args.event)
    if payload is None:
        return 2
    url = f"{api_url.rstrip('/')}/2015-03-31/functions/{quote(args.function, safe='')}/invocations"
    try:
        response = httpx2.post(
            url,
            content=payload,
            headers={
                "content-type": "application/json",
                **invoke_secret.headers(state.get("invoke_secret", "")),
            },
            timeout=120,
        )
    except httpx2.TransportError as exc:
        print(f"cartconnect-dev: {not_running()} ({api_url}: {exc})", file=sys.stderr)
        return 1
    if response.status_code != 200:
        try:
            message = response.json().get("Message", response.text)
        except ValueError:
            message = response.text
        print(f"cartconnect-dev: {message}", file=sys.stderr)
        return 1
    if response.headers.get("x-amz-function-error"):
        # The handler raised: its error in one line; the traceback is in the stack's log, not here.
        try:
            error = response.json()
            what = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        except (ValueError, AttributeError):
            what = "the function raised an error"
        print(
            f"cartconnect-dev: {args.function} failed: {what} (the traceback is in the stack's log)",
            file=sys.stderr,
        )
        return 1
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(response.text)
    return 0


def _read_event(source: str | None) -> bytes | None:
    """The event's bytes (no -e: `{}`, as for `sam local invoke`), or None after printing why it cannot
    be used: unreadable, empty, not JSON, or JSON that is not an object."""
    name = "stdin" if source == "-" else source
    try:
        if source in (None, ""):
            return b"{}"
        payload = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        print(f"cartconnect-dev: cannot read the event {name}: {exc.strerror or exc}", file=sys.stderr)
        return None
    if not payload.strip():
        print(
            f"cartconnect-dev: the event {name} is empty: give a JSON object (see events/)", file=sys.stderr
        )
        return None
    try:
        event = json.loads(payload)
    except ValueError as exc:
        print(f"cartconnect-dev: the event {name} is not valid JSON: {exc}", file=sys.stderr)
        return None
    if not isinstance(event, dict):
        print(
            f"cartconnect-dev: the event {name} must be a JSON object, not {type(event).__name__}",
            file=sys.stderr,
        )
        return None
    return payload


# ---------------------------------------------------------------------------------------------
# openapi

# Placeholders for every variable a handler needs to start (each refuses to start without its own):
# enough to import the handlers and build the document, never to reach AWS.
OPENAPI_ENV = {
    "TABLE_NAME": "cartconnect-openapi",
    "KMS_KEY_ID": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000",
    "SECRET_PREFIX": "cartconnect/openapi/iclients/",
    "EVENT_BUS_NAME": "cartconnect-openapi",
    "REFRESH_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/cartconnect-openapi",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    **DUMMY_CREDENTIALS,
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_DISABLED": "1",
    "POWERTOOLS_DEV": "false",
}


@contextlib.contextmanager
def _patched_env(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


OPENAPI_ROUTE = ("GET", "/v1/openapi.json")


def openapi_json(root: Path | None = None) -> str:
    """The OpenAPI document exactly as the management API serves it: template.yaml's
    `GET /v1/openapi.json` route invoked on its function the way the local gateway does (payload v2.0
    event in, API Gateway's response rules out), re-printed with sorted keys, indent 2 and a trailing
    newline so the output is deterministic (`make openapi`, `make openapi-check`)."""
    from cartconnect.process import reset_process_state
    from cartconnect_dev.gateway.events import build_event
    from cartconnect_dev.gateway.functions import HandlerLoadError, LambdaContext, import_from_path
    from cartconnect_dev.gateway.messages import HttpRequest
    from cartconnect_dev.gateway.responses import to_http_response
    from cartconnect_dev.template import load_template

    root = root or project_root()
    try:
        template = load_template(root / "template.yaml")
    except (OSError, TemplateError) as exc:
        raise HandlerLoadError(f"cannot read template.yaml: {exc}") from exc
    route = next((r for r in template.routes if (r.method, r.path) == OPENAPI_ROUTE), None)
    if route is None:
        raise HandlerLoadError(f"template.yaml has no {' '.join(OPENAPI_ROUTE)} route")
    function = template.functions[route.function_id]
    request_id = str(uuid.uuid4())
    event = build_event(
        HttpRequest(*OPENAPI_ROUTE, headers=[("host", "127.0.0.1")]), route, request_id=request_id
    )
    context = LambdaContext(
        function_name=f"openapi-{route.function_id}",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:openapi-{route.function_id}",
        memory_limit_in_mb=function.memory_size,
        aws_request_id=request_id,
        deadline_ms=int(time.time() * 1000) + function.timeout * 1000,
    )
    module_name = f"_cartconnect_openapi_{uuid.uuid4().hex}"
    # Whatever the function logs (at import or per invocation) goes to stderr, never into the document.
    with _patched_env(OPENAPI_ENV), contextlib.redirect_stdout(sys.stderr):
        try:
            module = import_from_path(function.module_path(root), module_name)
            handler = getattr(module, function.handler_function, None)
            if not callable(handler):
                raise HandlerLoadError(
                    f"Handler {function.handler_function!r} missing in {function.module_path(root)}"
                )
            with warnings.catch_warnings():
                # Powertools' metrics decorator: "No application metrics to publish" (nothing to count here).
                warnings.simplefilter("ignore", UserWarning)
                response = to_http_response(handler(event, context))
        finally:
            sys.modules.pop(module_name, None)
            reset_process_state()
    if response.status != 200:
        raise HandlerLoadError(f"{route.route_key} answered {response.status}: {response.body[:200]!r}")
    return json.dumps(json.loads(response.body), sort_keys=True, indent=2) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    from cartconnect_dev.gateway.functions import HandlerLoadError

    try:
        document = openapi_json()
    except HandlerLoadError as exc:
        print(f"cartconnect-dev: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
