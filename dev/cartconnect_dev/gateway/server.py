"""The HTTP server: a ThreadingHTTPServer on loopback that checks each request's Host (421 unless it
names this gateway on a loopback name: DNS rebinding) and hands the rest to the gateway application."""

from __future__ import annotations

import logging
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cartconnect_dev.gateway.app import GatewayApp
from cartconnect_dev.gateway.messages import HttpRequest, HttpResponse, message
from cartconnect_dev.loopback import ListenError, ServingThread, host_allowed, loopback_hosts

# One logger for the whole gateway package: its name is what `make dev`'s lines show.
log = logging.getLogger("cartconnect_dev.gateway")


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
        # An absolute-form request target (RFC 9112 3.2.2) starts with its scheme; one that starts with
        # "/" is a path, whatever it holds ("/proxy/https://x" is a path with an empty segment).
        if not target.startswith("/") and "://" in target.split("?", 1)[0]:
            authority, _, rest = target.split("://", 1)[1].partition("/")
            target = "/" + rest
        path, _, query = target.partition("?")
        allowed = loopback_hosts(self.gateway.port)
        if not host_allowed(self.headers.get("Host"), allowed) or (
            authority is not None and not host_allowed(authority, allowed)
        ):
            log.info("%s (not addressed to a loopback name of this gateway) -> 421", self.command)
            self.close_connection = True  # its body is never read
            self._send(message(421, "Misdirected Request"))
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
            response = message(503, "Service Unavailable")
        else:
            try:
                response = app.handle(request)
            except Exception:
                log.error("gateway error:\n%s", traceback.format_exc())
                response = message(500, "Internal Server Error")
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
        self._serving = ServingThread(self._server, "cartconnect-gateway", poll_interval=0.2)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._serving.start()

    def stop(self) -> None:
        self._serving.stop()


def _client_ip(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) else "127.0.0.1"
