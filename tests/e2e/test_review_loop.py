"""The human in the loop, end to end (issue 13), through the launcher as the README runs it.

A post the classifier sent for review as possibly critical (published on incidents.v1.post.classified
exactly as the classifier publishes one: the model's own grey zone is the classifier's tests' concern)
becomes an incident on the critical clock, waits in the gateway's review queue, is decided by a regional
admin with the `correct` action, and the classifier stores the correction as feedback for its next
training run; region 64's subscriber reads the correction with its own credentials.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from incidents_common.events import (
    SUBJECT_POST_CLASSIFIED,
    Author,
    Classification,
    LabelResult,
    PlaceHints,
    PostClassified,
    RegionResult,
    ReviewReason,
    SourceType,
    decode_event,
    encode_event,
    new_event,
)
from incidents_common.identity import Identity
from incidents_common.natsauth import issue_region_credentials
from incidents_common.processes import free_port

from .test_pipeline import KEY, RunningSystem, _start, _stop

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

T = TypeVar("T")
TEXT = "В Энгельсе на Волге дети катаются на льду у самого берега, лёд уже трещит, взрослых рядом нет"
DANGER = ReviewReason(field="danger", confidence=0.42, detail="возможна угроза жизни: вероятность 0.42")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    ports = {name: free_port() for name in ("nats", "gateway", "collector", "classifier", "routing", "console")}
    running = _start(tmp_path / "var", ports)
    yield running
    if running.process.poll() is None:
        _stop(running)


def possibly_critical(post_id: str) -> PostClassified:
    """What the classifier publishes for a post whose danger probability is in its grey zone."""

    def label(value: str, confidence: float) -> LabelResult:
        return LabelResult(label=value, confidence=confidence, evidence=["лёд трещит"])

    return PostClassified(
        post_id=post_id,
        source_type=SourceType.vk,
        external_id=f"ext-{post_id}",
        author=Author(id="u-ice", name="Марина"),
        text=TEXT,
        published_at=datetime.now(UTC),
        place_hints=PlaceHints(),
        classification=Classification(
            model_version="e2e",
            is_incident=True,
            incident=label("complaint", 0.9),
            category=label("safety", 0.8),
            region=RegionResult(code="64", name="Саратовская область", city="Энгельс", confidence=0.9),
            urgency=label("high", 0.6),
            sentiment=label("negative", 0.8),
            danger=0.42,
            needs_review=True,
            review_reasons=[DANGER],
        ),
    )


def nats_login(system: RunningSystem, user: str) -> dict[str, Any]:
    stored = json.loads((system.data_dir / "secrets" / "nats" / f"{user}.json").read_text())
    return {"user": user, "password": stored["password"], "inbox_prefix": f"_INBOX_{user}"}


async def publish_as_classifier(system: RunningSystem, post: PostClassified) -> None:
    """On the classifier's subject, as the operator's NATS user (it may publish any event subject)."""
    import nats

    client = await nats.connect(f"nats://127.0.0.1:{system.ports['nats']}", **nats_login(system, "operator"))
    try:
        event = new_event(post, source="/services/classifier", origin_post_id=post.post_id)
        await client.jetstream().publish(
            SUBJECT_POST_CLASSIFIED, encode_event(event), headers={"Nats-Msg-Id": event.id}
        )
    finally:
        await client.close()


async def region_corrections(
    system: RunningSystem, credentials: dict[str, Any], grant: str = "corrections_"
) -> list[Any]:
    """Region 64's subscriber reads the corrections made on its incidents through its own durable (or,
    `grant=""`, its incidents' events through `region64`)."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout

    try:
        client = await nats.connect(
            f"nats://127.0.0.1:{system.ports['nats']}",
            user=credentials["user"],
            password=credentials["password"],
            inbox_prefix=credentials["inbox_prefix"],
            allow_reconnect=False,
        )
    except (TimeoutError, nats.errors.Error, OSError):
        # Refused, or the connection reset while the server reloads its config with the new user: again
        return []
    try:
        try:
            subscription = await client.jetstream().pull_subscribe(
                credentials[f"{grant}filter_subject"], durable=credentials[f"{grant}durable"], stream="INCIDENTS"
            )
        except nats.errors.Error:
            return []  # the reloaded permissions or the durable are not in place yet (a loaded machine): again
        try:
            messages = await subscription.fetch(10, timeout=2)
        except NatsTimeout:
            return []
        for message in messages:
            await message.ack()
        return [decode_event(m.data) for m in messages]
    finally:
        await client.close()


