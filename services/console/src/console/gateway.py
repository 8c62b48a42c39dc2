"""The gateway's public API as the console uses it: every call made with the signed-in user's own
credentials, so the console can show and do exactly what that user may, and nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

Params = Mapping[str, str | int | bool | Sequence[str] | None]


@dataclass(frozen=True)
class Credentials:
    """An API key (sent as X-API-Key) or an OAuth access token (sent as Authorization: Bearer)."""

    kind: Literal["api_key", "bearer"]
    secret: str

    def headers(self) -> dict[str, str]:
        if self.kind == "api_key":
            return {"X-API-Key": self.secret}
        return {"Authorization": f"Bearer {self.secret}"}


class GatewayError(Exception):
    """The gateway refused or failed: its problem+json title and detail, for the user to read."""

    def __init__(self, status: int, title: str, detail: str | None = None) -> None:
        super().__init__(f"{status} {title}: {detail or ''}")
        self.status = status
        self.title = title
        self.detail = detail


class SignedOut(GatewayError):
    """401 from the gateway: the key was revoked or the token expired; the user must sign in again."""


def _problem(response: httpx.Response) -> GatewayError:
    title, detail = response.reason_phrase or "error", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = body.get("detail")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            # Validation problems list the fields: say which, in one line.
            fields = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'body'}: {e.get('msg', '')}"
                for e in errors
                if isinstance(e, dict)
            )
            detail = f"{detail or ''} {fields}".strip()
    cls = SignedOut if response.status_code == 401 else GatewayError
    return cls(response.status_code, title, str(detail) if detail is not None else None)


def _clean(params: Params | None) -> list[tuple[str, str | int | float | bool | None]]:
    """Query parameters without the empty ones; lists repeat the key (region=64&region=77)."""
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in (params or {}).items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        elif isinstance(value, str | int):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, str(item)) for item in value if item)
    return pairs


class Gateway:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        credentials: Credentials | None,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        headers = credentials.headers() if credentials else {}
        try:
            response = await self.http.request(
                method, path, params=_clean(params), json=json, data=data, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GatewayError(503, "Шлюз не отвечает", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, path: str, credentials: Credentials, params: Params | None = None) -> Any:
        return await self.call("GET", path, credentials, params=params)

    async def token(self, client_id: str, client_secret: str) -> dict[str, Any]:
        """OAuth2 client credentials → {access_token, expires_in, …}."""
        result = await self.call(
            "POST",
            "/v1/oauth/token",
            None,
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
        return dict(result)

    async def revoke(self, credentials: Credentials) -> None:
        if credentials.kind != "bearer":
            return  # an API key is revoked by its administrator, not by signing out
        await self.call("POST", "/v1/oauth/revoke", credentials, data={"token": credentials.secret})

    async def stream(
        self, path: str, credentials: Credentials, params: Params | None = None, last_event_id: str | None = None
    ) -> AsyncIterator[bytes]:
        """Relay a text/event-stream as it arrives (the live updates)."""
        headers = credentials.headers()
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        request = self.http.build_request("GET", path, params=_clean(params), headers=headers)
        response = await self.http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _problem(response)
            async for chunk in response.aiter_raw():
                yield chunk
        finally:
            await response.aclose()

    async def download(self, path: str, credentials: Credentials, params: Params | None = None) -> httpx.Response:
        """A whole CSV export (the gateway caps its size)."""
        try:
            response = await self.http.get(path, params=_clean(params), headers=credentials.headers())
        except httpx.HTTPError as exc:
            raise GatewayError(503, "Шлюз не отвечает", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _problem(response)
        return response
