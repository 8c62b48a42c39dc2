"""The `correct` action: an operator decides on an incident's classification, and it becomes feedback.

Any of is_incident, category, urgency and region_code may be stated (a value equal to the current one
confirms it: it settles a grey zone as much as a change does). Routing applies the decision:

- is_incident false: the incident is rejected as not a complaint, its clocks cancelled;
- category or region: the incident moves as a redirect moves it, re-assigned by the rules of its
  (new) region;
- urgency: the running clocks are planned again under the new urgency's SLA policy, each from when it
  started (for an incident never reopened nor answered, its creation); a possibly-critical incident
  that the operator did not confirm as critical leaves the critical clock the same way.

The review flag and its reasons are cleared, the audit log names the operator, the incident's snapshot
goes out in IncidentCorrected (and IncidentAssigned / IncidentStatusChanged when it moved or closed, on
the subjects of its region now; IncidentMovedOut on those of the region it left, when its region
changed), and one ClassificationCorrected per post of the incident goes through the outbox, in the same
transaction, to the classifier, which stores it as feedback for its next training run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import writes_of
from incidents_common.events import (
    ClassificationCorrected,
    ClassificationValues,
    IncidentCorrected,
    IncidentMovedOut,
    IncidentStatus,
    Urgency,
)
from incidents_common.regions import REGIONS
from routing.config import SOURCE, Settings
from routing.deadlines import service as deadlines
from routing.deadlines.models import Clock, DeadlineState
from routing.errors import InvalidTransition
from routing.incidents.effects import Effects, apply_assignment, emit, record, transition
from routing.incidents.models import LOAD_STATUSES, Incident, IncidentPost
from routing.incidents.posts import severity
from routing.incidents.priority import rescored
from routing.incidents.queries import assignee_official
from routing.incidents.review import ClockView, clock_urgency
from routing.incidents.schemas import ActionRequest
from routing.incidents.snapshots import review_reasons_of
from routing.incidents.writes import queue_workload
from routing.rules import engine
from routing.rules.engine import region_label
from routing.rules.service import load_directories, load_workload
from routing.wording import category_name, quoted, status_name, urgency_name

# Only incidents being worked on: an answered or closed one has no clocks to plan and no one to move it to.
CORRECTABLE_FROM = frozenset(LOAD_STATUSES)
# How routing.deadlines names the final clock an interim answer starts (and how it did before, in English).
INTERIM_SUFFIXES = (deadlines.INTERIM_SUFFIX, ", after an interim answer")
CLOCKS = (Clock.first_reaction, Clock.final)


def values_of(incident: Incident) -> ClassificationValues:
    return ClassificationValues(
        is_incident=True,
        category=incident.category,
        urgency=Urgency(incident.urgency),
        region_code=incident.region_code,
    )


FIELD_NAMES = {"is_incident": "жалоба", "category": "категория", "urgency": "срочность", "region_code": "регион"}


def shown_value(name: str, value: object) -> str:
    """A classification value as the audit log shows it: «Дороги», «высокая», «64 (Саратовская область)»."""
    if name == "is_incident":
        return "да" if value else "нет"
    if name == "category":
        return quoted(category_name(str(value)))
    if name == "urgency":
        return urgency_name(str(value.value if isinstance(value, Urgency) else value))
    if name == "region_code":
        return region_label(str(value))
    return str(value)


def describe(previous: ClassificationValues, corrected: ClassificationValues) -> str:
    """«срочность: высокая → критическая; категория: «Дороги» (подтверждено)», for the audit log."""
    parts = []
    for name in corrected.stated():
        shown_old = shown_value(name, getattr(previous, name))
        shown_new = shown_value(name, getattr(corrected, name))
        label = FIELD_NAMES.get(name, name)
        same = shown_old == shown_new
        parts.append(f"{label}: {shown_new} (подтверждено)" if same else f"{label}: {shown_old} → {shown_new}")
    return "; ".join(parts)


async def correct(
    session: AsyncSession,
    effects: Effects,
    *,
    incident: Incident,
    request: ActionRequest,
    actor: str,
    now: datetime,
    settings: Settings,
) -> None:
    """Apply an operator's correction to a locked incident (see the module docstring)."""
    if incident.status not in CORRECTABLE_FROM:
        raise InvalidTransition(
            f"Исправить классификацию нельзя: инцидент в статусе {quoted(status_name(incident.status))}",
            current_status=incident.status,
            allowed_from=sorted(CORRECTABLE_FROM),
        )
    previous = values_of(incident)
    corrected = ClassificationValues(
        is_incident=request.is_incident,
        category=request.category,
        urgency=request.urgency,
        region_code=request.region_code,
    )
    reasons = review_reasons_of(incident)
    region_before, clocks_before = incident.region_code, clock_urgency(incident)
    posts = list(
        (
            await session.exec(
                select(IncidentPost).where(IncidentPost.incident_id == incident.id).order_by(col(IncidentPost.ordinal))
            )
        ).all()
    )

    # The operator has decided: out of the review queue, off the critical clock unless confirmed critical.
    incident.needs_review, incident.review_reasons, incident.possibly_critical = False, [], False
    if request.urgency is not None:
        incident.urgency = request.urgency.value
        incident.severity = severity(incident.urgency, incident.complainants, incident.total_reach)
    # Its urgency (or the critical clock) may have changed: the same measurements on the new base.
    incident.priority = rescored(incident.priority, urgency=incident.urgency, possibly_critical=False)
    incident.updated_at = now
    summary = describe(previous, corrected)
    record(
        effects,
        incident,
        actor=actor,
        action="correct",
        now=now,
        comment="Классификация исправлена: " + summary + (f" — {request.comment}" if request.comment else ""),
    )
    if request.is_incident is False:
        running = await deadlines.settle(
            session, incident=incident, clocks=CLOCKS, state=DeadlineState.cancelled, now=now
        )
        deadlines.sync_due(incident, running)
        incident.reject_reason = "Не является жалобой (решение оператора)" + (
            f": {request.comment}" if request.comment else ""
        )
        transition(
            effects, incident, to=IncidentStatus.rejected, actor=actor, now=now, action="reject", comment=summary
        )
    else:
        moved = (request.category is not None and request.category != incident.category) or (
            request.region_code is not None and request.region_code != incident.region_code
        )
        if moved:
            await move(session, effects, incident=incident, request=request, actor=actor, now=now, summary=summary)
        if incident.region_code != region_before or clock_urgency(incident) != clocks_before:
            await replan_clocks(session, incident=incident, now=now, settings=settings)
    emit(
        effects,
        incident,
        IncidentCorrected,
        actor=actor,
        corrected=corrected,
        previous=previous,
        review_reasons=reasons,
        comment=request.comment,
    )
    if incident.region_code != region_before:
        # Every event above went out on the new region's subjects: the region it left hears of it here.
        emit(
            effects,
            incident,
            IncidentMovedOut,
            from_region_code=region_before,
            to_region_code=incident.region_code,
            actor=actor,
            comment=request.comment,
        )
    writes = writes_of(session)
    for post in posts:
        writes.publish(
            ClassificationCorrected(
                post_id=post.post_id,
                text=post.text,
                corrected=corrected,
                previous=post_previous(post, previous),
                operator=actor,
                comment=request.comment,
                incident_id=incident.id,
                region_code=region_before,  # where the operator acted: that region's subscribers read it
                corrected_at=now,
                model_version=(post.classification or {}).get("model_version"),
                danger=(post.classification or {}).get("danger"),
                review_reasons=(post.classification or {}).get("review_reasons") or [],
            ),
            source=SOURCE,
            origin_post_id=post.post_id,
        )


