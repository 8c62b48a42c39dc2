"""What a decision about an incident produces, and the helpers every writer of incidents uses.

An `Effects` collects, in the order they happened, the rows (audit entries, posts, clocks, skipped
posts), the events with the incident's snapshot of that moment and the counters of one decision;
incidents.writes hands them to the transaction's Writes. `record` (the one place audit entries are
made, chained by incidents.chain), `emit`, `transition` and `apply_assignment` work alike on the
consumer's in-memory `IncidentRecord` and on the ORM `Incident` of the lifecycle actions, the
escalation and the deadline scan, so that all of them produce the same history and event contents.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incidents_common.events import (
    CloudEvent,
    IncidentAssigned,
    IncidentEvent,
    IncidentStatus,
    IncidentStatusChanged,
    ReplyRequested,
)
from routing.deadlines.service import NewClock, sync_due
from routing.incidents.chain import chain
from routing.incidents.snapshots import IncidentLike, IncidentRecord, snapshot
from routing.rules.engine import Assignment

SYSTEM_ACTOR = "routing"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to publish, with the post that started its chain and the consumed event it follows."""

    event: IncidentEvent | ReplyRequested
    origin_post_id: str | None
    cause: CloudEvent[Any] | None = None


@dataclass
class Effects:
    """What deciding produced, in the order it happened; written together by incidents.writes."""

    history: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[NewClock] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unplaced: list[dict[str, Any]] = field(default_factory=list)  # skipped posts a person should look at
    events: list[Outgoing] = field(default_factory=list)
    counts: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    created: dict[str, IncidentRecord] = field(default_factory=dict)
    # Incidents that existed before the batch: the record and the columns the batch changed.
    changed: dict[str, tuple[IncidentRecord, set[str]]] = field(default_factory=dict)
    # Stored incidents whose running clocks the batch replaced (a danger reason joined them): their
    # pending clocks are cancelled when the effects are written (incidents.writes).
    reclocked: set[str] = field(default_factory=set)

    def count(self, key: str, **labels: str) -> None:
        self.counts.append((key, labels))

    def change(self, incident: IncidentRecord, columns: Sequence[str]) -> None:
        if incident.id in self.created:
            return  # inserted whole, in its final state
        self.changed.setdefault(incident.id, (incident, set()))[1].update(columns)


def record(
    effects: Effects,
    incident: IncidentLike,
    *,
    actor: str,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    comment: str | None = None,
) -> None:
    """An entry of the incident's audit log, chained to the one before (incidents.chain)."""
    incident.history_seq += 1
    entry = {
        "id": uuid.uuid4().hex,
        "seq": incident.history_seq,
        "incident_id": incident.id,
        "at": now,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "comment": comment,
    }
    incident.chain_head = chain(incident.chain_head, entry)
    effects.history.append(entry)
    if isinstance(incident, IncidentRecord):
        effects.change(incident, ("history_seq", "chain_head"))


def emit(
    effects: Effects,
    incident: IncidentLike,
    event_type: type[IncidentEvent],
    *,
    cause: CloudEvent[Any] | None = None,
    **fields: Any,
) -> None:
    """An incident event carrying the incident's snapshot as it is now (after the change)."""
    effects.events.append(Outgoing(event_type(incident=snapshot(incident), **fields), incident.origin_post_id, cause))


def transition(
    effects: Effects,
    incident: IncidentLike,
    *,
    to: IncidentStatus,
    actor: str,
    now: datetime,
    comment: str | None = None,
    action: str | None = None,
    cause: CloudEvent[Any] | None = None,
) -> None:
    previous = incident.status
    incident.status = to
    incident.updated_at = now
    record(
        effects,
        incident,
        actor=actor,
        action=action or to.value,
        now=now,
        from_status=previous,
        to_status=to,
        comment=comment,
    )
    emit(
        effects,
        incident,
        IncidentStatusChanged,
        cause=cause,
        from_status=previous,
        to_status=to,
        actor=actor,
        comment=comment,
    )


def apply_assignment(
    effects: Effects,
    incident: IncidentLike,
    chosen: Assignment,
    *,
    now: datetime,
    actor: str,
    clocks: list[NewClock] | None = None,
    flag: str | None = None,
    comment: str | None = None,
    cause: CloudEvent[Any] | None = None,
) -> None:
    """Give the incident to the chosen official: status assigned, new clocks if any, audit, events."""
    previous = incident.status
    incident.assignee_id = chosen.assignee.official_id
    incident.assignee_name = chosen.assignee.name
    incident.assignee_position = chosen.assignee.position
    incident.department_id = chosen.assignee.department_id
    incident.department_name = chosen.assignee.department_name
    incident.assignment_explanation = chosen.explanation
    incident.rule_id = str(chosen.rule_id) if chosen.rule_id is not None else None
    incident.federal_fallback = chosen.federal_fallback
    if flag is not None:
        incident.flagged, incident.flag_reason = True, flag
    incident.status = IncidentStatus.assigned
    incident.updated_at = now
    if clocks is not None:
        effects.clocks.extend(clocks)
        sync_due(incident, clocks)
    record(
        effects,
        incident,
        actor=actor,
        action="assigned",
        now=now,
        from_status=previous,
        to_status=IncidentStatus.assigned,
        comment=chosen.explanation + (f" — {comment}" if comment else ""),
    )
    emit(
        effects,
        incident,
        IncidentAssigned,
        cause=cause,
        assignee=chosen.assignee,
        explanation=chosen.explanation,
        rule_id=incident.rule_id,
        # A person's action (reassign, redirect, correct) names them; routing's own choice names no one.
        actor=None if actor == SYSTEM_ACTOR else actor,
        comment=comment,
    )
    effects.count("incidents_assigned", region=incident.region_code)
    if previous not in (IncidentStatus.new, IncidentStatus.assigned):
        emit(
            effects,
            incident,
            IncidentStatusChanged,
            cause=cause,
            from_status=previous,
            to_status=IncidentStatus.assigned,
            actor=actor,
            comment=comment,
        )
