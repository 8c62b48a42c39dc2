"""Incidents: clustering classified posts, creation and assignment, the lifecycle, redirects, escalation."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import (
    Assignee,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentEvent,
    IncidentPostAttached,
    IncidentSnapshot,
    IncidentStatus,
    IncidentStatusChanged,
    PostClassified,
    Urgency,
)
from incidents_common.metrics import count_on_commit
from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.deadlines import service as deadlines
from routing.deadlines.models import Clock, Deadline, DeadlineState
from routing.directory.models import Official
from routing.errors import BadDirectoryData, InvalidTransition, UnknownDepartment, UnknownIncident, UnknownOfficial
from routing.incidents.clustering import Address, Candidate, Fingerprint, best_match, fingerprint
from routing.incidents.models import (
    OPEN_STATUSES,
    Escalation,
    Incident,
    IncidentHistory,
    IncidentPost,
    SkippedPost,
)
from routing.incidents.schemas import (
    Action,
    ActionRequest,
    EscalationRead,
    HistoryRead,
    IncidentPage,
    IncidentPostRead,
    IncidentRead,
    IncidentSummary,
    ReplyRead,
)
from routing.outbox import defer_insert, defer_upsert, flush_deferred, publish
from routing.rules import service as rules
from routing.timeutil import utcnow

SOURCE = "/services/routing"
SYSTEM_ACTOR = "routing"

S = IncidentStatus
# action → (statuses it is allowed from, status it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[str], IncidentStatus]] = {
    Action.take: (frozenset({S.assigned, S.reopened}), S.in_progress),
    Action.interim_answer: (frozenset({S.assigned, S.in_progress, S.reopened}), S.in_progress),
    Action.reply: (frozenset({S.assigned, S.in_progress, S.reopened}), S.answered),
    Action.resolve: (frozenset({S.answered}), S.resolved),
    Action.close: (frozenset({S.resolved}), S.closed),
    Action.reject: (frozenset({S.new, S.assigned, S.in_progress, S.reopened}), S.rejected),
    Action.reopen: (frozenset({S.answered, S.resolved, S.closed, S.rejected}), S.reopened),
    Action.reassign: (frozenset({S.new, S.assigned, S.in_progress, S.reopened}), S.assigned),
    Action.redirect: (frozenset({S.assigned, S.in_progress, S.reopened}), S.assigned),
}


# -- snapshots and events --------------------------------------------------------------------


def assignee_of(incident: Incident) -> Assignee | None:
    if incident.assignee_id is None:
        return None
    return Assignee(
        official_id=incident.assignee_id,
        name=incident.assignee_name or incident.assignee_id,
        position=incident.assignee_position,
        department_id=incident.department_id,
        department_name=incident.department_name,
    )


def snapshot(incident: Incident) -> IncidentSnapshot:
    return IncidentSnapshot(
        incident_id=incident.id,
        region_code=incident.region_code,
        region_name=incident.region_name,
        city=incident.city,
        category=incident.category,
        urgency=Urgency(incident.urgency),
        status=IncidentStatus(incident.status),
        severity=incident.severity,
        title=incident.title,
        summary=incident.summary,
        assignee=assignee_of(incident),
        assignment_explanation=incident.assignment_explanation,
        post_ids=list(incident.post_ids),
        complainants=incident.complainants,
        total_reach=incident.total_reach,
        escalation_level=incident.escalation_level,
        first_response_due=incident.first_response_due,
        final_due=incident.final_due,
        first_response_at=incident.first_response_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


def emit(session: AsyncSession, incident: Incident, event_type: type[IncidentEvent], **fields: Any) -> None:
    """Queue an incident event, with the incident's snapshot after the change, in the outbox."""
    publish(
        session,
        event_type(incident=snapshot(incident), **fields),
        source=SOURCE,
        origin_post_id=incident.origin_post_id,
    )


def record(
    session: AsyncSession,
    incident: Incident,
    *,
    actor: str,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    comment: str | None = None,
) -> None:
    incident.history_seq += 1
    defer_insert(
        session,
        IncidentHistory.__table__,  # type: ignore[attr-defined]
        {
            "id": uuid.uuid4().hex,
            "seq": incident.history_seq,
            "incident_id": incident.id,
            "at": now,
            "actor": actor,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "comment": comment,
        },
    )


