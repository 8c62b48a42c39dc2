"""Who is calling: OAuth2 client credentials (signed JWTs), API keys, roles and their regions.

Roles:
- federal: reads every region (and manages credentials);
- regional_admin: reads and writes its own regions, the directory included, and manages their credentials;
- official: reads its region, acts on the incidents assigned to it;
- integration: read-only (lists, detail, SSE, webhooks) in its regions.

Secrets are never stored: client secrets as scrypt hashes, API keys as SHA-256 (they are 256-bit
random values, so a fast hash is safe and keeps per-request checks cheap). Role and regions are read
from the database on every request, so a revocation or a demotion applies at once, even to tokens
already issued.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi import HTTPException
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.config import Settings
from api_gateway.models import ApiClient, ApiKey, RevokedToken
from incidents_common.identity import ActingUser
from incidents_common.problems import Forbidden, InvalidInput, NotFound
from incidents_common.regions import REGIONS


class Role(StrEnum):
    federal = "federal"
    regional_admin = "regional_admin"
    official = "official"
    integration = "integration"


WRITE_ROLES = {Role.regional_admin, Role.official}
KEY_PREFIX = "gwk_"
log = logging.getLogger("api_gateway.auth")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `regions` is None for federal (every region)."""

    subject: str
    name: str
    role: Role
    regions: frozenset[str] | None
    official_id: str | None = None
    # Set for an OAuth2 access token: its id (jti) and expiry (Unix seconds). Long-lived requests
    # (SSE) end when the token expires or is revoked.
    token_id: str | None = None
    expires_at: float | None = None

    def can_see(self, region_code: str) -> bool:
        return self.regions is None or region_code in self.regions

    def visible(self, requested: list[str] | None) -> list[str] | None:
        """The regions a query may touch: the caller's, narrowed by what it asked for."""
        if self.regions is None:
            return requested or None
        if not requested:
            return sorted(self.regions)
        return [r for r in requested if r in self.regions]

    @property
    def actor(self) -> str:
        return self.official_id or self.subject

    def acting(self) -> ActingUser:
        """This caller as the user the gateway acts for in calls to routing and the collector."""
        return ActingUser(
            subject=self.subject, role=self.role.value, regions=self.regions, official_id=self.official_id
        )


class AuthError(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": 'Bearer realm="incidents"'})


# ---------------------------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------------------------


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32)
    return hmac.compare_digest(digest.hex(), digest_hex)


def hash_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# The scrypt hash of a random secret nobody knows. An unknown client id is checked against it, so that
# it costs exactly what a known id costs (one scrypt) and timing does not tell which ids exist.
_DUMMY_SALT = "5ef484ec4e4ab9db23b05c6096f77b61"
_DUMMY_DIGEST = "7e0b8bb19641d1698b83cb044a942ac25af18b65c304abd4488b3fd134cee1f4"
DUMMY_SECRET_HASH = f"scrypt${_DUMMY_SALT}${_DUMMY_DIGEST}"


# ---------------------------------------------------------------------------------------------
# Signing
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Resolving a caller
# ---------------------------------------------------------------------------------------------


def principal_of(subject: str, name: str, role: str, regions: list[str] | None, official_id: str | None) -> Principal:
    parsed = Role(role)
    return Principal(
        subject=subject,
        name=name,
        role=parsed,
        regions=None if parsed is Role.federal else frozenset(regions or []),
        official_id=official_id,
    )


async def principal_from_key(session: AsyncSession, value: str) -> Principal:
    key = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(value)))).first()
    if key is None or key.revoked_at is not None:
        raise AuthError("unknown or revoked API key")
    return principal_of(f"key:{key.key_id}", key.name, key.role, key.regions, key.official_id)


async def principal_from_token(session: AsyncSession, signer: TokenSigner, token: str) -> Principal:
    claims = signer.verify(token)
    if await session.get(RevokedToken, str(claims["jti"])) is not None:
        raise AuthError("token revoked")
    client = await session.get(ApiClient, str(claims["sub"]))
    if client is None or not client.active:
        raise AuthError("client revoked")
    principal = principal_of(f"client:{client.client_id}", client.name, client.role, client.regions, client.official_id)
    return dataclasses.replace(principal, token_id=str(claims["jti"]), expires_at=float(claims["exp"]))


async def authenticate(session: AsyncSession, signer: TokenSigner, credential: str) -> Principal:
    if credential.count(".") == 2 and not credential.startswith(KEY_PREFIX):
        try:
            return await principal_from_token(session, signer, credential)
        except AuthError:
            # A chosen key (GATEWAY_DEMO_API_KEY) may look like a JWT: it is a key if one matches.
            key = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(credential)))).first()
            if key is None:
                raise
    return await principal_from_key(session, credential)


# ---------------------------------------------------------------------------------------------
# Managing credentials (admin endpoints and CLI)
# ---------------------------------------------------------------------------------------------


