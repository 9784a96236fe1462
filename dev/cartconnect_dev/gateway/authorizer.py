"""API Gateway's HTTP API JWT authorizer: a route with one answers 401 (or 403 for a missing scope)
without invoking its function when the request's token does not verify."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cartconnect_dev.gateway.events import query_parameters
from cartconnect_dev.gateway.messages import HttpRequest, HttpResponse, message


@dataclass
class AuthResult:
    claims: dict[str, Any] | None = None
    scopes: list[str] | None = None
    denied: HttpResponse | None = None


class JwtAuthorizer:
    """API Gateway's HTTP API JWT authorizer: RS256, iss, aud (or client_id), exp, nbf, iat."""

    def __init__(
        self,
        issuer: str,
        audiences: Sequence[str],
        keys: KeySet | Callable[[], KeySet],
        *,
        identity_source: str = "$request.header.Authorization",
        leeway: int = 5,
    ) -> None:
        self.issuer = issuer
        self.audiences = [a for a in audiences if a]
        self._keys = keys
        self.identity_source = identity_source
        self.leeway = leeway

    def _identity(self, request: HttpRequest) -> str | None:
        source = self.identity_source.split(",")[0].strip()
        if source.startswith("$request.header."):
            return request.header(source.removeprefix("$request.header."))
        if source.startswith("$request.querystring."):
            return query_parameters(request.query).get(source.removeprefix("$request.querystring."))
        return None

    def authorize(self, request: HttpRequest, required_scopes: Sequence[str] = ()) -> AuthResult:
        identity = self._identity(request)
        if not identity or not identity.strip():
            return AuthResult(denied=message(401, "Unauthorized", [("www-authenticate", "Bearer")]))
        token = identity.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            claims = self.verify(token)
        except InvalidTokenError as exc:
            challenge = f'Bearer scope="" error="invalid_token" error_description="{exc}"'
            return AuthResult(denied=message(401, "Unauthorized", [("www-authenticate", challenge)]))
        scope_claim = claims.get("scope", claims.get("scp"))
        if isinstance(scope_claim, str):
            scopes: list[str] | None = scope_claim.split()
        elif isinstance(scope_claim, list):
            scopes = [str(s) for s in scope_claim]
        else:
            scopes = None
        if required_scopes and not set(required_scopes) & set(scopes or []):
            wanted = " ".join(required_scopes)
            challenge = (
                f'Bearer scope="{wanted}" error="insufficient_scope" '
                f'error_description="expected scopes: [{wanted}]"'
            )
            return AuthResult(denied=message(403, "Forbidden", [("www-authenticate", challenge)]))
        return AuthResult(claims=claims, scopes=scopes)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidTokenError saying why it is refused."""
        keys = self._keys() if callable(self._keys) else self._keys
        try:
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        except JoseError as exc:
            description = re.sub(r'[^\x20-\x7e]|"', "'", f"{exc.error}: {exc.description or 'invalid token'}")
            raise InvalidTokenError(description) from exc
        except Exception as exc:  # whatever else a garbage token triggers, it is refused
            raise InvalidTokenError("the token is malformed") from exc
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError("the token has an invalid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not set(map(str, audiences)) & set(self.audiences):
            raise InvalidTokenError("the token has an invalid audience")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidTokenError("the token has no expiry")
        if exp + self.leeway < now:
            raise InvalidTokenError("the token has expired")
        for claim in ("nbf", "iat"):
            value = claims.get(claim)
            if isinstance(value, int | float) and value - self.leeway > now:
                raise InvalidTokenError(f"the token is not valid yet ({claim})")
        return claims


class InvalidTokenError(Exception):
    pass
