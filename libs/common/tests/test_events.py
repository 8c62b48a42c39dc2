"""Event contracts: CloudEvents envelope, subjects, decoding errors, trace propagation."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from incidents_common.events import (
    BadEvent,
    IncidentAssigned,
    IncidentMovedOut,
    PostCollected,
    SourceType,
    decode_event,
    encode_envelope,
    encode_event,
    new_event,
    subject_of,
)
from incidents_common.testing import incident_snapshot, post_classified, post_collected
from incidents_common.tracing import continue_trace, setup_tracing

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class TestEnvelope:
    def test_structured_cloudevent_round_trips(self) -> None:
        post = post_collected("p1", "Яма", external_id="-1_2", published_at=NOW)
        event = new_event(post, source="/services/collector", origin_post_id="p1")
        document = orjson.loads(encode_event(event))
        assert document["specversion"] == "1.0"
        assert document["type"] == "ru.incidents.post.collected"
        assert document["datacontenttype"] == "application/json"
        assert document["originpostid"] == "p1"
        assert document["schemaversion"] == "1"
        assert decode_event(encode_event(event)) == event

    def test_the_fast_path_writes_the_same_envelope(self) -> None:
        post = post_collected("p1", "Яма", external_id="-1_2", published_at=NOW)
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        event = new_event(post, source="/services/collector", origin_post_id="p1", traceparent=traceparent)
        event_id, fast = encode_envelope(
            PostCollected,
            post.model_dump(mode="json", exclude_none=True),
            source="/services/collector",
            time=event.time.isoformat().replace("+00:00", "Z"),
            origin_post_id="p1",
            traceparent=traceparent,
            event_id=event.id,
        )
        assert event_id == event.id
        assert orjson.loads(fast) == orjson.loads(encode_event(event))
        assert decode_event(fast) == event

    def test_incident_subjects_end_with_region(self) -> None:
        assigned = IncidentAssigned(
            incident=incident_snapshot("i1", region="64"),
            assignee={"official_id": "o1", "name": "Иванов И. И."},
            explanation="rule 1",
        )
        assert subject_of(assigned) == "incidents.v1.incident.assigned.64"

    def test_chatter_has_a_subject_of_its_own(self) -> None:
        complaint = post_classified("p1", "Яма на Чернышевского")
        chatter = complaint.model_copy(
            update={"classification": complaint.classification.model_copy(update={"is_incident": False})}
        )
        unsure = chatter.model_copy(
            update={"classification": chatter.classification.model_copy(update={"needs_review": True})}
        )
        edited = chatter.model_copy(update={"version": 2})  # may update a complaint's first version
        assert subject_of(complaint) == subject_of(unsure) == subject_of(edited) == "incidents.v1.post.classified"
        assert subject_of(chatter) == "incidents.v1.post.noise"

    def test_a_move_goes_to_the_region_the_incident_left(self) -> None:
        moved = IncidentMovedOut(
            incident=incident_snapshot("i1", region="77"), from_region_code="64", to_region_code="77", actor="key:a"
        )
        assert subject_of(moved) == "incidents.v1.incident.moved_out.64"
        assert moved.subject_region == "64" and moved.incident.region_code == "77"
        assert decode_event(encode_event(new_event(moved, source="/services/routing"))).data == moved

    def test_an_assignment_names_the_person_who_made_it_and_why(self) -> None:
        snapshot = incident_snapshot("i1", region="64")
        by_rules = IncidentAssigned(incident=snapshot, assignee=snapshot.assignee, explanation="rule 1")  # type: ignore[arg-type]
        document = orjson.loads(encode_event(new_event(by_rules, source="/services/routing")))["data"]
        assert "actor" not in document and "comment" not in document  # routing's own choice: nobody's
        redirected = by_rules.model_copy(update={"actor": "key:k1", "comment": "Перенаправлен: не наше"})
        decoded = decode_event(encode_event(new_event(redirected, source="/services/routing"))).data
        assert (decoded.actor, decoded.comment) == ("key:k1", "Перенаправлен: не наше")

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (b"\xff\xfe", "not JSON"),
            (b"[1, 2]", "not a CloudEvents JSON object"),
            (b'{"type": "ru.incidents.post.collected", "specversion": "0.3"}', "unsupported specversion"),
            (b'{"type": "ru.incidents.post.collected", "specversion": "1.0", "id": "x"}', "invalid PostCollected"),
        ],
    )
    def test_undecodable_events_say_why(self, raw: bytes, reason: str) -> None:
        with pytest.raises(BadEvent, match=reason):
            decode_event(raw)

    def test_events_carry_the_current_trace(self) -> None:
        setup_tracing("test")
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        post = post_collected("p1", "x", source_type=SourceType.push, external_id="1", published_at=NOW)
        with continue_trace("handle", parent):
            event = new_event(post, source="/test")
        assert event.traceparent is not None
        assert event.traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"


def _contracts() -> list[type]:
    from incidents_common.events import Contract

    found: list[type] = []
    pending = list(Contract.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_no_contract_field_is_required_and_nullable() -> None:
    """encode_event leaves nulls out, so a field that may be null must have a default: else the event
    its producer wrote fails its consumer's decoding (a surge alert of a whole region, city null, was
    dead-lettered by the gateway)."""
    import types
    import typing

    offending = []
    for contract in _contracts():
        for name, field in contract.model_fields.items():
            annotation = field.annotation
            union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
            nullable = union and type(None) in typing.get_args(annotation)
            if nullable and field.is_required():
                offending.append(f"{contract.__name__}.{name}")
    assert offending == []


def test_a_surge_alert_of_a_whole_region_round_trips() -> None:
    from incidents_common.factories import surge_alert

    event = new_event(surge_alert("a1", region="40", city=None), source="/services/routing")
    assert decode_event(encode_event(event)) == event
