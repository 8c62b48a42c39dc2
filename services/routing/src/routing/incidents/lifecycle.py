"""The actions officials take on an incident (the gateway contract): transitions, replies, redirects, reassignment.

An action locks its incident (FOR UPDATE on PostgreSQL), changes the ORM row and queues its audit
entries, clocks and events in the transaction's Writes, through the same decision helpers the
consumer uses (incidents.effects), so that both produce the same history and event contents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import utcnow, writes_of
from incidents_common.events import IncidentAction, IncidentStatus, ReplyKind
from routing.config import Settings
from routing.deadlines import service as deadlines
from routing.deadlines.models import Clock, DeadlineState
from routing.directory.models import Department, Official
from routing.errors import BadDirectoryData, InvalidTransition, UnknownDepartment, UnknownOfficial
from routing.incidents import corrections, replies
from routing.incidents.effects import Effects, apply_assignment, transition
from routing.incidents.models import Incident
from routing.incidents.queries import assignee_official, get_incident
from routing.incidents.review import ClockView
from routing.incidents.schemas import ActionRequest
from routing.incidents.writes import queue_effects, queue_workload
from routing.rules import engine
from routing.rules.service import load_directories, load_workload
from routing.wording import action_name, quoted, status_name

S = IncidentStatus
# action → (statuses it is allowed from, status it leads to)
TRANSITIONS: dict[IncidentAction, tuple[frozenset[str], IncidentStatus]] = {
    IncidentAction.take: (frozenset({S.assigned, S.reopened}), S.in_progress),
    IncidentAction.interim_answer: (frozenset({S.assigned, S.in_progress, S.reopened}), S.in_progress),
    IncidentAction.reply: (frozenset({S.assigned, S.in_progress, S.reopened}), S.answered),
    IncidentAction.resolve: (frozenset({S.answered}), S.resolved),
    IncidentAction.close: (frozenset({S.resolved}), S.closed),
    IncidentAction.reject: (frozenset({S.new, S.assigned, S.in_progress, S.reopened}), S.rejected),
    IncidentAction.reopen: (frozenset({S.answered, S.resolved, S.closed, S.rejected}), S.reopened),
    IncidentAction.reassign: (frozenset({S.new, S.assigned, S.in_progress, S.reopened}), S.assigned),
    IncidentAction.redirect: (frozenset({S.assigned, S.in_progress, S.reopened}), S.assigned),
}


async def perform_action(
    session: AsyncSession,
    *,
    incident_id: str,
    request: ActionRequest,
    actor: str,
    settings: Settings,
    authorize: Callable[[Incident], None] | None = None,
    now: datetime | None = None,
) -> Incident:
    """Apply one action by `actor` (the verified caller); 409 when the incident's status does not allow it.

    `authorize` sees the locked incident first and raises when the caller may not act on it.
    """
    now = now or utcnow()
    incident = await get_incident(session, incident_id=incident_id, lock=True)
    if authorize is not None:
        authorize(incident)
    if request.action == IncidentAction.correct:
        # Its outcome depends on what is corrected (rejected, moved, or neither): incidents.corrections.
        effects = Effects()
        await corrections.correct(
            session, effects, incident=incident, request=request, actor=actor, now=now, settings=settings
        )
        session.add(incident)
        queue_effects(writes_of(session), effects)
        return incident
    allowed, target = TRANSITIONS[request.action]
    if incident.status not in allowed:
        raise InvalidTransition(
            f"Действие {quoted(action_name(request.action))} недоступно: инцидент в статусе "
            f"{quoted(status_name(incident.status))}",
            current_status=incident.status,
            allowed_from=sorted(allowed),
        )
    effects = Effects()
    action, comment = request.action, request.comment
    if action == IncidentAction.take:
        transition(effects, incident, to=target, actor=actor, now=now, comment=comment, action="take")
    elif action == IncidentAction.interim_answer:
        incident.interim_text, incident.interim_url = request.reply_text, request.reply_url
        if await _publish(session, effects, incident, ReplyKind.interim, request, actor=actor, now=now):
            # Posted by hand: it stops the first-reaction clock now; else once published (replies).
            await replies.interim_clocks(session, incident, now=now, settings=settings)
        transition(
            effects,
            incident,
            to=target,
            actor=actor,
            now=now,
            action="interim_answer",
            comment=_join(comment, f"Промежуточный ответ: {request.reply_text}"),
        )
    elif action == IncidentAction.reply:
        incident.reply_text, incident.reply_url = request.reply_text, request.reply_url
        published = await _publish(session, effects, incident, ReplyKind.reply, request, actor=actor, now=now)
        if published:  # posted by hand: it counts now; else when the collector has published it (replies)
            incident.first_response_at = incident.first_response_at or now
            running = await deadlines.settle(
                session, incident=incident, clocks=(Clock.first_reaction, Clock.final), state=DeadlineState.met, now=now
            )
            deadlines.sync_due(incident, running)
        transition(
            effects,
            incident,
            to=target,
            actor=actor,
            now=now,
            action="reply",
            # The reply's text itself goes into the audit log (its hash chain), not only its link.
            comment=_join(comment, _reply_note(request.reply_text, request.reply_url)),
        )
    elif action in (IncidentAction.resolve, IncidentAction.close, IncidentAction.reject):
        running = await deadlines.settle(
            session,
            incident=incident,
            clocks=(Clock.first_reaction, Clock.final),
            state=DeadlineState.cancelled,
            now=now,
        )
        deadlines.sync_due(incident, running)
        if action == IncidentAction.reject:
            incident.reject_reason = request.reason
        transition(
            effects,
            incident,
            to=target,
            actor=actor,
            now=now,
            action=action.value,
            comment=_join(request.reason, comment),
        )
    elif action == IncidentAction.reopen:
        await deadlines.restart_clocks(
            session,
            incident=clocked(incident),
            official=await assignee_official(session, incident),
            now=now,
            settings=settings,
        )
        incident.reject_reason = None
        transition(
            effects, incident, to=target, actor=actor, now=now, action="reopen", comment=_join(request.reason, comment)
        )
    elif action == IncidentAction.reassign:
        await reassign(
            session, effects, incident=incident, official_id=request.official_id, actor=actor, now=now, comment=comment
        )
    elif action == IncidentAction.redirect:
        await redirect(session, effects, incident=incident, request=request, actor=actor, now=now)
    session.add(incident)
    queue_effects(writes_of(session), effects)
    return incident


def clocked(incident: Incident) -> deadlines.ClockedIncident:
    """The incident as its clocks see it: a possibly-critical one runs on the critical policy."""
    return cast(deadlines.ClockedIncident, ClockView(incident))


def _join(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


async def reassign(
    session: AsyncSession,
    effects: Effects,
    *,
    incident: Incident,
    official_id: str | None,
    actor: str,
    now: datetime,
    comment: str | None,
) -> None:
    """To a named official of the incident's region, on duty; the clocks keep running."""
    # By id, then by region: another region's official is unknown here, exactly like a missing one.
    official = await session.get(Official, official_id or "")
    if official is None or official.region_code != incident.region_code:
        raise UnknownOfficial(f"Исполнитель {official_id!r} не найден в регионе {incident.region_code}")
    if not official.on_duty:
        raise BadDirectoryData(f"Исполнитель {official.name} ({official.id}) сейчас не на дежурстве")
    department = await session.get(Department, official.department_id) if official.department_id else None
    chosen = engine.Assignment(
        engine.assignee_of(official, department),
        official,
        f"Переназначен пользователем {actor}: {official.name}" + (f"; {comment}" if comment else ""),
    )
    apply_assignment(effects, incident, chosen, now=now, actor=actor, comment=comment)


