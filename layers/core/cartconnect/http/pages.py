"""The plain HTML result pages of the authorize and callback functions.

No scripts, no third-party assets; a CSP that allows only the one inline stylesheet (by hash);
nothing cached; no referrer leaves the page. All text is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Any

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}"
    "h1{font-size:1.4rem}.ok{color:#1a7f37}.fail{color:#cf222e}p{line-height:1.5}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


def render(title: str, message: str, *, ok: bool) -> str:
    css_class = "ok" if ok else "fail"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1 class={css_class}>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        "</body></html>"
    )


def response(
    status: int,
    title: str,
    message: str,
    *,
    ok: bool,
    extra_headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway (payload v2) response carrying a result page."""
    result: dict[str, Any] = {
        "statusCode": status,
        "headers": {**SECURITY_HEADERS, **(extra_headers or {})},
        "body": render(title, message, ok=ok),
        "isBase64Encoded": False,
    }
    if cookies:
        result["cookies"] = cookies
    return result
