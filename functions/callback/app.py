"""GET /oauth2/callback: the store returns the admin's browser here with auth_id and code, or an error."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect.cold_start import imports_done
from cartconnect.http import pages
from cartconnect.observability import logger
from cartconnect.usecases.authorization import complete
from cartconnect.usecases.authorize_redirect import FlowRefused, expired_cookie


def _cookies(event: dict[str, Any]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for cookie in event.get("cookies") or []:
        name, _, value = cookie.strip().partition("=")
        jar.setdefault(name, value)
    return jar


def _cleared(cookie: str | None) -> list[str] | None:
    # The attempt is over: its cookie has nothing left to bind. A state still live keeps it.
    return [expired_cookie(cookie)] if cookie else None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # parse_qs keeps repeats, so a state given twice with two values is caught, not silently picked.
    try:
        query = parse_qs(event.get("rawQueryString") or "", keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return pages.response(
            400, "This authorization answer is not valid", "It has too many parameters.", ok=False
        )
    try:
        outcome = complete(query, _cookies(event))
    except FlowRefused as refused:
        return pages.response(
            refused.status, refused.title, refused.message, ok=False, cookies=_cleared(refused.ended_cookie)
        )
    except Exception:
        logger.exception("callback failed")
        return pages.response(
            500, "Something went wrong", "The connection was not authorized. Ask for a new link.", ok=False
        )
    return pages.response(
        200,
        "Connection authorized",
        f"{outcome.connection.name} is connected to {outcome.connection.subdomain}. You can close this window.",
        ok=True,
        cookies=_cleared(outcome.ended_cookie),
    )


imports_done()
