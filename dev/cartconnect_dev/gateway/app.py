"""The gateway application, a pure request -> response: the template's routes (JWT authorizer,
payload v2.0 event, the function, API Gateway's response rules), Lambda's Invoke API for the stack's
own tools, and the local issuer's discovery document and JWKS."""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from cartconnect_dev import invoke_secret
from cartconnect_dev.gateway.authorizer import JwtAuthorizer
from cartconnect_dev.gateway.events import build_event
from cartconnect_dev.gateway.functions import HandlerLoadError, LocalFunction
from cartconnect_dev.gateway.messages import HttpRequest, HttpResponse, message
from cartconnect_dev.gateway.responses import MalformedResponseError, to_http_response
from cartconnect_dev.gateway.routes import RouteTable
from cartconnect_dev.jwt_issuer import ISSUER_PATH
from cartconnect_dev.loopback import from_browser
from cartconnect_dev.template import ACCOUNT_ID, Route

# One logger for the whole gateway package: its name is what `make dev`'s lines show.
log = logging.getLogger("cartconnect_dev.gateway")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


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
            response = message(404, "Not Found", [("apigw-requestid", request_id)])
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
                return message(500, "Internal Server Error")
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
            return message(500, "Internal Server Error")
        except Exception:
            log.error("%s (%s) failed:\n%s", function.logical_id, route.route_key, traceback.format_exc())
            return message(500, "Internal Server Error")
        try:
            return to_http_response(result)
        except MalformedResponseError as exc:
            log.error("%s returned a malformed response: %s", function.logical_id, exc)
            return message(500, "Internal Server Error")

    def _issuer_document(self, request: HttpRequest) -> HttpResponse:
        suffix = request.path.removeprefix(ISSUER_PATH)
        if request.method.upper() in ("GET", "HEAD"):
            if suffix == "/.well-known/openid-configuration":
                return HttpResponse.json(200, self.issuer.openid_configuration())
            if suffix == "/.well-known/jwks.json":
                return HttpResponse.json(200, self.issuer.jwks())
        return message(404, "Not Found")

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
