"""Deployment settings, parsed once per process from the environment the template sets."""

from __future__ import annotations

import os
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
