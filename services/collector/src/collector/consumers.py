"""Consumed events: one batch handler each (incidents_common.nats.BatchHandler)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from collector.models import Publication
from incidents_common.db import Writes, utcnow
from incidents_common.events import BadEvent, CloudEvent, PublicationStatus, ReplyRequested
from incidents_common.nats import BatchHandler

REPLY_REQUESTED_DURABLE = "collector-reply-requested"

# The widths of the publications columns a ReplyRequested fills from its own fields.
_WIDTHS = {"reply_id": 100, "incident_id": 100, "region_code": 10, "post_id": 36, "external_id": 255}


def publication_rows(requests: Sequence[ReplyRequested], *, now: datetime) -> list[dict[str, Any]]:
    """One pending publications row per reply id (the first request of a batch wins), due at once.

    BadEvent for a request whose ids do not fit the table: it could never be stored."""
    rows: dict[str, dict[str, Any]] = {}
    for request in requests:
        for name, width in _WIDTHS.items():
            if len(getattr(request, name)) > width:
                raise BadEvent(f"reply.requested {request.reply_id[:100]!r}: {name} longer than {width} characters")
        if request.reply_id in rows:
            continue
        rows[request.reply_id] = {
            "reply_id": request.reply_id,
            "incident_id": request.incident_id,
            "region_code": request.region_code,
            "kind": str(request.kind),
            "text": request.text,
            "post_id": request.post_id,
            "source_type": str(request.source_type),
            "external_id": request.external_id,
            "status": str(PublicationStatus.pending),
            "attempts": 0,
            "next_attempt_at": now,
            "requested_at": request.requested_at,
            "updated_at": now,
        }
    return list(rows.values())


def reply_requested_handler(wake: Callable[[], None]) -> BatchHandler:
    """incidents.v1.reply.requested.<region> → a pending publication per reply id; `wake` (the
    publisher's) runs once the batch has committed.

    Idempotent on reply_id: a reply already stored, whatever its status, is left as it is, so a reply
    is published at most once however often routing asks."""

    async def handle_replies_requested(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        requests = []
        for event in events:
            if not isinstance(event.data, ReplyRequested):
                # The batch is then retried one event at a time, and this one dead-lettered.
                raise BadEvent(f"expected reply.requested, got {event.type}")
            requests.append(event.data)
        writes.insert(Publication, publication_rows(requests, now=utcnow()), ignore_conflicts=True)
        writes.after_commit(wake)

    return handle_replies_requested
