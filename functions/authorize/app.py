"""/connect/{ticket}: GET shows what the link grants and spends nothing; the admin's POST spends
the one-time ticket and sends the browser to the store's consent page.

Why a GET page and a POST: chat apps, mail scanners and link previews open links before the admin
does. Only a form submission, which none of them makes, may spend the ticket. HEAD (or any method
but POST) is answered like GET: read only.

Cross-site requests: the POST needs no cookie and carries no ambient authority; its credential is
the unguessable ticket in the URL, which another site does not have (the pages send no referrer).
A site that holds a ticket (its own) could only send a browser to a store's consent page, where
the store's admin still signs in and approves; the link itself does as much. Still, a POST that a
browser marks as coming from another site (Sec-Fetch-Site: cross-site or same-site) is refused
before anything is read or spent, so the admin always sees this page first. Origin is not
checked: with Referrer-Policy no-referrer, browsers send `Origin: null` on the page's own POST.
The `__Host-` cookie the POST's answer sets (SameSite=Lax) is what the callback checks.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import settings
from cartconnect.cold_start import imports_done
from cartconnect.http import failures, flow_pages, pages
from cartconnect.observability import logger
from cartconnect.usecases.authorization.flow import FlowRefused
from cartconnect.usecases.authorization.redirect import preview, start

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("authorize", "TABLE_NAME", "KMS_KEY_ID")

# Sec-Fetch-Site values of a request the page's own form makes ("none": typed or bookmarked).
_OWN_REQUESTS = frozenset({"same-origin", "none"})


def _refused_cross_site(event: dict[str, Any]) -> bool:
    site = (event.get("headers") or {}).get("sec-fetch-site")
    return site is not None and site.strip().lower() not in _OWN_REQUESTS


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ticket = (event.get("pathParameters") or {}).get("ticket", "")
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET").upper()
    try:
        if method != "POST":
            grant = preview(ticket)
            return pages.grant_response(grant.store_host, grant.store_origin, grant.client_id, grant.scopes)
        if _refused_cross_site(event):
            logger.info("authorize refused a cross-site POST")
            return flow_pages.cross_site_post()
        # The form's body (urlencoded, usually empty) carries nothing the flow needs: not read.
        redirect = start(ticket)
    except FlowRefused as refused:
        return flow_pages.refused(refused)
    except Exception as error:
        return flow_pages.link_failed(failures.unexpected(error, "authorize failed"))
    # 303: the browser follows with a GET, whatever the form's method was.
    return {
        "statusCode": 303,
        "headers": {"Location": redirect.location, **pages.SECURITY_HEADERS},
        "cookies": [redirect.cookie],
        "body": "",
    }


imports_done()
