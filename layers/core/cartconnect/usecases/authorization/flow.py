"""What the steps of the authorization flow share: lifetimes, where the state rides, the
browser-binding cookie, and how a step refuses (a reason; the page layer, http/flow_pages, says
it with a status and words)."""

from __future__ import annotations

from enum import StrEnum

from cartconnect import credentials
from cartconnect.provider.signing import canonical_redirect_uri

LINK_LIFETIME_SECONDS = 600
STATE_LIFETIME_SECONDS = 600
# The state rides inside the redirect URI (as the provider's own examples carry their data) and
# as `state`: stores that drop unknown parameters still return the redirect URI intact.
STATE_IN_REDIRECT = "cc_state"
COOKIE_PREFIX = "__Host-cc_auth_"


class Refusal(StrEnum):
    """Why a step refused. `FlowRefused.detail` adds data to some (a field name, the store's words)."""

    # The link (authorize)
    LINK_MALFORMED = "link_malformed"
    LINK_USED = "link_used"
    LINK_EXPIRED = "link_expired"
    LINK_REPLACED = "link_replaced"
    LINK_CONNECTION_GONE = "link_connection_gone"
    LINK_NO_ICLIENT = "link_no_iclient"
    STORE_HOST_NOT_ALLOWED = "store_host_not_allowed"
    # The store's answer (callback), before the state is spent
    ANSWER_WITHOUT_STATE = "answer_without_state"
    ANSWER_STATES_DIFFER = "answer_states_differ"
    ANSWER_STATE_MALFORMED = "answer_state_malformed"
    ANSWER_REPEATS = "answer_repeats"  # detail: the parameter
    ANSWER_INCOMPLETE = "answer_incomplete"  # detail: the parameter
    ANSWER_VALUE_MALFORMED = "answer_value_malformed"  # detail: the parameter
    # The state
    STATE_UNKNOWN = "state_unknown"
    STATE_EXPIRED = "state_expired"
    OTHER_BROWSER = "other_browser"
    STATE_SPENT = "state_spent"
    # After the state is spent
    CONNECTION_GONE = "connection_gone"
    CONNECTION_CHANGED = "connection_changed"
    ICLIENT_GONE = "iclient_gone"
    ICLIENT_SECRET_GONE = "iclient_secret_gone"
    SECRET_STORE_UNAVAILABLE = "secret_store_unavailable"
    STORE_DENIED = "store_denied"  # detail: what the store answered
    GRANT_REFUSED = "grant_refused"  # detail: the store's refusal
    EXCHANGE_FAILED = "exchange_failed"  # detail: what went wrong
    CHANGED_DURING_EXCHANGE = "changed_during_exchange"


class FlowRefused(Exception):
    """A step of the flow refused the request.

    `ended_cookie` names the attempt's browser-binding cookie when the refusal ended the attempt
    (its state is spent or gone), so the page can clear it; None while the state is still live.
    """

    def __init__(
        self, reason: Refusal, detail: str | None = None, *, ended_cookie: str | None = None
    ) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.detail = detail
        self.ended_cookie = ended_cookie

    def ending(self, cookie: str) -> FlowRefused:
        return FlowRefused(self.reason, self.detail, ended_cookie=cookie)


def cookie_name(state: str) -> str:
    # One cookie per attempt, so two tabs authorizing two connections do not overwrite each other.
    return f"{COOKIE_PREFIX}{credentials.digest(state)[:16]}"


def attempt_cookie(name: str, value: str, max_age: int) -> str:
    # __Host-: Secure, Path=/ and no Domain, or the browser drops it.
    return f"{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax"


def expired_cookie(name: str) -> str:
    """The Set-Cookie value that removes an attempt's cookie once the attempt is over."""
    return attempt_cookie(name, "", 0)


def redirect_uri_for(callback_url: str, state: str) -> str:
    """The exact redirect URI sent for an attempt, rebuilt from what the STATE item keeps (the
    callback URL, never the state) and the state the callback presents. Canonical form (every query
    value percent-encoded, nothing safe): what the store signs."""
    return canonical_redirect_uri(callback_url, [(STATE_IN_REDIRECT, state)])
