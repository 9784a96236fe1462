"""AmeriCommerce (Cart.com) client: authorize URL, token exchange, refresh and a store check.

Plain httpx2, not authlib's OAuth2Client: see docs/decisions/0002-provider-client.md. The wire format
(docs/provider.md) is not standard OAuth 2.0: the exchange body is exactly
{client_id, auth_id, signature}, the refresh body exactly {client_id, refresh_token, signature};
neither the code, the secret nor a grant_type is ever sent. Redirects are never followed.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx2

from cartconnect.domain.tokens import TokenSet
from cartconnect.provider.errors import (
    AccessTokenRejected,
    GrantRefused,
    ProviderError,
    ProviderResponseError,
    ProviderTimedOut,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StoreNotReached,
    provider_message_from_fields,
)
from cartconnect.provider.expiry import is_no_expiry, parse_expires
from cartconnect.provider.signing import exchange_signature, refresh_signature
from cartconnect.provider.transport import PinnedStoreTransport
from cartconnect.provider.urls import origin as _origin

DEFAULT_TIMEOUT: Final = httpx2.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
# A token or store answer is a few hundred bytes; anything far larger is not the documented shape.
MAX_RESPONSE_BYTES: Final = 1 << 20
USER_AGENT: Final = "cartconnect/0.1"
# The reason of the ProviderResponseError for an answer over the size a call reads.
TOO_LARGE: Final = "response body too large"

ACCESS_TOKEN_PATH: Final = "/api/oauth/access_token"
REFRESH_PATH: Final = "/api/oauth/refresh"
STORES_PATH: Final = "/api/v1/stores"

_DELTA_SECONDS: Final = re.compile(r"\d+(?:\.\d+)?")

_shared_lock = threading.Lock()
_shared_client: httpx2.Client | None = None


def shared_http_client() -> httpx2.Client:
    """The process-wide httpx2.Client (created lazily; reused across Lambda invocations)."""
    global _shared_client  # noqa: PLW0603 - one pool per process is the point
    with _shared_lock:
        if _shared_client is None:
            # trust_env=False: no proxy variables and, above all, no ~/.netrc credentials. The
            # transport connects only to the address each store host was checked to resolve to
            # (hosts.safe_store_base_url), over httpx2's own transport; its TLS half (the CA bundle)
            # is built at the first https call.
            _shared_client = httpx2.Client(
                timeout=DEFAULT_TIMEOUT,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
                transport=PinnedStoreTransport(),
            )
        return _shared_client


def forget_shared_http_client() -> None:
    """Close the process-wide client, as a new Lambda environment starts without it: the next call
    builds another. A response still being read keeps its connection until it is closed."""
    global _shared_client
    with _shared_lock:
        previous, _shared_client = _shared_client, None
    if previous is not None:
        previous.close()


@dataclass(frozen=True)
class CallLimit:
    """The `X-AC-Call-Limit: used/allowed` header of a REST API answer."""

    used: int
    allowed: int


@dataclass(frozen=True)
class StoreAnswer:
    """What every answer of a store says about its rate limit, whatever the endpoint."""

    status_code: int
    call_limit: CallLimit | None
    retry_after_seconds: float | None


@dataclass(frozen=True)
class ForwardedAnswer:
    """A store's answer to a forwarded REST call, whatever its status (the store proxy passes it on).
    `call_limit` and `retry_after` are the headers as the store sent them, when well-formed."""

    status_code: int
    content_type: str | None
    body: bytes = field(repr=False)
    call_limit: CallLimit | None
    retry_after: str | None


@dataclass(frozen=True)
class ProbeResult:
    """A 2xx answer to a read with the access token: the token works. The store's name when the
    answer names one (GET /api/v1/stores)."""

    status_code: int
    store_name: str | None
    call_limit: CallLimit | None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (>= 0): delta-seconds or an HTTP date; None when absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate_to_datetime leaves "-0000" naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _whole_retry_after(value: str, now: datetime) -> str | None:
    """A store's Retry-After to pass on: an HTTP date as it came, delta-seconds rounded up to the
    whole seconds RFC 9110 allows; None when it is neither."""
    seconds = parse_retry_after(value, now)
    if seconds is None:
        return None
    return str(math.ceil(seconds)) if _DELTA_SECONDS.fullmatch(value) else value


def parse_call_limit(value: str | None) -> CallLimit | None:
    if value is None:
        return None
    used, sep, allowed = value.strip().partition("/")
    if not sep or not used.strip().isdigit() or not allowed.strip().isdigit():
        return None
    return CallLimit(int(used), int(allowed))


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: httpx2.Headers
    body: bytes
    url: str = ""  # what was requested (a redirect's relative Location is resolved against it)


class AmeriCommerceClient:
    """Talks to one store at a time (`base_url` per call); holds no token state.

    `http` defaults to the process-wide client; `timeout` defaults to connect 3 s / read 10 s and is
    applied per request (so tests can shorten it). `clock` returns aware UTC now (for Retry-After).
    `on_answer` hears about every answer (the store's call limit, 429s) before it is judged.
    """

    def __init__(
        self,
        *,
        http: httpx2.Client | None = None,
        timeout: httpx2.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_answer: Callable[[StoreAnswer], None] | None = None,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._clock = clock
        self._on_answer = on_answer

    # -- OAuth ---------------------------------------------------------------------------------

    def exchange_code(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        auth_id: str,
        code: str,
        scope: str,
        redirect_uri: str,
    ) -> TokenSet:
        """POST /api/oauth/access_token with exactly {client_id, auth_id, signature}.

        `scope` and `redirect_uri` are the exact strings sent on the authorize URL (before any
        lower-casing). Raises GrantRefused, RateLimited, ProviderUnavailable, ProviderResponseError,
        RequestRejected.
        """
        signature = exchange_signature(client_secret, code, client_id, scope, redirect_uri)
        body = {"client_id": client_id, "auth_id": auth_id, "signature": signature}
        sensitive = (client_secret, code, auth_id, signature)
        answer = self._post_json(base_url, ACCESS_TOKEN_PATH, "access_token", body, sensitive)
        return self._token_set("access_token", answer, scope, sensitive, fallback_refresh=None)

    def refresh(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scope: str | Iterable[str],
    ) -> TokenSet:
        """POST /api/oauth/refresh with exactly {client_id, refresh_token, signature}.

        `scope` (granted scopes or the scope string) only decides `no_expiry`; it is not sent.
        The store always returns a new refresh token (keep the newest); should an answer omit it,
        the one just used is returned in the TokenSet (the provider says they can be reused).
        """
        signature = refresh_signature(client_secret, refresh_token, client_id)
        body = {"client_id": client_id, "refresh_token": refresh_token, "signature": signature}
        sensitive = (client_secret, refresh_token, signature)
        answer = self._post_json(base_url, REFRESH_PATH, "refresh", body, sensitive)
        return self._token_set("refresh", answer, scope, sensitive, fallback_refresh=refresh_token)

    # -- REST API ------------------------------------------------------------------------------

    def probe(self, base_url: str, access_token: str, path: str) -> ProbeResult:
        """GET `path` (under /api/v1, with its query) with X-AC-Auth-Token: any 2xx means the token
        works. The store's name is read from either documented shape of /api/v1/stores
        (`{"total_count", "stores": [...]}` or a bare store object); any other body is fine too.

        Raises AccessTokenRejected (401), RateLimited (429), RequestRejected (other 4xx, 403
        included), ProviderUnavailable, ProviderResponseError (a redirect, an oversized body).
        """
        endpoint = "api"
        # The API caches GETs: no-cache asks for the store's answer now, not a cached one.
        headers = {"X-AC-Auth-Token": access_token, "Accept": "application/json", "Cache-Control": "no-cache"}
        answer = self._send(endpoint, "GET", _origin(base_url) + path, headers, None)
        self._raise_for_status(endpoint, answer, (access_token,), api=True)
        return ProbeResult(
            status_code=answer.status_code,
            store_name=_store_name(answer.body) if path.startswith(STORES_PATH) else None,
            call_limit=parse_call_limit(answer.headers.get("X-AC-Call-Limit")),
        )

    def forward(
        self,
        base_url: str,
        access_token: str,
        *,
        method: str,
        path: str,
        body: bytes | None,
        content_type: str | None,
        max_response_bytes: int,
    ) -> ForwardedAnswer:
        """`method` `path` (under /api/v1, with its query) with X-AC-Auth-Token, `body` as it came
        (`content_type` names it), whatever the store answers: nothing but a transport failure raises.

        Raises StoreNotReached (the request never left), ProviderUnavailable (timed out or failed after
        it may have reached the store), ProviderResponseError (an answer over `max_response_bytes`).
        """
        headers = {"X-AC-Auth-Token": access_token, "Accept": "application/json"}
        if method == "GET":
            headers["Cache-Control"] = "no-cache"  # the API caches GETs: ask for the store's answer now
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        answer = self._send(
            "api", method, _origin(base_url) + path, headers, body, max_bytes=max_response_bytes
        )
        retry_after = (answer.headers.get("Retry-After") or "").strip()
        return ForwardedAnswer(
            status_code=answer.status_code,
            content_type=answer.headers.get("Content-Type"),
            body=answer.body,
            call_limit=parse_call_limit(answer.headers.get("X-AC-Call-Limit")),
            retry_after=_whole_retry_after(retry_after, self._clock()),
        )

    # -- plumbing ------------------------------------------------------------------------------

    def _client(self) -> httpx2.Client:
        return self._http if self._http is not None else shared_http_client()

    def _post_json(
        self,
        base_url: str,
        path: str,
        endpoint: str,
        body: Mapping[str, str],
        sensitive: tuple[str, ...],
    ) -> _Answer:
        payload = json.dumps(dict(body), separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        answer = self._send(endpoint, "POST", _origin(base_url) + path, headers, payload)
        self._raise_for_status(endpoint, answer, sensitive, api=False)
        return answer

    def _send(
        self,
        endpoint: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        *,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> _Answer:
        client = self._client()
        request = client.build_request(
            method, url, headers=dict(headers), content=content, timeout=self._timeout
        )
        try:
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProviderResponseError(endpoint, TOO_LARGE, status_code=response.status_code)
                    chunks.append(chunk)
            finally:
                response.close()
        except (httpx2.ConnectTimeout, httpx2.PoolTimeout):
            raise StoreNotReached(endpoint, "timed out connecting") from None
        except httpx2.ConnectError as exc:
            raise StoreNotReached(endpoint, f"connection failed ({type(exc).__name__})") from None
        except httpx2.TimeoutException:
            raise ProviderTimedOut(endpoint, "timed out") from None
        except httpx2.TransportError as exc:
            # Connection refused/reset, TLS failure, malformed HTTP... The exception text may quote
            # the URL, which is safe, but we keep only its class name to stay terse.
            raise ProviderUnavailable(endpoint, f"connection failed ({type(exc).__name__})") from None
        except httpx2.HTTPError as exc:  # decoding errors and the like
            raise ProviderResponseError(endpoint, f"unreadable response ({type(exc).__name__})") from None
        answer = _Answer(response.status_code, response.headers, b"".join(chunks), url)
        if self._on_answer is not None:
            self._on_answer(
                StoreAnswer(
                    answer.status_code,
                    parse_call_limit(answer.headers.get("X-AC-Call-Limit")),
                    parse_retry_after(answer.headers.get("Retry-After"), self._clock())
                    if answer.status_code == 429
                    else None,
                )
            )
        return answer

    def _raise_for_status(
        self, endpoint: str, answer: _Answer, sensitive: tuple[str, ...], *, api: bool
    ) -> None:
        status = answer.status_code
        if 200 <= status < 300:
            return
        message = self._provider_message(answer, sensitive)
        kwargs: dict[str, Any] = {"status_code": status, "provider_message": message}
        if 300 <= status < 400:
            raise ProviderResponseError(endpoint, _redirect_reason(answer), **kwargs)
        retry_after = parse_retry_after(answer.headers.get("Retry-After"), self._clock())
        if status == 429:
            raise RateLimited(endpoint, "rate limited", retry_after_seconds=retry_after, **kwargs)
        if status >= 500 or status == 408:
            raise ProviderUnavailable(
                endpoint, "store unavailable", retry_after_seconds=retry_after, **kwargs
            )
        error: ProviderError
        if api and status == 401:
            error = AccessTokenRejected(endpoint, "access token rejected", **kwargs)
        elif not api and status in (400, 401, 403):
            error = GrantRefused(endpoint, "the store refused the grant", **kwargs)
        else:
            error = RequestRejected(endpoint, "request rejected", **kwargs)
        raise error

    @staticmethod
    def _provider_message(answer: _Answer, sensitive: tuple[str, ...]) -> str | None:
        """The error text of a non-2xx answer: a JSON object or form fields (`message`/`details` or
        `error`/`error_description`), whatever the Content-Type claims; None when neither parses."""
        fields: Mapping[str, object] | None = None
        try:
            data = json.loads(answer.body)
            fields = data if isinstance(data, dict) else None
        except ValueError:  # includes UnicodeDecodeError
            try:
                pairs = parse_qsl(answer.body.decode("utf-8"), strict_parsing=True)
            except (UnicodeDecodeError, ValueError):
                pairs = []
            fields = {name: value for name, value in pairs}
        return provider_message_from_fields(fields, sensitive) if fields else None

    @staticmethod
    def _json_object(endpoint: str, answer: _Answer) -> dict[str, Any]:
        status = answer.status_code
        try:
            data = json.loads(answer.body)
        except ValueError:  # includes UnicodeDecodeError
            content_type = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
            reason = "HTML instead of JSON" if content_type == "text/html" else "body is not valid JSON"
            raise ProviderResponseError(endpoint, reason, status_code=status) from None
        if not isinstance(data, dict):
            raise ProviderResponseError(endpoint, "body is not a JSON object", status_code=status)
        return data

    def _token_set(
        self,
        endpoint: str,
        answer: _Answer,
        scope: str | Iterable[str],
        sensitive: tuple[str, ...],
        *,
        fallback_refresh: str | None,
    ) -> TokenSet:
        status = answer.status_code
        data = self._json_object(endpoint, answer)
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderResponseError(endpoint, "no access_token in the answer", status_code=status)
        refresh = data.get("refresh_token")
        if refresh is not None and not isinstance(refresh, str):
            raise ProviderResponseError(endpoint, "refresh_token is not a string", status_code=status)
        tokens = TokenSet(access_token=access, refresh_token=refresh or fallback_refresh, expires_at=None)
        if is_no_expiry(scope):
            return tokens
        # An unreadable `expires` never fails the answer: the store has already spent the auth_id
        # (or rotated the refresh token), so dropping these tokens would lose the grant. The
        # lifetime is then unknown, as when `expires` is absent (docs/lifecycle.md).
        expires = data.get("expires")
        if expires is None:
            return replace(tokens, expiry_unknown=True)
        if not isinstance(expires, str):
            return replace(tokens, expiry_unknown=True, warning="expires is not a string")
        try:
            expires_at = parse_expires(expires, scopes=scope, received_at=self._clock())
        except ProviderResponseError as exc:
            return replace(tokens, expiry_unknown=True, warning=exc.reason)
        return replace(tokens, expires_at=expires_at)


def _store_name(body: bytes) -> str | None:
    """The first store's name in a /stores answer of either documented shape; None otherwise."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("stores"), list):
        stores = data["stores"]
        data = stores[0] if stores else None
    name = data.get("name") if isinstance(data, dict) else None
    return (name.strip()[:200] or None) if isinstance(name, str) else None


_REDIRECT_HOST: Final = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def _redirect_reason(answer: _Answer) -> str:
    """Why a 3xx is an error, naming where it pointed: the Location's host only, never its path or
    query (either may carry a token)."""
    location = answer.headers.get("Location", "").strip()
    if not location:
        return "the store answered a redirect without a Location (not followed)"
    try:
        target = urlsplit(urljoin(answer.url, location))
        host = (target.hostname or "").lower()
    except ValueError:
        host = ""
    if not _REDIRECT_HOST.fullmatch(host):
        return "the store answered a redirect to an address that is not a host name (not followed)"
    if host == (urlsplit(answer.url).hostname or "").lower():
        return f"the store answered a redirect to another path on {host} (not followed)"
    return (
        f"the store answered a redirect to {host} (not followed): use that host as the connection's subdomain"
    )