def wait_for(probe: Callable[[], T], until: Callable[[T], bool], *, timeout: float = 60, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last = probe()
    while not until(last):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s; last: {last!r}")
        time.sleep(0.3)
        last = probe()
    return last


def operator_token(system: RunningSystem, service: str) -> dict[str, str]:
    token = Identity.load("operator", system.data_dir / "secrets" / "identity").mint(service)
    return {"Authorization": f"Bearer {token}"}


class TestReviewLoop:
    def test_possibly_critical_post_to_operator_decision_to_classifier_feedback(self, system: RunningSystem) -> None:
        post = possibly_critical("e2e-ice-1")
        asyncio.run(publish_as_classifier(system, post))
        gateway = httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=10)
        routing = f"http://127.0.0.1:{system.ports['routing']}"
        classifier = f"http://127.0.0.1:{system.ports['classifier']}"
        try:
            # The review queue at the gateway, possibly critical, with the classifier's reason.
            queue = wait_for(
                lambda: gateway.get("/v1/review-queue", params={"region": "64"}).json(),
                lambda q: bool(q.get("items")),
                what="the incident in the review queue",
            )
            (item,) = queue["items"]
            incident_id = item["incident_id"]
            assert item["possibly_critical"] and item["urgency"] == "high"
            assert item["review_reasons"][0]["detail"] == DANGER.detail
            assert queue["regions"] == [
                {
                    "region_code": "64",
                    "region_name": "Саратовская область",
                    "awaiting_review": 1,
                    "possibly_critical": 1,
                }
            ]
            # Routing runs it on the critical clock: the policy of urgency critical, while its urgency is high.
            detail = httpx.get(f"{routing}/v1/incidents/{incident_id}", headers=operator_token(system, "routing"))
            assert detail.status_code == 200, detail.text
            pending = [d for d in detail.json()["deadlines"] if d["state"] == "pending"]
            assert pending and all("срочность «критическая»" in d["policy"] for d in pending), pending

            # A regional admin of Saratov confirms the danger through the gateway's incident actions.
            created = gateway.post(
                "/v1/admin/keys", json={"name": "ЦУР 64", "role": "regional_admin", "regions": ["64"]}
            )
            assert created.status_code == 201, created.text
            admin = {"X-API-Key": created.json()["api_key"]}
            decision = {"action": "correct", "urgency": "critical", "comment": "Угроза жизни подтверждена"}
            acted = gateway.post(f"/v1/incidents/{incident_id}/actions", json=decision, headers=admin)
            assert acted.status_code == 200, acted.text
            assert (acted.json()["urgency"], acted.json()["needs_review"]) == ("critical", False)

            # ClassificationCorrected → the classifier's feedback, which `python -m classifier train` reads.
            feedback = wait_for(
                lambda: httpx.get(f"{classifier}/v1/feedback", headers=operator_token(system, "classifier")).json(),
                lambda page: page.get("total") == 1,
                what="the correction stored as feedback",
            )
            (row,) = feedback["items"]
            assert (row["post_id"], row["urgency"], row["corrected"]) == ("e2e-ice-1", "critical", ["urgency"])
            assert row["text"] == TEXT and row["operator"] == "key:" + created.json()["key_id"]

            # The queue empties once routing's snapshot reaches the gateway.
            wait_for(
                lambda: gateway.get("/v1/review-queue", params={"region": "64"}).json()["total"],
                lambda total: total == 0,
                what="the queue emptied",
            )
        finally:
            gateway.close()

        # Region 64's outside subscriber reads the correction made on its incident.
        credentials = issue_region_credentials(system.data_dir, "64")
        corrections = wait_for(
            lambda: asyncio.run(region_corrections(system, credentials)),
            lambda found: bool(found),
            timeout=20,
            what="region 64 reading its corrections",
        )
        assert [(e.data.post_id, e.data.corrected.urgency) for e in corrections] == [("e2e-ice-1", "critical")]

        # The admin moves it to Moscow: the gateway's history has the move, and region 64's subscriber
        # (durable region64 on incidents.v1.incident.*.64) reads that the incident left, its last event.
        with httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=10) as gateway:
            body = {"action": "correct", "region_code": "77", "comment": "это Москва"}
            moved = gateway.post(f"/v1/incidents/{incident_id}/actions", json=body, headers=admin)
            assert moved.status_code == 200 and moved.json()["region_code"] == "77", moved.text
            wait_for(
                lambda: [h["type"] for h in gateway.get(f"/v1/incidents/{incident_id}").json()["history"]],
                lambda types: "incident.moved_out" in types,
                what="the move in the gateway's history",
            )
        events = wait_for(
            lambda: asyncio.run(region_corrections(system, credentials, grant="")),
            lambda found: any(e.type == "ru.incidents.incident.moved_out" for e in found),
            timeout=20,
            what="region 64 reading that its incident left",
        )
        left = events[-1].data
        assert (left.incident.incident_id, left.from_region_code, left.to_region_code) == (incident_id, "64", "77")
        assert left.incident.region_code == "77" and left.actor == "key:" + created.json()["key_id"]
