"""HTTP API of the classifier: thin handlers over service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from classifier import service
from classifier.deps import ClassifierDep, ReactionsDep, RepliesDep, SettingsDep
from classifier.schemas import (
    ClassifyBatchRequest,
    ClassifyBatchResponse,
    ClassifyRequest,
    FeedbackCreate,
    FeedbackPage,
    FeedbackRead,
    ModelRead,
    ReactionLabelRead,
    ReactionLabelRequest,
    ReplyScoreRead,
    ReplyScoreRequest,
    StoredClassificationRead,
)
from incidents_common.app import SessionDep
from incidents_common.events import Classification, ReactionLabel
from incidents_common.problems import PayloadTooLarge

router = APIRouter(prefix="/v1")


@router.post("/classify", tags=["classify"], summary="Classify one post")
async def classify(body: ClassifyRequest, classifier: ClassifierDep, settings: SettingsDep) -> Classification:
    return service.classify_many(classifier, [body], max_chars=settings.max_text_chars)[0]


@router.post("/classify/batch", tags=["classify"], summary="Classify many posts at once (the fast path)")
async def classify_batch(
    body: ClassifyBatchRequest, classifier: ClassifierDep, settings: SettingsDep
) -> ClassifyBatchResponse:
    if len(body.posts) > settings.max_batch:
        raise PayloadTooLarge(f"at most {settings.max_batch} posts per batch, got {len(body.posts)}")
    results = await run_in_threadpool(service.classify_many, classifier, body.posts, max_chars=settings.max_text_chars)
    return ClassifyBatchResponse(model_version=classifier.version, results=results)


@router.post("/feedback", tags=["feedback"], status_code=201, summary="Store an operator's correction")
async def add_feedback(body: FeedbackCreate, session: SessionDep, classifier: ClassifierDep) -> FeedbackRead:
    record = await service.add_feedback(session, classifier=classifier, correction=body)
    return FeedbackRead.model_validate(record, from_attributes=True)


@router.get("/feedback", tags=["feedback"], summary="Stored corrections, oldest first")
async def list_feedback(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> FeedbackPage:
    rows, total = await service.list_feedback(session, limit=limit, offset=offset)
    return FeedbackPage(
        items=[FeedbackRead.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/model", tags=["model"], summary="The active model: version, labels, held-out metrics")
async def model(classifier: ClassifierDep, settings: SettingsDep) -> ModelRead:
    return service.model_info(classifier, path=str(settings.resolved_model_path()))


@router.get("/classifications/{post_id}", tags=["classify"], summary="The stored classification of a post")
async def get_classification(
    post_id: str, session: SessionDep, version: Annotated[int | None, Query(ge=1)] = None
) -> StoredClassificationRead:
    record = await service.get_classification(session, post_id=post_id, version=version)
    return StoredClassificationRead(
        post_id=record.post_id,
        version=record.version,
        model_version=record.model_version,
        created_at=record.created_at,
        classification=Classification.model_validate(record.result),
    )


@router.post(
    "/replies/score",
    tags=["replies"],
    summary="Score an official's reply before it is published: an answer, or a formula («отписка»)?",
)
async def score_reply(body: ReplyScoreRequest, model: RepliesDep) -> ReplyScoreRead:
    scored = await run_in_threadpool(model.score, body.complaint, body.reply)
    reading = scored.reading
    return ReplyScoreRead(
        quality=scored.quality,
        verdict=scored.verdict,
        mentions_problem=reading.mentions_problem,
        has_action=reading.has_action,
        has_term=reading.has_term,
        has_who=reading.has_who,
        reasons=scored.reasons,
        suggestions=scored.suggestions,
        evidence=reading.evidence,
        model_version=model.version,
    )


@router.post(
    "/reactions/label",
    tags=["reactions"],
    summary="Label a citizen's reaction to a published reply: thanks, not fixed, a new problem, or other",
)
async def label_reaction(body: ReactionLabelRequest, model: ReactionsDep) -> ReactionLabelRead:
    result = await run_in_threadpool(model.label, body.text, body.reply)
    return ReactionLabelRead(
        label=ReactionLabel(result.label),
        confidence=result.confidence,
        evidence=result.evidence,
        model_version=model.version,
    )
