"""How a consumer dead-letters a message: the headers that say why and where it came from."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import orjson
from nats.aio.msg import Msg

# Headers of a dead letter (the message itself is the original payload, byte for byte).
DEAD_LETTER_REASON_HEADER = "Incidents-Dead-Letter-Reason"
ORIGINAL_SUBJECT_HEADER = "Incidents-Original-Subject"
DEAD_LETTER_CONSUMER_HEADER = "Incidents-Dead-Letter-Consumer"
ORIGINAL_STREAM_HEADER = "Incidents-Original-Stream"
ORIGINAL_SEQUENCE_HEADER = "Incidents-Original-Sequence"
DELIVERIES_HEADER = "Incidents-Deliveries"
DEAD_LETTERED_AT_HEADER = "Incidents-Dead-Lettered-At"
EVENT_ID_HEADER = "Incidents-Event-Id"
EVENT_TYPE_HEADER = "Incidents-Event-Type"

DELIVERY_LIMIT_REASON = "delivery limit reached (the consumer crashed or hung while handling it)"


def dead_letter_headers(
    msg: Msg, reason: str, *, durable: str, event_id: str | None, event_type: str | None
) -> dict[str, str]:
    """The headers of `msg`'s copy on `incidents.deadletter.<durable>`: the reason, the original subject,
    stream and sequence, the deliveries, and the event's id and type when known."""
    headers = {
        DEAD_LETTER_REASON_HEADER: reason[:1000],
        ORIGINAL_SUBJECT_HEADER: msg.subject,
        DEAD_LETTER_CONSUMER_HEADER: durable,
        DEAD_LETTERED_AT_HEADER: datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if event_id:
        headers[EVENT_ID_HEADER] = event_id[:200]
    if event_type:
        headers[EVENT_TYPE_HEADER] = event_type[:200]
    with contextlib.suppress(Exception):  # a message without JetStream metadata: no dedup id
        metadata = msg.metadata
        headers["Nats-Msg-Id"] = f"dl-{durable}-{metadata.sequence.stream}"
        headers[ORIGINAL_STREAM_HEADER] = metadata.stream
        headers[ORIGINAL_SEQUENCE_HEADER] = str(metadata.sequence.stream)
        headers[DELIVERIES_HEADER] = str(metadata.num_delivered)
    return headers


def traceparent_in(raw: bytes) -> str | None:
    """The `traceparent` of a CloudEvent, read leniently from a message that may not be one."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = document.get("traceparent") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def identify_event(raw: bytes) -> tuple[str | None, str | None]:
    """The id and type of a CloudEvent, read leniently from a message that may not be one."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    event_id, event_type = document.get("id"), document.get("type")
    return (event_id if isinstance(event_id, str) else None, event_type if isinstance(event_type, str) else None)
