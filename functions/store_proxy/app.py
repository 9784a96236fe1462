"""Store proxy: /v1/connections/{id}/proxy/{path+} forwards a call to the connection's store with its
token (usecases/store_proxy). No Powertools resolver: the request is read by hand (http/proxy_request),
so a cold start imports only what a proxied call needs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import runtime, settings
from cartconnect.cold_start import imports_done
from cartconnect.errors import DomainError
from cartconnect.http import proxy_request
from cartconnect.observability import DimensionedCounts, logger, metrics
from cartconnect.usecases import store_proxy

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("store proxy", "TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME")

# Keep this much of the Lambda's time (29 s, inside API Gateway's 30 s) for the answer.
SAFETY_SECONDS = 2.0

proxied_calls = DimensionedCounts("ProxyCalls", ("status_class",))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    monotonic = runtime.current().monotonic
    started = monotonic()
    deadline = started + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    store_calls = 0

    def called() -> None:
        nonlocal store_calls
        store_calls += 1

    try:
        answer = store_proxy.forward(proxy_request.call_of(event), deadline=deadline, on_store_call=called)
        result = proxy_request.result(answer)
    except DomainError as error:
        result = proxy_request.problem_result(error)
    except Exception as error:
        result = proxy_request.unexpected_result(error, context.aws_request_id)
    status = int(result["statusCode"])
    proxied_calls.add(f"{status // 100}xx")
    proxied_calls.flush()
    # Method, route, status and latency: never the path's values, the query, a body or a token.
    logger.info(
        "proxied call",
        extra={
            "method": proxy_request.method_of(event),
            "route": proxy_request.ROUTE,
            "connection_id": (event.get("pathParameters") or {}).get("connection_id"),
            "status": status,
            "store_calls": store_calls,
            "latency_ms": round((monotonic() - started) * 1000, 1),
        },
    )
    return result


imports_done()
