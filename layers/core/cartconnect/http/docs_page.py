"""The security headers of Swagger UI at /v1/docs, which Powertools renders.

Powertools inlines Swagger UI's script and stylesheet and the page's set-up script (no CDN), so
the page's CSP allows exactly those inline blocks, by hash, and nothing from anywhere else: the
page calls only its own API ("Try it out"), its images are the stylesheet's data: URIs, and the
favicon is an empty data: URI, so the browser asks the API for no /favicon.ico.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from aws_lambda_powertools.event_handler import Response

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
_FAVICON = '<link rel="icon" href="data:,">'

_HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'"


def _hash(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"


def csp_for(html: str) -> str:
    """default-src 'none', plus each inline script and stylesheet of `html` by its hash."""
    allowed: dict[str, list[str]] = {"script": [], "style": []}
    for tag, block in _INLINE.findall(html):
        allowed[tag].append(_hash(block))
    scripts, styles = (" ".join(allowed[tag]) or "'none'" for tag in ("script", "style"))
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def secured(app: Any, next_middleware: Any) -> Response[Any]:
    """Route middleware for Powertools' Swagger UI route (its page, ?format=json, the OAuth2 stanza)."""
    response: Response[Any] = next_middleware(app)
    headers = response.headers
    if str(headers.get("Content-Type", "")).startswith("text/html") and isinstance(response.body, str):
        response.body = response.body.replace("<head>", "<head>" + _FAVICON, 1)
        headers["Content-Type"] = "text/html; charset=utf-8"
        headers["Content-Security-Policy"] = csp_for(response.body)
    else:
        headers["Content-Security-Policy"] = _NON_HTML_CSP
    headers.update(_HEADERS)
    return response
