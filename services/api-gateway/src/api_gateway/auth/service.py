"""Credentials: resolving a caller from an API key or an access token, and managing keys, clients and
tokens (the admin endpoints and the CLI). Nobody can hand out more than they hold."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import HTTPException
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.hashing import DUMMY_SECRET_HASH, hash_key, hash_secret, verify_secret
from api_gateway.auth.models import ApiClient, ApiKey, RevokedToken
from api_gateway.auth.principal import AuthError, Principal, Role, principal_of
from api_gateway.auth.tokens import TokenSigner
from api_gateway.upstream import Upstream, UpstreamProblem
from incidents_common.problems import Forbidden, InvalidInput, NotFound, ProblemError
from incidents_common.regions import REGIONS

KEY_PREFIX = "gwk_"
log = logging.getLogger("api_gateway.auth")


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
    rows = (await session.exec(select(ApiClient).order_by(col(ApiClient.created_at)))).all()
    return [c for c in rows if _visible_to(granter, c.role, c.regions)]


async def list_keys(session: AsyncSession, granter: Principal | None) -> list[ApiKey]:
    rows = (await session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all()
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


async def authenticate_client(session: AsyncSession, *, client_id: str, client_secret: str) -> ApiClient:
    client = await session.get(ApiClient, client_id)
    # Exactly one scrypt whether the id exists or not, so timing does not reveal which client ids exist.
    stored = client.secret_hash if client else DUMMY_SECRET_HASH
    valid = verify_secret(client_secret, stored)
    if client is None or not valid or not client.active:
        raise AuthError("invalid client credentials")
    return client


async def issue_token(
    session: AsyncSession, signer: TokenSigner, *, client_id: str, client_secret: str
) -> tuple[str, int, ApiClient]:
    client = await authenticate_client(session, client_id=client_id, client_secret=client_secret)
    token, ttl = signer.issue(client)
    return token, ttl, client


async def revoke_token(session: AsyncSession, signer: TokenSigner, token: str, *, issued_to: str | None = None) -> bool:
    """RFC 7009: revoking an invalid token is not an error. `issued_to`: revoke it only if it is that
    client's; False when it is another's (nothing revoked)."""
    try:
        claims = signer.verify(token)
    except HTTPException:
        return True
    if issued_to is not None and claims.get("sub") != issued_to:
        return False
    jti = str(claims["jti"])
    # Rows of tokens that have expired anyway are no longer needed.
    await session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) < datetime.now(UTC)))
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC)))
    return True


async def ensure_demo_key(session: AsyncSession, value: str) -> None:
    """The one-command run's federal key: created once with exactly `value`. A key an operator revoked
    (or changed) stays as the operator left it: a restart neither un-revokes nor re-creates it."""
    existing = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(value)))).first()
    if existing is not None:
        if existing.revoked_at is not None:
            log.warning("GATEWAY_DEMO_API_KEY names a revoked key: it stays revoked", extra={"key_id": existing.key_id})
        return
    await create_key(session, name="demo (GATEWAY_DEMO_API_KEY)", role=Role.federal, regions=[], value=value)


async def owner_principal(session: AsyncSession, owner: str) -> Principal | None:
    """The current identity behind a subject (`key:…` or `client:…`: a webhook's owner, an open SSE
    stream's caller), or None when it was revoked."""
    kind, _, ident = owner.partition(":")
    if kind == "key":
        key = await session.get(ApiKey, ident)
        if key is None or key.revoked_at is not None:
            return None
        return principal_of(owner, key.name, key.role, key.regions, key.official_id)
    if kind == "client":
        client = await session.get(ApiClient, ident)
        if client is None or not client.active:
            return None
        return principal_of(owner, client.name, client.role, client.regions, client.official_id)
    return None


class UnknownOfficialForCredential(ProblemError):
    status, slug, title = 422, "unknown-official", "Unknown official for this credential"


async def check_official(
    routing: Upstream, *, granter: Principal, role: Role, regions: list[str], official_id: str | None
) -> None:
    """A credential's `official_id` must be an official of its regions, as routing knows it.

    Asked of routing for the granting user, so an official outside the granter's regions is as
    unknown as a missing one. (The local CLI `create-key` has no routing at hand and is trusted.)
    """
    if not official_id:
        return
    check_grant(granter, role, regions, official_id)  # role/region refusals first
    refused = UnknownOfficialForCredential(
        f"official_id {official_id!r} is not an official of regions {', '.join(sorted(regions)) or 'any'}"
    )
    try:
        official = await routing.request("GET", f"/v1/officials/{quote(official_id, safe='')}", user=granter.acting())
    except UpstreamProblem as exc:
        if exc.status in (404, 422):
            raise refused from None
        raise
    region = official.get("region_code") if isinstance(official, dict) else None
    # A federal credential covers every region; any other only the regions it is given.
    if not isinstance(region, str) or (role is not Role.federal and region not in regions):
        raise refused