def post_previous(post: IncidentPost, incident_values: ClassificationValues) -> ClassificationValues:
    """What the post carried before: its own classification (routed since this release), else the
    incident's values, which the post shared when it joined."""
    stored: dict[str, Any] = post.classification or {}
    urgency = str(stored.get("urgency"))
    return ClassificationValues(
        is_incident=True,
        category=stored.get("category") or incident_values.category,
        urgency=Urgency(urgency) if urgency in Urgency.__members__ else incident_values.urgency,
        region_code=stored.get("region_code") or incident_values.region_code,
    )


async def move(
    session: AsyncSession,
    effects: Effects,
    *,
    incident: Incident,
    request: ActionRequest,
    actor: str,
    now: datetime,
    summary: str,
) -> None:
    """To the corrected category and region, re-assigned by the rules there, as a redirect moves it."""
    step: dict[str, Any] = {
        "at": now.isoformat(),
        "actor": actor,
        "from_department_id": incident.department_id,
        "from_department_name": incident.department_name,
        "from_official_id": incident.assignee_id,
        "note": "исправлена классификация",
        "reason": summary,
    }
    if request.region_code is not None and request.region_code != incident.region_code:
        incident.region_code = request.region_code
        incident.region_name = REGIONS[request.region_code].name
        incident.city = None  # the classifier's town was in the other region
    if request.category is not None:
        incident.category = request.category
    directory = (await load_directories(session, [incident.region_code]))[incident.region_code]
    workload = await load_workload(session, directory.officials)
    chosen = engine.choose_assignee(
        directory, workload, category=incident.category, city=incident.city, urgency=incident.urgency
    )
    step |= {"to_department_id": chosen.assignee.department_id, "to_department_name": chosen.assignee.department_name}
    incident.redirect_chain = [*incident.redirect_chain, step]
    apply_assignment(effects, incident, chosen, now=now, actor=actor, comment=f"Классификация исправлена: {summary}")
    queue_workload(writes_of(session), workload)


async def replan_clocks(session: AsyncSession, *, incident: Incident, now: datetime, settings: Settings) -> None:
    """Each running clock again, from when it started, under the SLA policy of the incident's (clock)
    urgency and its assignee's working time; a final clock an interim answer started keeps the interim
    budget. Due times may fall in the past: the scanner then warns and escalates as it would have."""
    running = await deadlines.pending_deadlines(session, incident.id, lock=True)
    if not running:
        return
    view = cast(deadlines.ClockedIncident, ClockView(incident))
    policy = await deadlines.resolve_policy(
        session,
        region_code=incident.region_code,
        category=incident.category,
        urgency=view.urgency,
        settings=settings,
    )
    calendar = deadlines.calendar_for(
        await assignee_official(session, incident),
        incident.region_code,
        settings,
        city=incident.city,
        urgency=view.urgency,
    )
    planned = []
    for clock in running:
        if clock.clock == Clock.first_reaction:
            seconds, name = policy.first_reaction_hours * 3600, policy.name
        elif any(suffix in clock.policy for suffix in INTERIM_SUFFIXES):
            seconds, name = policy.interim_days * calendar.day_seconds, policy.name + deadlines.INTERIM_SUFFIX
        else:
            seconds, name = policy.final_days * calendar.day_seconds, policy.name
        planned.append(
            deadlines.new_deadline(
                incident=view,
                clock=clock.clock,
                calendar=calendar,
                seconds=seconds,
                now=clock.started_at,
                policy=f"{name}, исправлено оператором",
                settings=settings,
            )
        )
    deadlines.close(running, CLOCKS, DeadlineState.cancelled, now)
    deadlines.add_clocks(session, planned)
    deadlines.sync_due(incident, planned)
