"""Route matching, with API Gateway's precedence: the most specific route wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from cartconnect_dev.template import Route


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]
    kinds: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {greedy+}


class RouteTable:
    """Match (method, raw path) to a route and its path parameters.

    Precedence follows API Gateway: literal segments beat `{param}`, which beats `{proxy+}`
    (compared from the left); a specific method beats ANY; `$default` catches the rest.
    A path that matches only with another method is a 404, as in HTTP APIs.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)
        self._default = next((r for r in self.routes if r.path == "$default"), None)
        compiled = [self._compile(r) for r in self.routes if r.path != "$default"]
        self._compiled = sorted(compiled, key=lambda c: (c.kinds, c.route.method == "ANY"))

    @staticmethod
    def _compile(route: Route) -> _CompiledRoute:
        segments = tuple(route.path.strip("/").split("/")) if route.path.strip("/") else ()
        kinds = []
        for index, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if index != len(segments) - 1:
                    raise ValueError(f"{route.route_key}: a greedy path variable must be last")
                kinds.append(2)
            elif segment.startswith("{") and segment.endswith("}"):
                kinds.append(1)
            else:
                kinds.append(0)
        return _CompiledRoute(route, segments, tuple(kinds))

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        method = method.upper()
        parts = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
        if parts == [""]:
            parts = []
        for candidate in self._compiled:
            if candidate.route.method not in (method, "ANY"):
                continue
            params = self._match_segments(candidate, parts)
            if params is not None:
                return candidate.route, params
        if self._default is not None:
            return self._default, {}
        return None

    @staticmethod
    def _match_segments(candidate: _CompiledRoute, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, (segment, kind) in enumerate(zip(candidate.segments, candidate.kinds, strict=True)):
            if kind == 2:
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                params[segment[1:-2]] = unquote("/".join(rest))
                return params
            if index >= len(parts):
                return None
            if kind == 1:
                if not parts[index]:
                    return None
                params[segment[1:-1]] = unquote(parts[index])
            elif unquote(parts[index]) != segment:
                return None
        return params if len(parts) == len(candidate.segments) else None
