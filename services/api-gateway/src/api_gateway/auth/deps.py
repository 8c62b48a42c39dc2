"""Security dependencies: the authenticated caller (API key, access token; Open311's api_key, SSE's
access_token) with its rate limit, and the responses every authenticated endpoint may give."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import APIKeyHeader, APIKeyQuery, OAuth2

from api_gateway.auth.limits import RateLimiter, retry_after_header
from api_gateway.auth.principal import AuthError, Principal
from api_gateway.auth.service import authenticate
from api_gateway.auth.tokens import TokenSigner
from incidents_common.app import SessionDep

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (created with `create-key` or POST /v1/admin/keys)"
)
oauth2 = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/v1/oauth/token")),
    auto_error=False,
    description="OAuth2 client credentials; `Authorization: Bearer <access token or API key>`",
)
api_key_query = APIKeyQuery(
    name="api_key", auto_error=False, description="Open311 clients pass their key as the `api_key` parameter"
)


# What an endpoint that takes a PrincipalDep may answer besides its own responses.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, expired, forged or revoked credentials"},
    429: {"description": "Rate limit exceeded; see Retry-After"},
}


async def signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


SignerDep = Annotated[TokenSigner, Depends(signer_of)]


def rate_limit(request: Request, key: str) -> None:
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.check(key)
    if wait > 0:
        raise HTTPException(429, f"rate limit exceeded for {key}", headers={"Retry-After": retry_after_header(wait)})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _resolve(
    request: Request, session: SessionDep, signer: TokenSigner, header_key: str | None, authorization: str | None
) -> Principal:
    credential = header_key
    if not credential and authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            credential = value.strip()
    if not credential:
        rate_limit(request, f"ip:{client_address(request)}")
        raise AuthError("missing credentials: send X-API-Key or Authorization: Bearer")
    try:
        principal = await authenticate(session, signer, credential)
    except HTTPException:
        rate_limit(request, f"ip:{client_address(request)}")
        raise
    rate_limit(request, principal.subject)
    request.state.principal = principal
    return principal


async def current_principal(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    header_key: Annotated[str | None, Security(api_key_header)],
    authorization: Annotated[str | None, Security(oauth2)],
) -> Principal:
    return await _resolve(request, session, signer, header_key, authorization)


async def open311_principal(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    header_key: Annotated[str | None, Security(api_key_header)],
    authorization: Annotated[str | None, Security(oauth2)],
    query_key: Annotated[str | None, Security(api_key_query)],
) -> Principal:
    key = header_key or query_key
    if not key and not authorization and request.method == "POST":
        # Open311 clients send api_key as a form field of the POST body (the spec's convention).
        if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
            value = (await request.form()).get("api_key")
            key = value if isinstance(value, str) else None
    return await _resolve(request, session, signer, key, authorization)


access_token_query = APIKeyQuery(
    name="access_token",
    auto_error=False,
    description="For browser EventSource, which cannot send headers: a short-lived OAuth2 access token",
)


async def stream_principal(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
    header_key: Annotated[str | None, Security(api_key_header)],
    authorization: Annotated[str | None, Security(oauth2)],
    query_token: Annotated[str | None, Security(access_token_query)],
) -> Principal:
    if query_token and not (header_key or authorization):
        # Only a JWT in the URL: it expires within minutes, while an API key in a URL would linger
        # in proxy logs for good.
        if query_token.count(".") != 2:
            raise AuthError("access_token must be an OAuth2 access token, not an API key")
        authorization = f"Bearer {query_token}"
    return await _resolve(request, session, signer, header_key, authorization)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StreamPrincipalDep = Annotated[Principal, Depends(stream_principal)]
Open311PrincipalDep = Annotated[Principal, Depends(open311_principal)]
