"""What the authorize and callback pages say: each refusal of the flow as a status, a title and a
message. The steps (usecases/authorization) give a reason and, for some, a detail; the words and
the HTTP status live here."""

from __future__ import annotations

from typing import Any

from cartconnect.http import pages
from cartconnect.usecases.authorization.flow import FlowRefused, Refusal, expired_cookie

_NOT_VALID = "This authorization answer is not valid"
_COMPLETED = "This authorization was already completed"
_NOT_COMPLETED = "The store did not complete the authorization"
_CHANGED = "This connection changed"

# reason: (status, title, message); "{detail}" is the refusal's detail, escaped with the page.
_SAID: dict[Refusal, tuple[int, str, str]] = {
    Refusal.LINK_MALFORMED: (400, "This link is not valid", "Check that the whole link was copied."),
    Refusal.LINK_USED: (410, "This link was already used", "Ask for a new authorization link."),
    Refusal.LINK_EXPIRED: (
        410,
        "This link has expired",
        "Links are valid for 10 minutes. Ask for a new one.",
    ),
    Refusal.LINK_CONNECTION_GONE: (
        410,
        "This connection no longer exists",
        "It was deleted after the link was made.",
    ),
    Refusal.LINK_REPLACED: (410, "This link was replaced", "A newer link was issued for this connection."),
    Refusal.LINK_NO_ICLIENT: (
        410,
        "This connection has no OAuth client",
        "Set its iClient, then ask for a new link.",
    ),
    Refusal.STORE_HOST_NOT_ALLOWED: (
        409,
        "This store host is not allowed here",
        "This deployment no longer accepts the connection's store host. Change it, then ask for a new link.",
    ),
    Refusal.ANSWER_WITHOUT_STATE: (400, _NOT_VALID, "It carries no state. Start again."),
    Refusal.ANSWER_STATES_DIFFER: (400, _NOT_VALID, "Its state values do not match."),
    Refusal.ANSWER_STATE_MALFORMED: (400, _NOT_VALID, "Its state is malformed."),
    Refusal.ANSWER_REPEATS: (400, _NOT_VALID, "It repeats {detail}."),
    Refusal.ANSWER_INCOMPLETE: (400, "The store's answer is incomplete", "It had no {detail}. Start again."),
    Refusal.ANSWER_VALUE_MALFORMED: (400, _NOT_VALID, "Its {detail} is malformed."),
    Refusal.STATE_UNKNOWN: (400, _COMPLETED, "Or it never started here."),
    Refusal.STATE_EXPIRED: (410, "This authorization has expired", "Ask for a new authorization link."),
    Refusal.OTHER_BROWSER: (
        400,
        "This authorization was started in another browser",
        "Open the authorization link in this browser and approve again.",
    ),
    Refusal.STATE_SPENT: (400, _COMPLETED, "Its answer can be used once."),
    Refusal.CONNECTION_GONE: (
        410,
        "This connection no longer exists",
        "It was deleted during the authorization.",
    ),
    Refusal.CONNECTION_CHANGED: (
        409,
        _CHANGED,
        "Its store, app, scopes or callback changed. Ask for a new link.",
    ),
    Refusal.ICLIENT_GONE: (410, "This connection's OAuth client is gone", "Ask for a new link."),
    Refusal.ICLIENT_SECRET_GONE: (
        410,
        "This connection's OAuth client has no secret",
        "Set its secret again, then ask for a new link.",
    ),
    Refusal.SECRET_STORE_UNAVAILABLE: (
        503,
        "The authorization could not be completed",
        "Please try again: ask for a new link.",
    ),
    Refusal.STORE_DENIED: (400, "The store did not authorize the connection", "{detail}"),
    Refusal.GRANT_REFUSED: (400, _NOT_COMPLETED, "{detail}"),
    Refusal.EXCHANGE_FAILED: (502, _NOT_COMPLETED, "{detail}"),
    Refusal.CHANGED_DURING_EXCHANGE: (
        409,
        _CHANGED,
        "It was changed or deleted during the authorization. Ask for a new link.",
    ),
}


def _cleared(cookie: str | None) -> list[str] | None:
    # The attempt is over: its cookie has nothing left to bind. A state still live keeps it.
    return [expired_cookie(cookie)] if cookie else None


def refused(refusal: FlowRefused) -> dict[str, Any]:
    status, title, message = _SAID[refusal.reason]
    text = message.replace("{detail}", refusal.detail or "")
    return pages.response(status, title, text, ok=False, cookies=_cleared(refusal.ended_cookie))


def authorized(name: str, store_host: str, ended_cookie: str) -> dict[str, Any]:
    return pages.response(
        200,
        "Connection authorized",
        f"{name} is connected to {store_host}. You can close this window.",
        ok=True,
        cookies=_cleared(ended_cookie),
    )


def cross_site_post() -> dict[str, Any]:
    return pages.response(
        403, "Open the link itself", "Open the authorization link in your browser to continue.", ok=False
    )


def too_many_parameters() -> dict[str, Any]:
    return pages.response(400, _NOT_VALID, "It has too many parameters.", ok=False)


def _unavailable(retry_after_seconds: int, title: str, message: str) -> dict[str, Any]:
    extra_headers = {"Retry-After": str(retry_after_seconds)}
    return pages.response(503, title, message, ok=False, extra_headers=extra_headers)


# The answers to a failure no refusal names (http/failures.unexpected gives the Retry-After): an AWS
# call that may pass is 503 with Retry-After, anything else 500. Neither clears the attempt's cookie:
# a state not yet spent may still be completed.
def link_failed(retry_after_seconds: int | None) -> dict[str, Any]:
    if retry_after_seconds is not None:
        # Opening the link spends nothing; a POST that spent it is told so on the next try.
        return _unavailable(retry_after_seconds, "Please try again", "Try the link again in a few seconds.")
    return pages.response(500, "Something went wrong", "Try the link again in a minute.", ok=False)


def callback_failed(retry_after_seconds: int | None) -> dict[str, Any]:
    if retry_after_seconds is not None:
        # What the page says when the secret store does not answer.
        _, title, message = _SAID[Refusal.SECRET_STORE_UNAVAILABLE]
        return _unavailable(retry_after_seconds, title, message)
    return pages.response(
        500, "Something went wrong", "The connection was not authorized. Ask for a new link.", ok=False
    )
