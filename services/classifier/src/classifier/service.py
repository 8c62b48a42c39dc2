"""Classifier logic without HTTP: classify, store with the PostClassified event, feedback, model info.

Functions take a session and keyword arguments and never commit: the caller's transaction does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from classifier.model import Classifier, PostInput
from classifier.models import ClassificationRecord, FeedbackRecord
from classifier.schemas import ClassifyRequest, FeedbackCreate, LabelInfo, ModelRead
from incidents_common.db import Writes, utcnow
from incidents_common.events import (
    Classification,
    ClassificationCorrected,
    CloudEvent,
    PostClassified,
    PostCollected,
)
from incidents_common.problems import InvalidInput, NotFound

SOURCE = "/services/classifier"
# What a PostClassified carries of the PostCollected it answers (the rest is the classification).
CLASSIFIED_POST_FIELDS = set(PostClassified.model_fields) - {"classification"}


def _without_none(value: Any) -> Any:
    """A JSON document without its None values, as encode_event writes a payload."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


class UnknownCategory(InvalidInput):
    slug, title = "unknown-category", "Unknown category"


class NothingToCorrect(InvalidInput):
    slug, title = "nothing-to-correct", "Nothing to correct"


def post_input(request: ClassifyRequest, *, max_chars: int = 20_000) -> PostInput:
    hints = request.place_hints
    place_hint = request.place_hint or (hints.title if hints else None)
    return PostInput(
        text=request.text[:max_chars],
        place_hint=place_hint,
        hint_region=hints.region_code if hints else None,
        hint_city=hints.city if hints else None,
        region_fixed=bool(hints and hints.region_fixed),
    )


def collected_input(post: PostCollected, *, max_chars: int = 20_000) -> PostInput:
    hints = post.place_hints
    return PostInput(
        text=post.text[:max_chars],
        place_hint=hints.title,
        hint_region=hints.region_code,
        hint_city=hints.city,
        region_fixed=bool(hints.region_fixed),
    )


def classify_many(classifier: Classifier, requests: list[ClassifyRequest], *, max_chars: int) -> list[Classification]:
    return classifier.classify_batch([post_input(r, max_chars=max_chars) for r in requests])


