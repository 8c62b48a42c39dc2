"""Sign-in sessions, kept in this process's memory only: the user's credentials never reach the browser
(it holds a random session id in an HttpOnly cookie) and never touch a disk. A restart of the console
signs everyone out, which is the safe way to fail."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from console.gateway import Credentials

COOKIE = "console_session"


@dataclass
class UserSession:
    session_id: str
    credentials: Credentials
    me: dict[str, Any]  # GET /v1/me: name, role, regions
    regions: list[dict[str, str]]  # GET /v1/regions: code, name, timezone (only the user's)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    expires_at: float = 0.0
    token_expires_at: float | None = None  # an OAuth access token's own end

    @property
    def timezones(self) -> dict[str, str]:
        return {r["code"]: r["timezone"] for r in self.regions}

    @property
    def region_names(self) -> dict[str, str]:
        return {r["code"]: r["name"] for r in self.regions}


class SessionStore:
    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime = lifetime_seconds
        self._sessions: dict[str, UserSession] = {}

    def create(
        self,
        credentials: Credentials,
        me: dict[str, Any],
        regions: list[dict[str, str]],
        token_expires_in: float | None = None,
    ) -> UserSession:
        self._forget_expired()
        now = time.time()
        session = UserSession(
            session_id=secrets.token_urlsafe(32),
            credentials=credentials,
            me=me,
            regions=regions,
            expires_at=now + self.lifetime,
            token_expires_at=now + token_expires_in if token_expires_in else None,
        )
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> UserSession | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.time()
        if now >= session.expires_at or (session.token_expires_at is not None and now >= session.token_expires_at):
            self._sessions.pop(session_id, None)
            return None
        session.expires_at = now + self.lifetime  # sliding: an active shift stays signed in
        return session

    def drop(self, session_id: str | None) -> UserSession | None:
        return self._sessions.pop(session_id, None) if session_id else None

    def _forget_expired(self) -> None:
        now = time.time()
        for session_id in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            self._sessions.pop(session_id, None)
