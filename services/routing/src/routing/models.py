"""Every table routing owns, for `Database(url, TABLES)`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from routing.deadlines.models import Deadline, SlaPolicy
from routing.directory.models import Department, DirectoryVersion, Official, create_version_triggers
from routing.incidents.models import (
    AuditRoot,
    Escalation,
    Incident,
    IncidentHistory,
    IncidentPost,
    Reaction,
    Reply,
    SkippedPost,
    UnplacedPost,
)
from routing.rules.models import Rule
from routing.surges.models import SurgeAlertRecord, SurgeBucket
from routing.tables import table_of

TABLES: tuple[Any, ...] = (
    Department,
    Official,
    Rule,
    SlaPolicy,
    DirectoryVersion,
    Deadline,
    Incident,
    IncidentPost,
    IncidentHistory,
    Escalation,
    SkippedPost,
    UnplacedPost,
    AuditRoot,
    Reply,
    Reaction,
    SurgeBucket,
    SurgeAlertRecord,
)

# A database create_all makes (tests, tools) gets the directory version's triggers with the tables.
for _model in (Department, Official, Rule, SlaPolicy):
    event.listen(table_of(_model), "after_create", create_version_triggers)
