"""Sign-in with an API key or OAuth client credentials, checked by the gateway itself (GET /v1/me), and
sign-out (which also revokes an OAuth access token at the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.deps import GatewayDep, SettingsDep, UserDep, check_csrf, page, sessions_of
from console.gateway import Credentials, GatewayError
from console.sessions import COOKIE

router = APIRouter(include_in_schema=False)

REASONS = {
    "expired": "Сеанс завершён: ключ отозван или срок токена истёк. Войдите снова.",
    "signed_out": "Вы вышли.",
}


def _safe_next(next_path: str | None) -> str:
    # Only a path of this site: never an open redirect to another host.
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    return next_path


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/", reason: str | None = None) -> Response:  # noqa: A002
    return page(request, "sign_in.html", None, next=_safe_next(next), notice=REASONS.get(reason or ""))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    gateway: GatewayDep,
    settings: SettingsDep,
    method: Annotated[str, Form()] = "api_key",
    api_key: Annotated[str, Form(max_length=500)] = "",
    client_id: Annotated[str, Form(max_length=200)] = "",
    client_secret: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    target = _safe_next(next)
    expires_in: float | None = None
    try:
        if method == "client_credentials":
            if not client_id.strip() or not client_secret.strip():
                raise GatewayError(400, "Не хватает данных", "Укажите client_id и client_secret.")
            token = await gateway.token(client_id.strip(), client_secret.strip())
            credentials = Credentials("bearer", str(token["access_token"]))
            expires_in = float(token.get("expires_in") or 0) or None
        else:
            if not api_key.strip():
                raise GatewayError(400, "Не хватает данных", "Укажите API-ключ.")
            credentials = Credentials("api_key", api_key.strip())
        me = await gateway.get("/v1/me", credentials)
        regions = await gateway.get("/v1/regions", credentials)
    except GatewayError as exc:
        message = "Ключ или данные клиента не подошли." if exc.status in (400, 401, 403) else exc.title
        return page(
            request,
            "sign_in.html",
            None,
            status_code=exc.status if 400 <= exc.status < 500 else 502,
            next=target,
            error=message,
            error_detail=exc.detail,
            method=method,
            client_id=client_id,
        )
    session = sessions_of(request).create(credentials, me, regions, token_expires_in=expires_in)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session.session_id,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        max_age=int(settings.session_hours * 3600),
        path="/",
    )
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, user: UserDep, gateway: GatewayDep, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    check_csrf(user, csrf)
    sessions_of(request).drop(user.session_id)
    try:
        await gateway.revoke(user.credentials)
    except GatewayError:
        pass  # signed out here either way; the token ends by itself
    response = RedirectResponse("/sign-in?reason=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