def severity(urgency: str, complainants: int, reach: int) -> int:
    """1..5: the urgency's base, +1 per order of magnitude of complainants and of reach above 1 000."""
    base = {"critical": 3, "high": 2}.get(urgency, 1)
    crowd = int(math.log10(complainants)) + (1 if complainants >= 3 else 0) if complainants > 1 else 0
    audience = max(0, int(math.log10(reach)) - 2) if reach > 0 else 0
    return max(1, min(5, base + crowd + audience))


def post_reach(post: PostClassified) -> int:
    """Who saw it: views when the source counts them, else the author's followers or the engagement."""
    reach = post.reach
    engagement = (reach.likes or 0) + (reach.reposts or 0) + (reach.comments or 0)
    followers = post.author.followers if post.author and post.author.followers else 0
    return max(reach.views or 0, followers, engagement)


def author_key(post: PostClassified) -> str:
    if post.author and post.author.id:
        return f"{post.source_type.value}:{post.author.id}"
    return f"post:{post.post_id}"  # an anonymous post counts as its own complainant


_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def title_of(text: str) -> str:
    # Sentences are joined until the title says something: "Казань, ул." alone is an address
    # abbreviation cut by the sentence split, not a title.
    title = ""
    for sentence in _SENTENCE.split(" ".join(text.split())):
        title = f"{title} {sentence}".strip()
        if len(title) >= 40:
            break
    return title if len(title) <= 120 else title[:117].rstrip() + "…"


