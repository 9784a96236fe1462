"""A local OIDC-ish token issuer for dev tokens.

The RSA key lives in `.cartconnect-dev/jwt-key.pem` under the project root (created on first use,
gitignored), so `cartconnect-dev token` run in another terminal signs tokens that the running
local stack accepts. The issuer URL is `http://127.0.0.1:{PORT}/_local/issuer`, where PORT is the
gateway's port; the gateway serves its discovery document and JWKS there.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from cartconnect_dev.template import TemplateError, load_template, project_root

AUDIENCE = "cartconnect-local"
DEFAULT_PORT = 3000  # the local API's (the stack's gateway), which serves the issuer too
ISSUER_PATH = "/_local/issuer"
STATE_DIR_NAME = ".cartconnect-dev"
KEY_FILE_NAME = "jwt-key.pem"
DEFAULT_TENANT_CLAIM = "tenant_id"


def state_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / STATE_DIR_NAME


def issuer_url(port: int | None = None) -> str:
    port = port if port is not None else int(os.environ.get("PORT", DEFAULT_PORT))
    return f"http://127.0.0.1:{port}{ISSUER_PATH}"


def template_tenant_claim() -> str:
    """The Default of the template's TenantClaim parameter (the claim that names the tenant)."""
    try:
        spec = load_template().parameters.get("TenantClaim") or {}
    except TemplateError:
        return DEFAULT_TENANT_CLAIM
    return str(spec.get("Default", DEFAULT_TENANT_CLAIM))


def load_or_create_key(path: Path) -> RSAKey:
    """Read the PEM key at `path`, or create it. Safe when two processes race to create it."""
    try:
        return RSAKey.import_key(path.read_bytes())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, private=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.as_pem(private=True))
        try:
            os.link(temporary, path)  # atomic, and fails if another process won the race
        except FileExistsError:
            return RSAKey.import_key(path.read_bytes())
    finally:
        temporary.unlink(missing_ok=True)
    return key


class LocalIssuer:
    """Signs RS256 JWTs like an OIDC provider and publishes the matching JWKS."""

    def __init__(
        self,
        issuer: str | None = None,
        *,
        key_path: Path | None = None,
        audience: str = AUDIENCE,
        tenant_claim: str | None = None,
    ) -> None:
        self.issuer = issuer or issuer_url()
        self.key_path = key_path or state_dir() / KEY_FILE_NAME
        self.audience = audience
        self.tenant_claim = tenant_claim or template_tenant_claim()
        self._key = load_or_create_key(self.key_path)
        self.kid = self._key.thumbprint()

    def issue_token(
        self,
        tenant: str,
        *,
        audience: str | list[str] | None = None,
        expires_in: int = 3600,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed token for `tenant`. `extra_claims` are applied last (they may override any claim)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience if audience is not None else self.audience,
            "sub": f"local-user@{tenant}",
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            self.tenant_claim: tenant,
        }
        claims.update(extra_claims or {})
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=["RS256"])

    def public_key_set(self) -> KeySet:
        public = RSAKey.import_key(self._key.as_dict(private=False))
        public.ensure_kid()  # the thumbprint, same as self.kid
        return KeySet([public])

    def jwks(self) -> dict[str, Any]:
        key = self._key.as_dict(private=False)
        key.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [key]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", self.tenant_claim],
        }


def issue_token(
    tenant: str,
    *,
    audience: str | list[str] = AUDIENCE,
    expires_in: int = 3600,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A token from the default local issuer (project key, port $PORT or 3000, template's tenant claim)."""
    return LocalIssuer().issue_token(
        tenant, audience=audience, expires_in=expires_in, extra_claims=extra_claims
    )


def jwks() -> dict[str, Any]:
    """The default local issuer's JWKS."""
    return LocalIssuer().jwks()
