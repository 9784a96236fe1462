"""Deployment settings, parsed once per process from the environment the template sets.

A plain dataclass, not a pydantic model: the refresh functions and the authorization flow need
nothing else from pydantic, and importing it costs every cold start ~50 ms.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache


class SettingsError(ValueError):
    """A variable the template sets is missing or malformed."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _hosts(value: str) -> tuple[str, ...]:
    return tuple(item.lower().strip(".") for item in _csv(value))


def _bool(name: str, value: str | None, *, default: bool) -> bool:
    lowered = (value or "").strip().lower()
    if not lowered:
        return default
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _number(
    name: str,
    value: str,
    kind: type[float] | type[int],
    *,
    minimum: float,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if number < minimum or (strict and number == minimum):
        raise SettingsError(f"{name} must be {'>' if strict else '>='} {minimum}")
    if maximum is not None and number > maximum:
        raise SettingsError(f"{name} must be <= {maximum}")
    return number


MAX_SQS_DELAY_SECONDS = 900
MAX_SPREAD_PERCENT = 90
_RATE = re.compile(r"rate\((?P<count>[1-9][0-9]*) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate_seconds(name: str, value: str) -> int:
    """An EventBridge rate expression ("rate(5 minutes)") in seconds; empty: 0."""
    if not value.strip():
        return 0
    match = _RATE.fullmatch(value.strip())
    if match is None:
        raise SettingsError(f"{name} must be a rate expression such as rate(5 minutes), not {value!r}")
    return int(match["count"]) * _UNIT_SECONDS[match["unit"].rstrip("s")]


@dataclass(frozen=True)
class Settings:
    table_name: str
    kms_key_id: str
    # Every iClient secret's name starts with this (template: cartconnect/<stack>/iclients/); the
    # roles may touch only secrets under it. Needed only where secrets are created.
    secret_prefix: str = ""
    tenant_claim: str = "tenant_id"
    # Public origin of this deployment (scheme + host), e.g. a custom domain. When empty the
    # origin is taken from the API Gateway request (requestContext.domainName, always https).
    public_base_url: str = ""
    allowed_callback_urls: tuple[str, ...] = ()
    allowed_store_suffixes: tuple[str, ...] = ("americommerce.com", "cart.com")
    # Stores are reached on their own domains (www.brand.com) as often as on the provider's: allowed unless
    # the deployment restricts hosts to allowed_store_suffixes (template: AllowCustomStoreDomains=false).
    # Every host, custom or not, must resolve to public addresses only, checked right before connecting.
    allow_custom_store_domains: bool = True
    # Dev only: host:port pairs the local stack may reach over plain HTTP. The template never sets it.
    insecure_store_hosts: tuple[str, ...] = ()
    event_bus_name: str = ""
    refresh_queue_url: str = ""
    # Token lifecycle (docs/lifecycle.md): refresh this long before expiry; a connection whose refreshes
    # keep failing for longer than the window needs re-authorization.
    refresh_lead_minutes: float = 15.0
    refresh_failure_window_hours: float = 96.0
    # Lifetime assumed for a token whose answer carries a refresh token but no (readable) `expires`:
    # the provider documents no lifetime, so refresh on this schedule rather than never.
    default_token_lifetime_minutes: float = 60.0
    # The store's documented call limit (calls per 10 s per store; 50 at most, 5/10/20 on some plans).
    # See docs/decisions/0005-store-rate-limiter.md for how it is enforced across Lambdas.
    store_call_limit: int = 50
    # The scheduler's tick (the template's RefreshScheduleExpression, in seconds; 0: not known) and
    # the share of it over which a tick's refreshes are spread (docs/lifecycle.md, "Spreading").
    refresh_tick_seconds: int = 0
    refresh_spread_percent: float = 0.0

    @property
    def refresh_lead(self) -> timedelta:
        return timedelta(minutes=self.refresh_lead_minutes)

    @property
    def default_token_lifetime(self) -> timedelta:
        return timedelta(minutes=self.default_token_lifetime_minutes)

    @property
    def refresh_failure_window(self) -> timedelta:
        return timedelta(hours=self.refresh_failure_window_hours)

    @property
    def refresh_spread(self) -> timedelta:
        """How long after a tick its refreshes may be held back (SQS delays a message 15 min at most)."""
        seconds = self.refresh_tick_seconds * self.refresh_spread_percent / 100
        return timedelta(seconds=min(seconds, MAX_SQS_DELAY_SECONDS))

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in ("TABLE_NAME", "KMS_KEY_ID") if not env.get(name)]
        if missing:
            raise SettingsError(f"not set: {', '.join(missing)}")
        defaults = cls(table_name="", kms_key_id="")
        return cls(
            table_name=env["TABLE_NAME"],
            kms_key_id=env["KMS_KEY_ID"],
            secret_prefix=env.get("SECRET_PREFIX", ""),
            tenant_claim=env.get("TENANT_CLAIM", defaults.tenant_claim),
            public_base_url=env.get("PUBLIC_BASE_URL", ""),
            allowed_callback_urls=_csv(env.get("ALLOWED_CALLBACK_URLS", "")),
            allowed_store_suffixes=_hosts(env["ALLOWED_STORE_SUFFIXES"])
            if "ALLOWED_STORE_SUFFIXES" in env
            else defaults.allowed_store_suffixes,
            allow_custom_store_domains=_bool(
                "ALLOW_CUSTOM_STORE_DOMAINS",
                env.get("ALLOW_CUSTOM_STORE_DOMAINS"),
                default=defaults.allow_custom_store_domains,
            ),
            insecure_store_hosts=_hosts(env.get("CARTCONNECT_INSECURE_STORE_HOSTS", "")),
            event_bus_name=env.get("EVENT_BUS_NAME", ""),
            refresh_queue_url=env.get("REFRESH_QUEUE_URL", ""),
            refresh_lead_minutes=float(
                _number("REFRESH_LEAD_MINUTES", env.get("REFRESH_LEAD_MINUTES", "15"), float, minimum=0)
            ),
            refresh_failure_window_hours=float(
                _number(
                    "REFRESH_FAILURE_WINDOW_HOURS",
                    env.get("REFRESH_FAILURE_WINDOW_HOURS", "96"),
                    float,
                    minimum=0,
                    strict=True,
                )
            ),
            default_token_lifetime_minutes=float(
                _number(
                    "DEFAULT_TOKEN_LIFETIME_MINUTES",
                    env.get("DEFAULT_TOKEN_LIFETIME_MINUTES", "60"),
                    float,
                    minimum=0,
                    strict=True,
                )
            ),
            store_call_limit=int(
                _number("STORE_CALL_LIMIT", env.get("STORE_CALL_LIMIT", "50"), int, minimum=2)
            ),
            refresh_tick_seconds=_rate_seconds(
                "REFRESH_SCHEDULE_EXPRESSION", env.get("REFRESH_SCHEDULE_EXPRESSION", "")
            ),
            refresh_spread_percent=float(
                # Past 90 % a held message could still wait when the next tick finds it due again.
                _number(
                    "REFRESH_SPREAD_PERCENT",
                    env.get("REFRESH_SPREAD_PERCENT", "0"),
                    float,
                    minimum=0,
                    maximum=MAX_SPREAD_PERCENT,
                )
            ),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment(os.environ)


def require(function: str, *names: str) -> Settings:
    """The settings, checked at `function`'s cold start: every variable in `names` (the ones its
    work needs) must be set, and every variable must parse. A deployment missing one fails the
    start with a message naming it, instead of the first call that needs it failing (a queue URL)
    or only warning (an event bus)."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise SettingsError(f"{function} cannot start: not set: {', '.join(missing)}")
    try:
        return get_settings()
    except SettingsError as error:
        raise SettingsError(f"{function} cannot start: {error}") from None
