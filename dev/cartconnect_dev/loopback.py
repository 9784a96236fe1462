"""What every local listener (the gateway, moto, the sandbox store) checks before serving a request.

They all listen on 127.0.0.1 beside the developer's browser, and any web page the browser opens can
send requests there. Two checks stop it:

* `Host` must be a loopback name with the listener's port (`host_allowed`): a page whose own name
  later resolves to 127.0.0.1 (DNS rebinding) reads answers as same-origin, but its requests still
  carry its name (`Host: evil.example`).
* where only tools call (moto, the Invoke API), no request a browser sent is served
  (`from_browser`): browsers add `Origin` to every cross-site POST and `Sec-Fetch-*` to every
  request to a trustworthy origin such as 127.0.0.1 (`fetch(..., {mode: "no-cors"})` and a
  `text/plain` form included); curl, boto3 and httpx add neither.
"""

from __future__ import annotations

import errno
import socketserver
import threading
from collections.abc import Collection, Iterable

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values a listener bound on loopback `port` answers: 127.0.0.1, localhost, [::1]."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def host_allowed(host: str | None, allowed: Collection[str]) -> bool:
    """Whether a request's `Host` (None: absent) is one of `allowed` (lower-case host:port)."""
    return host is not None and host.strip().lower() in allowed


def from_browser(header_names: Iterable[str]) -> bool:
    """Whether a request with these header names was sent by a browser (Origin or any Sec-Fetch-*)."""
    return any(name.lower() == "origin" or name.lower().startswith("sec-fetch-") for name in header_names)


class ListenError(OSError):
    """A listener could not bind its port; the message names the listener and the port."""

    def __init__(self, listener: str, port: int, cause: OSError) -> None:
        reason = "the port is in use" if cause.errno == errno.EADDRINUSE else (cause.strerror or str(cause))
        super().__init__(cause.errno, f"the {listener} cannot listen on 127.0.0.1:{port}: {reason}")
        self.listener = listener
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


class ServingThread:
    """A listener's `serve_forever` on a daemon thread: started once, stopped and closed once."""

    def __init__(self, server: socketserver.BaseServer, name: str, *, poll_interval: float = 0.5) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
