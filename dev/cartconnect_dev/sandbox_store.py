"""A dev-only sandbox AmeriCommerce store: a real HTTP server on loopback speaking the documented
wire format (docs/provider.md; the recipes are in layers/core/cartconnect/provider/),
with fault switches for tests.

    python -m cartconnect_dev.sandbox_store --port 8765 --app 12345:app-secret

Endpoints (store side):
    GET  /api/oauth?client_id&scope&redirect_uri[&state]   consent page (or 302 when auto_approve)
    POST /api/oauth/decision                                 the consent form (approve / deny)
    POST /api/oauth/access_token                             {client_id, auth_id, signature}
    POST /api/oauth/refresh                                  {client_id, refresh_token, signature}
    GET  /api/v1/stores                                      X-AC-Auth-Token; X-AC-Call-Limit; 429
    GET  /api/v1/{resource}?page&count                       {total_count, {resource}: [...], next_page,
                                                             previous_page}; every API_RESOURCES name
    GET/PUT/DELETE /api/v1/{products|customers}/{id}         one record; PUT merges the body's fields
    POST /api/v1/{products|customers}                        creates from a JSON object
Admin (sandbox only):
    GET/POST /_sandbox/config   POST /_sandbox/reset   POST /_sandbox/apps {client_id, client_secret}
    GET /_sandbox/calls         when each accepted /api/v1 call came (time.monotonic), and the counters

It answers only requests addressed to its names (127.0.0.1, localhost or [::1] with its port, and
`host_names`; 421 otherwise, against DNS rebinding), and its admin endpoints refuse browsers.

Decisions the provider's docs leave open:
- Token endpoints accept JSON or form-encoded bodies and answer JSON. Their error bodies are
  AmeriCommerce-style `{status_code, message, details}` JSON unless the `error_style` ("oauth":
  `{error, error_description}`) and `error_encoding` ("form": application/x-www-form-urlencoded)
  switches say otherwise: the real field names and encoding are undocumented.
- The exchange signature is checked against the redirect URI as the evidence says stores sign it
  (docs/provider.md, "The redirect URI's canonical form"): decoded, its query names and values re-encoded with nothing left
  safe (`quote(v, safe="")`), then lower-cased. Only lower-case hex signatures are accepted.
- An auth_id is consumed on its first presentation, whether or not that exchange succeeds.
- Every refresh token issued for a grant stays usable until the grant is revoked; each refresh
  still returns a new one. Access tokens stay valid until they expire or the grant is revoked.
- A `no_expiry` grant's access tokens never expire here; its answers carry neither `expires` nor a
  refresh token.
- A "naive" `expires` is the store's local wall clock (UTC-06:00) without a zone.
- Fault switches on the token endpoints answer before any verification (nothing is consumed).
- /_sandbox/reset restores default faults and forgets grants, tokens, counters and captured
  requests, but keeps registered apps; the records go back to the seed (25 products, 12 customers).
- REST records: `products` and `customers` hold records (seeded the same on every start); the other
  resources list nothing. Reads need one of the resource's scopes (API_RESOURCES), writes its write
  scope (API_WRITE_SCOPES: `catalog`, `people`). Lists are by id; `count` defaults to 100 and is
  capped at 200; a `page` past the last is 404 (page 1 of an empty list is not); `next_page` and
  `previous_page` are absolute URLs on the store's base URL. A create must carry a non-empty string
  `item_name` (products) or `email` (customers), else 409 naming it (the OpenAPI description lists
  more required product fields; the sandbox asks only for the name); the store assigns the integer
  `id`, never one it assigned before (a deleted record's id is not reused). Create, update and read answer 200 with the record and delete 200 with an empty body, as
  the OpenAPI description says (no 201 or 204). PUT merges the fields given (it may not blank a
  required one: 409). An unknown id is 404; a method a path does not take is 405, PATCH on every
  /api/v1 path (the OpenAPI description has none; it is a 405 in the store's shape, counted against
  the limit like any call, not the HTTP server's own 501).
- Every /api/v1 call counts against the call limit (reads, writes, and answers 401/403/404 too) before
  anything else is checked; only the accepted ones (not 429) fill the window and `api_call_times()`.
- The /api/v1 fault switches (Faults.api_*) act after the call limit has counted the call, so the
  calls they answer are accepted calls too; `captured` keeps every /api/v1 request's headers.
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import math
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as validated_dataclass

from cartconnect.provider.signing import exchange_signature, refresh_signature
from cartconnect_dev.loopback import ListenError, ServingThread, from_browser, host_allowed, loopback_hosts

STORE_LOCAL_ZONE = timezone(timedelta(hours=-6))
MAX_BODY = 64 * 1024
# The largest answer body the /api/v1 faults may ask for (an HTML page, a JSON answer's padding).
MAX_FAULT_BODY = 16 << 20


@validated_dataclass(config=ConfigDict(validate_assignment=True, extra="forbid"))
class Faults:
    """Fault switches. Settable as attributes (validated) or over POST /_sandbox/config."""

    latency_ms: int = 0  # delay before every store answer (not /_sandbox)
    status_5xx: Literal[500, 502, 503] | None = None  # token endpoints answer this status
    malformed_json: bool = False  # token endpoints: 200 with a truncated JSON body
    html_body: bool = False  # token endpoints: 200 with an HTML error page
    redirect_token_endpoints: bool = False  # token endpoints: 302 to /api/oauth/redirected
    refuse_grants: bool = False  # token endpoints: 401, the grant is refused
    rate_limit_token_endpoints: bool = False  # token endpoints: 429 with Retry-After
    retry_after_format: Literal["seconds", "http-date"] = "seconds"
    retry_after_seconds: int = 7  # Retry-After of the token endpoints' 429
    lowercase_redirect_uri: bool = False  # lower-case the redirect URI before sending the browser back
    echo_state: bool = True  # append a `state` given to /api/oauth to the redirect
    auto_approve: bool = False  # GET /api/oauth answers 302 at once, as if Approve were clicked
    token_lifetime_seconds: int = 3600
    expires_format: Literal["z", "offset", "naive", "absent", "garbage"] = "z"
    error_style: Literal["americommerce", "oauth"] = "americommerce"  # token-endpoint error fields
    error_encoding: Literal["json", "form"] = "json"  # token-endpoint error body encoding
    # /api/v1 calls (reads and writes, whatever their answer) allowed per window (sliding): the plans' values
    api_call_limit: Literal[5, 10, 20, 50] = 50
    # GET /api/v1/stores: the OpenAPI description's list ({"total_count", "stores": [...]}) or the stores
    # page's bare object (docs/provider.md, "Testing a connection")
    stores_shape: Literal["list", "object"] = "list"
    api_window_seconds: float = 10.0
    # /api/v1 faults, after the call limit has counted the call (in this order):
    # every /api/v1 call answers this status (the store's JSON error body)...
    api_status_5xx: Literal[500, 502, 503] | None = None
    # ...only this many times, then api_status_5xx turns itself off (None: until it is switched off)
    api_status_5xx_calls: Annotated[int, Field(ge=1)] | None = None
    # every /api/v1 call answers 200 with an HTML page (text/html) of exactly this many bytes
    api_html_bytes: Annotated[int, Field(ge=0, le=MAX_FAULT_BODY)] | None = None
    # every access token is rejected (401), as when the store no longer lets the app in
    api_reject_tokens: bool = False
    # a JSON object answer carries a "padding" field of this many bytes ("x"s): an oversized answer
    api_padding_bytes: Annotated[int, Field(ge=0, le=MAX_FAULT_BODY)] = 0


_FAULTS = TypeAdapter(Faults)


@dataclass
class AuthRecord:
    """What the store remembers about one issued auth_id, exactly as received on /api/oauth."""

    client_id: str
    code: str
    scope: str
    redirect_uri: str
    used: bool = False


@dataclass
class Grant:
    grant_id: str
    client_id: str
    scope: str
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False

    @property
    def no_expiry(self) -> bool:
        return "no_expiry" in self.scope.replace(" ", ",").split(",")


@dataclass
class AccessToken:
    grant_id: str
    expires_at: float | None  # epoch seconds; None = never


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class _Pending:
    client_id: str
    scope: str
    redirect_uri: str
    state: str | None


# The REST resources the sandbox serves, and the scopes that allow reading each (docs/provider.md, "Scopes").
API_RESOURCES: dict[str, frozenset[str]] = {
    "stores": frozenset({"system"}),
    "products": frozenset({"catalog", "read_catalog"}),
    "orders": frozenset({"orders", "read_orders"}),
    "customers": frozenset({"people", "read_people"}),
    "pages": frozenset({"content", "read_content"}),
    "adcodes": frozenset({"marketing", "read_marketing"}),
    "warehouses": frozenset({"settings"}),
    "custom_fields": frozenset({"custom_fields"}),
    "email_templates": frozenset({"email"}),
}

# The resources that hold records (the others list nothing and have no items): the scope that allows
# writing each (it also allows reading: API_RESOURCES) and the fields a create must carry.
API_WRITE_SCOPES: dict[str, str] = {"products": "catalog", "customers": "people"}
API_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {"products": ("item_name",), "customers": ("email",)}
SEED_COUNTS: dict[str, int] = {"products": 25, "customers": 12}
DEFAULT_PAGE_COUNT = 100
MAX_PAGE_COUNT = 200
_SEED_TIME = "2024-01-02T03:04:05.0000000Z"
_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia", "Ken")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Perlman")


def _seed_product(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "item_number": f"SBX-{n:04d}",
        "item_name": f"Sandbox Product {n:02d}",
        "manufacturer_id": 0,
        "primary_category_id": 1 + n % 3,
        "product_status_id": 1,
        "short_description": f"The sandbox's product number {n}",
        "cost": round(n * 1.5, 2),
        "price": round(n * 3.25, 2),
        "retail": round(n * 4.0, 2),
        "weight": round(0.25 * n, 2),
        "weight_unit": "LB",
        "quantity_on_hand": 10 * n,
        "is_hidden": False,
        "created_at": _SEED_TIME,
        "updated_at": _SEED_TIME,
    }


def _seed_customer(n: int) -> dict[str, Any]:
    first, last = _FIRST_NAMES[(n - 1) % len(_FIRST_NAMES)], _LAST_NAMES[(n - 1) % len(_LAST_NAMES)]
    return {
        "id": n,
        "customer_number": f"C{n:04d}",
        "first_name": first,
        "last_name": last,
        "email": f"customer{n:02d}@sandbox.example.test",
        "phone_number": f"555-01{n:02d}",
        "company": "",
        "customer_type_id": 0,
        "store_id": 1,
        "is_no_tax_customer": False,
        "registered_at": _SEED_TIME,
        "created_at": _SEED_TIME,
        "updated_at": _SEED_TIME,
    }


def seed_records() -> dict[str, dict[int, dict[str, Any]]]:
    """The records every store starts with (and gets back on reset): the same on every call."""
    makers = {"products": _seed_product, "customers": _seed_customer}
    return {
        resource: {n: makers[resource](n) for n in range(1, SEED_COUNTS[resource] + 1)}
        for resource in API_WRITE_SCOPES
    }


def _now_stamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"


def _error_body(status: int, message: str, details: str) -> dict[str, Any]:
    return {"status_code": status, "message": message, "details": details}


# OAuth 2.0 error codes (RFC 6749 section 5.2, plus the usual server-side ones) by status.
_OAUTH_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "invalid_grant", 429: "slow_down"}


def _token_error(status: int, body: dict[str, Any], faults: Faults) -> tuple[bytes, str]:
    """A token-endpoint error body (from _error_body) in the style and encoding the faults ask for."""
    fields: dict[str, Any] = body
    if faults.error_style == "oauth":
        fields = {
            "error": _OAUTH_ERRORS.get(status, "server_error"),
            "error_description": body.get("details", ""),
        }
    if faults.error_encoding == "form":
        return urlencode(fields).encode("utf-8"), "application/x-www-form-urlencoded"
    return json.dumps(fields).encode("utf-8"), "application/json; charset=utf-8"


def store_signed_redirect_uri(redirect_uri: str) -> str:
    """The redirect URI as this store puts it in the signature before lower-casing: decoded, every
    query name and value re-encoded with nothing left safe. (The store's own rule, written apart
    from the project's canonical_redirect_uri on purpose.)"""
    parts = urlsplit(redirect_uri)
    if not parts.query:
        return redirect_uri
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(quote(name, safe="") + "=" + quote(value, safe="") for name, value in pairs)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Append params to url's query, keeping its existing query string byte for byte."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class SandboxStore:
    """The store's state plus the HTTP server. Thread-safe: one lock around all mutable state."""

    def __init__(
        self,
        port: int = 0,
        *,
        faults: Faults | None = None,
        quiet: bool = True,
        host_names: Iterable[str] = (),
    ) -> None:
        """`host_names`: names (host:port) it is also addressed by besides its loopback names."""
        self.faults = faults if faults is not None else Faults()
        self.host_names = frozenset(name.strip().lower() for name in host_names if name.strip())
        self.allowed_hosts: frozenset[str] = frozenset()
        self.quiet = quiet
        self._port = port
        self._lock = threading.RLock()
        self._apps: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        with self._lock:
            self._auths: dict[str, AuthRecord] = {}
            self._pending: dict[str, _Pending] = {}
            self._grants: dict[str, Grant] = {}
            self._refresh_index: dict[str, str] = {}  # refresh token -> grant id
            self._access: dict[str, AccessToken] = {}
            self._calls: Counter[str] = Counter()
            self._api_calls: deque[float] = deque()  # the window's accepted calls (monotonic)
            self._api_accepted: list[float] = []  # every accepted /api/v1 call since reset (monotonic)
            self._records = seed_records()
            # Ids are never reused, as a real store's identity column: a deleted record's id stays spent.
            self._last_ids = dict(SEED_COUNTS)
            self._captured: list[CapturedRequest] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxStore:
        if self._server is not None:
            return self
        try:
            server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        except OSError as exc:
            raise ListenError("sandbox store", self._port, exc) from exc
        self.allowed_hosts = loopback_hosts(int(server.server_address[1])) | self.host_names
        server.daemon_threads = True
        server.block_on_close = False  # idle keep-alive connections must not block stop()
        self._server = server
        self._serving = ServingThread(server, "sandbox-store", poll_interval=0.05)
        self._serving.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._serving.stop()

    def __enter__(self) -> SandboxStore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox store is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    # -- test/admin API --------------------------------------------------------------------------

    def register_app(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._apps[client_id] = client_secret

    def reset(self) -> None:
        """Default faults; forget grants, tokens, counters and captured requests. Apps are kept."""
        with self._lock:
            self.faults = Faults()
            self._reset_state()

    def configure(self, **changes: Any) -> Faults:
        """Validate and apply several fault switches at once (all or nothing)."""
        with self._lock:
            self.faults = _FAULTS.validate_python({**asdict(self.faults), **changes})
            return self.faults

    @property
    def calls(self) -> Counter[str]:
        """A snapshot of the per-endpoint call counters (authorize, decision, access_token, refresh,
        stores, redirected, api)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def captured(self) -> list[CapturedRequest]:
        """Snapshot of the requests received on the token endpoints and /api/v1, oldest first: each
        with its path (no query), its headers as they arrived and its body."""
        with self._lock:
            return list(self._captured)

    def last_request(self, path: str) -> CapturedRequest | None:
        """The latest captured request to `path` (without its query), e.g. "/api/v1/products"."""
        with self._lock:
            return next((req for req in reversed(self._captured) if req.path == path), None)

    def auth_record(self, auth_id: str) -> AuthRecord | None:
        with self._lock:
            record = self._auths.get(auth_id)
            return replace(record) if record is not None else None

    def issued_secrets(self) -> set[str]:
        """Every auth_id, code, access token and refresh token this store has issued (for leak scans)."""
        with self._lock:
            found = set(self._auths) | {record.code for record in self._auths.values()}
            return found | set(self._access) | set(self._refresh_index)

    def registered_secrets(self) -> set[str]:
        """The app secrets this store knows (for leak scans)."""
        with self._lock:
            return set(self._apps.values())

    def revoke_grant_of(self, token: str) -> bool:
        """Revoke the grant that issued this access or refresh token (as the admin console would)."""
        with self._lock:
            grant_id = self._refresh_index.get(token)
            if grant_id is None and token in self._access:
                grant_id = self._access[token].grant_id
            if grant_id is None:
                return False
            self._grants[grant_id].revoked = True
            return True

    def api_call_times(self) -> list[float]:
        """When each /api/v1 call the store accepted (served, not 429) since start or reset arrived,
        oldest first, in `time.monotonic()` seconds (the clock the call limit uses)."""
        with self._lock:
            return list(self._api_accepted)

    def max_api_calls_within(self, seconds: float | None = None) -> int:
        """The most accepted /api/v1 calls in any span of `seconds` (default: the call window)."""
        span = self.faults.api_window_seconds if seconds is None else seconds
        return _max_within(self.api_call_times(), span)

    def records(self, resource: str) -> list[dict[str, Any]]:
        """A copy of a data resource's records (products, customers), by id."""
        with self._lock:
            return [json.loads(json.dumps(item)) for _, item in sorted(self._records[resource].items())]

    def expire_access_token(self, access_token: str) -> None:
        with self._lock:
            if access_token in self._access:
                self._access[access_token].expires_at = time.time() - 1

    # -- store logic (called by the handler; each returns (status, headers, body)) ---------------

    def _snapshot_faults(self) -> Faults:
        with self._lock:
            return replace(self.faults)

    def _take_api_5xx(self) -> int | None:
        """The status an /api/v1 call answers by the api_status_5xx fault, counting one down."""
        with self._lock:
            status, left = self.faults.api_status_5xx, self.faults.api_status_5xx_calls
            if status is not None and left is not None:
                self.faults = replace(
                    self.faults,
                    api_status_5xx=None if left == 1 else status,
                    api_status_5xx_calls=None if left == 1 else left - 1,
                )
            return status

    def _count(self, name: str) -> None:
        with self._lock:
            self._calls[name] += 1

    def _capture(self, request: CapturedRequest) -> None:
        with self._lock:
            self._captured.append(request)

    def _begin_authorization(
        self, client_id: str, scope: str, redirect_uri: str, state: str | None
    ) -> tuple[str | None, str]:
        """(request id, "") when the app is known, else (None, reason)."""
        with self._lock:
            if client_id not in self._apps:
                return None, "Unknown app (client_id)"
            request_id = secrets.token_urlsafe(16)
            self._pending[request_id] = _Pending(client_id, scope, redirect_uri, state)
            return request_id, ""

    def _decide(self, request_id: str, approve: bool, faults: Faults) -> str | None:
        """Consume a pending consent; return the browser's redirect Location, None if unknown."""
        with self._lock:
            pending = self._pending.pop(request_id, None)
            if pending is None:
                return None
            if approve:
                auth_id = str(uuid.uuid4())
                code = secrets.token_urlsafe(24)
                self._auths[auth_id] = AuthRecord(
                    pending.client_id, code, pending.scope, pending.redirect_uri
                )
                params = [("auth_id", auth_id), ("code", code)]
            else:
                params = [
                    ("error", "access_denied"),
                    ("error_reason", "user_denied"),
                    ("error_description", "The store administrator denied the request."),
                ]
        if faults.echo_state and pending.state is not None:
            params.append(("state", pending.state))
        target = pending.redirect_uri.lower() if faults.lowercase_redirect_uri else pending.redirect_uri
        return _append_query(target, params)

    def _issue(self, grant: Grant, faults: Faults) -> dict[str, Any]:
        """Issue a new access + refresh token pair for a grant (lock held by the caller)."""
        now = datetime.now(UTC)
        lifetime = timedelta(seconds=faults.token_lifetime_seconds)
        access = secrets.token_urlsafe(32)
        expires = now + lifetime
        self._access[access] = AccessToken(grant.grant_id, None if grant.no_expiry else expires.timestamp())
        if grant.no_expiry:  # never expires, needs no refresh token (docs/provider.md, "Scopes")
            return {"access_token": access}
        refresh = secrets.token_urlsafe(32)
        grant.refresh_tokens.add(refresh)
        self._refresh_index[refresh] = grant.grant_id
        answer: dict[str, Any] = {"access_token": access, "refresh_token": refresh}
        if faults.expires_format == "garbage":
            answer["expires"] = "next Tuesday-ish"
        elif faults.expires_format == "z":
            answer["expires"] = expires.strftime("%Y-%m-%dT%H:%M:%S.") + f"{expires.microsecond:06d}0Z"
        elif faults.expires_format == "offset":
            local = expires.astimezone(STORE_LOCAL_ZONE)
            answer["expires"] = local.isoformat(timespec="milliseconds")
        elif faults.expires_format == "naive":
            local = expires.astimezone(STORE_LOCAL_ZONE).replace(tzinfo=None)
            answer["expires"] = local.isoformat(timespec="microseconds")
        return answer

    def _exchange(self, body: dict[str, str], faults: Faults) -> tuple[int, dict[str, Any]]:
        client_id, auth_id, signature = (body.get(k, "") for k in ("client_id", "auth_id", "signature"))
        if not (client_id and auth_id and signature):
            return 400, _error_body(400, "Bad Request", "client_id, auth_id and signature are required")
        with self._lock:
            secret = self._apps.get(client_id)
            record = self._auths.get(auth_id)
            if record is None:
                return 403, _error_body(403, "Forbidden", "Unknown auth_id")
            if record.used:
                return 403, _error_body(403, "Forbidden", "auth_id already used")
            record.used = True  # consumed on first presentation, successful or not
            if secret is None or record.client_id != client_id:
                return 403, _error_body(403, "Forbidden", "Unknown app for this auth_id")
            signed_uri = store_signed_redirect_uri(record.redirect_uri)
            expected = exchange_signature(secret, record.code, client_id, record.scope, signed_uri)
            if not (signature.isascii() and hmac.compare_digest(expected, signature)):
                return 403, _error_body(403, "Forbidden", "Invalid signature")
            grant = Grant(str(uuid.uuid4()), client_id, record.scope)
            self._grants[grant.grant_id] = grant
            return 200, self._issue(grant, faults)

    def _refresh(self, body: dict[str, str], faults: Faults) -> tuple[int, dict[str, Any]]:
        client_id, token, signature = (body.get(k, "") for k in ("client_id", "refresh_token", "signature"))
        if not (client_id and token and signature):
            return 400, _error_body(400, "Bad Request", "client_id, refresh_token and signature are required")
        with self._lock:
            secret = self._apps.get(client_id)
            if secret is None:
                return 403, _error_body(403, "Forbidden", "Unknown app")
            expected = refresh_signature(secret, token, client_id)
            if not (signature.isascii() and hmac.compare_digest(expected, signature)):
                return 403, _error_body(403, "Forbidden", "Invalid signature")
            grant_id = self._refresh_index.get(token)
            grant = self._grants.get(grant_id) if grant_id else None
            if grant is None or grant.revoked or grant.client_id != client_id:
                return 403, _error_body(403, "Forbidden", "Invalid refresh token")
            return 200, self._issue(grant, faults)

    def _api_rate(self, faults: Faults) -> tuple[bool, int, float]:
        """Record one /api/v1 call: (allowed, used, seconds until a slot frees)."""
        now = time.monotonic()
        with self._lock:
            window = self._api_calls
            while window and now - window[0] >= faults.api_window_seconds:
                window.popleft()
            if len(window) >= faults.api_call_limit:
                wait = faults.api_window_seconds - (now - window[0]) if window else 0.0
                return False, len(window), max(wait, 0.0)
            window.append(now)
            self._api_accepted.append(now)
            return True, len(window), 0.0

    # -- REST records (lock held inside; every answer is (status, body) with a JSON-ready body) -----

    def _list_records(
        self, resource: str, page: int, count: int, base_url: str
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            items = [item for _, item in sorted(self._records.get(resource, {}).items())]
            total = len(items)
            if page > 1 and (page - 1) * count >= total:
                return 404, _error_body(404, "Not Found", f"Page {page} is out of range")
            chunk = json.loads(json.dumps(items[(page - 1) * count : page * count]))

        def link(number: int) -> str:
            return f"{base_url}/api/v1/{resource}?{urlencode([('page', number), ('count', count)])}"

        return 200, {
            "total_count": total,
            resource: chunk,
            "next_page": link(page + 1) if page * count < total else None,
            "previous_page": link(page - 1) if page > 1 else None,
        }

    def _get_record(self, resource: str, item_id: int) -> tuple[int, dict[str, Any]]:
        with self._lock:
            item = self._records.get(resource, {}).get(item_id)
            if item is None:
                return 404, _error_body(404, "Not Found", f"No {resource} record with id {item_id}")
            return 200, json.loads(json.dumps(item))

    def _create_record(self, resource: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = _missing_field(resource, body, creating=True)
        if missing is not None:
            return 409, _error_body(409, "Conflict", f"{missing} is required")
        with self._lock:
            records = self._records[resource]
            item_id = self._last_ids[resource] = self._last_ids[resource] + 1
            stamp = _now_stamp()
            item = {**body, "id": item_id, "created_at": stamp, "updated_at": stamp}
            records[item_id] = item
            return 200, json.loads(json.dumps(item))

    def _update_record(self, resource: str, item_id: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = _missing_field(resource, body, creating=False)
        if missing is not None:
            return 409, _error_body(409, "Conflict", f"{missing} cannot be empty")
        with self._lock:
            records = self._records[resource]
            if item_id not in records:
                return 404, _error_body(404, "Not Found", f"No {resource} record with id {item_id}")
            changes = {k: v for k, v in body.items() if k not in ("id", "created_at")}
            item = {**records[item_id], **changes, "updated_at": _now_stamp()}
            records[item_id] = item
            return 200, json.loads(json.dumps(item))

    def _delete_record(self, resource: str, item_id: int) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            if self._records[resource].pop(item_id, None) is None:
                return 404, _error_body(404, "Not Found", f"No {resource} record with id {item_id}")
            return 200, None

    def _token_scopes(self, token: str | None) -> set[str]:
        with self._lock:
            access = self._access.get(token or "")
            grant = self._grants.get(access.grant_id) if access else None
            return set(grant.scope.replace(" ", ",").split(",")) if grant else set()

    def _check_access_token(self, token: str | None) -> str | None:
        """None if the token may call the API, else the reason it may not."""
        if not token:
            return "Missing X-AC-Auth-Token"
        with self._lock:
            access = self._access.get(token)
            if access is None:
                return "Invalid token"
            if self._grants[access.grant_id].revoked:
                return "Token revoked"
            if access.expires_at is not None and access.expires_at <= time.time():
                return "Token expired"
            return None


def _missing_field(resource: str, body: dict[str, Any], *, creating: bool) -> str | None:
    """The first required field a create lacks (or an update blanks), None if all are there."""
    for name in API_REQUIRED_FIELDS[resource]:
        if not creating and name not in body:
            continue
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return name
    return None


def _max_within(times: list[float], span: float) -> int:
    """The most of the sorted `times` inside any half-open span [t, t + span)."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= span:
            start += 1
        most = max(most, end - start + 1)
    return most


def _html_of_size(size: int) -> bytes:
    """An HTML error page of exactly `size` bytes (cut short when `size` is below the page's own)."""
    page = _ERROR_PAGE.format(title="Service Unavailable", detail="The store is busy.").encode()
    return page[:size] + b" " * max(0, size - len(page))


def _retry_after(seconds: float, fmt: str) -> str:
    whole = max(1, math.ceil(seconds))
    if fmt == "http-date":
        # HTTP dates have 1 s resolution: round up so the client never retries too early.
        return formatdate(math.ceil(time.time()) + whole, usegmt=True)
    return str(whole)


_CONSENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize app - Sandbox Store</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:3rem auto}}li{{font-family:monospace}}
button{{font-size:1rem;margin-right:1rem;padding:.4rem 1.2rem}}</style></head>
<body><h1>Sandbox Store</h1>
<p>App <strong id="client-id">{client_id}</strong> asks for access to this store with the scopes:</p>
<ul id="scopes">{scopes}</ul>
<p>You will be sent back to <code id="redirect-uri">{redirect_uri}</code>.</p>
<form method="post" action="/api/oauth/decision">
<input type="hidden" name="request_id" value="{request_id}">
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>
"""

_ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{detail}</p></body></html>
"""


def _handler_for(store: SandboxStore) -> type[BaseHTTPRequestHandler]:
    class Handler(_SandboxHandler):
        pass

    Handler.store = store
    return Handler


class _SandboxHandler(BaseHTTPRequestHandler):
    """One handler class for every endpoint; the store object holds all state."""

    store: SandboxStore
    protocol_version = "HTTP/1.1"
    server_version = "SandboxStore/1.0"
    timeout = 30  # idle keep-alive connections give their thread back
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms ACK stalls

    # -- plumbing --------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if not self.store.quiet:
            # The request line only: never a body. Query strings of /api/oauth carry no secret.
            super().log_message(format, *args)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:  # a request whose body is left unread: the client must not reuse it
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timed out)
            self.close_connection = True

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _html(self, status: int, page: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8", headers)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain; charset=utf-8", {"Location": location})

    def _error_page(self, status: int, detail: str) -> None:
        title = f"{status} {HTTPStatus(status).phrase}"
        self._html(status, _ERROR_PAGE.format(title=html.escape(title), detail=html.escape(detail)))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _parse_body(self, raw: bytes) -> dict[str, str] | None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                data = json.loads(raw)
                if not isinstance(data, dict):
                    return None
                return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
            if content_type == "application/x-www-form-urlencoded":
                return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        except ValueError:
            return None
        return None

    def _query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    def _delay(self, faults: Faults) -> None:
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)

    def _refused(self, path: str) -> bool:
        """Answers (and says True) a request not addressed to one of the store's names (DNS rebinding),
        or one a browser sent to the admin endpoints; the consent pages serve browsers."""
        if not host_allowed(self.headers.get("Host"), self.store.allowed_hosts):
            self.close_connection = True  # its body is never read
            self._json(421, _error_body(421, "Misdirected Request", "Not a name of this store"))
            return True
        if path.startswith("/_sandbox/") and from_browser(self.headers.keys()):
            self.close_connection = True
            self._json(403, _error_body(403, "Forbidden", "The sandbox admin API does not serve browsers"))
            return True
        return False

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if self._refused(path):
            return
        if path == "/_sandbox/config":
            self._json(200, asdict(self.store.faults))
            return
        if path == "/_sandbox/calls":
            self._json(200, self._calls_report())
            return
        faults = self.store._snapshot_faults()
        self._delay(faults)
        if path == "/api/oauth":
            self._authorize(faults)
        elif path.startswith("/api/v1/"):
            self._api("GET", path, b"", faults)
        else:
            self._error_page(404, "Not found")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if self._refused(path):
            return
        raw = self._read_body()
        if path.startswith("/_sandbox/"):
            self._admin(path, raw)
            return
        faults = self.store._snapshot_faults()
        self._delay(faults)
        if path.startswith("/api/v1/"):
            self._api("POST", path, raw, faults)
        elif path == "/api/oauth/decision":
            self._decision(raw, faults)
        elif path in ("/api/oauth/access_token", "/api/oauth/refresh"):
            self._token_endpoint(path, raw, faults)
        elif path == "/api/oauth/redirected":
            self.store._count("redirected")
            self._json(200, {"access_token": "redirect-was-followed", "refresh_token": "x"})
        else:
            self._json(404, _error_body(404, "Not Found", "No such endpoint"))

    def do_PUT(self) -> None:
        self._api_only("PUT")

    def do_DELETE(self) -> None:
        self._api_only("DELETE")

    def do_PATCH(self) -> None:
        self._api_only("PATCH")

    def _api_only(self, method: str) -> None:
        """PUT, DELETE and PATCH: only the REST API takes them (and it refuses PATCH)."""
        path = urlsplit(self.path).path
        if self._refused(path):
            return
        raw = self._read_body()
        if not path.startswith("/api/v1/"):
            self._json(405, _error_body(405, "Method Not Allowed", f"{method} is not allowed here"))
            return
        faults = self.store._snapshot_faults()
        self._delay(faults)
        self._api(method, path, raw, faults)

    # -- consent ---------------------------------------------------------------------------------

    def _authorize(self, faults: Faults) -> None:
        self.store._count("authorize")
        query = self._query()
        client_id, scope, redirect_uri = (query.get(k, "") for k in ("client_id", "scope", "redirect_uri"))
        if not client_id or not scope or not redirect_uri:
            self._error_page(400, "client_id, scope and redirect_uri are required")
            return
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc:
            self._error_page(400, "redirect_uri must be an absolute http(s) URL")
            return
        request_id, reason = self.store._begin_authorization(
            client_id, scope, redirect_uri, query.get("state")
        )
        if request_id is None:
            self._error_page(400, reason)
            return
        if faults.auto_approve:
            location = self.store._decide(request_id, True, faults)
            assert location is not None
            self._redirect(location)
            return
        scopes = "".join(f"<li>{html.escape(name)}</li>" for name in scope.split(",") if name)
        page = _CONSENT_PAGE.format(
            client_id=html.escape(client_id),
            scopes=scopes,
            redirect_uri=html.escape(redirect_uri),
            request_id=html.escape(request_id),
        )
        self._html(200, page)

    def _decision(self, raw: bytes, faults: Faults) -> None:
        self.store._count("decision")
        form = self._parse_body(raw) or {}
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            self._error_page(400, "decision must be approve or deny")
            return
        location = self.store._decide(form.get("request_id", ""), decision == "approve", faults)
        if location is None:
            self._error_page(400, "Unknown or already answered authorization request")
            return
        self._redirect(location)

    # -- token endpoints -------------------------------------------------------------------------

    def _token_endpoint(self, path: str, raw: bytes, faults: Faults) -> None:
        name = path.rsplit("/", 1)[1]
        self.store._count(name)
        headers = {k: v for k, v in self.headers.items()}
        self.store._capture(CapturedRequest("POST", path, headers, raw))
        if faults.rate_limit_token_endpoints:
            retry = _retry_after(faults.retry_after_seconds, faults.retry_after_format)
            self._token_answer(
                429,
                _error_body(429, "Too Many Requests", "Rate limit exceeded"),
                faults,
                {"Retry-After": retry},
            )
        elif faults.status_5xx is not None:
            code = int(faults.status_5xx)
            self._token_answer(code, _error_body(code, HTTPStatus(code).phrase, "Sandbox fault"), faults)
        elif faults.malformed_json:
            self._send(200, b'{"access_token": "trunc', "application/json; charset=utf-8")
        elif faults.html_body:
            self._error_page_with_200()
        elif faults.redirect_token_endpoints:
            self._redirect("/api/oauth/redirected")
        elif faults.refuse_grants:
            self._token_answer(401, _error_body(401, "Unauthorized", "The grant has been refused"), faults)
        else:
            fields = self._parse_body(raw)
            if fields is None:
                body = _error_body(400, "Bad Request", "Body must be a JSON object or a form")
                self._token_answer(400, body, faults)
                return
            handler = self.store._exchange if name == "access_token" else self.store._refresh
            status, answer = handler(fields, faults)
            self._token_answer(status, answer, faults)

    def _token_answer(
        self, status: int, data: dict[str, Any], faults: Faults, headers: dict[str, str] | None = None
    ) -> None:
        """A token endpoint's answer: JSON on success, an error in the configured style/encoding."""
        if status < 400:
            self._json(status, data, headers)
            return
        body, content_type = _token_error(status, data, faults)
        self._send(status, body, content_type, headers)

    def _error_page_with_200(self) -> None:
        self._html(200, _ERROR_PAGE.format(title="Runtime Error", detail="Server Error in '/' Application."))

    # -- REST API --------------------------------------------------------------------------------

    def _api(self, method: str, path: str, raw: bytes, faults: Faults) -> None:
        """One REST call. Every call counts against the call limit before anything else is looked at."""
        self.store._count("api")
        self.store._capture(CapturedRequest(method, path, dict(self.headers.items()), raw))
        limit = self._counted(faults)
        if limit is None:
            return
        token = self.headers.get("X-AC-Auth-Token")
        reason = "Token rejected" if faults.api_reject_tokens else self.store._check_access_token(token)
        if reason is not None:
            self._json(401, _error_body(401, "Unauthorized", reason), limit)
            return
        resource, _, item = path.rstrip("/").removeprefix("/api/v1/").partition("/")
        needs = API_RESOURCES.get(resource)
        if needs is None or "/" in item or (item and not (item.isascii() and item.isdigit())):
            self._json(404, _error_body(404, "Not Found", "No such resource"), limit)
            return
        if method == "PATCH" or (
            method != "GET" and (resource not in API_WRITE_SCOPES or (method == "POST") == bool(item))
        ):
            details = f"{method} is not allowed on /api/v1/{resource}{'/' + item if item else ''}"
            self._json(405, _error_body(405, "Method Not Allowed", details), limit)
            return
        scopes = self.store._token_scopes(token)
        if method != "GET":
            needs = frozenset({API_WRITE_SCOPES[resource]})
        if not needs & scopes:
            verb = "reading" if method == "GET" else "writing"
            details = f"The token's scopes do not allow {verb} {resource} (needs one of: {', '.join(sorted(needs))})"
            self._json(403, _error_body(403, "Forbidden", details), limit)
            return
        self.store._count(resource)
        if resource == "stores" and method == "GET" and not item:
            record = _sandbox_store_record()
            body = record if faults.stores_shape == "object" else {"total_count": 1, "stores": [record]}
            self._json(200, body, limit)
            return
        status, answer = self._api_action(method, resource, int(item) if item else None, raw)
        if answer is None:
            self._send(status, b"", "application/json; charset=utf-8", limit)
        else:
            if faults.api_padding_bytes:
                answer = {**answer, "padding": "x" * faults.api_padding_bytes}
            self._json(status, answer, limit)

    def _counted(self, faults: Faults) -> dict[str, str] | None:
        """Count the call against the call limit: its X-AC-Call-Limit header to answer with, or None
        once it is answered (429 over the limit, or by the api_status_5xx or api_html_bytes fault)."""
        allowed, used, wait = self.store._api_rate(faults)
        limit = {"X-AC-Call-Limit": f"{used}/{faults.api_call_limit}"}
        status = self.store._take_api_5xx() if allowed else None
        if not allowed:
            limit["Retry-After"] = _retry_after(wait, faults.retry_after_format)
            self._json(429, _error_body(429, "Too Many Requests", "Call limit exceeded"), limit)
        elif status is not None:
            self._json(status, _error_body(status, HTTPStatus(status).phrase, "Sandbox fault"), limit)
        elif faults.api_html_bytes is not None:
            self._send(200, _html_of_size(faults.api_html_bytes), "text/html; charset=utf-8", limit)
        else:
            return limit
        return None

    def _api_action(
        self, method: str, resource: str, item_id: int | None, raw: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        """A permitted read or write on a resource: (status, JSON body or None for an empty one)."""
        if method == "GET":
            return self._api_read(resource, item_id)
        if method == "DELETE" and item_id is not None:
            return self.store._delete_record(resource, item_id)
        body = _json_object(raw)
        if body is None:
            return 400, _error_body(400, "Bad Request", "The body must be a JSON object")
        if item_id is None:  # POST (the caller allows POST only without an id, PUT only with one)
            return self.store._create_record(resource, body)
        return self.store._update_record(resource, item_id, body)

    def _api_read(self, resource: str, item_id: int | None) -> tuple[int, dict[str, Any]]:
        if item_id is not None:
            return self.store._get_record(resource, item_id)
        paging = self._paging()
        if isinstance(paging, str):
            return 400, _error_body(400, "Bad Request", paging)
        return self.store._list_records(resource, *paging, self.store.base_url)

    def _paging(self) -> tuple[int, int] | str:
        """(page, count) from the query (count capped at MAX_PAGE_COUNT), or why they are invalid."""
        query = self._query()
        values: list[int] = []
        for name, default in (("page", 1), ("count", DEFAULT_PAGE_COUNT)):
            text = query.get(name, str(default)).strip()
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                return f"{name} must be a positive integer"
            values.append(int(text))
        return values[0], min(values[1], MAX_PAGE_COUNT)

    def _calls_report(self) -> dict[str, Any]:
        return {
            "clock": "monotonic",
            "now": time.monotonic(),
            "api_call_times": self.store.api_call_times(),
            "max_api_calls_in_window": self.store.max_api_calls_within(),
            "api_window_seconds": self.store.faults.api_window_seconds,
            "counters": dict(self.store.calls),
        }

    # -- admin -----------------------------------------------------------------------------------

    def _admin(self, path: str, raw: bytes) -> None:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._json(400, {"error": "body must be a JSON object"})
            return
        if path == "/_sandbox/config":
            try:
                faults = self.store.configure(**data)
            except ValidationError as exc:
                self._json(400, {"error": "invalid config", "details": exc.errors(include_url=False)})
                return
            self._json(200, asdict(faults))
        elif path == "/_sandbox/reset":
            self.store.reset()
            self._json(200, asdict(self.store.faults))
        elif path == "/_sandbox/apps":
            client_id, secret = data.get("client_id"), data.get("client_secret")
            if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
                self._json(400, {"error": "client_id and client_secret are required strings"})
                return
            self.store.register_app(client_id, secret)
            self._json(200, {"client_id": client_id})
        else:
            self._json(404, {"error": "no such sandbox endpoint"})


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _sandbox_store_record() -> dict[str, Any]:
    return {
        "id": 1,
        "name": "Sandbox Store",
        "domain_name": "sandbox.example.test",
        "email": "admin@sandbox.example.test",
        "fax": "",
        "phone": "555-0100",
        "keywords": "",
        "description": "A dev-only sandbox AmeriCommerce store",
        "all_catalog": True,
        "is_micro_store": False,
        "parent_store_id": 0,
        "profile_id": 0,
        "company_name": "Sandbox Inc.",
        "address_line_1": "1 Loopback Way",
        "address_line_2": "",
        "city": "Localhost",
        "state": "TX",
        "postal_code": "75001",
        "country": "US",
        "billing_first_name": "Sandy",
        "billing_last_name": "Box",
        "tech_email": "tech@sandbox.example.test",
        "tech_first_name": "Sandy",
        "tech_last_name": "Box",
        "tech_same_as_billing": True,
        "store_logo": "",
        "store_image": "",
        "testimonial_count": 0,
        "average_testimonial_rating": 0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the sandbox AmeriCommerce store on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--app", action="append", default=[], metavar="CLIENT_ID:SECRET", help="register an app (repeatable)"
    )
    parser.add_argument("--auto-approve", action="store_true", help="skip the consent page")
    args = parser.parse_args(argv)
    store = SandboxStore(args.port, quiet=False)
    for app in args.app:
        client_id, sep, secret = app.partition(":")
        if not sep or not client_id or not secret:
            parser.error("--app must be CLIENT_ID:SECRET")
        store.register_app(client_id, secret)
    store.faults.auto_approve = args.auto_approve
    # SIGTERM (e.g. from a dev stack supervisor) stops the store cleanly, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    store.start()
    print(f"sandbox store listening on {store.base_url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        store.stop()


if __name__ == "__main__":
    main()
