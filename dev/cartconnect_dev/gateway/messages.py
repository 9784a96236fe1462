"""Plain HTTP request and response values: no sockets, so the gateway application is testable
without a server (the server turns a socket's request into an `HttpRequest` and back)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


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


def message(status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    """API Gateway's own answers: `{"message": text}` as JSON."""
    return HttpResponse.json(status, {"message": text}, headers)
