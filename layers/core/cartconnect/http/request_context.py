"""What a handler needs from the API Gateway request besides its body: the tenant and the public origin."""

from __future__ import annotations

import unicodedata

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from cartconnect.errors import Forbidden
from cartconnect.settings import get_settings

MAX_TENANT_LENGTH = 128


def tenant_of(event: APIGatewayProxyEventV2) -> str:
    """The tenant named by the verified JWT's tenant claim; never anything from the request itself."""
    claim = get_settings().tenant_claim
    claims = event.request_context.authorizer.jwt_claim or {}
    tenant = claims.get(claim)
    if not isinstance(tenant, str) or not tenant.strip():
        raise Forbidden(f"the access token carries no {claim!r} claim naming a tenant")
    if len(tenant) > MAX_TENANT_LENGTH or any(unicodedata.category(char) == "Cc" for char in tenant):
        raise Forbidden(f"the access token's {claim!r} claim is not a valid tenant name")
    return tenant


def origin_of(event: APIGatewayProxyEventV2) -> str:
    """This deployment's public origin: the configured custom domain, or the API's own https domain."""
    configured = get_settings().public_base_url
    if configured:
        return configured.rstrip("/")
    return f"https://{event.request_context.domain_name}"
