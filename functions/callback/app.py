"""GET /oauth2/callback: the store returns the admin's browser here with auth_id and code, or an error."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.utilities.typing import LambdaContext

from cartconnect import settings
from cartconnect.cold_start import imports_done
from cartconnect.http import failures, flow_pages
from cartconnect.observability import logger
from cartconnect.usecases.authorization.callback import complete
from cartconnect.usecases.authorization.flow import FlowRefused

# The variables this function's work needs: a missing one fails the cold start, naming it.
settings.require("callback", "TABLE_NAME", "KMS_KEY_ID", "EVENT_BUS_NAME")


def _cookies(event: dict[str, Any]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for cookie in event.get("cookies") or []:
        name, _, value = cookie.strip().partition("=")
        jar.setdefault(name, value)
    return jar


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # parse_qs keeps repeats, so a state given twice with two values is caught, not silently picked.
    try:
        query = parse_qs(event.get("rawQueryString") or "", keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return flow_pages.too_many_parameters()
    try:
        outcome = complete(query, _cookies(event))
    except FlowRefused as refused:
        return flow_pages.refused(refused)
    except Exception as error:
        return flow_pages.callback_failed(failures.unexpected(error, "callback failed"))
    return flow_pages.authorized(outcome.connection.name, outcome.connection.subdomain, outcome.ended_cookie)


imports_done()
