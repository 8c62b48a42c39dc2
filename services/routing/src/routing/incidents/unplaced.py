"""Posts a person should place: a complaint no region could be found for (neither the text nor the
source named a place), or a post the classifier was unsure was a complaint at all. Routing cannot
make either an incident on its own, and skipping it silently would lose a complaint, so it keeps the
post whole and lists it for the people who can decide: the operator and the federal level for posts
without a region, and a region's admin for its region's posts. Placing one (a region, and the
category if it was wrong) routes it exactly as a classified post is routed; dismissing it records
who decided and why. Placing, and dismissing a post as not a complaint at all, teach the classifier
(ClassificationCorrected); dismissing a complaint nobody can act on teaches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import utcnow, writes_of
from incidents_common.events import (
    ClassificationCorrected,
    ClassificationValues,
    LabelResult,
    PostClassified,
    RegionResult,
    Urgency,
)
from incidents_common.regions import REGIONS
from routing.config import SOURCE, Settings
from routing.errors import AlreadyDecided, UnknownUnplacedPost
from routing.incidents.models import UnplacedPost
from routing.incidents.schemas import DismissRequest, PlaceRequest, UnplacedPage, UnplacedRead
from routing.incidents.writes import route_posts

TEXT_SHOWN = 2000


def _read(row: UnplacedPost) -> UnplacedRead:
    return UnplacedRead(
        post_id=row.post_id,
        reason=row.reason,
        region_code=row.region_code,
        category=row.category,
        urgency=row.urgency,
        text=row.text[:TEXT_SHOWN],
        url=row.post.get("url"),
        published_at=row.post.get("published_at"),
        held_at=row.held_at,
        decision=row.decision,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        incident_id=row.incident_id,
        comment=row.comment,
        not_a_complaint=row.not_a_complaint,
    )


CanSee = Callable[[str | None], bool]


async def list_unplaced(
    session: AsyncSession,
    *,
    regions: frozenset[str] | None,
    region: str | None,
    decided: bool,
    limit: int,
    offset: int,
) -> UnplacedPage:
    """Oldest first: those waiting longest. `regions`: the caller's (None: all); a post without a
    region is only seen by a caller of all regions (the operator, the federal level)."""
    conditions: list[Any] = [] if regions is None else [col(UnplacedPost.region_code).in_(sorted(regions))]
    conditions.append(col(UnplacedPost.decided_at).is_not(None) if decided else col(UnplacedPost.decided_at).is_(None))
    if region is not None:
        conditions.append(col(UnplacedPost.region_code) == region)
    total = (await session.exec(select(func.count()).select_from(UnplacedPost).where(*conditions))).one()
    rows = await session.exec(
        select(UnplacedPost)
        .where(*conditions)
        .order_by(col(UnplacedPost.held_at), col(UnplacedPost.post_id))
        .limit(limit)
        .offset(offset)
    )
    return UnplacedPage(items=[_read(row) for row in rows.all()], total=int(total), limit=limit, offset=offset)


async def _open_row(session: AsyncSession, can_see: CanSee, post_id: str) -> UnplacedPost:
    row = await session.get(UnplacedPost, post_id, with_for_update=True)
    if row is None or not can_see(row.region_code):
        raise UnknownUnplacedPost(f"no post {post_id!r} awaiting a decision")  # another region's: as missing
    if row.decided_at is not None:
        raise AlreadyDecided(f"post {post_id!r} was decided already ({row.decision}) by {row.decided_by}")
    return row


async def place(
    session: AsyncSession, post_id: str, request: PlaceRequest, *, actor: str, can_see: CanSee, settings: Settings
) -> UnplacedRead:
    """Route the kept post as a complaint of `request.region_code` (and `request.category`, when the
    classifier's was wrong): the incident is opened or joined as for any classified post."""
    row = await _open_row(session, can_see, post_id)
    post = PostClassified.model_validate(row.post)
    c = post.classification
    region = REGIONS[request.region_code]
    same_region = c.region.code == request.region_code
    placed = c.model_copy(
        update={
            "is_incident": True,
            "incident": LabelResult(label="incident", confidence=1.0, evidence=["решение оператора"]),
            "category": c.category
            if request.category is None or request.category == c.category.label
            else LabelResult(label=request.category, confidence=1.0, evidence=["решение оператора"]),
            "region": RegionResult(
                code=request.region_code,
                name=region.name,
                city=request.city or (c.region.city if same_region else None),
                confidence=1.0,
                evidence=[f"регион указан оператором: {actor}"],
            ),
            "needs_review": False,
            "review_reasons": [],
        }
    )
    now = utcnow()
    placed_post = post.model_copy(update={"classification": placed})
    (incident,) = await route_posts(writes_of(session), [placed_post], settings=settings, now=now)
    row.decided_at, row.decision, row.decided_by = now, "placed", actor
    row.incident_id = incident.id if incident is not None else None
    if incident is not None:
        # The decision teaches the classifier as a `correct` action does: a complaint, of this region.
        corrected = ClassificationValues(
            is_incident=True, category=placed.category.label, region_code=request.region_code
        )
        _teach_classifier(
            session,
            post,
            corrected,
            actor=actor,
            comment=request.comment,
            incident_id=incident.id,
            region_code=request.region_code,
            now=now,
        )
    row.comment = request.comment
    session.add(row)
    return _read(row)


async def dismiss(
    session: AsyncSession, post_id: str, request: DismissRequest, *, actor: str, can_see: CanSee
) -> UnplacedRead:
    """Not a complaint, or nothing anyone can act on: recorded with who decided. Only "not a complaint"
    (`request.not_a_complaint`) is classifier feedback: the negative example the doubted posts need. A
    complaint nobody can act on is still a complaint, and teaching otherwise would be wrong."""
    row = await _open_row(session, can_see, post_id)
    now = utcnow()
    if request.not_a_complaint:
        # No incident; the region the post is listed under (none: …classification.corrected.noregion).
        _teach_classifier(
            session,
            PostClassified.model_validate(row.post),
            ClassificationValues(is_incident=False),
            actor=actor,
            comment=request.comment,
            incident_id=None,
            region_code=row.region_code,
            now=now,
        )
    row.decided_at, row.decision, row.decided_by, row.comment = now, "dismissed", actor, request.comment
    row.not_a_complaint = request.not_a_complaint
    session.add(row)
    return _read(row)


def _teach_classifier(
    session: AsyncSession,
    post: PostClassified,
    corrected: ClassificationValues,
    *,
    actor: str,
    comment: str | None,
    incident_id: str | None,
    region_code: str | None,
    now: datetime,
) -> None:
    """A person's decision on a kept post, as classifier feedback: through the outbox, in the decision's
    transaction, with `previous` what the classifier said of the post."""
    c = post.classification
    writes_of(session).publish(
        ClassificationCorrected(
            post_id=post.post_id,
            text=post.text,
            corrected=corrected,
            previous=ClassificationValues(
                is_incident=c.is_incident,
                category=c.category.label,
                urgency=c.urgency.label if c.urgency.label in Urgency.__members__ else None,
                region_code=c.region.code,
            ),
            operator=actor,
            comment=comment,
            incident_id=incident_id,
            region_code=region_code,
            corrected_at=now,
            model_version=c.model_version,
            danger=c.danger,
            review_reasons=c.review_reasons,
        ),
        source=SOURCE,
        origin_post_id=post.post_id,
    )
