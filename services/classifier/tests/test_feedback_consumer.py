"""Operators' corrections over NATS (issue 13): routing's ClassificationCorrected events become
classifier feedback, once each, and join the next training run; a malformed one is dead-lettered.

A real nats-server and the service's own database (SQLite and PostgreSQL); the events are published
as routing's outbox relay publishes them (the CloudEvent id as Nats-Msg-Id).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from sqlmodel import col, select

from classifier.config import Settings
from classifier.consumers import DURABLE_CLASSIFICATION_CORRECTED, StoreCorrections
from classifier.corpus import load_corpus
from classifier.main import create_app
from classifier.models import ClassificationRecord, FeedbackRecord
from classifier.service import feedback_training_rows
from incidents_common.db import Database
from incidents_common.events import (
    Classification,
    ClassificationCorrected,
    ClassificationValues,
    CloudEvent,
    LabelResult,
    RegionResult,
    ReviewReason,
    Urgency,
    dead_letter_subject,
    encode_event,
    new_event,
    subject_of,
)
from incidents_common.testing import eventually, read_stream

ICE = "Дети катаются на льду у берега в Энгельсе, лёд уже трещит, а рядом никого нет"
DANGER = ReviewReason(field="danger", confidence=0.42, detail="возможна угроза жизни: вероятность 0.42")


def correction(
    post_id: str,
    text: str = ICE,
    *,
    urgency: Urgency | None = Urgency.critical,
    category: str | None = None,
    is_incident: bool | None = None,
) -> CloudEvent[ClassificationCorrected]:
    """What routing publishes for one post when an operator corrects an incident (here: confirms it critical)."""
    data = ClassificationCorrected(
        post_id=post_id,
        text=text,
        corrected=ClassificationValues(urgency=urgency, category=category, is_incident=is_incident),
        previous=ClassificationValues(is_incident=True, category="safety", urgency=Urgency.high, region_code="64"),
        operator="key:admin64",
        comment="Угроза жизни подтверждена",
        incident_id="inc-1",
        region_code="64",
        corrected_at=datetime.now(UTC),
        model_version="test-model",
        danger=0.42,
        review_reasons=[DANGER],
    )
    return new_event(data, source="/services/routing", origin_post_id=post_id)


def stored_classification(post_id: str) -> ClassificationRecord:
    """The classifier's own result for the post: high, in a grey zone for danger."""

    def label(value: str, confidence: float = 0.8) -> LabelResult:
        return LabelResult(label=value, confidence=confidence, evidence=["лёд"])

    result = Classification(
        model_version="test-model",
        is_incident=True,
        incident=label("complaint", 0.9),
        category=label("safety"),
        region=RegionResult(code="64", name="Саратовская область", city="Энгельс", confidence=0.9),
        urgency=label("high", 0.55),
        sentiment=label("negative"),
        danger=0.42,
        needs_review=True,
        review_reasons=[DANGER],
    )
    return ClassificationRecord(
        post_id=post_id,
        version=2,
        model_version="test-model",
        is_incident=True,
        category="safety",
        urgency="high",
        sentiment="negative",
        region_code="64",
        city="Энгельс",
        text=ICE,
        place_hint="Подслушано Энгельс",
        result=result.model_dump(mode="json"),
    )


async def feedback(db: Database) -> list[FeedbackRecord]:
    async with db.transaction() as session:
        return list((await session.exec(select(FeedbackRecord).order_by(col(FeedbackRecord.id)))).all())


async def publish(app: FastAPI, event: CloudEvent[Any], *, msg_id: str | None = None) -> None:
    """As routing's outbox relay publishes: the event id as Nats-Msg-Id (another id: a re-publish)."""
    runtime = app.state.events
    await runtime.js.publish(subject_of(event.data), encode_event(event), headers={"Nats-Msg-Id": msg_id or event.id})


def consumer_of(app: FastAPI) -> Any:
    return next(c for c in app.state.events.consumers if c.spec.durable == DURABLE_CLASSIFICATION_CORRECTED)


