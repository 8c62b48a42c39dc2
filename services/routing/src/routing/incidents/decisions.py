"""What classified posts do, decided in memory: no database, no broker, no clock of its own.

A batch is decided in two passes over its posts, in order. The first, incidents.placement, says
where each goes (skipped, joining an open incident, or opening a new one). `decide_batch` then
produces every post's effects: the new incident assigned by the rules with its SLA clocks running,
or the joined incident's complainants, reach, severity and priority (an answered one reopens). Every
step appends to an `Effects` (incidents.effects) and keeps the `RoutingContext` current (candidates,
workload), so the next post of the same batch sees what the previous ones did. incidents.loading
fills the context in a few queries and, between the passes, loads the whole rows of the incidents
the batch joins; incidents.writes hands the effects to the transaction's Writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents_common.events import (
    CloudEvent,
    IncidentCreated,
    IncidentPostAttached,
    IncidentStatus,
    PostClassified,
    Urgency,
)
from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.deadlines.models import Clock
from routing.deadlines.service import NewClock, best_policy, calendar_for, plan_clocks, sync_due
from routing.directory.models import Official
from routing.incidents.clustering import Fingerprint
from routing.incidents.effects import SYSTEM_ACTOR, Effects, apply_assignment, emit, record, transition
from routing.incidents.models import LOAD_STATUSES, OPEN_STATUSES
from routing.incidents.placement import Join, Placement, RoutingContext, Skip
from routing.incidents.posts import (
    author_key,
    post_reach,
    region_of,
    severity,
    summary_of,
    title_of,
    town_of,
    unplaced_reason,
    unplaced_row,
)
from routing.incidents.priority import PostSignal, priority, signal_of
from routing.incidents.review import (
    apply_post_review,
    clock_urgency,
    post_classification,
    post_review,
    review_comment,
)
from routing.incidents.snapshots import IncidentLike, IncidentRecord
from routing.rules.engine import choose_assignee
from routing.wording import category_name, quoted

# The columns a joining post changes on an incident that exists already, and those a reopening adds.
ATTACH_COLUMNS = (
    "post_ids",
    "author_keys",
    "complainants",
    "total_reach",
    "severity",
    "address",
    "last_post_at",
    "updated_at",
    "history_seq",
    "chain_head",
    "needs_review",
    "review_reasons",
    "possibly_critical",
    "danger",
    "priority",
)
REOPEN_COLUMNS = ("status", "first_response_due", "final_due", "sla_policy")
CLOCK_COLUMNS = ("first_response_due", "final_due", "sla_policy")


@dataclass
class BatchDecision:
    effects: Effects
    incidents: list[IncidentRecord | None]
    """Per post, in order: the incident it opened or joined (its state after the whole batch), or None."""


def decide_batch(
    posts: Sequence[PostClassified],
    placements: Sequence[Placement],
    context: RoutingContext,
    *,
    settings: Settings,
    now: datetime,
    causes: Sequence[CloudEvent[Any] | None] | None = None,
) -> BatchDecision:
    """The second pass: every post's effects, in order. The candidates the batch joins carry their
    records (`Candidate.incident`); `causes[i]` is the consumed event that carried posts[i]."""
    effects = Effects()
    causes = causes if causes is not None else [None] * len(posts)
    # An incident's priority reads all its posts: it is computed again at the batch's last post that
    # joins it, not at every one (the events of its earlier posts in the batch carry the priority before).
    last_join = {p.candidate.incident_id: i for i, p in enumerate(placements) if not isinstance(p, Skip)}
    incidents = [
        decide_post(
            post,
            placement,
            context,
            effects,
            settings=settings,
            now=now,
            cause=cause,
            reprioritise=not isinstance(placement, Skip) and last_join[placement.candidate.incident_id] == index,
        )
        for index, (post, placement, cause) in enumerate(zip(posts, placements, causes, strict=True))
    ]
    return BatchDecision(effects, incidents)


def decide_post(
    post: PostClassified,
    placement: Placement,
    context: RoutingContext,
    effects: Effects,
    *,
    settings: Settings,
    now: datetime,
    cause: CloudEvent[Any] | None = None,
    reprioritise: bool = True,
) -> IncidentRecord | None:
    """A classified complaint → a new incident, or joined to the open one it repeats; else skipped."""
    if isinstance(placement, Skip):
        skip(effects, post.post_id, placement.reason, now)
        hold = unplaced_reason(post)
        if hold is not None:  # a complaint no region was found for, or one the classifier doubted
            effects.unplaced.append(unplaced_row(post, hold, now))
        return None
    candidate = placement.candidate
    if isinstance(placement, Join):
        incident: IncidentRecord | None = candidate.incident
        if incident is not None and incident.status in OPEN_STATUSES:
            attach_post(
                effects,
                incident,
                post,
                placement.fingerprint,
                score=placement.score,
                why=placement.why,
                context=context,
                settings=settings,
                now=now,
                cause=cause,
                reprioritise=reprioritise,
            )
            return incident
        # Closed by an action since the candidates were read: the post opens an incident of its own.
        region_code = region_of(post)
        assert region_code is not None  # placed, so not skipped
        return open_incident(
            effects, post, region_code, placement.fingerprint, context=context, settings=settings, now=now, cause=cause
        )
    candidate.incident = open_incident(
        effects,
        post,
        placement.region_code,
        placement.fingerprint,
        context=context,
        settings=settings,
        now=now,
        cause=cause,
        incident_id=candidate.incident_id,
    )
    return candidate.incident


def skip(effects: Effects, post_id: str, reason: str, now: datetime) -> None:
    effects.skipped.append({"post_id": post_id, "reason": reason[:300], "at": now})


def post_row(
    incident: IncidentLike, post: PostClassified, fp: Fingerprint, score: float, now: datetime, signal: PostSignal
) -> dict[str, Any]:
    return {
        "post_id": post.post_id,
        "incident_id": incident.id,
        "ordinal": len(incident.post_ids) - 1,  # the post is already in post_ids
        "external_id": post.external_id,
        "source_type": post.source_type.value,
        "author_key": author_key(post),
        "author_name": post.author.name if post.author else None,
        "url": post.url,
        "text": post.text[:20000],
        "reach": post_reach(post),
        "author_followers": signal.followers,
        "views": signal.views,
        "reposts": signal.reposts,
        "comments": signal.comments,
        "likes": signal.likes,
        "text_key": signal.text_key,
        "terms": sorted(fp.terms),
        "address": fp.address.key() if fp.address else None,
        "similarity": round(score, 3),
        "classification": post_classification(post),
        "published_at": post.published_at,
        "attached_at": now,
    }


def open_incident(
    effects: Effects,
    post: PostClassified,
    region_code: str,
    fp: Fingerprint,
    *,
    context: RoutingContext,
    settings: Settings,
    now: datetime,
    cause: CloudEvent[Any] | None = None,
    incident_id: str | None = None,
) -> IncidentRecord:
    """A new incident from its first post: created, then assigned by the rules with its clocks running."""
    c = post.classification
    urgency = c.urgency.label if c.urgency.label in Urgency.__members__ else Urgency.normal.value
    reach = post_reach(post)
    incident = IncidentRecord(
        id=incident_id or str(uuid.uuid4()),
        region_code=region_code,
        region_name=REGIONS[region_code].name,
        city=town_of(post),
        address=fp.address.key() if fp.address else None,
        category=c.category.label,
        urgency=urgency,
        status=IncidentStatus.new,
        title=title_of(post.text),
        summary=summary_of(post.text),
        origin_post_id=post.post_id,
        post_ids=[post.post_id],
        author_keys=[author_key(post)],
        complainants=1,
        total_reach=reach,
        severity=severity(urgency, 1, reach),
        created_at=now,
        updated_at=now,
        last_post_at=now,
    )
    review = post_review(post)
    apply_post_review(incident, review)
    signal = signal_of(post, author_key(post))
    context.signals[incident.id] = [signal]
    update_priority(incident, context)
    effects.created[incident.id] = incident
    effects.posts.append(post_row(incident, post, fp, 1.0, now, signal))
    record(
        effects,
        incident,
        actor=SYSTEM_ACTOR,
        action="created",
        now=now,
        to_status=IncidentStatus.new,
        comment=f"Создан по сообщению {post.post_id}",
    )
    if review.needs_review:
        record_review(effects, incident, review.reasons, post.post_id, now=now)
    emit(effects, incident, IncidentCreated, cause=cause, post_id=post.post_id)
    effects.count("incidents_created", region=region_code)
    chosen = choose_assignee(
        context.directories[region_code],
        context.workload,
        category=incident.category,
        city=incident.city,
        urgency=incident.urgency,
    )
    clocks = fresh_clocks(incident, chosen.official, context=context, settings=settings, now=now)
    apply_assignment(effects, incident, chosen, now=now, actor=SYSTEM_ACTOR, clocks=clocks, cause=cause)
    return incident


def fresh_clocks(
    incident: IncidentLike,
    official: Official | None,
    *,
    context: RoutingContext,
    settings: Settings,
    now: datetime,
    clocks: tuple[Clock, ...] = (Clock.first_reaction, Clock.final),
) -> list[NewClock]:
    """First-reaction and final clocks under the incident's policy, in `official`'s working time
    (a possibly-critical incident's policy is the critical one: review.clock_urgency)."""
    policy = best_policy(
        context.policies,
        region_code=incident.region_code,
        category=incident.category,
        urgency=clock_urgency(incident),
        settings=settings,
    )
    calendar = calendar_for(
        official, incident.region_code, settings, city=incident.city, urgency=clock_urgency(incident)
    )
    return plan_clocks(incident, policy=policy, calendar=calendar, now=now, settings=settings, clocks=clocks)


def attach_post(
    effects: Effects,
    incident: IncidentRecord,
    post: PostClassified,
    fp: Fingerprint,
    *,
    score: float,
    why: str,
    context: RoutingContext,
    settings: Settings,
    now: datetime,
    cause: CloudEvent[Any] | None = None,
    reprioritise: bool = True,
) -> None:
    """One more post about an open incident: complainants, reach, severity, priority (when `reprioritise`:
    the batch's last post of the incident); an answered one reopens."""
    key = author_key(post)
    signal = signal_of(post, key)
    incident.post_ids = [*incident.post_ids, post.post_id]
    effects.posts.append(post_row(incident, post, fp, score, now, signal))
    if key not in incident.author_keys:
        incident.author_keys = [*incident.author_keys, key]
    incident.complainants = len(incident.author_keys)
    incident.total_reach += post_reach(post)
    incident.severity = max(incident.severity, severity(incident.urgency, incident.complainants, incident.total_reach))
    if incident.address is None and fp.address is not None:
        incident.address = fp.address.key()
    incident.last_post_at = now
    incident.updated_at = now
    review = post_review(post)
    became_possibly_critical = apply_post_review(incident, review)
    context.signals.setdefault(incident.id, []).append(signal)
    if reprioritise:
        update_priority(incident, context)
    effects.change(incident, ATTACH_COLUMNS)
    explanation = (
        f"Сообщение {post.post_id} присоединено: {why}; тот же регион ({incident.region_name}) "
        f"и категория {quoted(category_name(incident.category))}"
    )
    record(effects, incident, actor=SYSTEM_ACTOR, action="post_attached", now=now, comment=explanation)
    if review.needs_review:
        record_review(effects, incident, review.reasons, post.post_id, now=now)
    if became_possibly_critical and incident.status in LOAD_STATUSES:
        critical_clock(effects, incident, context=context, settings=settings, now=now)
    if incident.status == IncidentStatus.answered:
        # A citizen writes again after the answer: the incident reopens and its clocks restart.
        transition(
            effects,
            incident,
            to=IncidentStatus.reopened,
            actor=SYSTEM_ACTOR,
            now=now,
            comment=f"Гражданин написал повторно после ответа (сообщение {post.post_id})",
            cause=cause,
        )
        directory = context.directories.get(incident.region_code)
        official = directory.official(incident.assignee_id) if directory is not None else None
        clocks = fresh_clocks(incident, official, context=context, settings=settings, now=now)
        effects.clocks.extend(clocks)
        sync_due(incident, clocks)
        effects.change(incident, REOPEN_COLUMNS)
    emit(
        effects,
        incident,
        IncidentPostAttached,
        cause=cause,
        post_id=post.post_id,
        similarity=round(score, 3),
        explanation=explanation,
    )


def update_priority(incident: IncidentRecord, context: RoutingContext) -> None:
    """The incident's priority from all its posts (incidents.priority)."""
    signals = context.signals.get(incident.id, [])
    incident.priority = priority(
        signals, urgency=incident.urgency, possibly_critical=incident.possibly_critical
    ).model_dump(mode="json")


def record_review(
    effects: Effects, incident: IncidentLike, reasons: list[dict[str, Any]], post_id: str, *, now: datetime
) -> None:
    """The audit entry of a post that puts its incident in the review queue."""
    comment = review_comment(reasons, post_id)
    if incident.possibly_critical:
        comment += "; возможно, критический: сроки идут как для критического до решения оператора"
    record(effects, incident, actor=SYSTEM_ACTOR, action="needs_review", now=now, comment=comment)


def critical_clock(
    effects: Effects, incident: IncidentRecord, *, context: RoutingContext, settings: Settings, now: datetime
) -> None:
    """A danger reason joined a running incident: its running clocks start again, now, on the critical
    policy (from when the danger was reported, not from the creation: a deadline already past would
    escalate the incident for what nobody could have known)."""
    running = tuple(
        clock
        for clock, due in ((Clock.first_reaction, incident.first_response_due), (Clock.final, incident.final_due))
        if due is not None
    )
    if not running:
        return
    directory = context.directories.get(incident.region_code)
    official = directory.official(incident.assignee_id) if directory is not None else None
    clocks = fresh_clocks(incident, official, context=context, settings=settings, now=now, clocks=running)
    if incident.id in effects.created:
        # Opened earlier in this batch: its clocks are not stored yet.
        effects.clocks = [c for c in effects.clocks if c.incident_id != incident.id]
    else:
        effects.reclocked.add(incident.id)
    effects.clocks.extend(clocks)
    sync_due(incident, clocks)
    effects.change(incident, CLOCK_COLUMNS)
