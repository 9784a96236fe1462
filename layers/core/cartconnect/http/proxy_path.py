"""Which store path a proxied call may reach: only `/api/v1/...` (usecases/store_proxy).

The path after `/v1/connections/{id}/proxy/` is read from the request's raw path, as the caller sent
it, percent-encoding and all (API Gateway's path parameter is already decoded, so `%2F` would be a
slash there). It is refused, before any store call, unless every segment is plain: no empty segment
(`//`, which would start a host), no `.` or `..`, no backslash, no scheme (`:`), no encoded slash,
backslash, dot or percent sign (`%2F`, `%5C`, `%2E`, `%25`: a store or a proxy in front of it that
decodes once more would see `/`, `\\`, `..` or a new escape), no `;` or `%3B` (a server that drops
path parameters reads `..;` as `..`), no escape that is not UTF-8 (`%C0%AE`, an overlong '.'), no
control, space or non-ASCII character. What passes is sent exactly as it came, after `/api/v1/`, so the store sees the path the
caller wrote and nothing else.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from cartconnect.errors import InvalidField

PROXY_MARK = "/proxy/"
MAX_PATH_CHARS = 2048
MAX_QUERY_CHARS = 4096
# RFC 3986 pchar without ':' (a scheme) and with '%' only as the start of an escape.
_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})+")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Escapes that decode to something a second decoding could turn into a path change, or a control.
_REFUSED_ESCAPES = frozenset({0x2F, 0x5C, 0x2E, 0x25, 0x3F, 0x23, 0x3B, 0x7F, *range(0x20)})
# A query is sent as it came; it may not hold a fragment, a space, a control or non-ASCII character.
_QUERY = re.compile(r"[\x21-\x7e]*")


class ProxyPathRefused(InvalidField):
    """The `path` field refused, with a 400 (a path, not a body that failed validation)."""

    status = 400
    title = "Path refused"
    type_slug = "proxy-path-refused"

    def __init__(self, reason: str) -> None:
        super().__init__("path", reason)
        self.detail = f"path: {reason}; only /api/v1/... on the connection's store is reachable"


def store_path(raw_path: str, connection_id: str, raw_query: str) -> str:
    """The store path to call (`/api/v1/...?query`) for a request to `raw_path`; ProxyPathRefused
    when it could leave /api/v1/ or is not plain."""
    mark = f"/{connection_id}{PROXY_MARK}"
    start = raw_path.find(mark)
    if start < 0:
        raise ProxyPathRefused("the request path does not name this connection's proxy")
    return checked(raw_path[start + len(mark) :], raw_query)


def checked(suffix: str, raw_query: str) -> str:
    """`/api/v1/{suffix}?{raw_query}` when both are plain (the rules above); else ProxyPathRefused."""
    if not suffix:
        raise ProxyPathRefused("is empty: name a resource, e.g. products")
    if len(suffix) > MAX_PATH_CHARS:
        raise ProxyPathRefused(f"is longer than {MAX_PATH_CHARS} characters")
    for segment in suffix.split("/"):
        _check_segment(segment)
    if len(raw_query) > MAX_QUERY_CHARS:
        raise ProxyPathRefused(f"the query string is longer than {MAX_QUERY_CHARS} characters")
    if not _QUERY.fullmatch(raw_query) or "#" in raw_query:
        raise ProxyPathRefused("the query string holds a space, '#', a control or a non-ASCII character")
    return f"/api/v1/{suffix}" + (f"?{raw_query}" if raw_query else "")


def _check_segment(segment: str) -> None:
    if not segment:
        raise ProxyPathRefused("holds an empty segment ('//' or a trailing '/')")
    if segment in (".", ".."):
        raise ProxyPathRefused("holds a '.' or '..' segment")
    if "\\" in segment:
        raise ProxyPathRefused("holds a backslash")
    if ":" in segment:
        raise ProxyPathRefused("holds ':' (a scheme or a port): give a path on the store, not a URL")
    if ";" in segment:
        # A path parameter: servers that drop `;...` before resolving dot segments read `..;` as `..`.
        raise ProxyPathRefused("holds ';' (a path parameter)")
    if not _SEGMENT.fullmatch(segment):
        raise ProxyPathRefused("holds a space, a control, a non-ASCII character or a malformed '%' escape")
    for escape in _ESCAPE.findall(segment):
        if int(escape, 16) in _REFUSED_ESCAPES:
            raise ProxyPathRefused(
                f"holds %{escape.upper()}: an encoded slash, backslash, dot, '%', '?', '#', ';' or control"
            )
    try:
        unquote_to_bytes(segment).decode("utf-8")  # strict: no overlong forms (%C0%AE, a lenient '.')
    except UnicodeDecodeError:
        raise ProxyPathRefused(
            "holds escapes that are not UTF-8 (an overlong form of '.' or '/', say)"
        ) from None