async def stored_versions(session: AsyncSession, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (post_id, version) pairs already have a stored classification: one query for a batch."""
    if not keys:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        # One primary-key lookup per pair, whatever the statistics say. `post_id IN (…)` was planned
        # as a scan of the whole table while its statistics lagged its growth (a stream fills it
        # faster than autovacuum analyses it): every batch read every classification stored so far.
        pairs = sorted(set(keys))
        params = {"post_ids": [post_id for post_id, _ in pairs], "versions": [version for _, version in pairs]}
        found = await session.exec(_STORED_PG, params=params)  # type: ignore[call-overload]  # sqlmodel types exec() for select() only, not text()
        return {(post_id, version) for post_id, version in found}
    post_ids = list({post_id for post_id, _ in keys})
    rows = await session.exec(
        select(ClassificationRecord.post_id, ClassificationRecord.version).where(
            col(ClassificationRecord.post_id).in_(post_ids)
        )
    )
    wanted = set(keys)
    return {(post_id, version) for post_id, version in rows.all() if (post_id, version) in wanted}


# A LATERAL subquery with LIMIT is never flattened into a join: PostgreSQL must look each pair up.
_STORED_PG = text(
    "SELECT wanted.post_id, wanted.version FROM "
    "unnest(CAST(:post_ids AS varchar[]), CAST(:versions AS integer[])) AS wanted(post_id, version) "
    "CROSS JOIN LATERAL (SELECT 1 FROM classifications AS stored "
    "WHERE stored.post_id = wanted.post_id AND stored.version = wanted.version LIMIT 1) AS hit"
)


def record_classification(
    writes: Writes,
    *,
    post: PostCollected,
    classification: Classification,
    place_hint: str | None,
    cause: CloudEvent[Any] | None = None,
) -> None:
    """Queue the stored result and its PostClassified in the transaction of `writes` (both written
    in bulk before the commit: an ORM add per post cost several times the classification itself).

    The event is written from plain data (the post as collected, the result dumped once): building
    a PostClassified and dumping it again cost ~50 µs a post, an eighth of classifying it."""
    result = classification.model_dump(mode="json")
    row = {
        "post_id": post.post_id,
        "version": post.version,
        "model_version": classification.model_version,
        "is_incident": classification.is_incident,
        "category": classification.category.label,
        "urgency": classification.urgency.label,
        "sentiment": classification.sentiment.label,
        "region_code": classification.region.code,
        "city": classification.region.city,
        "text": post.text,
        "place_hint": place_hint,
        "result": result,
        "created_at": utcnow(),
    }
    writes.insert(ClassificationRecord, row)
    data = post.model_dump(mode="json", include=CLASSIFIED_POST_FIELDS, exclude_none=True)
    data["classification"] = _without_none(result)
    subject = PostClassified.subject_for(
        is_incident=classification.is_incident, needs_review=classification.needs_review, version=post.version
    )
    writes.publish_json(PostClassified, data, source=SOURCE, origin_post_id=post.post_id, cause=cause, subject=subject)
    is_incident = str(classification.is_incident).lower()
    writes.count("posts_classified", is_incident=is_incident, category=row["category"])


async def get_classification(
    session: AsyncSession, *, post_id: str, version: int | None = None
) -> ClassificationRecord:
    query = select(ClassificationRecord).where(ClassificationRecord.post_id == post_id)
    if version is not None:
        query = query.where(ClassificationRecord.version == version)
    record = (await session.exec(query.order_by(col(ClassificationRecord.version).desc()).limit(1))).first()
    if record is None:
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"no classification of post {post_id!r}{suffix}")
    return record


CORRECTABLE = ("is_incident", "category", "urgency", "sentiment", "region_code", "city")


def check_correction(classifier: Classifier, *, corrected: list[str], category: str | None) -> None:
    """The rules every correction meets, whichever way it came (POST /v1/feedback, or an operator's
    `correct` action on an incident, over NATS): something corrected, a category of the taxonomy."""
    if not corrected:
        raise NothingToCorrect("give at least one of: " + ", ".join(CORRECTABLE))
    categories = set(classifier.taxonomy.get("categories", {}))
    if category is not None and category not in categories:
        raise UnknownCategory(f"{category!r} is not in the taxonomy", allowed=sorted(categories))


def corrected_labels(
    base: Classification,
    *,
    is_incident: bool | None = None,
    category: str | None = None,
    urgency: str | None = None,
    sentiment: str | None = None,
    region_code: str | None = None,
    city: str | None = None,
) -> dict[str, Any]:
    """A correction merged over what the model said: the complete label set a training row needs."""
    incident = is_incident if is_incident is not None else base.is_incident
    region = region_code or base.region.code
    return {
        "is_incident": incident,
        "category": (category or base.category.label) if incident else None,
        "urgency": str(urgency or (base.urgency.label if incident else "normal")),
        "sentiment": str(sentiment or base.sentiment.label),
        "region_code": region,
        # The model's town belongs to the model's region: not to a region the operator corrected it to.
        "city": city or (base.region.city if region == base.region.code else None),
    }


async def latest_classifications(session: AsyncSession, post_ids: list[str]) -> dict[str, ClassificationRecord]:
    """Each post's newest stored classification (one query for a batch)."""
    if not post_ids:
        return {}
    rows = await session.exec(
        select(ClassificationRecord)
        .where(col(ClassificationRecord.post_id).in_(sorted(set(post_ids))))
        .order_by(col(ClassificationRecord.version))
    )
    return {record.post_id: record for record in rows.all()}  # the highest version last, so it wins


async def add_feedback(session: AsyncSession, *, classifier: Classifier, correction: FeedbackCreate) -> FeedbackRecord:
    """Store a correction merged over what the model said, so it is a complete training example."""
    corrected = [f for f in CORRECTABLE if getattr(correction, f) is not None]
    check_correction(classifier, corrected=corrected, category=correction.category)
    post_version: int | None = None
    if correction.post_id is not None:
        try:
            record = await get_classification(session, post_id=correction.post_id, version=correction.version)
        except NotFound:
            if correction.text is None:
                raise
            record = None
        if record is not None:
            base = Classification.model_validate(record.result)
            text, place_hint, post_version = record.text, record.place_hint, record.version
        else:
            text, place_hint = str(correction.text), correction.place_hint
            base = classifier.classify(PostInput(text=text, place_hint=place_hint))
    elif correction.text is not None:
        text, place_hint = correction.text, correction.place_hint
        base = classifier.classify(PostInput(text=text, place_hint=place_hint))
    else:
        raise InvalidInput("name the post (post_id) or give its text")
    feedback = FeedbackRecord(
        post_id=correction.post_id,
        post_version=post_version,
        text=text,
        place_hint=place_hint,
        **corrected_labels(
            base,
            is_incident=correction.is_incident,
            category=correction.category,
            urgency=correction.urgency,
            sentiment=correction.sentiment,
            region_code=correction.region_code,
            city=correction.city,
        ),
        corrected=corrected,
        model_version=base.model_version,
        operator=correction.operator,
        comment=correction.comment,
    )
    session.add(feedback)
    await session.flush()
    return feedback


async def list_feedback(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[FeedbackRecord], int]:
    total = (await session.exec(select(func.count()).select_from(FeedbackRecord))).one()
    rows = await session.exec(select(FeedbackRecord).order_by(col(FeedbackRecord.id)).limit(limit).offset(offset))
    return list(rows.all()), int(total)


def correction_feedback_row(
    event: CloudEvent[ClassificationCorrected],
    *,
    base: Classification,
    record: ClassificationRecord | None,
    max_chars: int = 20_000,
) -> dict[str, Any]:
    """The feedback row of an operator's correction received over NATS, keyed by the event's id.

    `base` is what the model said of the post (its stored classification, `record`, when there is one)."""
    data = event.data
    values = data.corrected
    return {
        "event_id": event.id,
        "post_id": data.post_id,
        "post_version": record.version if record is not None else None,
        "text": record.text if record is not None else data.text[:max_chars],
        "place_hint": record.place_hint if record is not None else None,
        **corrected_labels(
            base,
            is_incident=values.is_incident,
            category=values.category,
            urgency=values.urgency.value if values.urgency is not None else None,
            region_code=values.region_code,
        ),
        "corrected": values.stated(),
        "model_version": base.model_version,
        "operator": data.operator[:128],
        "comment": data.comment[:2000] if data.comment else None,
        "created_at": utcnow(),
    }


async def feedback_training_rows(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.exec(select(FeedbackRecord).order_by(col(FeedbackRecord.id)))
    return [r.training_row() for r in rows.all()]


def model_info(classifier: Classifier, *, path: str) -> ModelRead:
    bundle = classifier.bundle
    taxonomy = classifier.taxonomy

    def labels(section: str, codes: list[str]) -> list[LabelInfo]:
        described = taxonomy.get(section, {})
        return [
            LabelInfo(
                code=c, label=described.get(c, {}).get("label", c), description=described.get(c, {}).get("description")
            )
            for c in codes
        ]

    return ModelRead(
        version=bundle.version,
        created_at=bundle.created_at,
        path=path,
        labels={
            "category": labels("categories", bundle.heads["category"].classes),
            "urgency": labels("urgency", ["critical", "high", "normal"]),
            "sentiment": labels("sentiment", bundle.heads["sentiment"].classes),
            "is_incident": [
                LabelInfo(code="incident", label="Обращение"),
                LabelInfo(code="not_incident", label="Не обращение"),
            ],
        },
        metrics=dict(bundle.metrics),
        training=bundle.training,
    )
