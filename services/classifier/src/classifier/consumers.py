"""The classifier's consumers, on the shared batch contract (incidents_common.nats.BatchHandler):
post.collected (classify), the operators' classification corrections (store them as feedback), and
citizens' reactions to published replies (label them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from classifier.model import Classifier, PostInput
from classifier.models import FeedbackRecord
from classifier.reactions.model import ReactionModel
from classifier.service import (
    SOURCE,
    NothingToCorrect,
    UnknownCategory,
    check_correction,
    collected_input,
    correction_feedback_row,
    latest_classifications,
    record_classification,
    stored_versions,
)
from incidents_common.db import Writes
from incidents_common.events import (
    BadEvent,
    Classification,
    ClassificationCorrected,
    CloudEvent,
    PostCollected,
    ReactionClassified,
    ReactionCollected,
    ReactionLabel,
)
from incidents_common.regions import is_region_code

DURABLE_POST_COLLECTED = "classifier-post-collected"
DURABLE_CLASSIFICATION_CORRECTED = "classifier-classification-corrected"
DURABLE_REACTION_COLLECTED = "classifier-reaction-collected"


class ClassifyCollected:
    """post.collected → classify → stored result + PostClassified, a batch at a time.

    The versions already stored are looked up with one query; the rest are classified together
    (one matrix product: about a third less CPU per post than one by one), off the event loop, and
    their rows and events are written in bulk with the batch's inbox rows.
    """

    def __init__(self, *, classifier: Callable[[], Classifier], max_chars: int = 20_000) -> None:
        self.classifier = classifier
        self.max_chars = max_chars

    async def __call__(self, writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for event in events:
            if not isinstance(event.data, PostCollected):
                raise BadEvent(f"expected a PostCollected payload, got {type(event.data).__name__}")
        stored = await stored_versions(writes.session, [(e.data.post_id, e.data.version) for e in events])
        todo: list[CloudEvent[PostCollected]] = []
        for event in events:
            key = (event.data.post_id, event.data.version)
            if key not in stored:  # a re-published version, or the same one twice in the batch: once
                stored.add(key)
                todo.append(event)
        if not todo:
            return
        inputs = [collected_input(e.data, max_chars=self.max_chars) for e in todo]
        results = await asyncio.to_thread(self.classifier().classify_batch, inputs)
        for event, post_input, classification in zip(todo, inputs, results, strict=True):
            record_classification(
                writes, post=event.data, classification=classification, place_hint=post_input.place_hint, cause=event
            )


class StoreCorrections:
    """classification.corrected → operator feedback, the same rows and rules as POST /v1/feedback.

    Routing publishes one event per post when an operator corrects an incident's classification. Each
    is merged over what the model said of the post (its stored classification, or the post's text
    classified now when the post was classified before this database) and stored keyed by the event's
    id, so a redelivered or replayed event writes nothing twice. `python -m classifier train` reads
    these rows with every other correction (service.feedback_training_rows). A correction that breaks
    the rules (nothing corrected, a category outside the taxonomy, an unknown region) is dead-lettered
    with the reason: an operator decides whether the taxonomy or the event is wrong.
    """

    def __init__(self, *, classifier: Callable[[], Classifier], max_chars: int = 20_000) -> None:
        self.classifier = classifier
        self.max_chars = max_chars

    async def __call__(self, writes: Writes, events: list[CloudEvent[Any]]) -> None:
        classifier = self.classifier()
        for event in events:
            if not isinstance(event.data, ClassificationCorrected):
                raise BadEvent(f"expected a ClassificationCorrected payload, got {type(event.data).__name__}")
            values = event.data.corrected
            try:
                check_correction(classifier, corrected=values.stated(), category=values.category)
            except (NothingToCorrect, UnknownCategory) as exc:
                raise BadEvent(f"post {event.data.post_id}: {exc.detail}") from exc
            if values.region_code is not None and not is_region_code(values.region_code):
                raise BadEvent(f"post {event.data.post_id}: unknown region code {values.region_code!r}")
        records = await latest_classifications(writes.session, [e.data.post_id for e in events])
        unknown = [e for e in events if e.data.post_id not in records]
        fresh: dict[str, Classification] = {}
        if unknown:
            inputs = [PostInput(text=e.data.text[: self.max_chars]) for e in unknown]
            results = await asyncio.to_thread(classifier.classify_batch, inputs)
            fresh = {e.id: result for e, result in zip(unknown, results, strict=True)}
        rows = []
        for event in events:
            record = records.get(event.data.post_id)
            base = Classification.model_validate(record.result) if record is not None else fresh[event.id]
            rows.append(correction_feedback_row(event, base=base, record=record, max_chars=self.max_chars))
        # Keyed by the event id: a row already stored for it stays as it is.
        writes.upsert(FeedbackRecord, rows, keys=["event_id"], update=[])


class LabelReactions:
    """reaction.collected → label it → ReactionClassified through the outbox, in the batch's transaction.

    Nothing is stored: the label is a pure function of the text and the model, and the inbox keeps a
    redelivered event from being labelled twice. Labelled off the event loop (~1 ms a reaction). No
    model (the file missing at start-up) is an error, not a bad event: the batch is retried, and
    dead-lettered only after the consumer's max deliveries.
    """

    def __init__(self, *, model: Callable[[], ReactionModel | None], max_chars: int = 20_000) -> None:
        self.model = model
        self.max_chars = max_chars

    async def __call__(self, writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for event in events:
            if not isinstance(event.data, ReactionCollected):
                raise BadEvent(f"expected a ReactionCollected payload, got {type(event.data).__name__}")
        model = self.model()
        if model is None:
            raise RuntimeError("no reactions model loaded: run `python -m classifier train-reactions`")
        reactions: list[ReactionCollected] = [e.data for e in events]

        def label_all() -> list[Any]:
            # The reply's text is not in the event: the reading works from the reaction alone.
            return [model.label(r.text[: self.max_chars]) for r in reactions]

        results = await asyncio.to_thread(label_all)
        for event, reaction, result in zip(events, reactions, results, strict=True):
            writes.publish(
                ReactionClassified(
                    reaction_id=reaction.reaction_id,
                    reply_id=reaction.reply_id,
                    incident_id=reaction.incident_id,
                    region_code=reaction.region_code,
                    by_complainant=reaction.by_complainant,
                    text=reaction.text,
                    published_at=reaction.published_at,
                    url=reaction.url,
                    label=ReactionLabel(result.label),
                    confidence=result.confidence,
                    evidence=result.evidence,
                    model_version=model.version,
                ),
                source=SOURCE,
                cause=event,
            )
