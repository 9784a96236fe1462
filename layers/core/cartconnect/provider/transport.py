"""The store client's httpx2 transport: it connects only to the address a store host was checked to
resolve to, and builds its TLS half when the first https request needs it.

Pinning (docs/decisions/0011-pinned-store-addresses.md): hosts.safe_store_base_url checks a stored host
right before a store call, resolving it once, and pins the StoreTarget in the current context. For a
request to `https://{host}/...` this transport looks the pin up and sends the request to
`https://{checked address}/...` with the `Host` header and the TLS server name (httpcore2's
`sni_hostname` request extension: SNI and certificate hostname verification) still `{host}`. It never
resolves a name: a request whose host has no pin is refused before any connection is made, and a name
that resolves elsewhere by now (DNS rebinding) is never looked up again.

Every (host, address) pair gets its own connection pool: httpcore2 pools connections by (scheme, host,
port) of the URL, here the address, so a shared pool would hand a connection opened, and verified, for
one store name to a request for another name on the same address.

Deferred TLS: httpx2.Client builds its transport, and with it an SSL context loaded with the CA bundle
(~30 ms), as the client is created: in every cold start that makes a store call, even one that only
talks plain HTTP (the local sandbox store) or one whose first call is still to come. Here the context is
built at the first https request, once, and shared by every pool.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import httpx2

from cartconnect import hosts

MAX_POOLS = 16


class UncheckedStoreHost(RuntimeError):
    """A request for a host that was not checked in this context: a bug in the caller, never retried."""


class _Pool:
    """One connection pool and how many requests are using it (closed once retired and unused)."""

    def __init__(self, transport: httpx2.HTTPTransport) -> None:
        self.transport = transport
        self.users = 0
        self.retired = False


class PinnedStoreTransport(httpx2.BaseTransport):
    """Sends each request to the address its host was checked to resolve to (see the module docstring).

    https goes through httpx2's own HTTPTransport with httpx2's default SSL context (the same CA bundle
    and hostname checks as httpx2.HTTPTransport(trust_env=False)), or `verify` when given (tests). The
    dev-only insecure hosts (a pin without addresses) are sent as they are through a plain-http transport
    whose SSL context trusts no certificate: it never handshakes, and if it ever did, the handshake
    would fail rather than go unverified.

    `targets` finds a request's pin by its URL's host[:port] (hosts.pinned_target)."""

    def __init__(
        self,
        *,
        targets: Callable[[str], hosts.StoreTarget | None] = hosts.pinned_target,
        verify: ssl.SSLContext | None = None,
        max_pools: int = MAX_POOLS,
    ) -> None:
        self._targets = targets
        self._verify = verify
        self._max_pools = max_pools
        self._lock = threading.Lock()
        self._pools: OrderedDict[tuple[str, str], _Pool] = OrderedDict()
        self._plain: httpx2.HTTPTransport | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        netloc = request.url.netloc.decode("ascii")
        target = self._targets(netloc)
        if target is None or target.host != netloc.lower():
            raise UncheckedStoreHost(
                f"{netloc} was not checked before connecting: call hosts.safe_store_base_url first"
            )
        if target.address is None:
            return self._plain_transport().handle_request(request)
        if request.url.scheme != "https":
            raise UncheckedStoreHost(f"{netloc} is checked for https only")
        pinned = httpx2.Request(
            request.method,
            # The address as the URL's host (httpx2 brackets an IPv6 address); the Host header the client
            # set from the original URL stays: the name, with its port if it had one.
            request.url.copy_with(host=target.address),
            headers=request.headers,
            stream=request.stream,
            # httpcore2 passes sni_hostname as server_hostname to the TLS handshake: SNI and the
            # certificate's hostname check use the name, not the address.
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        pool = self._acquire((netloc.lower(), target.address))
        try:
            response = pool.transport.handle_request(pinned)
        except BaseException:
            self._release(pool)
            raise
        # The pool stays in use until the body is closed (the client streams it).
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _ReleasingStream(response.stream, lambda: self._release(pool))
        return response

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
            plain, self._plain = self._plain, None
            for pool in pools:
                pool.retired = True
            idle = [pool for pool in pools if pool.users == 0]
        for pool in idle:
            pool.transport.close()
        if plain is not None:
            plain.close()

    # -- pools -------------------------------------------------------------------------------------

    def _acquire(self, key: tuple[str, str]) -> _Pool:
        evicted: list[_Pool] = []
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if self._verify is None:
                    # httpx2's default context, as httpx2.HTTPTransport(trust_env=False) builds it.
                    self._verify = httpx2.create_ssl_context(trust_env=False)
                pool = _Pool(httpx2.HTTPTransport(verify=self._verify, trust_env=False))
                self._pools[key] = pool
                while len(self._pools) > self._max_pools:
                    _, old = self._pools.popitem(last=False)
                    old.retired = True
                    if old.users == 0:
                        evicted.append(old)
            else:
                self._pools.move_to_end(key)
            pool.users += 1
        for old in evicted:
            old.transport.close()
        return pool

    def _release(self, pool: _Pool) -> None:
        with self._lock:
            pool.users -= 1
            close = pool.retired and pool.users == 0
        if close:
            pool.transport.close()

    def _plain_transport(self) -> httpx2.HTTPTransport:
        with self._lock:
            if self._plain is None:
                trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, no CA loaded
                self._plain = httpx2.HTTPTransport(verify=trusts_nothing, trust_env=False)
            return self._plain


class _ReleasingStream(httpx2.SyncByteStream):
    """A pool's response body; releases the pool once, when the body is closed."""

    def __init__(self, stream: httpx2.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
