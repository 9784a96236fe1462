"""Paging links of a proxied list answer, pointed at the proxy instead of the store.

A store's list answer carries `next_page` and `previous_page`: URLs of the neighbouring pages on the
store (`https://{store}/api/v1/products?page=2&count=50`). The caller pages through the proxy, so each
becomes the same page under `{origin}/v1/connections/{id}/proxy/`. The provider documents them as
URLs without saying absolute or not: an absolute URL on the store's host (any scheme) and a path under
`/api/v1/` are both rewritten; a link anywhere else (another host, another path) cannot be reached
through the proxy and becomes null, as on the last page; so does a link the proxy would refuse
(http/proxy_path.py): a `..` in it would climb out of this connection's proxy into another's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cartconnect.http import proxy_path

LINK_FIELDS = ("next_page", "previous_page")
API_PREFIX = "/api/v1/"


def rewrite(answer: dict[str, Any], *, store_host: str, proxy_base: str) -> bool:
    """Rewrite `answer`'s paging links in place; whether any field was changed. `proxy_base` is
    `{origin}/v1/connections/{id}/proxy` (no trailing slash)."""
    changed = False
    for name in LINK_FIELDS:
        link = answer.get(name)
        if not isinstance(link, str) or not link:
            continue
        answer[name] = _through_proxy(link, store_host=store_host, proxy_base=proxy_base)
        changed = True
    return changed


def _through_proxy(link: str, *, store_host: str, proxy_base: str) -> str | None:
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    host = store_host.lower()
    if parts.netloc and parts.netloc.lower() not in (host, f"{host}:443"):
        return None
    if parts.scheme not in ("", "http", "https") or not parts.path.startswith(API_PREFIX):
        return None
    rest = parts.path[len(API_PREFIX) :]
    try:
        proxy_path.checked(rest, parts.query)  # no '..' to climb into another connection's proxy
    except proxy_path.ProxyPathRefused:
        return None
    return f"{proxy_base}/{rest}" + (f"?{parts.query}" if parts.query else "")
