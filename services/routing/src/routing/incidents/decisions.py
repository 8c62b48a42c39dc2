"""What happens to classified posts, decided in memory: no database, no broker, no clock of its own.

A batch is decided in two passes over its posts, in order. `place_posts` says where each goes:
skipped (with the reason: not an incident, no region, already routed), joining the open incident it
repeats, or opening a new one; it needs only the candidates' addresses and terms. `decide_batch`
then produces every post's effects: the new incident assigned by the rules with its SLA clocks
running, or the joined incident's complainants, reach and severity (an answered one reopens). Every
step appends to an `Effects` (rows, history entries, events with the snapshot of that moment,
counters) and keeps the `RoutingContext` current (candidates, workload), so the next post of the same
batch sees what the previous ones did. incidents.loading fills the context in a few queries and, between
the passes, loads the whole rows of the incidents the batch joins; incidents.writes hands the effects to
the transaction's Writes. The lifecycle actions and the
escalation use `record`, `emit`, `transition` and `apply_assignment` on the ORM row the same way.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from incidents_common.events import (
    CloudEvent,
    IncidentAssigned,
    IncidentCreated,
    IncidentEvent,
    IncidentPostAttached,
    IncidentStatus,
    IncidentStatusChanged,
    PostClassified,
    ReplyRequested,
    Urgency,
)
from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.deadlines.models import Clock, SlaPolicy
from routing.deadlines.service import NewClock, best_policy, calendar_for, plan_clocks, sync_due
from routing.directory.models import Official
from routing.incidents.chain import chain
from routing.incidents.clustering import Candidate, Fingerprint, best_match, fingerprint
from routing.incidents.models import LOAD_STATUSES, OPEN_STATUSES
from routing.incidents.priority import PostSignal, priority, signal_of
from routing.incidents.review import (
    apply_post_review,
    clock_urgency,
    post_classification,
    post_review,
    review_comment,
)
from routing.incidents.snapshots import IncidentLike, IncidentRecord, snapshot
from routing.rules.engine import Assignment, RegionDirectory, Workload, choose_assignee

SOURCE = "/services/routing"
SYSTEM_ACTOR = "routing"

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
REOPEN_COLUMNS = ("status", "first_response_due", "final_due")
CLOCK_COLUMNS = ("first_response_due", "final_due")


# -- effects -----------------------------------------------------------------------------------


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


# -- facts about a post ------------------------------------------------------------------------


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


def region_of(post: PostClassified) -> str | None:
    return post.classification.region.code or post.place_hints.region_code


def skip_reason(post: PostClassified) -> str | None:
    """Why a post cannot become an incident at all, or None."""
    c = post.classification
    region_code = region_of(post)
    if not c.is_incident:
        return f"not an incident ({c.incident.label}, confidence {c.incident.confidence:.2f})"
    if region_code is None:
        return "no region: neither the classifier nor the source placed it"
    if region_code not in REGIONS:
        return f"unknown region code {region_code!r}"
    return None


def cluster_key(post: PostClassified) -> tuple[str, str] | None:
    """(region, category) of a post that can become an incident: where its candidates are."""
    region_code = region_of(post)
    if region_code is None or skip_reason(post) is not None:
        return None
    return region_code, post.classification.category.label


# -- the batch -----------------------------------------------------------------------------------


@dataclass
class RoutingContext:
    """What deciding a batch needs, loaded once (incidents.loading), kept current while deciding."""

    candidates: dict[tuple[str, str], list[Candidate]]
    """Open incidents per (region, category) active within the cluster window, with their posts' terms."""
    routed: dict[str, str]
    """Post id → incident id, for the batch's posts already in an incident (stored, or earlier in the batch)."""
    directories: dict[str, RegionDirectory]
    workload: Workload
    policies: list[SlaPolicy]
    signals: dict[str, list[PostSignal]] = field(default_factory=dict)
    """Incident id → what incidents.priority reads of its posts: loaded for the incidents the batch joins,
    kept current while deciding."""


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Join:
    """The post repeats the candidate's incident."""

    candidate: Candidate
    fingerprint: Fingerprint
    score: float
    why: str


@dataclass(frozen=True, slots=True)
class Open:
    """The post opens a new incident, the candidate later posts of the batch may join."""

    candidate: Candidate
    fingerprint: Fingerprint
    region_code: str


Placement = Skip | Join | Open


@dataclass
class BatchDecision:
    effects: Effects
    incidents: list[IncidentRecord | None]
    """Per post, in order: the incident it opened or joined (its state after the whole batch), or None."""


def place_posts(posts: Sequence[PostClassified], context: RoutingContext, *, settings: Settings) -> list[Placement]:
    """The first pass over a batch: where each post goes. It needs only the candidates' addresses and
    terms, and keeps them current, so the second post of a problem joins the incident the first opens."""
    return [place_post(post, context, settings=settings) for post in posts]


def place_post(post: PostClassified, context: RoutingContext, *, settings: Settings) -> Placement:
    reason = skip_reason(post)
    if reason is not None:
        return Skip(reason)
    routed_to = context.routed.get(post.post_id)
    if routed_to is not None:
        return Skip(f"already in incident {routed_to} (version {post.version} ignored)")
    region_code = region_of(post)
    assert region_code is not None  # skip_reason says so
    candidates = context.candidates.setdefault((region_code, post.classification.category.label), [])
    fp = fingerprint(post.text)
    repost_of = {ref.external_id for ref in post.repost_chain}
    match = best_match(candidates, fp, threshold=settings.cluster_threshold, repost_of=repost_of)
    placement: Placement
    if match is not None:
        candidate, score, why = match
        candidate.term_sets.append(fp.terms)
        candidate.external_ids.add(post.external_id)
        candidate.post_ids.add(post.post_id)
        placement = Join(candidate, fp, score, why)
    else:
        candidate = Candidate(str(uuid.uuid4()), fp.address, [fp.terms], {post.external_id}, {post.post_id})
        candidates.append(candidate)
        placement = Open(candidate, fp, region_code)
    context.routed[post.post_id] = candidate.incident_id
    return placement


def incidents_to_load(placements: Sequence[Placement]) -> list[str]:
    """The stored incidents the batch joins: the only ones whose whole row deciding needs."""
    opened = {p.candidate.incident_id for p in placements if isinstance(p, Open)}
    return sorted(
        {p.candidate.incident_id for p in placements if isinstance(p, Join) and p.candidate.incident_id not in opened}
    )


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
        comment=f"from post {post.post_id}",
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
    calendar = calendar_for(official, incident.region_code, settings, city=incident.city)
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
        f"post {post.post_id} joined: {why}; same region {incident.region_code} and category {incident.category}"
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
            comment=f"a citizen wrote again (post {post.post_id})",
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
        comment += "; possibly critical: the critical clock runs until an operator decides"
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


def cluster_window_start(now: datetime, settings: Settings) -> datetime:
    """Incidents whose last post is older than this are not candidates any more."""
    return now - timedelta(hours=settings.cluster_window_hours)