async def redirect(
    session: AsyncSession,
    effects: Effects,
    *,
    incident: Incident,
    request: ActionRequest,
    actor: str,
    now: datetime,
) -> None:
    """Out of competence: to the named department; bounced twice between the same bodies → curator, flagged."""
    target: Department | None = None
    if request.target_department_id:
        # Another region's department is unknown here, exactly like a missing one.
        target = await session.get(Department, request.target_department_id)
        if target is None or target.region_code != incident.region_code:
            raise UnknownDepartment(
                f"Подразделение {request.target_department_id!r} не найдено в регионе {incident.region_code}"
            )
    step = {
        "at": now.isoformat(),
        "actor": actor,
        "from_department_id": incident.department_id,
        "from_department_name": incident.department_name,
        "from_official_id": incident.assignee_id,
        "to_department_id": target.id if target else None,
        "to_department_name": target.name if target else None,
        "note": request.target_note,
        "reason": request.reason,
    }
    chain = [*incident.redirect_chain, step]
    incident.redirect_chain = chain
    pair = frozenset({step["from_department_id"], step["to_department_id"]})
    bounces = sum(1 for s in chain if frozenset({s["from_department_id"], s["to_department_id"]}) == pair)
    comment = f"Перенаправлен: {request.reason}" + (
        f" (по компетенции: {request.target_note})" if request.target_note else ""
    )
    directory = (await load_directories(session, [incident.region_code]))[incident.region_code]
    workload = await load_workload(session, directory.officials)
    flag = None
    if target is not None and bounces < 2:
        chosen = engine.choose_assignee(
            directory,
            workload,
            category=incident.category,
            city=incident.city,
            urgency=incident.urgency,
            department_id=target.id,
        )
    else:
        flag = (
            "Инцидент дважды перенаправлен между одними и теми же подразделениями: "
            f"{step['from_department_name'] or step['from_department_id']} ↔ "
            f"{step['to_department_name'] or step['to_department_id']}"
            if target is not None
            else f"Перенаправлен в орган, которого нет в справочнике: {request.target_note}"
        )
        chosen = engine.to_curator(directory, workload, category=incident.category, notes=[], why=flag)
    apply_assignment(effects, incident, chosen, now=now, actor=actor, flag=flag, comment=comment)
    queue_workload(writes_of(session), workload)


async def _publish(
    session: AsyncSession,
    effects: Effects,
    incident: Incident,
    kind: ReplyKind,
    request: ActionRequest,
    *,
    actor: str,
    now: datetime,
) -> bool:
    """Record the reply: posted by hand when the official links it (True), else asked of the collector."""
    text = request.reply_text or ""
    if request.reply_url:
        replies.record_manual(session, incident, kind=kind, text=text, url=request.reply_url, actor=actor, now=now)
        return True
    await replies.request_publication(session, effects, incident, kind=kind, text=text, actor=actor, now=now)
    return False


def _reply_note(text: str | None, url: str | None) -> str:
    note = f"Публичный ответ: {text}" if text else "Публичный ответ"
    return f"{note} ({url})" if url else note
