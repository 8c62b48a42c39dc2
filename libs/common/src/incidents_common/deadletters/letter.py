"""One dead letter as read from the DEADLETTER stream, and what replaying one gives."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from nats.aio.msg import Msg

from incidents_common.events import DEAD_LETTER_ROOT
from incidents_common.nats import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_REASON_HEADER,
    DELIVERIES_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_STREAM_HEADER,
    ORIGINAL_SUBJECT_HEADER,
)

STREAM = "DEADLETTER"
REPLAY_OF_HEADER = "Incidents-Replay-Of"
_PREFIX = f"{DEAD_LETTER_ROOT}."


@dataclass(frozen=True)
class DeadLetter:
    """A message of the DEADLETTER stream, identified by its sequence there."""

    seq: int
    subject: str
    stored_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    @property
    def consumer(self) -> str:
        return self.headers.get(DEAD_LETTER_CONSUMER_HEADER) or self.subject.removeprefix(_PREFIX)

    @property
    def reason(self) -> str:
        return self.headers.get(DEAD_LETTER_REASON_HEADER, "")

    @property
    def original_subject(self) -> str | None:
        return self.headers.get(ORIGINAL_SUBJECT_HEADER) or None

    @property
    def event_id(self) -> str | None:
        return self.headers.get(EVENT_ID_HEADER) or _payload_field(self.data, "id")

    @property
    def event_type(self) -> str | None:
        return self.headers.get(EVENT_TYPE_HEADER) or _payload_field(self.data, "type")

    def age_seconds(self, now: datetime | None = None) -> float:
        return max(((now or datetime.now(UTC)) - self.stored_at).total_seconds(), 0.0)

    def summary(self) -> dict[str, Any]:
        """What a listing shows."""
        original_seq = self.headers.get(ORIGINAL_SEQUENCE_HEADER)
        deliveries = self.headers.get(DELIVERIES_HEADER)
        return {
            "seq": self.seq,
            "consumer": self.consumer,
            "reason": self.reason,
            "original_subject": self.original_subject,
            "original_stream": self.headers.get(ORIGINAL_STREAM_HEADER),
            "original_seq": int(original_seq) if original_seq and original_seq.isdigit() else None,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "deliveries": int(deliveries) if deliveries and deliveries.isdigit() else None,
            "dead_lettered_at": self.stored_at.isoformat(),
            "age_seconds": round(self.age_seconds(), 1),
        }

    def detail(self) -> dict[str, Any]:
        """Everything: the summary, every header and the payload (JSON when it is JSON, else text
        or base64)."""
        payload: Any
        try:
            # The standard parser: orjson turns an integer past 64 bits into a float, and a letter is
            # shown as it was stored (the bad value may be the reason it is here).
            payload, encoding = json.loads(self.data), "json"
        except (json.JSONDecodeError, UnicodeDecodeError):
            try:
                payload, encoding = self.data.decode("utf-8"), "text"
            except UnicodeDecodeError:
                payload, encoding = base64.b64encode(self.data).decode("ascii"), "base64"
        return self.summary() | {"headers": dict(self.headers), "payload": payload, "payload_encoding": encoding}


def _payload_field(data: bytes, name: str) -> str | None:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def from_message(msg: Msg) -> DeadLetter:
    metadata = msg.metadata
    headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-Msg-Size")}
    return DeadLetter(
        seq=metadata.sequence.stream,
        subject=msg.subject,
        stored_at=metadata.timestamp,
        headers=headers,
        data=msg.data,
    )


def subject_matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    parts, wanted = subject.split("."), pattern.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(parts) > index
        if index >= len(parts) or (part != "*" and part != parts[index]):
            return False
    return len(parts) == len(wanted)


@dataclass(frozen=True)
class Replayed:
    """A replayed dead letter: where it went, and the new message's sequence in the event stream."""

    seq: int
    consumer: str
    subject: str
    event_id: str | None
    stream: str
    stream_seq: int
    duplicate: bool  # the same replay was published within the duplicate window already

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "consumer": self.consumer,
            "subject": self.subject,
            "event_id": self.event_id,
            "stream": self.stream,
            "stream_seq": self.stream_seq,
            "duplicate": self.duplicate,
        }
