"""What a handler needs from the API Gateway request besides its body: the tenant and the public origin."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cartconnect.errors import Forbidden
from cartconnect.settings import get_settings

if TYPE_CHECKING:  # annotations only: the store proxy reads its raw event without the data classes
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

MAX_TENANT_LENGTH = 128
# Besides letters and digits (any script), a tenant id may hold these; it starts with a letter or
# digit. No spaces, brackets, angle brackets, quotes, control or format characters: API Gateway
# renders a claim that is not a string as text (null as `<nil>`, a list as `[a b]`, an object as
# `map[a:b]`, a boolean as `true`), and none of those may become a tenant that many tokens share.
TENANT_PUNCTUATION = frozenset("._:@+=/~-|#")
_RENDERED_BOOLEANS = frozenset({"true", "false"})


def is_valid_tenant(tenant: str) -> bool:
    return (
        0 < len(tenant) <= MAX_TENANT_LENGTH
        and tenant.lower() not in _RENDERED_BOOLEANS
        and _is_letter_or_digit(tenant[0])
        and all(_is_letter_or_digit(char) or char in TENANT_PUNCTUATION for char in tenant)
    )


def _is_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def tenant_of(event: APIGatewayProxyEventV2) -> str:
    """The tenant named by the verified JWT's tenant claim; never anything from the request itself."""
    return tenant_from_claims(event.request_context.authorizer.jwt_claim or {})


def tenant_from_claims(claims: Mapping[str, Any]) -> str:
    """The tenant of the verified JWT's claims (API Gateway's authorizer.jwt.claims)."""
    claim = get_settings().tenant_claim
    tenant = claims.get(claim)
    if not isinstance(tenant, str) or not tenant.strip():
        raise Forbidden(f"the access token carries no {claim!r} claim naming a tenant")
    if not is_valid_tenant(tenant):
        raise Forbidden(
            f"the access token's {claim!r} claim is not a valid tenant id: at most {MAX_TENANT_LENGTH} "
            f"letters, digits and {''.join(sorted(TENANT_PUNCTUATION))}, starting with a letter or digit"
        )
    return tenant


def origin_of(event: APIGatewayProxyEventV2) -> str:
    """This deployment's public origin: the configured custom domain, or the API's own https domain."""
    return origin_for(event.request_context.domain_name)


def origin_for(domain_name: str) -> str:
    """The public origin, given the domain name the request came in on (requestContext.domainName)."""
    configured = get_settings().public_base_url
    if configured:
        return configured.rstrip("/")
    return f"https://{domain_name}"