class TestCorrectionsOverNats:
    async def test_a_correction_becomes_feedback_once_and_joins_training(
        self, nats_url: str, database_url: str, tiny_corpus: Path
    ) -> None:
        app = create_app(Settings(database_url=database_url, nats_url=nats_url, log_json=False))
        async with app.router.lifespan_context(app):
            await asyncio.wait_for(app.state.events.ready.wait(), 20)
            db: Database = app.state.db
            async with db.transaction() as session:
                session.add(stored_classification("p-ice"))
            confirmed = correction("p-ice")
            await publish(app, confirmed)
            (row,) = await eventually(lambda: feedback(db), until=lambda rows: len(rows) == 1)
            # Merged over the stored classification: a complete training example, keyed by the event.
            assert row.event_id == confirmed.id and (row.post_id, row.post_version) == ("p-ice", 2)
            assert (row.is_incident, row.category, row.urgency, row.sentiment) == (
                True,
                "safety",
                "critical",
                "negative",
            )
            assert (row.region_code, row.city, row.place_hint) == ("64", "Энгельс", "Подслушано Энгельс")
            assert row.corrected == ["urgency"] and row.model_version == "test-model"
            assert row.operator == "key:admin64" and row.comment == "Угроза жизни подтверждена"

            # The same event again (a re-publish past the duplicate window: another Nats-Msg-Id).
            consumer = consumer_of(app)
            await publish(app, confirmed, msg_id=uuid.uuid4().hex)
            await eventually(lambda: _stat(consumer, "duplicates"), until=lambda n: n == 1)
            # A post the classifier never stored (a database restored from a backup): its text is
            # classified now, and the operator's verdict goes over it.
            not_a_complaint = correction("p-poem", "Лёд на реке блестит, как в сказке", urgency=None, is_incident=False)
            await publish(app, not_a_complaint)
            rows = await eventually(lambda: feedback(db), until=lambda rows: len(rows) == 2)
            assert [r.event_id for r in rows] == [confirmed.id, not_a_complaint.id], "stored once each"
            poem = rows[1]
            assert (poem.is_incident, poem.category, poem.urgency, poem.post_version) == (False, None, "normal", None)
            assert poem.text == "Лёд на реке блестит, как в сказке" and poem.corrected == ["is_incident"]

            # What `python -m classifier train` reads (cli._feedback_rows → service.feedback_training_rows),
            # given to the corpus loader as it does.
            async with db.transaction() as session:
                training = await feedback_training_rows(session)
            corpus = load_corpus(tiny_corpus, extra=training)
            joined = [r for r in corpus.train if r.get("feedback")]
            assert {(r["text"], r["urgency"], r["is_incident"]) for r in joined} == {
                (ICE, "critical", True),
                ("Лёд на реке блестит, как в сказке", "normal", False),
            }
            assert all(r.get("split") != "test" for r in joined)

    async def test_a_post_dismissed_as_not_a_complaint_is_a_negative_example(
        self, nats_url: str, tmp_path: Path
    ) -> None:
        """Routing's dismissal of a kept post as not a complaint: no incident, no region (its own subject
        token, still under the consumer's filter), and the row teaches «not a complaint»."""
        app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_url=nats_url))
        async with app.router.lifespan_context(app):
            await asyncio.wait_for(app.state.events.ready.wait(), 20)
            async with app.state.db.transaction() as session:
                session.add(stored_classification("p-doubted"))
            said = ClassificationValues(is_incident=True, category="safety", urgency=Urgency.high, region_code=None)
            dismissed = new_event(
                ClassificationCorrected(
                    post_id="p-doubted",
                    text=ICE,
                    corrected=ClassificationValues(is_incident=False),
                    previous=said,
                    operator="key:federal",
                    comment="не жалоба: репортаж",
                    corrected_at=datetime.now(UTC),
                ),
                source="/services/routing",
                origin_post_id="p-doubted",
            )
            assert dismissed.data.incident_id is None and dismissed.data.region_code is None
            assert subject_of(dismissed.data) == "incidents.v1.classification.corrected.noregion"
            await publish(app, dismissed)
            (row,) = await eventually(lambda: feedback(app.state.db), until=lambda rows: len(rows) == 1)
            assert (row.event_id, row.post_id, row.post_version) == (dismissed.id, "p-doubted", 2)
            assert (row.is_incident, row.category, row.urgency) == (False, None, "normal")
            assert row.corrected == ["is_incident"] and row.operator == "key:federal"
            assert row.comment == "не жалоба: репортаж"

    async def test_malformed_corrections_are_dead_lettered_with_the_reason(self, nats_url: str, tmp_path: Path) -> None:
        app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_url=nats_url))
        async with app.router.lifespan_context(app):
            runtime = app.state.events
            await asyncio.wait_for(runtime.ready.wait(), 20)
            subject = "incidents.v1.classification.corrected.64"
            await runtime.js.publish(subject, b"{broken")
            await publish(app, correction("p-aliens", category="aliens", urgency=None))
            missing = correction("p-missing").model_dump(mode="json")
            del missing["data"]["operator"]
            await runtime.js.publish(subject, orjson.dumps(missing))
            good = correction("p-good")
            await publish(app, good)
            # The good one after the bad ones is stored: the consumer went on.
            await eventually(lambda: feedback(app.state.db), until=lambda rows: len(rows) == 1)
            dead = await eventually(
                lambda: read_stream(nats_url, dead_letter_subject(DURABLE_CLASSIFICATION_CORRECTED), timeout=0.3),
                until=lambda messages: len(messages) == 3,
            )
            # (A batch that fails on one event is retried event by event: the order may change.)
            reasons = sorted(m.headers["Incidents-Dead-Letter-Reason"] for m in dead)
            assert reasons[0].startswith("invalid ClassificationCorrected: data.operator")
            assert reasons[1].startswith("not JSON")
            assert reasons[2] == "post p-aliens: 'aliens' is not in the taxonomy"
            assert [r.event_id for r in await feedback(app.state.db)] == [good.id]


async def _stat(consumer: Any, name: str) -> int:
    return int(getattr(consumer.stats, name))


class TestHandler:
    async def test_the_event_id_keys_the_row_even_without_the_inbox(self, tmp_path: Path, classifier: Any) -> None:
        """A replay that bypasses the inbox (another consumer name, a restored inbox) stores nothing twice."""
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", [ClassificationRecord, FeedbackRecord])
        await db.create_tables()
        handler = StoreCorrections(classifier=lambda: classifier)
        event = correction("p-1", category="safety")
        for _ in range(2):
            async with db.transaction() as session:
                await handler(session.writes, [event, event])
        (row,) = await feedback(db)
        assert row.event_id == event.id and row.corrected == ["category", "urgency"]
        await db.dispose()