def summary_of(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 600 else flat[:597].rstrip() + "…"


# -- the consumer's work: cluster or create --------------------------------------------------


async def _candidates(session: AsyncSession, *, region_code: str, category: str, since: datetime) -> list[Candidate]:
    """Open incidents of one region and category, loaded once per transaction and kept current."""
    cache: dict[tuple[str, str], list[Candidate]] = session.info.setdefault("routing.clusters", {})
    key = (region_code, category)
    if key not in cache:
        await _cluster_lock(session, region_code, category)
        incidents = (
            await session.exec(
                select(Incident).where(
                    Incident.region_code == region_code,
                    Incident.category == category,
                    col(Incident.status).in_(OPEN_STATUSES),
                    Incident.last_post_at >= since,
                )
            )
        ).all()
        by_id = {i.id: Candidate(i.id, Address.parse(i.address), incident=i) for i in incidents}
        if by_id:
            posts = await session.exec(
                select(
                    IncidentPost.incident_id, IncidentPost.post_id, IncidentPost.terms, IncidentPost.external_id
                ).where(col(IncidentPost.incident_id).in_(list(by_id)))
            )
            for incident_id, post_id, terms, external_id in posts.all():
                by_id[incident_id].post_ids.add(post_id)
                by_id[incident_id].term_sets.append(frozenset(terms))
                if external_id:
                    by_id[incident_id].external_ids.add(external_id)
        cache[key] = list(by_id.values())
    return cache[key]


async def _cluster_lock(session: AsyncSession, region_code: str, category: str) -> None:
    """On PostgreSQL, serialise cluster-or-create per region and category across replicas until commit,
    so that two replicas never open two incidents for one problem. A deadlock between two batches is
    detected by PostgreSQL; the consumer then retries message by message, one lock per transaction."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"routing-cluster:{region_code}:{category}".encode(), digest_size=8).digest()
    await session.exec(select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True))))


async def handle_classified(
    session: AsyncSession, *, post: PostClassified, settings: Settings, now: datetime | None = None
) -> Incident | None:
    """Turn a classified complaint into a new incident or attach it to the open one it repeats."""
    # A batch shares one transaction: the clustering and load caches in session.info make
    # autoflush before every query unnecessary, and the inserts then go out together at commit.
    with session.no_autoflush:
        return await _handle_classified(session, post=post, settings=settings, now=now or utcnow())


async def _handle_classified(
    session: AsyncSession, *, post: PostClassified, settings: Settings, now: datetime
) -> Incident | None:
    c = post.classification
    region_code = c.region.code or post.place_hints.region_code
    reason = None
    if not c.is_incident:
        reason = f"not an incident ({c.incident.label}, confidence {c.incident.confidence:.2f})"
    elif region_code is None:
        reason = "no region: neither the classifier nor the source placed it"
    elif region_code not in REGIONS:
        reason = f"unknown region code {region_code!r}"
    if reason is not None:
        _skip(session, post.post_id, reason, now)
        return None
    assert region_code is not None
    category = c.category.label
    since = now - timedelta(hours=settings.cluster_window_hours)
    candidates = await _candidates(session, region_code=region_code, category=category, since=since)
    # Already routed? This transaction, then the open incidents just loaded; only an edited version
    # (> 1) costs a query. A version 1 redelivered under a new event id into a closed incident is
    # stopped by the primary key (the batch then retries message by message and dead-letters it).
    routed: dict[str, str] = session.info.setdefault("routing.routed_posts", {})
    incident_id = routed.get(post.post_id) or next(
        (cand.incident_id for cand in candidates if post.post_id in cand.post_ids), None
    )
    if incident_id is None and post.version > 1:
        incident_id = (
            await session.exec(select(IncidentPost.incident_id).where(IncidentPost.post_id == post.post_id))
        ).first()
    if incident_id is not None:
        _skip(session, post.post_id, f"already in incident {incident_id} (version {post.version} ignored)", now)
        return None
    fp = fingerprint(post.text)
    repost_of = {ref.external_id for ref in post.repost_chain}
    match = best_match(candidates, fp, threshold=settings.cluster_threshold, repost_of=repost_of)
    if match is not None:
        candidate, score, why = match
        incident = candidate.incident or await session.get(Incident, candidate.incident_id)
        if incident is not None and incident.status in OPEN_STATUSES:
            await attach_post(
                session, incident=incident, post=post, fp=fp, score=score, why=why, now=now, settings=settings
            )
            candidate.term_sets.append(fp.terms)
            candidate.external_ids.add(post.external_id)
            candidate.post_ids.add(post.post_id)
            routed[post.post_id] = incident.id
            return incident
    incident = await create_incident(session, post=post, region_code=region_code, fp=fp, now=now, settings=settings)
    candidates.append(Candidate(incident.id, fp.address, [fp.terms], {post.external_id}, {post.post_id}, incident))
    routed[post.post_id] = incident.id
    return incident


def _skip(session: AsyncSession, post_id: str, reason: str, now: datetime) -> None:
    defer_upsert(session, SkippedPost.__table__, {"post_id": post_id, "reason": reason[:300], "at": now})  # type: ignore[attr-defined]


def _add_post_row(
    session: AsyncSession, incident: Incident, post: PostClassified, fp: Fingerprint, score: float, now: datetime
) -> None:
    defer_insert(
        session,
        IncidentPost.__table__,  # type: ignore[attr-defined]
        {
            "post_id": post.post_id,
            "incident_id": incident.id,
            "ordinal": len(incident.post_ids) - 1,  # the post is already in post_ids
            "external_id": post.external_id,
            "author_key": author_key(post),
            "author_name": post.author.name if post.author else None,
            "url": post.url,
            "text": post.text[:20000],
            "reach": post_reach(post),
            "terms": sorted(fp.terms),
            "address": fp.address.key() if fp.address else None,
            "similarity": round(score, 3),
            "published_at": post.published_at,
            "attached_at": now,
        },
    )


async def create_incident(
    session: AsyncSession,
    *,
    post: PostClassified,
    region_code: str,
    fp: Fingerprint,
    now: datetime,
    settings: Settings,
) -> Incident:
    c = post.classification
    urgency = c.urgency.label if c.urgency.label in Urgency.__members__ else Urgency.normal.value
    reach = post_reach(post)
    incident = Incident(
        id=str(uuid.uuid4()),
        region_code=region_code,
        region_name=REGIONS[region_code].name,
        city=c.region.city or post.place_hints.city,
        address=fp.address.key() if fp.address else None,
        category=c.category.label,
        urgency=urgency,
        status=IncidentStatus.new,
        title=title_of(post.text),
        summary=summary_of(post.text),
        origin_post_id=post.post_id,
        post_ids=[post.post_id],
        author_keys=[author_key(post)],
        redirect_chain=[],  # given, not defaulted: SQLModel inspects a builtin default factory per call (~0.3 ms)
        complainants=1,
        total_reach=reach,
        severity=severity(urgency, 1, reach),
        created_at=now,
        updated_at=now,
        last_post_at=now,
    )
    session.add(incident)
    _add_post_row(session, incident, post, fp, 1.0, now)
    record(
        session,
        incident,
        actor=SYSTEM_ACTOR,
        action="created",
        now=now,
        to_status=IncidentStatus.new,
        comment=f"from post {post.post_id}",
    )
    emit(session, incident, IncidentCreated, post_id=post.post_id)
    count_on_commit(session, "incidents_created", region=region_code)
    await assign(session, incident=incident, now=now, settings=settings, actor=SYSTEM_ACTOR)
    return incident


async def assign(
    session: AsyncSession,
    *,
    incident: Incident,
    now: datetime,
    settings: Settings,
    actor: str,
    department_id: str | None = None,
    official: Official | None = None,
    explanation: str | None = None,
    restart_clocks: bool = True,
    flag: str | None = None,
    comment: str | None = None,
) -> None:
    """Assign by the rules (or to the given department/official), start the clocks, publish."""
    if official is not None:
        chosen = rules.Assignment(
            rules.assignee_of(official, await _department(session, official.department_id)),
            official,
            explanation or f"assigned by {actor}",
        )
    elif flag is not None:
        directory = await rules.region_directory(session, incident.region_code)
        chosen = await rules.to_curator(session, directory, category=incident.category, notes=[], why=flag)
    else:
        chosen = await rules.choose_assignee(
            session,
            region_code=incident.region_code,
            category=incident.category,
            city=incident.city,
            urgency=incident.urgency,
            department_id=department_id,
        )
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
    if restart_clocks:
        await deadlines.restart_clocks(
            session,
            incident=incident,
            official=chosen.official,
            now=now,
            settings=settings,
            cancel_running=previous != IncidentStatus.new,  # a new incident has no clocks yet: spare the query
        )
    session.add(incident)
    record(
        session,
        incident,
        actor=actor,
        action="assigned",
        now=now,
        from_status=previous,
        to_status=IncidentStatus.assigned,
        comment=chosen.explanation + (f" — {comment}" if comment else ""),
    )
    emit(
        session,
        incident,
        IncidentAssigned,
        assignee=chosen.assignee,
        explanation=chosen.explanation,
        rule_id=incident.rule_id,
    )
    count_on_commit(session, "incidents_assigned", region=incident.region_code)
    if previous not in (IncidentStatus.new, IncidentStatus.assigned):
        emit(
            session,
            incident,
            IncidentStatusChanged,
            from_status=previous,
            to_status=IncidentStatus.assigned,
            actor=actor,
            comment=comment,
        )


async def _department(session: AsyncSession, department_id: str | None) -> Any:
    from routing.directory.models import Department

    return await session.get(Department, department_id) if department_id else None


async def attach_post(
    session: AsyncSession,
    *,
    incident: Incident,
    post: PostClassified,
    fp: Fingerprint,
    score: float,
    why: str,
    now: datetime,
    settings: Settings,
) -> None:
    key = author_key(post)
    incident.post_ids = [*incident.post_ids, post.post_id]
    _add_post_row(session, incident, post, fp, score, now)
    if key not in incident.author_keys:
        incident.author_keys = [*incident.author_keys, key]
    incident.complainants = len(incident.author_keys)
    incident.total_reach += post_reach(post)
    incident.severity = max(incident.severity, severity(incident.urgency, incident.complainants, incident.total_reach))
    if incident.address is None and fp.address is not None:
        incident.address = fp.address.key()
    incident.last_post_at = now
    incident.updated_at = now
    session.add(incident)
    explanation = (
        f"post {post.post_id} joined: {why}; same region {incident.region_code} and category {incident.category}"
    )
    record(session, incident, actor=SYSTEM_ACTOR, action="post_attached", now=now, comment=explanation)
    if incident.status == IncidentStatus.answered:
        # A citizen writes again after the answer: the incident reopens and its clocks restart.
        await _transition(
            session,
            incident,
            to=IncidentStatus.reopened,
            actor=SYSTEM_ACTOR,
            now=now,
            comment=f"a citizen wrote again (post {post.post_id})",
        )
        running = await deadlines.start_clocks(
            session, incident=incident, official=await _official(session, incident), now=now, settings=settings
        )
        deadlines.sync_due(incident, running)
    emit(
        session,
        incident,
        IncidentPostAttached,
        post_id=post.post_id,
        similarity=round(score, 3),
        explanation=explanation,
    )


async def _official(session: AsyncSession, incident: Incident) -> Official | None:
    return await session.get(Official, incident.assignee_id) if incident.assignee_id else None


async def _transition(
    session: AsyncSession,
    incident: Incident,
    *,
    to: IncidentStatus,
    actor: str,
    now: datetime,
    comment: str | None = None,
    action: str | None = None,
) -> None:
    previous = incident.status
    incident.status = to
    incident.updated_at = now
    session.add(incident)
    record(
        session,
        incident,
        actor=actor,
        action=action or to.value,
        now=now,
        from_status=previous,
        to_status=to,
        comment=comment,
    )
    emit(session, incident, IncidentStatusChanged, from_status=previous, to_status=to, actor=actor, comment=comment)


# -- actions (the gateway contract) ----------------------------------------------------------


async def get_incident(session: AsyncSession, *, incident_id: str, lock: bool = False) -> Incident:
    query = select(Incident).where(Incident.id == incident_id)
    if lock and session.bind is not None and session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    incident = (await session.exec(query)).first()
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id!r}")
    return incident


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
    allowed, target = TRANSITIONS[request.action]
    if incident.status not in allowed:
        raise InvalidTransition(
            f"cannot {request.action.value} an incident that is {incident.status}",
            current_status=incident.status,
            allowed_from=sorted(allowed),
        )
    action, comment = request.action, request.comment
    if action == Action.take:
        await _transition(session, incident, to=target, actor=actor, now=now, comment=comment, action="take")
    elif action == Action.interim_answer:
        incident.interim_text, incident.interim_url = request.reply_text, request.reply_url
        incident.first_response_at = incident.first_response_at or now
        running: Sequence[Deadline | deadlines.NewClock] = await deadlines.on_interim_answer(
            session, incident=incident, official=await _official(session, incident), now=now, settings=settings
        )
        deadlines.sync_due(incident, running)
        await _transition(
            session,
            incident,
            to=target,
            actor=actor,
            now=now,
            action="interim_answer",
            comment=_join(comment, f"interim answer: {request.reply_text}"),
        )
    elif action == Action.reply:
        incident.reply_text, incident.reply_url = request.reply_text, request.reply_url
        incident.first_response_at = incident.first_response_at or now
        running = await deadlines.settle(
            session, incident=incident, clocks=(Clock.first_reaction, Clock.final), state=DeadlineState.met, now=now
        )
        deadlines.sync_due(incident, running)
        await _transition(
            session,
            incident,
            to=target,
            actor=actor,
            now=now,
            action="reply",
            comment=_join(comment, f"public reply: {request.reply_url or request.reply_text}"),
        )
    elif action in (Action.resolve, Action.close, Action.reject):
        running = await deadlines.settle(
            session,
            incident=incident,
            clocks=(Clock.first_reaction, Clock.final),
            state=DeadlineState.cancelled,
            now=now,
        )
        deadlines.sync_due(incident, running)
        if action == Action.reject:
            incident.reject_reason = request.reason
        await _transition(
            session,
            incident,
            to=target,
            actor=actor,
            now=now,
            action=action.value,
            comment=_join(request.reason, comment),
        )
    elif action == Action.reopen:
        await deadlines.restart_clocks(
            session, incident=incident, official=await _official(session, incident), now=now, settings=settings
        )
        incident.reject_reason = None
        await _transition(
            session, incident, to=target, actor=actor, now=now, action="reopen", comment=_join(request.reason, comment)
        )
    elif action == Action.reassign:
        # By id, then by region: another region's official is unknown here, exactly like a missing one.
        official = await session.get(Official, request.official_id or "")
        if official is None or official.region_code != incident.region_code:
            raise UnknownOfficial(f"no official {request.official_id!r} in region {incident.region_code}")
        if not official.on_duty:
            raise BadDirectoryData(f"official {official.id} is not on duty in region {incident.region_code}")
        await assign(
            session,
            incident=incident,
            now=now,
            settings=settings,
            actor=actor,
            official=official,
            explanation=f"reassigned by {actor} to {official.name}" + (f": {comment}" if comment else ""),
            restart_clocks=False,
            comment=comment,
        )
    elif action == Action.redirect:
        await redirect(session, incident=incident, request=request, actor=actor, now=now, settings=settings)
    return incident


def _join(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


async def redirect(
    session: AsyncSession,
    *,
    incident: Incident,
    request: ActionRequest,
    actor: str,
    now: datetime,
    settings: Settings,
) -> None:
    """Out of competence: to the named department; bounced twice between the same bodies → curator, flagged."""
    from routing.directory.models import Department

    target: Department | None = None
    if request.target_department_id:
        # Another region's department is unknown here, exactly like a missing one.
        target = await session.get(Department, request.target_department_id)
        if target is None or target.region_code != incident.region_code:
            raise UnknownDepartment(f"no department {request.target_department_id!r} in region {incident.region_code}")
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
    comment = f"redirected: {request.reason}" + (f" (belongs to: {request.target_note})" if request.target_note else "")
    rules.forget_directory(session)
    if target is not None and bounces < 2:
        await assign(
            session,
            incident=incident,
            now=now,
            settings=settings,
            actor=actor,
            department_id=target.id,
            restart_clocks=False,
            comment=comment,
        )
        return
    why = (
        f"bounced twice between {step['from_department_name'] or step['from_department_id']} and "
        f"{step['to_department_name'] or step['to_department_id']}"
        if target is not None
        else f"redirected without a department in the directory ({request.target_note})"
    )
    await assign(
        session,
        incident=incident,
        now=now,
        settings=settings,
        actor=actor,
        flag=why,
        restart_clocks=False,
        comment=comment,
    )


# -- escalation (called by the deadline scanner) ---------------------------------------------


async def escalate(
    session: AsyncSession, *, incident: Incident, clock: str, now: datetime, reason: str
) -> Escalation | None:
    """One level up the region's chain: curator → deputy governor → governor's office."""
    from routing.directory.models import ESCALATION_CHAIN

    level = incident.escalation_level + 1
    if level > len(ESCALATION_CHAIN):
        record(session, incident, actor=SYSTEM_ACTOR, action="breach_at_top", now=now, comment=reason)
        return None
    directory = await rules.region_directory(session, incident.region_code)
    chain = directory.chain()
    target = chain.get(ESCALATION_CHAIN[level - 1])
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
    to_whom = target.name if target else f"nobody ({ESCALATION_CHAIN[level - 1].value} missing in the directory)"
    record(
        session,
        incident,
        actor=SYSTEM_ACTOR,
        action="escalated",
        now=now,
        comment=f"level {level} → {to_whom}: {reason}",
    )
    emit(
        session,
        incident,
        IncidentEscalated,
        level=level,
        reason=reason,
        escalated_to=rules.assignee_of(target, directory.departments.get(target.department_id or ""))
        if target
        else None,
    )
    return escalation


# -- reads -----------------------------------------------------------------------------------


def summary(incident: Incident) -> IncidentSummary:
    return IncidentSummary(
        incident_id=incident.id,
        region_code=incident.region_code,
        region_name=incident.region_name,
        city=incident.city,
        address=incident.address,
        category=incident.category,
        urgency=Urgency(incident.urgency),
        status=IncidentStatus(incident.status),
        severity=incident.severity,
        title=incident.title,
        assignee=assignee_of(incident),
        escalation_level=incident.escalation_level,
        flagged=incident.flagged,
        complainants=incident.complainants,
        total_reach=incident.total_reach,
        first_response_due=incident.first_response_due,
        final_due=incident.final_due,
        first_response_at=incident.first_response_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


async def list_incidents(
    session: AsyncSession,
    *,
    region: str | None,
    category: str | None,
    status: str | None,
    assignee: str | None,
    limit: int,
    offset: int,
    regions: frozenset[str] | None = None,
) -> IncidentPage:
    """Newest first. With `regions` (a user's) only incidents of those regions; another region: empty."""
    if region and regions is not None and region not in regions:
        return IncidentPage(items=[], total=0, limit=limit, offset=offset)
    query = select(Incident)
    if regions is not None:
        query = query.where(col(Incident.region_code).in_(sorted(regions)))
    if region:
        query = query.where(Incident.region_code == region)
    if category:
        query = query.where(Incident.category == category)
    if status:
        query = query.where(Incident.status == status)
    if assignee:
        query = query.where(Incident.assignee_id == assignee)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(
        query.order_by(col(Incident.created_at).desc(), col(Incident.id)).limit(limit).offset(offset)
    )
    return IncidentPage(items=[summary(i) for i in rows.all()], total=total, limit=limit, offset=offset)


async def incident_detail(
    session: AsyncSession, *, incident_id: str, settings: Settings, regions: frozenset[str] | None = None
) -> IncidentRead:
    await flush_deferred(session)  # the audit rows and posts this transaction wrote
    incident = await get_incident(session, incident_id=incident_id)
    if regions is not None and incident.region_code not in regions:
        raise UnknownIncident(f"no incident {incident_id!r}")  # exactly like a missing one
    posts = (
        await session.exec(
            select(IncidentPost).where(IncidentPost.incident_id == incident.id).order_by(col(IncidentPost.ordinal))
        )
    ).all()
    history = (
        await session.exec(
            select(IncidentHistory).where(IncidentHistory.incident_id == incident.id).order_by(col(IncidentHistory.seq))
        )
    ).all()
    escalations = (
        await session.exec(
            select(Escalation).where(Escalation.incident_id == incident.id).order_by(col(Escalation.level))
        )
    ).all()
    wall = working = None
    if incident.first_response_at is not None:
        wall = (incident.first_response_at - incident.created_at).total_seconds()
        calendar = deadlines.calendar_for(await _official(session, incident), incident.region_code, settings)
        working = round(calendar.between(incident.created_at, incident.first_response_at) / 3600, 2)
    return IncidentRead(
        **summary(incident).model_dump(),
        summary=incident.summary,
        assignment_explanation=incident.assignment_explanation,
        rule_id=incident.rule_id,
        federal_fallback=incident.federal_fallback,
        flag_reason=incident.flag_reason,
        escalated_to_id=incident.escalated_to_id,
        escalated_to_name=incident.escalated_to_name,
        reject_reason=incident.reject_reason,
        reply=ReplyRead(text=incident.reply_text, url=incident.reply_url) if incident.reply_text else None,
        interim_answer=ReplyRead(text=incident.interim_text, url=incident.interim_url)
        if incident.interim_text
        else None,
        time_to_first_response_seconds=wall,
        time_to_first_response_working_hours=working,
        redirect_chain=list(incident.redirect_chain),
        post_ids=list(incident.post_ids),
        posts=[
            IncidentPostRead(
                post_id=p.post_id,
                external_id=p.external_id,
                author=p.author_name,
                url=p.url,
                text=p.text,
                reach=p.reach,
                similarity=p.similarity,
                published_at=p.published_at,
                attached_at=p.attached_at,
            )
            for p in posts
        ],
        deadlines=await deadlines.incident_deadlines(session, incident.id),
        escalations=[EscalationRead(**e.model_dump()) for e in escalations],
        history=[HistoryRead(**h.model_dump()) for h in history],
    )
