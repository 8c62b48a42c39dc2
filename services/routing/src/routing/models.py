"""Every table routing owns, for `Database(url, TABLES)`."""

from __future__ import annotations

from typing import Any

from routing.deadlines.models import Deadline, SlaPolicy
from routing.directory.models import Department, Official
from routing.incidents.models import (
    AuditRoot,
    Escalation,
    Incident,
    IncidentHistory,
    IncidentPost,
    Reaction,
    Reply,
    SkippedPost,
)
from routing.rules.models import Rule
from routing.surges.models import SurgeAlertRecord, SurgeBucket

TABLES: tuple[Any, ...] = (
    Department,
    Official,
    Rule,
    SlaPolicy,
    Deadline,
    Incident,
    IncidentPost,
    IncidentHistory,
    Escalation,
    SkippedPost,
    AuditRoot,
    Reply,
    Reaction,
    SurgeBucket,
    SurgeAlertRecord,
)
