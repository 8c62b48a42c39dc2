"""Citizens' reactions to a published reply, labelled by the classifier (ReactionClassified).

Each reaction is kept (routing_reactions) and written into the incident's audit log. The
complainant's reaction sets the incident's satisfaction (the latest one holds): thanks → satisfied,
not fixed → not satisfied; a reply published with no reaction yet is `no_reaction` (replies). The
complainant's «not fixed» under an answered, resolved or closed incident reopens it with new clocks,
or flags it for the region's curator (`ROUTING_NOT_FIXED_ACTION`). Others' reactions are recorded
only: a neighbour cannot reopen somebody's complaint.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Writes
from incidents_common.events import (
    BadEvent,
    CloudEvent,
    IncidentAction,
    IncidentReaction,
    IncidentStatus,
    ReactionClassified,
    ReactionLabel,
    Satisfaction,
)
from incidents_common.nats import BatchHandler
from routing.config import Settings
from routing.incidents.effects import Effects, emit, record
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Reaction
from routing.incidents.queries import get_incident
from routing.incidents.schemas import ActionRequest
from routing.incidents.writes import queue_effects
from routing.wording import REACTIONS

CITIZEN = "citizen"
REOPENABLE = {IncidentStatus.answered, IncidentStatus.resolved, IncidentStatus.closed}
SETS = {ReactionLabel.thanks: Satisfaction.satisfied, ReactionLabel.not_fixed: Satisfaction.not_satisfied}
QUOTE = 300
NOT_FIXED = "Заявитель сообщает, что проблема не устранена"


def reactions_handler(settings: Settings) -> BatchHandler:
    """BatchHandler of `routing-reaction-classified`."""

    async def handle_reactions(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for event in events:
            if not isinstance(event.data, ReactionClassified):
                raise BadEvent(f"expected reaction.classified, got {event.type}")
        session = writes.session
        ids = sorted({event.data.reaction_id for event in events})
        known = set((await session.exec(select(Reaction.id).where(col(Reaction.id).in_(ids)))).all())
        for event in events:
            reaction: ReactionClassified = event.data
            if reaction.reaction_id in known:
                continue  # seen already (the collector's id is unique)
            known.add(reaction.reaction_id)
            await apply_reaction(session, writes, reaction, settings=settings, cause=event)

    return handle_reactions


async def apply_reaction(
    session: AsyncSession,
    writes: Writes,
    reaction: ReactionClassified,
    *,
    settings: Settings,
    cause: CloudEvent[Any] | None = None,
) -> None:
    incident = await get_incident(session, incident_id=reaction.incident_id, lock=True)
    now = cause.time if cause is not None else reaction.published_at
    session.add(
        Reaction(
            id=reaction.reaction_id,
            incident_id=incident.id,
            reply_id=reaction.reply_id,
            by_complainant=reaction.by_complainant,
            label=reaction.label.value,
            confidence=reaction.confidence,
            evidence=list(reaction.evidence),
            text=reaction.text,
            url=reaction.url,
            published_at=reaction.published_at,
            received_at=now,
        )
    )
    who = "Заявитель" if reaction.by_complainant else "Другой гражданин"
    quote = reaction.text if len(reaction.text) <= QUOTE else reaction.text[: QUOTE - 1] + "…"
    words = f" ({', '.join(reaction.evidence[:5])})" if reaction.evidence else ""
    note = f"{who}: {REACTIONS.get(reaction.label, reaction.label.value)}{words}: «{quote}»"
    effects = Effects()
    satisfaction = SETS.get(reaction.label) if reaction.by_complainant else None
    if satisfaction is not None:
        incident.satisfaction = satisfaction.value
    record(effects, incident, actor=CITIZEN, action="reaction", now=now, comment=note)
    reopen = reaction.by_complainant and reaction.label == ReactionLabel.not_fixed and incident.status in REOPENABLE
    if reopen and settings.not_fixed_action == "flag":
        incident.flagged = True
        incident.flag_reason = f"{NOT_FIXED}: «{quote}»"[:500]
        reopen = False
    incident.updated_at = max(incident.updated_at, now)
    emit(
        effects,
        incident,
        IncidentReaction,
        cause=cause,
        reaction_id=reaction.reaction_id,
        label=reaction.label,
        by_complainant=reaction.by_complainant,
        text=reaction.text,
        url=reaction.url,
    )
    session.add(incident)
    queue_effects(writes, effects)
    if reopen:
        # The same action an operator takes: a reopened incident with new clocks, in the audit log.
        await perform_action(
            session,
            incident_id=incident.id,
            request=ActionRequest(action=IncidentAction.reopen, comment=f"{NOT_FIXED}: «{quote}»"),
            actor=CITIZEN,
            settings=settings,
            now=now,
        )
