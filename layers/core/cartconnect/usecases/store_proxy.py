"""A call to the store through cartconnect: /v1/connections/{id}/proxy/{path} (functions/store_proxy).

One pipeline, so the token never leaves cartconnect and every caller shares the store's budget:
  token    a valid access token (refreshed first when due, under the lease); not active: 409
  budget   one call of the store's shared budget, waiting a few seconds at most; else 429
  call     the store's /api/v1/{path}, the caller's query and JSON body, X-AC-Auth-Token
  401      refresh once under the lease (shared with every concurrent caller), call again once;
           not for a token the store already rejected just after its refresh (last_error): a 401
           at once, until a refresh replaces it or a 2xx with it clears the record
  retry    a call the store cannot have acted on (never connected), or an idempotent one (GET, PUT,
           DELETE) after a timeout or a 502/503/504; never a POST or PATCH that may have reached it
  answer   the store's status, its JSON body with the paging links through the proxy, and its
           X-AC-Call-Limit and Retry-After
docs/decisions/0012-store-proxy.md says why each bound is what it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from cartconnect import clock, hosts, runtime
from cartconnect.adapters import refresh_repository
from cartconnect.errors import DomainError
from cartconnect.http import media_type, proxy_links
from cartconnect.observability import count, logger
from cartconnect.provider.americommerce import TOO_LARGE, ForwardedAnswer
from cartconnect.provider.errors import (
    ProviderResponseError,
    ProviderTimedOut,
    ProviderUnavailable,
    StoreNotReached,
)
from cartconnect.settings import get_settings
from cartconnect.usecases import store_budget, token_access
from cartconnect.usecases.token_access import IssuedToken

# Bodies: below Lambda's 6 MB payloads (a request arrives inside the event, an answer leaves inside
# the result, JSON-escaped) and API Gateway's 10 MB.
MAX_REQUEST_BYTES = 1 << 20
MAX_STORE_ANSWER_BYTES = 4 << 20
MAX_RESULT_CHARS = 5 << 20  # the answer's body as it stands, escaped, in the Lambda result
# A store answer that is not JSON (an HTML error page, say) is passed on only when this small.
MAX_OTHER_ANSWER_BYTES = 64 << 10
# Waiting for the store's budget: at most this long (windows are 10 s, so a wait may be longer).
MAX_BUDGET_WAIT_SECONDS = 5.0
# One store call, connect and read, with the AWS calls around it (the client's 3 s + 10 s timeouts).
ATTEMPT_SECONDS = 14.0
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
RETRIED_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (0.25, 0.75)


class ProxyError(DomainError):
    """The proxy's own answer (a problem), not the store's."""


class BudgetSpent(ProxyError):
    status = 429
    title = "Too many requests"
    type_slug = "store-call-budget"

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(
            "the store's call budget is spent for now (shared by every caller of this store); "
            "retry after Retry-After seconds"
        )
        self.retry_after_seconds = retry_after_seconds


class TokenRejected(ProxyError):
    status = 401
    title = "The store rejected the token"
    type_slug = "store-rejected-token"


class BadGateway(ProxyError):
    status = 502
    title = "Bad gateway"
    type_slug = "store-answer-refused"


class StoreTimedOut(ProxyError):
    status = 504
    title = "Gateway timeout"
    type_slug = "store-timed-out"


@dataclass(frozen=True)
class ProxyCall:
    tenant: str
    connection_id: str
    method: str
    store_path: str  # /api/v1/... with the query, checked by http/proxy_path.py
    body: bytes | None = field(repr=False)
    content_type: str | None
    origin: str  # the API's public origin, for the paging links


@dataclass(frozen=True)
class ProxyAnswer:
    status_code: int
    content_type: str | None
    body: bytes = field(repr=False)
    headers: dict[str, str]
    store_calls: int


def forward(
    call: ProxyCall, *, deadline: float, on_store_call: Callable[[], None] = lambda: None
) -> ProxyAnswer:
    """Forward `call` to its connection's store (see the module docstring). `deadline` is a monotonic
    time after which no store call starts; `on_store_call` hears of each call to the store, also of
    those of a call that ends in an error."""
    token = token_access.get_token(call.tenant, call.connection_id, origin=call.origin, deadline=deadline)
    host = token.connection.subdomain
    base_url = _base_url(host)
    refreshed = False
    calls = 0
    while True:
        _spend(host, deadline)
        calls += 1
        on_store_call()
        try:
            with store_budget.timed("ProxyStoreLatency"):
                answer = store_budget.client(host).forward(
                    base_url,
                    token.access_token,
                    method=call.method,
                    path=call.store_path,
                    body=call.body,
                    content_type=call.content_type,
                    max_response_bytes=MAX_STORE_ANSWER_BYTES,
                )
        except StoreNotReached as error:  # it never left: any method may go again
            if not _another_attempt(calls, deadline):
                raise BadGateway(f"the store could not be reached ({error.reason})") from None
            continue
        except ProviderUnavailable as error:  # it may have reached the store
            if call.method in IDEMPOTENT and _another_attempt(calls, deadline):
                continue
            if isinstance(error, ProviderTimedOut):
                raise StoreTimedOut(
                    "the store did not answer in time; the call may have been carried out"
                ) from None
            raise BadGateway(
                f"the store's answer failed ({error.reason}); the call may have been carried out"
            ) from None
        except ProviderResponseError as error:
            if error.reason == TOO_LARGE:
                raise BadGateway(
                    f"the store's answer is larger than the proxy passes on ({MAX_STORE_ANSWER_BYTES} bytes)"
                ) from None
            raise BadGateway(f"the store's answer could not be read ({error.reason})") from None
        if answer.status_code == 401 and not refreshed and not _known_rejected(token):
            refreshed = True
            token = token_access.after_rejection(
                call.tenant, call.connection_id, token, origin=call.origin, deadline=deadline
            )
            continue
        if (
            answer.status_code in RETRIED_STATUSES
            and call.method in IDEMPOTENT
            and _another_attempt(calls, deadline)
        ):
            continue
        break
    _settle_token(call, token, answer.status_code)
    if answer.status_code == 429:
        count("ProxyStoreRateLimited")
    return _shaped(answer, call, host, calls)


def _base_url(host: str) -> str:
    try:
        return hosts.safe_store_base_url(host, get_settings())
    except hosts.UnsafeStoreHost as error:
        raise BadGateway(f"the connection's store host is refused: {error.message}") from None


def _spend(host: str, deadline: float) -> None:
    wait = store_budget.spend(
        host,
        deadline=deadline,
        max_wait_seconds=MAX_BUDGET_WAIT_SECONDS,
        attempt_budget_seconds=ATTEMPT_SECONDS,
        on_wait=lambda _seconds: count("ProxyBudgetWaits"),
    )
    if wait is not None:
        count("ProxyBudgetRefused")
        raise BudgetSpent(wait)


def _another_attempt(calls: int, deadline: float) -> bool:
    """Whether another attempt may start (attempts left, and time for one after its backoff), once
    its backoff has been waited."""
    if calls >= MAX_ATTEMPTS:
        return False
    backoff = BACKOFF_SECONDS[min(calls, len(BACKOFF_SECONDS)) - 1]
    if deadline - runtime.current().monotonic() < backoff + ATTEMPT_SECONDS:
        return False
    runtime.current().sleep(backoff)
    return True


def _settle_token(call: ProxyCall, token: IssuedToken, status: int) -> None:
    """What the store's last answer says of the token: a 401 (after the one refresh, or with a token
    rejected before) is TokenRejected; a 2xx with a token rejected before clears that record, since
    the rejection no longer describes the connection."""
    if status == 401:
        raise _rejected(call, token)
    if 200 <= status < 300 and _known_rejected(token):
        refresh_repository.clear_api_rejection(
            call.tenant, call.connection_id, token_version=token.token_version
        )


def _known_rejected(token: IssuedToken) -> bool:
    """The store has already rejected this very token just after its refresh (last_error, which the
    next refresh of the connection clears): another refresh would spend a refresh and two store calls
    on every call for the same 401, until the scheduled refresh or POST /refresh replaces the token."""
    error = token.connection.last_error
    return error is not None and error.code == refresh_repository.API_TOKEN_REJECTED


def _rejected(call: ProxyCall, token: IssuedToken) -> TokenRejected:
    message = "the store's API rejected the access token, also just after a refresh"
    if not _known_rejected(token):
        refresh_repository.record_api_rejection(
            call.tenant,
            call.connection_id,
            token_version=token.token_version,
            message=message,
            now=clock.utc_now(),
        )
        logger.warning("the store rejected a refreshed token", extra={"connection_id": call.connection_id})
    return TokenRejected(
        f"{message}: the app may have lost its access to the store, or the call needs a scope the "
        "connection was not granted (GET /v1/connections/{id} shows last_error)"
    )


def _shaped(answer: ForwardedAnswer, call: ProxyCall, host: str, calls: int) -> ProxyAnswer:
    headers: dict[str, str] = {}
    if answer.call_limit is not None:
        headers["X-AC-Call-Limit"] = f"{answer.call_limit.used}/{answer.call_limit.allowed}"
    if answer.retry_after is not None:
        headers["Retry-After"] = answer.retry_after
    body = answer.body
    if body and media_type.is_json(answer.content_type):
        proxy_base = f"{call.origin}/v1/connections/{call.connection_id}/proxy"
        body = proxy_links.rewritten_body(body, store_host=host, proxy_base=proxy_base) or body
    elif body and len(body) > MAX_OTHER_ANSWER_BYTES:
        kind = f"{media_type.of(answer.content_type)} " if answer.content_type else ""
        raise BadGateway(
            f"the store answered {answer.status_code} with a {kind}body of {len(body)} bytes that is not "
            f"JSON; the proxy passes on others only up to {MAX_OTHER_ANSWER_BYTES} bytes"
        )
    if len(body) * 6 > MAX_RESULT_CHARS and _escaped_chars(body) > MAX_RESULT_CHARS:
        raise BadGateway(
            f"the store's answer is larger than the proxy passes on ({MAX_RESULT_CHARS} characters)"
        )
    return ProxyAnswer(answer.status_code, answer.content_type, body, headers, calls)


def _escaped_chars(body: bytes) -> int:
    """The body's length in the Lambda result: as text, JSON-escaped; base64 when not UTF-8."""
    try:
        return len(json.dumps(body.decode()))
    except UnicodeDecodeError:
        return (len(body) + 2) // 3 * 4
