"""Who is calling, once authenticated: a principal with its role and regions.

Roles:
- federal: reads every region (and manages credentials);
- regional_admin: reads and writes its own regions, the directory included, and manages their credentials;
- official: reads its region, acts on the incidents assigned to it;
- integration: read-only (lists, detail, SSE, webhooks) in its regions.

Role and regions are read from the database on every request (auth.service), so a revocation or a
demotion applies at once, even to tokens already issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException

from incidents_common.identity import ActingUser
from incidents_common.problems import Forbidden, InvalidInput
from incidents_common.regions import REGIONS


class Role(StrEnum):
    federal = "federal"
    regional_admin = "regional_admin"
    official = "official"
    integration = "integration"


WRITE_ROLES = {Role.regional_admin, Role.official}


class UnknownRegion(InvalidInput):
    status, slug, title = 422, "unknown-region", "Unknown region"


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
        """The regions a query may touch: the caller's, narrowed by what it asked for.

        A code that names no region is refused (422): a typo would otherwise read as a region with
        nothing in it. A real region outside the caller's stays an empty answer, as a missing one."""
        unknown = sorted({r for r in requested or [] if r not in REGIONS})
        if unknown:
            raise UnknownRegion(
                f"unknown region code(s) {', '.join(map(repr, unknown))}: two-digit ФИАС/ГАР codes such as '64'"
            )
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


def principal_of(subject: str, name: str, role: str, regions: list[str] | None, official_id: str | None) -> Principal:
    parsed = Role(role)
    return Principal(
        subject=subject,
        name=name,
        role=parsed,
        regions=None if parsed is Role.federal else frozenset(regions or []),
        official_id=official_id,
    )


def require_roles(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(roles)
        raise Forbidden(f"role {principal.role} may not do this (allowed: {allowed})")
