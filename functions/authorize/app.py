"""GET /connect/{ticket}: spend the one-time link ticket and send the browser to the store's consent page."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect.cold_start import imports_done
from cartconnect.http import pages
from cartconnect.observability import logger
from cartconnect.usecases.authorize_redirect import FlowRefused, start


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ticket = (event.get("pathParameters") or {}).get("ticket", "")
    try:
        redirect = start(ticket)
    except FlowRefused as refused:
        return pages.response(refused.status, refused.title, refused.message, ok=False)
    except Exception:
        logger.exception("authorize failed")
        return pages.response(500, "Something went wrong", "Try the link again in a minute.", ok=False)
    return {
        "statusCode": 302,
        "headers": {"Location": redirect.location, **pages.SECURITY_HEADERS},
        "cookies": [redirect.cookie],
        "body": "",
    }


imports_done()
