"""OAuth2 access tokens: HS256 JWTs signed with joserfc, with a key configured or generated once."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from api_gateway.auth.models import ApiClient
from api_gateway.auth.principal import AuthError
from api_gateway.config import Settings


def load_signing_secret(settings: Settings) -> str:
    """The configured secret, or one generated once into var/ (kept private to the owner)."""
    if settings.jwt_secret.get_secret_value():
        return settings.jwt_secret.get_secret_value()
    path = settings.jwt_key_file()
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class TokenSigner:
    """Issues and verifies HS256 JWTs with joserfc."""

    def __init__(self, secret: str, *, issuer: str, ttl: int) -> None:
        self.key = OctKey.import_key(secret.encode())
        self.issuer = issuer
        self.ttl = ttl
        self.registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
        )

    def issue(self, client: ApiClient, *, now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": client.client_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.ttl,
            "jti": uuid.uuid4().hex,
            "role": client.role,
            "regions": client.regions or [],
        }
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self.key), self.ttl

    def verify(self, token: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, self.key, algorithms=["HS256"])
            self.registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthError(f"invalid token: {exc.__class__.__name__}") from exc
        return dict(decoded.claims)
