"""The first pass over a batch of classified posts, in memory: where each post goes.

A post is skipped (with the reason: not an incident, no region, already routed), joins the open
incident it repeats, or opens a new one. Placing needs only the candidates' addresses and terms
(incidents.loading reads them into the `RoutingContext`, with what the second pass needs), and keeps
them current, so the second post of a problem joins the incident the first opens. The second pass,
what each post does, is incidents.decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidents_common.events import PostClassified
from routing.config import Settings
from routing.deadlines.models import SlaPolicy
from routing.incidents.clustering import Candidate, Fingerprint, best_match, fingerprint
from routing.incidents.posts import region_of, skip_reason, town_of
from routing.incidents.priority import PostSignal
from routing.rules.engine import RegionDirectory, Workload


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
    city = town_of(post)
    fp = fingerprint(post.text, post.classification.region.city)
    repost_of = {ref.external_id for ref in post.repost_chain}
    match = best_match(candidates, fp, threshold=settings.cluster_threshold, repost_of=repost_of, city=city)
    placement: Placement
    if match is not None:
        candidate, score, why = match
        candidate.term_sets.append(fp.terms)
        candidate.external_ids.add(post.external_id)
        candidate.post_ids.add(post.post_id)
        placement = Join(candidate, fp, score, why)
    else:
        candidate = Candidate(str(uuid.uuid4()), fp.address, [fp.terms], {post.external_id}, {post.post_id}, city=city)
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


def cluster_window_start(now: datetime, settings: Settings) -> datetime:
    """Incidents whose last post is older than this are not candidates any more."""
    return now - timedelta(hours=settings.cluster_window_hours)
