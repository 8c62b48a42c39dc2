"""OAuth2 token endpoint (client credentials, RFC 6749 §4.4), revocation (RFC 7009), admin endpoints."""

from __future__ import annotations

import base64
import binascii
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request, Response, Security

from api_gateway.auth import service
from api_gateway.auth.deps import (
    PrincipalDep,
    SignerDep,
    api_key_header,
    client_address,
    current_principal,
    oauth2,
    rate_limit,
)
from api_gateway.auth.models import ApiClient, ApiKey
from api_gateway.auth.principal import AuthError, Role, require_roles
from api_gateway.auth.schemas import (
    AccessTokenCreated,
    ClientCreated,
    ClientRead,
    CredentialCreate,
    KeyCreated,
    KeyRead,
)
from api_gateway.deps import RoutingDep
from incidents_common.app import SessionDep
from incidents_common.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["auth"])


class OAuthError(ProblemError):
    """An RFC 6749 §5.2 error; `error` carries the standard code beside the problem fields."""

    status, slug, title = 400, "oauth-error", "OAuth2 error"

    def __init__(self, error: str, detail: str, status: int = 400) -> None:
        super().__init__(detail, error=error)
        self.status = status


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


@router.post(
    "/oauth/token",
    response_model=AccessTokenCreated,
    summary="OAuth2 client credentials: exchange client_id/client_secret for a short-lived JWT",
    responses={
        400: {"description": "unsupported_grant_type / invalid_request"},
        401: {"description": "invalid_client"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "example": {"grant_type": "client_credentials", "client_id": "cl_1a2b3c", "client_secret": "…"}
                }
            }
        }
    },
)
async def token(
    request: Request,
    response: Response,
    session: SessionDep,
    signer: SignerDep,
    grant_type: Annotated[str, Form(max_length=50)],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=200)] = None,
) -> AccessTokenCreated:
    rate_limit(request, f"token:{client_address(request)}")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise OAuthError("invalid_request", "client_id and client_secret are required")
    try:
        access_token, ttl, _ = await service.issue_token(
            session, signer, client_id=client_id, client_secret=client_secret
        )
    except AuthError as exc:
        raise OAuthError("invalid_client", "invalid client credentials", status=401) from exc
    response.headers["Cache-Control"] = "no-store"
    return AccessTokenCreated(access_token=access_token, expires_in=ttl, scope=scope)


@router.post(
    "/oauth/revoke",
    status_code=200,
    summary="Revoke an access token at once (RFC 7009)",
    responses={
        200: {
            "description": "Revoked (or it was not a valid token)",
            "content": {"application/json": {"example": {"status": "revoked"}}},
        }
    },
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"example": {"token": "eyJhbGciOi…"}}}}
    },
)
async def revoke(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    token: Annotated[str, Form(max_length=4000)],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    header_key: Annotated[str | None, Security(api_key_header)] = None,
    authorization: Annotated[str | None, Security(oauth2)] = None,
) -> dict[str, str]:
    """The caller authenticates as the client the token was issued to (RFC 7009 §2.1: HTTP Basic or
    client_id/client_secret in the form, as at the token endpoint), or with a bearer token or API key
    (a console signing out sends the token itself)."""
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic:
        client_id, client_secret = basic
    if client_id or client_secret:
        rate_limit(request, f"token:{client_address(request)}")
        if not client_id or not client_secret:
            raise OAuthError("invalid_request", "client_id and client_secret are required")
        try:
            client = await service.authenticate_client(session, client_id=client_id, client_secret=client_secret)
        except AuthError as exc:
            raise OAuthError("invalid_client", "invalid client credentials", status=401) from exc
        if not await service.revoke_token(session, signer, token, issued_to=client.client_id):
            raise OAuthError("unauthorized_client", "the token was not issued to this client")
    else:
        await current_principal(request, session, signer, header_key, authorization)
        await service.revoke_token(session, signer, token)
    return {"status": "revoked"}


def _client_read(client: ApiClient) -> ClientRead:
    return ClientRead.model_validate(client, from_attributes=True)


