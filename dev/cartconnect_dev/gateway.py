"""A local stand-in for API Gateway HTTP API (payload format 2.0) and the Lambda Invoke API.

Serves the HttpApi routes of template.yaml on 127.0.0.1 and invokes the handlers in-process:

* events are built like API Gateway builds payload v2.0 events (`build_event`);
* routes with a JWT authorizer verify `Authorization: Bearer <jwt>` like API Gateway's JWT
  authorizer (RS256 signature against the issuer's JWKS, iss, aud or client_id, exp, nbf) and
  answer 401 `{"message":"Unauthorized"}` without invoking the handler when it fails;
* the handler's result is turned into the HTTP reply by API Gateway's v2 rules (`to_http_response`);
* `POST /2015-03-31/functions/{FunctionName}/invocations` is Lambda's Invoke API, for the stack's
  own tools only: it needs the stack's secret (`invoke_secret.HEADER`; `invoke_secret.lambda_client`
  is boto3's lambda client sending it) and refuses browsers (403 AccessDeniedException);
* every request's `Host` must be a loopback name with the gateway's port (421 otherwise: DNS
  rebinding); the routes themselves serve browsers, as API Gateway does;
* `GET /_local/issuer/.well-known/openid-configuration` and `.../jwks.json` publish the local issuer.

Each function runs like Lambda runs it: one invocation at a time per execution environment. An
environment is a separate import of the handler module (a unique module name, since every handler
is called app.py); concurrent requests get more environments (cold starts), and an edited handler
file is re-imported on the next invocation. The core package is imported once per process.
Lambda timeouts are not enforced (a thread cannot be killed); overruns are logged.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cartconnect_dev import invoke_secret
from cartconnect_dev.jwt_issuer import ISSUER_PATH
from cartconnect_dev.loopback import ListenError, from_browser, host_allowed, loopback_hosts
from cartconnect_dev.template import ACCOUNT_ID, REGION, STACK_NAME, FunctionDef, Route

log = logging.getLogger(__name__)

HandlerFn = Callable[[Any, Any], Any]

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/x-javascript")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------------------------------------
# Plain HTTP request/response values (no sockets: the app below is testable without a server)


@dataclass
class HttpRequest:
    method: str
    path: str  # raw path as sent, percent-encoded, without the query
    query: str = ""  # raw query string as sent, without "?"
    headers: list[tuple[str, str]] = field(default_factory=list)  # as sent, in order, repeats kept
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    server_port: int = 0

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # What the access log names: the route key, never the raw path or query (they can carry
    # one-time tickets and authorization codes), like the template's API access log.
    label: str = ""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
        return cls(
            status,
            [("content-type", "application/json"), *headers],
            json.dumps(payload, separators=(",", ":")).encode(),
        )

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


def _message(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse.json(status, {"message": message}, headers)


# ---------------------------------------------------------------------------------------------
# Route matching (API Gateway's precedence: the most specific route wins)


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]
    kinds: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {greedy+}


class RouteTable:
    """Match (method, raw path) to a route and its path parameters.

    Precedence follows API Gateway: literal segments beat `{param}`, which beats `{proxy+}`
    (compared from the left); a specific method beats ANY; `$default` catches the rest.
    A path that matches only with another method is a 404, as in HTTP APIs.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self._default = next((r for r in self.routes if r.path == "$default"), None)
        compiled = [self._compile(r) for r in self.routes if r.path != "$default"]
        self._compiled = sorted(compiled, key=lambda c: (c.kinds, c.route.method == "ANY"))

    @staticmethod
    def _compile(route: Route) -> _CompiledRoute:
        segments = tuple(route.path.strip("/").split("/")) if route.path.strip("/") else ()
        kinds = []
        for index, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if index != len(segments) - 1:
                    raise ValueError(f"{route.route_key}: a greedy path variable must be last")
                kinds.append(2)
            elif segment.startswith("{") and segment.endswith("}"):
                kinds.append(1)
            else:
                kinds.append(0)
        return _CompiledRoute(route, segments, tuple(kinds))

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        method = method.upper()
        parts = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
        if parts == [""]:
            parts = []
        for candidate in self._compiled:
            if candidate.route.method not in (method, "ANY"):
                continue
            params = self._match_segments(candidate, parts)
            if params is not None:
                return candidate.route, params
        if self._default is not None:
            return self._default, {}
        return None

    @staticmethod
    def _match_segments(candidate: _CompiledRoute, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, (segment, kind) in enumerate(zip(candidate.segments, candidate.kinds, strict=True)):
            if kind == 2:
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                params[segment[1:-2]] = unquote("/".join(rest))
                return params
            if index >= len(parts):
                return None
            if kind == 1:
                if not parts[index]:
                    return None
                params[segment[1:-1]] = unquote(parts[index])
            elif unquote(parts[index]) != segment:
                return None
        return params if len(parts) == len(candidate.segments) else None


# ---------------------------------------------------------------------------------------------
# Payload format 2.0 events


def stringify_claim(value: Any) -> str:  # noqa: PLR0911
    """Render a claim the way API Gateway does (Go's %v): lists as `[a b]`, objects as `map[k:v]`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(stringify_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{stringify_claim(v)}" for k, v in sorted(value.items())) + "]"
    return "<nil>" if value is None else str(value)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/") or media_type in TEXT_TYPES or media_type.endswith(("+json", "+xml"))
    )


def _query_parameters(raw_query: str) -> dict[str, str]:
    # API Gateway decodes %XX escapes but leaves "+" as is; repeated names are comma-joined.
    params: dict[str, list[str]] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), []).append(unquote(value))
    return {name: ",".join(values) for name, values in params.items()}


def _request_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def build_event(
    request: HttpRequest,
    route: Route,
    path_parameters: Mapping[str, str] | None = None,
    *,
    claims: Mapping[str, Any] | None = None,
    scopes: list[str] | None = None,
    request_id: str | None = None,
    api_id: str = "local",
    account_id: str = ACCOUNT_ID,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload v2.0 event for `request` matched to `route`.

    `claims` is the verified JWT payload (None for routes without an authorizer); values are
    stringified like API Gateway does.
    """
    now = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    host = headers.get("host") or f"127.0.0.1:{request.server_port}"
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers.setdefault("x-forwarded-port", str(request.server_port or host.rpartition(":")[2]))
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _query_parameters(request.query)
    if query:
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(":", 1)[0].split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if claims is not None:
        context["authorizer"] = {
            "jwt": {
                "claims": {name: stringify_claim(value) for name, value in claims.items()},
                "scopes": scopes,
            }
        }
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        if _is_text(headers.get("content-type")):
            try:
                event["body"] = request.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    event["stageVariables"] = None
    return event


# ---------------------------------------------------------------------------------------------
# Handler results -> HTTP (API Gateway's rules for payload format 2.0)


class MalformedResponseError(Exception):
    """The handler returned something API Gateway would answer 500 for."""


def to_http_response(result: Any) -> HttpResponse:
    """Turn a handler's return value into the reply API Gateway sends.

    A dict with `statusCode` is a structured response (headers, multiValueHeaders, cookies, body,
    isBase64Encoded). Anything else that is valid JSON is sent as a 200 application/json body.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            document = json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise MalformedResponseError(f"the result is not JSON serializable: {exc}") from exc
        return HttpResponse(200, [("content-type", "application/json")], document.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise MalformedResponseError(f"statusCode must be an integer, got {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_value(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedResponseError(f"body must be a string, got {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedResponseError("isBase64Encoded is true but body is not base64") from exc
    else:
        payload = body.encode("utf-8")
    return HttpResponse(int(status), headers, payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------
# JWT authorizer


@dataclass
class AuthResult:
    claims: dict[str, Any] | None = None
    scopes: list[str] | None = None
    denied: HttpResponse | None = None


class JwtAuthorizer:
    """API Gateway's HTTP API JWT authorizer: RS256, iss, aud (or client_id), exp, nbf, iat."""

    def __init__(
        self,
        issuer: str,
        audiences: Sequence[str],
        keys: KeySet | Callable[[], KeySet],
        *,
        identity_source: str = "$request.header.Authorization",
        leeway: int = 5,
    ) -> None:
        self.issuer = issuer
        self.audiences = [a for a in audiences if a]
        self._keys = keys
        self.identity_source = identity_source
        self.leeway = leeway

    def _identity(self, request: HttpRequest) -> str | None:
        source = self.identity_source.split(",")[0].strip()
        if source.startswith("$request.header."):
            return request.header(source.removeprefix("$request.header."))
        if source.startswith("$request.querystring."):
            return _query_parameters(request.query).get(source.removeprefix("$request.querystring."))
        return None

    def authorize(self, request: HttpRequest, required_scopes: Sequence[str] = ()) -> AuthResult:
        identity = self._identity(request)
        if not identity or not identity.strip():
            return AuthResult(denied=_message(401, "Unauthorized", [("www-authenticate", "Bearer")]))
        token = identity.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            claims = self.verify(token)
        except InvalidTokenError as exc:
            challenge = f'Bearer scope="" error="invalid_token" error_description="{exc}"'
            return AuthResult(denied=_message(401, "Unauthorized", [("www-authenticate", challenge)]))
        scope_claim = claims.get("scope", claims.get("scp"))
        if isinstance(scope_claim, str):
            scopes: list[str] | None = scope_claim.split()
        elif isinstance(scope_claim, list):
            scopes = [str(s) for s in scope_claim]
        else:
            scopes = None
        if required_scopes and not set(required_scopes) & set(scopes or []):
            wanted = " ".join(required_scopes)
            challenge = (
                f'Bearer scope="{wanted}" error="insufficient_scope" '
                f'error_description="expected scopes: [{wanted}]"'
            )
            return AuthResult(denied=_message(403, "Forbidden", [("www-authenticate", challenge)]))
        return AuthResult(claims=claims, scopes=scopes)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidTokenError saying why it is refused."""
        keys = self._keys() if callable(self._keys) else self._keys
        try:
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        except JoseError as exc:
            description = re.sub(r'[^\x20-\x7e]|"', "'", f"{exc.error}: {exc.description or 'invalid token'}")
            raise InvalidTokenError(description) from exc
        except Exception as exc:  # whatever else a garbage token triggers, it is refused
            raise InvalidTokenError("the token is malformed") from exc
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError("the token has an invalid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not set(map(str, audiences)) & set(self.audiences):
            raise InvalidTokenError("the token has an invalid audience")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidTokenError("the token has no expiry")
        if exp + self.leeway < now:
            raise InvalidTokenError("the token has expired")
        for claim in ("nbf", "iat"):
            value = claims.get(claim)
            if isinstance(value, int | float) and value - self.leeway > now:
                raise InvalidTokenError(f"the token is not valid yet ({claim})")
        return claims


class InvalidTokenError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Lambda functions run in-process


class HandlerLoadError(Exception):
    """The handler module cannot be imported (Lambda's Runtime.ImportModuleError)."""


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def import_from_path(path: Path, module_name: str) -> ModuleType:
    """Import the file at `path` as a new module named `module_name` (registered in sys.modules).

    The file's directory is appended to sys.path, as /var/task is on Lambda, so a handler can import
    its sibling modules. Raises HandlerLoadError when the file is missing or fails to import.
    """
    if not path.is_file():
        raise HandlerLoadError(f"Unable to import module: {path} does not exist")
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.append(code_dir)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise HandlerLoadError(f"Unable to import module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise HandlerLoadError(f"Unable to import module {path}: {exc!r}") from exc
    return module


class LocalFunction:
    """One Lambda function: a pool of execution environments, each running one invocation at a time.

    Built from a template function (`from_definition`, imports functions/<dir>/<module>.py) or from
    a plain callable (`handler=`, for tests).
    """

    def __init__(
        self,
        logical_id: str,
        *,
        module_path: Path | None = None,
        handler_name: str = "lambda_handler",
        handler: HandlerFn | None = None,
        short_name: str | None = None,
        function_name: str | None = None,
        timeout: int = 3,
        memory_size: int = 128,
        max_environments: int = 64,
    ) -> None:
        if (module_path is None) == (handler is None):
            raise ValueError("give exactly one of module_path or handler")
        self.logical_id = logical_id
        self.short_name = short_name or logical_id
        self.function_name = function_name or f"{STACK_NAME}-{logical_id}"
        self.module_path = module_path
        self.handler_name = handler_name
        self.timeout = timeout
        self.memory_size = memory_size
        self.invocations = 0
        self._handler = handler
        self._idle: list[tuple[HandlerFn, float]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_environments)
        self._loaded = 0

    @classmethod
    def from_definition(
        cls, definition: FunctionDef, root: Path, function_name: str | None = None
    ) -> LocalFunction:
        return cls(
            definition.logical_id,
            module_path=definition.module_path(root),
            handler_name=definition.handler_function,
            short_name=definition.short_name,
            function_name=function_name,
            timeout=definition.timeout,
            memory_size=definition.memory_size,
        )

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def names(self) -> set[str]:
        """Every name the Invoke API accepts for this function."""
        return {
            self.logical_id,
            self.short_name,
            self.short_name.replace("_", "-"),
            self.function_name,
        }

    def preload(self) -> None:
        """Import one environment now (raises HandlerLoadError); it is then reused."""
        handler, mtime = self._load()
        with self._lock:
            self._idle.append((handler, mtime))

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        request_id = request_id or str(uuid.uuid4())
        with self._lock:
            self.invocations += 1
        if self._handler is not None:
            return self._handler(event, self._context(request_id))
        self._slots.acquire()
        try:
            handler, mtime = self._acquire()
            started = time.monotonic()
            try:
                return handler(event, self._context(request_id))
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.timeout:
                    log.warning(
                        "%s ran %.1f s, over its %d s timeout (Lambda would have stopped it)",
                        self.logical_id,
                        elapsed,
                        self.timeout,
                    )
                with self._lock:
                    self._idle.append((handler, mtime))
        finally:
            self._slots.release()

    def _context(self, request_id: str) -> LambdaContext:
        return LambdaContext(
            function_name=self.function_name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_size,
            aws_request_id=request_id,
            deadline_ms=int(time.time() * 1000) + self.timeout * 1000,
            log_group_name=f"/aws/lambda/{self.function_name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
        )

    def _acquire(self) -> tuple[HandlerFn, float]:
        current = self._mtime()
        with self._lock:
            while self._idle:
                handler, mtime = self._idle.pop()
                if mtime == current:
                    return handler, mtime
                # The handler file changed: drop stale environments, import afresh.
        return self._load()

    def _mtime(self) -> float:
        try:
            return self.module_path.stat().st_mtime if self.module_path else 0.0
        except OSError:
            return 0.0

    def _load(self) -> tuple[HandlerFn, float]:
        path = self.module_path
        if path is None:
            raise HandlerLoadError("function has no module")
        mtime = self._mtime()
        with self._lock:
            self._loaded += 1
            name = f"_cartconnect_local_{self.logical_id}_{path.stem}_{self._loaded}"
        module = import_from_path(path, name)
        handler = getattr(module, self.handler_name, None)
        if not callable(handler):
            raise HandlerLoadError(f"Handler {self.handler_name!r} missing in {path}")
        log.debug("%s: new execution environment (%s)", self.logical_id, name)
        return handler, mtime


# ---------------------------------------------------------------------------------------------
# The gateway application (pure request -> response)


class GatewayApp:
    def __init__(
        self,
        routes: Iterable[Route],
        functions: Mapping[str, LocalFunction],
        authorizers: Mapping[str, JwtAuthorizer] | None = None,
        *,
        issuer: Any = None,  # a LocalIssuer: serves its discovery document and JWKS
        api_id: str = "local",
        account_id: str = ACCOUNT_ID,
        invoke_secret: str | None = None,  # None: the Invoke API refuses every call
    ) -> None:
        self.invoke_secret = invoke_secret
        self.table = RouteTable(routes)
        self.functions = dict(functions)
        self.authorizers = dict(authorizers or {})
        self.issuer = issuer
        self.api_id = api_id
        self.account_id = account_id
        missing = {r.function_id for r in self.table.routes} - set(self.functions)
        if missing:
            raise ValueError(f"routes refer to unknown functions: {', '.join(sorted(missing))}")

    def find_function(self, name: str) -> LocalFunction | None:
        """By logical id, CodeUri directory, function name or ARN (a :qualifier is ignored)."""
        name = unquote(name)
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        name = name.split(":")[0]
        for function in self.functions.values():
            if name in function.names():
                return function
        return None

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if request.path.startswith(f"{ISSUER_PATH}/") and self.issuer is not None:
            response = self._issuer_document(request)
            response.label = f"{request.method} {ISSUER_PATH}/..."
            return response
        invoke = INVOKE_PATH.match(request.path)
        if invoke and request.method.upper() == "POST":
            response = self._invoke_refusal(request, request_id) or self._invoke_api(
                request, invoke.group("name"), request_id
            )
            response.label = f"Invoke {unquote(invoke.group('name'))}"
            return response
        matched = self.table.match(request.method, request.path)
        if matched is None:
            response = _message(404, "Not Found", [("apigw-requestid", request_id)])
            response.label = f"{request.method} (no route)"
            return response
        route, params = matched
        response = self._call_route(request, route, params, request_id)
        response.headers.append(("apigw-requestid", request_id))
        response.label = f"{route.route_key} [{route.function_id}]"
        return response

    def _call_route(
        self, request: HttpRequest, route: Route, params: dict[str, str], request_id: str
    ) -> HttpResponse:
        claims = scopes = None
        if route.authorizer is not None:
            authorizer = self.authorizers.get(route.authorizer)
            if authorizer is None:
                log.error(
                    "%s uses authorizer %r, which is not a JWT authorizer", route.route_key, route.authorizer
                )
                return _message(500, "Internal Server Error")
            result = authorizer.authorize(request, route.authorization_scopes)
            if result.denied is not None:
                return result.denied
            claims, scopes = result.claims, result.scopes
        event = build_event(
            request,
            route,
            params,
            claims=claims,
            scopes=scopes,
            request_id=request_id,
            api_id=self.api_id,
            account_id=self.account_id,
        )
        function = self.functions[route.function_id]
        try:
            result = function.invoke(event, str(uuid.uuid4()))
        except HandlerLoadError as exc:
            log.error(
                "%s (%s) failed: Runtime.ImportModuleError: %s", function.logical_id, route.route_key, exc
            )
            return _message(500, "Internal Server Error")
        except Exception:
            log.error("%s (%s) failed:\n%s", function.logical_id, route.route_key, traceback.format_exc())
            return _message(500, "Internal Server Error")
        try:
            return to_http_response(result)
        except MalformedResponseError as exc:
            log.error("%s returned a malformed response: %s", function.logical_id, exc)
            return _message(500, "Internal Server Error")

    def _issuer_document(self, request: HttpRequest) -> HttpResponse:
        suffix = request.path.removeprefix(ISSUER_PATH)
        if request.method.upper() in ("GET", "HEAD"):
            if suffix == "/.well-known/openid-configuration":
                return HttpResponse.json(200, self.issuer.openid_configuration())
            if suffix == "/.well-known/jwks.json":
                return HttpResponse.json(200, self.issuer.jwks())
        return _message(404, "Not Found")

    def _invoke_api(self, request: HttpRequest, name: str, request_id: str) -> HttpResponse:
        function = self.find_function(name)
        lambda_headers = [("x-amzn-requestid", request_id)]
        if function is None:
            return HttpResponse.json(
                404,
                {"Type": "User", "Message": f"Function not found: {unquote(name)}"},
                [*lambda_headers, ("x-amzn-errortype", "ResourceNotFoundException")],
            )
        try:
            event = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            return HttpResponse.json(
                400,
                {"Type": "User", "Message": "Could not parse request body into json"},
                [*lambda_headers, ("x-amzn-errortype", "InvalidRequestContentException")],
            )
        lambda_headers.append(("x-amz-executed-version", "$LATEST"))
        invocation_type = (request.header("x-amz-invocation-type") or "RequestResponse").strip()
        if invocation_type == "DryRun":
            return HttpResponse(204, lambda_headers)
        if invocation_type == "Event":
            threading.Thread(
                target=self._invoke_quietly, args=(function, event, request_id), daemon=True
            ).start()
            return HttpResponse(202, lambda_headers)
        try:
            result = function.invoke(event, request_id)
            body = json.dumps(result)
        except Exception as exc:
            log.error("%s failed:\n%s", function.logical_id, traceback.format_exc())
            error = {
                "errorMessage": str(exc),
                "errorType": "Runtime.ImportModuleError"
                if isinstance(exc, HandlerLoadError)
                else type(exc).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return HttpResponse.json(200, error, [*lambda_headers, ("x-amz-function-error", "Unhandled")])
        return HttpResponse(200, [("content-type", "application/json"), *lambda_headers], body.encode())

    def _invoke_refusal(self, request: HttpRequest, request_id: str) -> HttpResponse | None:
        """The Invoke API's 403 for `request`, or None: it runs any function with any event, so only the
        stack's own tools may call it (never a browser, always with the stack's secret)."""
        if from_browser(name for name, _ in request.headers):
            why = "the local Invoke API does not serve browsers"
        elif not invoke_secret.matches(request.header(invoke_secret.HEADER), self.invoke_secret):
            why = (
                f"the local Invoke API needs this stack's secret in {invoke_secret.HEADER} "
                "(cartconnect-dev invoke sends it)"
            )
        else:
            return None
        return HttpResponse.json(
            403,
            {"Type": "User", "Message": why},
            [("x-amzn-requestid", request_id), ("x-amzn-errortype", "AccessDeniedException")],
        )

    @staticmethod
    def _invoke_quietly(function: LocalFunction, event: Any, request_id: str) -> None:
        try:
            function.invoke(event, request_id)
        except Exception:
            log.error("%s (async) failed:\n%s", function.logical_id, traceback.format_exc())


# ---------------------------------------------------------------------------------------------
# The HTTP server


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cartconnect-local"
    sys_version = ""
    gateway: GatewayServer  # set on the per-server subclass

    def _dispatch(self) -> None:
        started = time.monotonic()
        target, authority = self.path, None
        if "://" in target.split("?", 1)[0]:  # absolute-form request target
            authority, _, rest = target.split("://", 1)[1].partition("/")
            target = "/" + rest
        path, _, query = target.partition("?")
        allowed = loopback_hosts(self.gateway.port)
        if not host_allowed(self.headers.get("Host"), allowed) or (
            authority is not None and not host_allowed(authority, allowed)
        ):
            log.info("%s (not addressed to a loopback name of this gateway) -> 421", self.command)
            self.close_connection = True  # its body is never read
            self._send(_message(421, "Misdirected Request"))
            return
        request = HttpRequest(
            method=self.command,
            path=path or "/",
            query=query,
            headers=list(self.headers.items()),
            body=self._read_body(),
            source_ip=_client_ip(self.client_address),
            protocol=self.request_version,
            server_port=self.gateway.port,
        )
        app = self.gateway.app
        if app is None:
            response = _message(503, "Service Unavailable")
        else:
            try:
                response = app.handle(request)
            except Exception:
                log.error("gateway error:\n%s", traceback.format_exc())
                response = _message(500, "Internal Server Error")
        # Logged before the reply is sent, so the line exists by the time the client has its answer.
        label = response.label or f"{self.command} (gateway)"
        log.info("%s -> %d (%.1f ms)", label, response.status, (time.monotonic() - started) * 1000)
        self._send(response)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stdlib's lines carry the raw request line (paths and queries can hold secrets)


class GatewayServer:
    """ThreadingHTTPServer on host:port (0 = a free port), bound at construction; serves `app`."""

    def __init__(self, app: GatewayApp | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        handler = type("RequestHandler", (_RequestHandler,), {"gateway": self})
        try:
            self._server = _ThreadingServer((host, port), handler)
        except OSError as exc:
            raise ListenError("API (gateway)", port, exc) from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="cartconnect-gateway",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()


def _client_ip(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) else "127.0.0.1"