def check_grant(granter: Principal | None, role: Role, regions: list[str], official_id: str | None) -> list[str] | None:
    """Validate a requested credential; `granter` None means the local admin CLI (trusted).

    Nobody can hand out more than they hold: a regional admin grants only non-federal roles
    within its own regions; only federal callers (or the CLI) create federal credentials.
    """
    unknown = [r for r in regions if r not in REGIONS]
    if unknown:
        raise InvalidInput(f"unknown region codes: {', '.join(unknown)}")
    if role is Role.federal:
        if regions:
            raise InvalidInput("a federal credential covers every region; give no regions")
    elif not regions:
        raise InvalidInput(f"role {role} needs at least one region")
    if role is Role.official and not official_id:
        raise InvalidInput("role official needs official_id")
    if granter is not None:
        if granter.role not in (Role.federal, Role.regional_admin):
            raise Forbidden("only federal and regional_admin callers manage credentials")
        if granter.role is Role.regional_admin:
            if role is Role.federal:
                raise Forbidden("a regional admin cannot grant the federal role")
            outside = [r for r in regions if not granter.can_see(r)]
            if outside:
                raise Forbidden(f"regions outside your own: {', '.join(outside)}")
    return None if role is Role.federal else sorted(set(regions))


def _visible_to(granter: Principal | None, role: str, regions: list[str] | None) -> bool:
    if granter is None or granter.role is Role.federal:
        return True
    if granter.role is not Role.regional_admin or role == Role.federal:
        return False
    return bool(regions) and all(granter.can_see(r) for r in regions or [])


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    regions: list[str],
    official_id: str | None = None,
    granter: Principal | None = None,
) -> tuple[ApiClient, str]:
    stored_regions = check_grant(granter, role, regions, official_id)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=f"cl_{secrets.token_hex(8)}",
        name=name,
        secret_hash=hash_secret(secret),
        role=role,
        regions=stored_regions,
        official_id=official_id,
        created_by=granter.subject if granter else "cli",
    )
    session.add(client)
    return client, secret


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    regions: list[str],
    official_id: str | None = None,
    granter: Principal | None = None,
    value: str | None = None,
) -> tuple[ApiKey, str]:
    stored_regions = check_grant(granter, role, regions, official_id)
    key_id = f"key_{secrets.token_hex(6)}"
    value = value or f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"
    key = ApiKey(
        key_id=key_id,
        key_hash=hash_key(value),
        name=name,
        role=role,
        regions=stored_regions,
        official_id=official_id,
        created_by=granter.subject if granter else "cli",
    )
    session.add(key)
    return key, value


async def list_clients(session: AsyncSession, granter: Principal | None) -> list[ApiClient]:
    rows = (await session.exec(select(ApiClient).order_by(ApiClient.created_at))).all()  # type: ignore[arg-type]
    return [c for c in rows if _visible_to(granter, c.role, c.regions)]


async def list_keys(session: AsyncSession, granter: Principal | None) -> list[ApiKey]:
    rows = (await session.exec(select(ApiKey).order_by(ApiKey.created_at))).all()  # type: ignore[arg-type]
    return [k for k in rows if _visible_to(granter, k.role, k.regions)]


async def revoke_key(session: AsyncSession, key_id: str, granter: Principal | None = None) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or not _visible_to(granter, key.role, key.regions):
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        session.add(key)
    return key


async def revoke_client(session: AsyncSession, client_id: str, granter: Principal | None = None) -> ApiClient:
    client = await session.get(ApiClient, client_id)
    if client is None or not _visible_to(granter, client.role, client.regions):
        raise NotFound(f"no client {client_id}")
    if client.active:
        client.active = False
        client.revoked_at = datetime.now(UTC)
        session.add(client)
    return client


async def issue_token(
    session: AsyncSession, signer: TokenSigner, *, client_id: str, client_secret: str
) -> tuple[str, int, ApiClient]:
    client = await session.get(ApiClient, client_id)
    # Exactly one scrypt whether the id exists or not, so timing does not reveal which client ids exist.
    stored = client.secret_hash if client else DUMMY_SECRET_HASH
    valid = verify_secret(client_secret, stored)
    if client is None or not valid or not client.active:
        raise AuthError("invalid client credentials")
    token, ttl = signer.issue(client)
    return token, ttl, client


async def revoke_token(session: AsyncSession, signer: TokenSigner, token: str) -> None:
    """RFC 7009: revoking an invalid token is not an error."""
    try:
        claims = signer.verify(token)
    except HTTPException:
        return
    jti = str(claims["jti"])
    # Rows of tokens that have expired anyway are no longer needed.
    await session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) < datetime.now(UTC)))  # type: ignore[call-overload]
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC)))


async def ensure_demo_key(session: AsyncSession, value: str) -> None:
    """The one-command run's federal key: created once with exactly `value`. A key an operator revoked
    (or changed) stays as the operator left it: a restart neither un-revokes nor re-creates it."""
    existing = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(value)))).first()
    if existing is not None:
        if existing.revoked_at is not None:
            log.warning("GATEWAY_DEMO_API_KEY names a revoked key: it stays revoked", extra={"key_id": existing.key_id})
        return
    await create_key(session, name="demo (GATEWAY_DEMO_API_KEY)", role=Role.federal, regions=[], value=value)
