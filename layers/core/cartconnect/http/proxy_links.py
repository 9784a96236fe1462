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

import json
import re
from typing import Any
from urllib.parse import urlsplit

from cartconnect.http import proxy_path

LINK_FIELDS = ("next_page", "previous_page")
API_PREFIX = "/api/v1/"


def rewritten_body(body: bytes, *, store_host: str, proxy_base: str) -> bytes | None:
    """A JSON answer's body with its paging links through the proxy; None when there is nothing to
    rewrite (not a JSON object, or no link). Only the links' values change, in the text itself: the
    rest stays byte for byte as the store sent it (a number beyond a double's precision, or too large
    for one, would not survive being parsed and written again)."""
    document = _json_object(body)
    if document is None:
        return None
    original = dict(document)
    if not rewrite(document, store_host=store_host, proxy_base=proxy_base):
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:  # JSON in UTF-16 or UTF-32: written anew, below
        text = ""
    for name in LINK_FIELDS:
        if text and document.get(name) != original.get(name):
            text = _replace_link(text, name, original[name], document[name])
    check = _json_object(text.encode()) if text else None
    if check is not None and all(check.get(name) == document.get(name) for name in LINK_FIELDS):
        return text.encode()
    # The link was spelled in a way the text search missed (an escaped key, say): write it anew.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _replace_link(text: str, name: str, old: str, new: str | None) -> str:
    """Each `"name": "old"` member of `text` (the string as JSON spells it, escapes and all) as `new`."""
    member = re.compile(rf'("{re.escape(name)}"\s*:\s*)("(?:[^"\\]|\\.)*")')

    def replace(match: re.Match[str]) -> str:
        if json.loads(match.group(2)) != old:
            return match.group(0)
        return match.group(1) + json.dumps(new, ensure_ascii=False)

    return member.sub(replace, text)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON after all, or nested too deep: as it came
        return None
    return document if isinstance(document, dict) else None


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
