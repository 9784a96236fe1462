"""An httpx2 transport that builds its TLS half when the first https request needs it.

httpx2.Client builds its transport, and with it an SSL context loaded with the CA bundle (~30 ms),
as the client is created: in every cold start that makes a store call, even one that only talks
plain HTTP (the local sandbox store) or one whose first call is still to come.
"""

from __future__ import annotations

import ssl
import threading

import httpx2


class DeferredTLSTransport(httpx2.BaseTransport):
    """What httpx2.Client(trust_env=False) would build itself, httpx2.HTTPTransport(trust_env=False):
    https requests go to exactly that transport (httpx2's default SSL context, the same CA bundle
    and hostname checks), created at the first https request. http requests go to a transport whose
    SSL context trusts no certificate: it never handshakes (no proxies: trust_env=False), and if it
    ever did, the handshake would fail rather than go unverified."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tls: httpx2.HTTPTransport | None = None
        self._plain: httpx2.HTTPTransport | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self._transport(request.url.scheme).handle_request(request)

    def _transport(self, scheme: str) -> httpx2.HTTPTransport:
        with self._lock:
            if scheme == "https":
                if self._tls is None:
                    self._tls = httpx2.HTTPTransport(trust_env=False)
                return self._tls
            if self._plain is None:
                trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, no CA loaded
                self._plain = httpx2.HTTPTransport(verify=trusts_nothing, trust_env=False)
            return self._plain

    def close(self) -> None:
        with self._lock:
            for transport in (self._tls, self._plain):
                if transport is not None:
                    transport.close()
            self._tls = self._plain = None
