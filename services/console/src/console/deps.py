"""What every page needs: the signed-in user (or a way to the sign-in page), the gateway, the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from console import presentation
from console.config import Settings
from console.gateway import Gateway
from console.sessions import COOKIE, SessionStore, UserSession

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(
    CATEGORIES=presentation.CATEGORIES,
    STATUSES=presentation.STATUSES,
    URGENCIES=presentation.URGENCIES,
    ROLES=presentation.ROLES,
    PUBLICATION=presentation.PUBLICATION,
    SATISFACTION=presentation.SATISFACTION,
    FIELDS=presentation.FIELDS,
    PRIORITY_PARTS=presentation.PRIORITY_PARTS,
    EVENTS=presentation.EVENTS,
)
templates.env.filters.update(
    local_time=presentation.local_time,
    percent=presentation.percent,
    minutes=presentation.minutes,
    highlight=presentation.highlight,
    history_note=presentation.history_note,
)


class SignInRequired(Exception):
    """No session (or it ended): the page answers with a way to the sign-in page."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_path = next_path
        self.reason = reason


class CsrfRefused(Exception):
    """A form posted without this session's token: refused, whatever the cookie says."""


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def sessions_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


async def current_user(request: Request) -> UserSession:
    session = sessions_of(request).get(request.cookies.get(COOKIE))
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return session


def sign_in_url(next_path: str, reason: str | None = None) -> str:
    url = f"/sign-in?next={quote(next_path, safe='')}"
    return url + (f"&reason={quote(reason)}" if reason else "")


def check_csrf(user: UserSession, token: str | None) -> None:
    if not token or token != user.csrf:
        raise CsrfRefused()


SettingsDep = Annotated[Settings, Depends(settings_of)]
GatewayDep = Annotated[Gateway, Depends(gateway_of)]
UserDep = Annotated[UserSession, Depends(current_user)]


def page(request: Request, name: str, user: UserSession | None, status_code: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(
        request, name, {"user": user, "path": request.url.path, **context}, status_code=status_code
    )
