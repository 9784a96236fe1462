"""Deployment settings, parsed once per process from the environment the template sets."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(alias="TABLE_NAME")
    kms_key_id: str = Field(alias="KMS_KEY_ID")
    secret_prefix: str = Field(default="cartconnect/iclients/", alias="SECRET_PREFIX")
    tenant_claim: str = Field(default="tenant_id", alias="TENANT_CLAIM")
    # Public origin of this deployment (scheme + host), e.g. a custom domain. When empty the
    # origin is taken from the API Gateway request (requestContext.domainName, always https).
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")
    allowed_callback_urls: tuple[str, ...] = Field(default=(), alias="ALLOWED_CALLBACK_URLS")
    allowed_store_suffixes: tuple[str, ...] = Field(
        default=("americommerce.com", "cart.com"), alias="ALLOWED_STORE_SUFFIXES"
    )
    allow_custom_store_domains: bool = Field(default=False, alias="ALLOW_CUSTOM_STORE_DOMAINS")
    # Dev only: host:port pairs the local stack may reach over plain HTTP. The template never sets it.
    insecure_store_hosts: tuple[str, ...] = Field(default=(), alias="CARTCONNECT_INSECURE_STORE_HOSTS")
    event_bus_name: str = Field(default="", alias="EVENT_BUS_NAME")
    refresh_queue_url: str = Field(default="", alias="REFRESH_QUEUE_URL")
    # Token lifecycle (docs/lifecycle.md): refresh this long before expiry; a connection whose refreshes
    # keep failing for longer than the window needs re-authorization.
    refresh_lead_minutes: float = Field(default=15.0, ge=0, alias="REFRESH_LEAD_MINUTES")
    refresh_failure_window_hours: float = Field(default=96.0, gt=0, alias="REFRESH_FAILURE_WINDOW_HOURS")
    # The store's documented call limit (calls per 10 s per store; 50 at most, 5/10/20 on some plans).
    # See docs/decisions/0005-store-rate-limiter.md for how it is enforced across Lambdas.
    store_call_limit: int = Field(default=50, ge=2, alias="STORE_CALL_LIMIT")

    @property
    def refresh_lead(self) -> timedelta:
        return timedelta(minutes=self.refresh_lead_minutes)

    @property
    def refresh_failure_window(self) -> timedelta:
        return timedelta(hours=self.refresh_failure_window_hours)

    @field_validator("allowed_callback_urls", "allowed_store_suffixes", "insecure_store_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value)

    @field_validator("allowed_store_suffixes", "insecure_store_hosts", mode="after")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item.lower().strip(".") for item in value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
