"""Problem types shared by the collector's aggregates (each aggregate keeps its own beside its service)."""

from __future__ import annotations

from incidents_common.problems import ProblemError


class ValidationProblem(ProblemError):
    """422 with the failing fields, for checks pydantic cannot make (text empty once cleaned, settings)."""

    status, slug, title = 422, "validation-failed", "Validation failed"