def _key_read(key: ApiKey) -> KeyRead:
    return KeyRead(
        key_id=key.key_id,
        name=key.name,
        role=Role(key.role),
        regions=key.regions,
        official_id=key.official_id,
        revoked=key.revoked_at is not None,
        created_at=key.created_at,
    )


ADMIN: list[str | Enum] = ["admin"]
ADMIN_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Your role may not grant this (no escalation)"},
}
CREATE_RESPONSES: dict[int | str, dict[str, str]] = {
    **ADMIN_RESPONSES,
    422: {"description": "Invalid body, or official_id is not an official of the credential's regions"},
    503: {"description": "Routing is unavailable to check official_id"},
}


@router.post(
    "/admin/clients",
    response_model=ClientCreated,
    status_code=201,
    tags=ADMIN,
    summary="Create an OAuth2 client (the secret is shown once)",
    responses=CREATE_RESPONSES,
)
async def create_client(
    session: SessionDep, routing: RoutingDep, principal: PrincipalDep, body: CredentialCreate
) -> ClientCreated:
    require_roles(principal, Role.federal, Role.regional_admin)
    await service.check_official(
        routing, granter=principal, role=body.role, regions=body.regions, official_id=body.official_id
    )
    client, secret = await service.create_client(
        session, name=body.name, role=body.role, regions=body.regions, official_id=body.official_id, granter=principal
    )
    return ClientCreated(**_client_read(client).model_dump(), client_secret=secret)


@router.get(
    "/admin/clients",
    response_model=list[ClientRead],
    tags=ADMIN,
    summary="Clients you manage",
    responses=ADMIN_RESPONSES,
)
async def list_clients(session: SessionDep, principal: PrincipalDep) -> list[ClientRead]:
    require_roles(principal, Role.federal, Role.regional_admin)
    return [_client_read(c) for c in await service.list_clients(session, principal)]


@router.delete(
    "/admin/clients/{client_id}",
    response_model=ClientRead,
    tags=ADMIN,
    summary="Revoke a client: its tokens stop working at once",
    responses={**ADMIN_RESPONSES, 404: {"description": "No such client among those you manage"}},
)
async def revoke_client(
    session: SessionDep, principal: PrincipalDep, client_id: Annotated[str, Path(max_length=64)]
) -> ClientRead:
    require_roles(principal, Role.federal, Role.regional_admin)
    return _client_read(await service.revoke_client(session, client_id, principal))


@router.post(
    "/admin/keys",
    response_model=KeyCreated,
    status_code=201,
    tags=ADMIN,
    summary="Create an API key (the key is shown once)",
    responses=CREATE_RESPONSES,
)
async def create_key(
    session: SessionDep, routing: RoutingDep, principal: PrincipalDep, body: CredentialCreate
) -> KeyCreated:
    require_roles(principal, Role.federal, Role.regional_admin)
    await service.check_official(
        routing, granter=principal, role=body.role, regions=body.regions, official_id=body.official_id
    )
    key, value = await service.create_key(
        session, name=body.name, role=body.role, regions=body.regions, official_id=body.official_id, granter=principal
    )
    return KeyCreated(**_key_read(key).model_dump(), api_key=value)


@router.get(
    "/admin/keys", response_model=list[KeyRead], tags=ADMIN, summary="API keys you manage", responses=ADMIN_RESPONSES
)
async def list_keys(session: SessionDep, principal: PrincipalDep) -> list[KeyRead]:
    require_roles(principal, Role.federal, Role.regional_admin)
    return [_key_read(k) for k in await service.list_keys(session, principal)]


@router.delete(
    "/admin/keys/{key_id}",
    response_model=KeyRead,
    tags=ADMIN,
    summary="Revoke an API key at once",
    responses={**ADMIN_RESPONSES, 404: {"description": "No such key among those you manage"}},
)
async def revoke_key(
    session: SessionDep, principal: PrincipalDep, key_id: Annotated[str, Path(max_length=64)]
) -> KeyRead:
    require_roles(principal, Role.federal, Role.regional_admin)
    return _key_read(await service.revoke_key(session, key_id, principal))
