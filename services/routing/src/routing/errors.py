"""Routing's domain errors, rendered as RFC 9457 problem+json by the shared handlers."""

from __future__ import annotations

from incidents_common.problems import Conflict, Forbidden, InvalidInput, NotFound


class UnknownDepartment(NotFound):
    slug, title = "unknown-department", "Unknown department"


class UnknownOfficial(NotFound):
    slug, title = "unknown-official", "Unknown official"


class UnknownRule(NotFound):
    slug, title = "unknown-rule", "Unknown rule"


class UnknownPolicy(NotFound):
    slug, title = "unknown-sla-policy", "Unknown SLA policy"


class UnknownIncident(NotFound):
    slug, title = "unknown-incident", "Unknown incident"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Already exists"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Transition not allowed"


class BadImport(InvalidInput):
    slug, title = "bad-import", "Import file rejected"


class BadDirectoryData(InvalidInput):
    slug, title = "bad-directory-data", "Inconsistent directory data"


class NotAllowed(Forbidden):
    """Refused for this caller: its role, or an object it sees but may not change (routing.access)."""

    slug, title = "not-allowed", "Not allowed for this caller"
