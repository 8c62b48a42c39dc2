"""One level up a breached incident's escalation chain (called by the deadline scan, incidents.scanner)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import IncidentEscalated
from routing.directory.models import ESCALATION_CHAIN
from routing.incidents.effects import SYSTEM_ACTOR, Effects, emit, record
from routing.incidents.models import Escalation, Incident
from routing.rules.engine import RegionDirectory, assignee_of
from routing.wording import quoted, role_name


def escalate(
    session: AsyncSession,
    effects: Effects,
    *,
    incident: Incident,
    directory: RegionDirectory,
    clock: str,
    now: datetime,
    reason: str,
) -> Escalation | None:
    """One level up the region's chain: curator → deputy governor → governor's office; None at the top.

    The escalation row goes through the ORM (unique on incident and level: a second replica's fails)."""
    level = incident.escalation_level + 1
    if level > len(ESCALATION_CHAIN):
        record(
            effects,
            incident,
            actor=SYSTEM_ACTOR,
            action="breach_at_top",
            now=now,
            comment=f"Эскалация невозможна, достигнут верхний уровень: {reason}",
        )
        return None
    target = directory.chain().get(ESCALATION_CHAIN[level - 1])
    escalation = Escalation(
        incident_id=incident.id,
        level=level,
        clock=clock,
        reason=reason,
        escalated_to_id=target.id if target else None,
        escalated_to_name=target.name if target else None,
        at=now,
    )
    session.add(escalation)
    incident.escalation_level = level
    incident.escalated_to_id = escalation.escalated_to_id
    incident.escalated_to_name = escalation.escalated_to_name
    incident.updated_at = now
    session.add(incident)
    role = role_name(ESCALATION_CHAIN[level - 1])
    to_whom = target.name if target else f"никому: в справочнике нет лица с ролью {quoted(role)}"
    record(
        effects,
        incident,
        actor=SYSTEM_ACTOR,
        action="escalated",
        now=now,
        comment=f"Эскалация, уровень {level} ({role}) → {to_whom}: {reason}",
    )
    emit(
        effects,
        incident,
        IncidentEscalated,
        level=level,
        reason=reason,
        escalated_to=assignee_of(target, directory.departments.get(target.department_id or "")) if target else None,
    )
    return escalation
