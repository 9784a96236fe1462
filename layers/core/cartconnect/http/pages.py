"""The plain HTML pages of the authorize and callback functions: result pages, and the page an
authorize link opens (what is being granted, one button).

No scripts, no third-party assets; a CSP that allows only the one inline stylesheet (by hash);
nothing cached; no referrer leaves the page. All text is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any

from cartconnect.scopes import SCOPES

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}"
    "h1{font-size:1.4rem}.ok{color:#1a7f37}.fail{color:#cf222e}p,li{line-height:1.5}"
    "ul{padding-left:1.2rem}code{font-size:.95em;background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}"
    "button{font:inherit;margin:1rem 0;padding:.6rem 1.2rem;border:0;border-radius:6px;"
    "background:#1f6feb;color:#fff;cursor:pointer}.note{color:#59636e;font-size:.9rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# An origin as hosts.store_base_url makes it: scheme, host, optional port; nothing a CSP could split on.
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?", re.I)


def _csp(form_action: str) -> str:
    return (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        f"form-action {form_action}; frame-ancestors 'none'"
    )


SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": _csp("'none'"),
}
_GRANTS = {scope.name: scope.grants for scope in SCOPES}


def grant_headers(store_origin: str) -> dict[str, str]:
    """The link page's headers: the result pages' ones, with the page's one form allowed.

    form-action governs the submission's redirects too (Chromium blocks a 303 to an origin the
    directive does not list), so it names the store's origin beside 'self': the form may post to
    this URL and be sent on to that store's consent page, nowhere else.
    """
    allowed = "'self'"
    if _ORIGIN.fullmatch(store_origin):
        allowed += f" {store_origin.lower()}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": _csp(allowed)}


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def render(title: str, message: str, *, ok: bool) -> str:
    css_class = "ok" if ok else "fail"
    return _document(title, f"<h1 class={css_class}>{html.escape(title)}</h1><p>{html.escape(message)}</p>")


def render_grant(store_host: str, client_id: str, scopes: tuple[str, ...]) -> str:
    """The page an authorize link opens: what the admin is about to grant, and one button.

    The form has no action attribute: it posts to the page's own URL without the page repeating
    the ticket in its body.
    """
    host, app = html.escape(store_host), html.escape(client_id)
    items = "".join(
        f"<li><code>{html.escape(name)}</code>: {html.escape(_GRANTS.get(name, 'Unknown scope'))}</li>"
        for name in scopes
    )
    return _document(
        "Authorize the store connection",
        f"<h1>Connect the store {host}</h1>"
        f"<p>An integration asks for access to <strong>{host}</strong> through the API app with "
        f"client id <strong>{app}</strong>, with these permissions:</p><ul>{items}</ul>"
        f"<form method=post><button type=submit id=continue>Continue to {host}</button></form>"
        "<p class=note>The store asks you to sign in and approve. This link works once, for 10 "
        "minutes; opening this page has not used it.</p>",
    )


def grant_response(
    store_host: str, store_origin: str, client_id: str, scopes: tuple[str, ...]
) -> dict[str, Any]:
    """An API Gateway (payload v2) response carrying the link's page (200, nothing spent)."""
    return {
        "statusCode": 200,
        "headers": grant_headers(store_origin),
        "body": render_grant(store_host, client_id, scopes),
        "isBase64Encoded": False,
    }


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
