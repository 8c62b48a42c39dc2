"""The read model: incident events and classified posts, applied in whatever order they arrive.

Each incident event carries the whole snapshot after the change. Snapshots may arrive out of order
(redelivery, two streams), so a snapshot older than the stored one (by `updated_at`) only adds its
history entry and event facts; it never rolls the incident back. A classified post may arrive before
or after the incident that cites it: posts are stored by id, incidents list their post ids, and each
side keeps its own search text, so neither consumer depends on the other's uncommitted rows.

Both consumers are batch handlers (incidents_common.nats.BatchHandler) in three steps: load the
rows the batch touches with a few IN-queries; decide every event in memory with the pure functions of
incidents/decisions.py (`decide_incidents`, `decide_posts`); queue the effects on the transaction's
`Writes`, one bulk statement per table. The consumer machinery writes them with the inbox rows and
commits. Surge alerts have their own consumer (alerts/consumers.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api_gateway.columns import table_of
from api_gateway.incidents.decisions import decide_incidents, decide_posts
from api_gateway.incidents.models import Incident, IncidentEventLog, IncidentPost, Post
from api_gateway.readmodel import chunks, lock_keys, rows_by_key, serialize_event_log
from incidents_common.categories import classification_problem
from incidents_common.db import Writes
from incidents_common.events import AuditRootPublished, BadEvent, CloudEvent, IncidentEvent, PostClassified

INCIDENTS = table_of(Incident)
POSTS = table_of(Post)


async def apply_incident_events(writes: Writes, events: list[CloudEvent[Any]]) -> None:
    """BatchHandler of `gateway-incident-events`: incidents upserted, links added, history appended.
    A region's daily audit root shares the subjects (incidents.v1.incident.audit_root.<region>) and is
    routing's to keep and the regions' to archive: nothing for the read model."""
    events = [event for event in events if not isinstance(event.data, AuditRootPublished)]
    if not events:
        return
    for event in events:
        if not isinstance(event.data, IncidentEvent):
            raise BadEvent(f"not an incident event: {event.type}")
    session = writes.session
    incident_ids = {event.data.incident.incident_id for event in events}
    await lock_keys(session, "gw_incident", incident_ids)
    stored = await rows_by_key(session, INCIDENTS, "incident_id", incident_ids)
    effects = decide_incidents(stored, events, writes.received_text)
    writes.upsert(Incident, effects.incidents)
    writes.insert(IncidentPost, effects.links, ignore_conflicts=True)
    await writes.flush()
    await serialize_event_log(session)
    writes.insert(IncidentEventLog, effects.history)


async def apply_classified_posts(writes: Writes, events: list[CloudEvent[Any]]) -> None:
    """BatchHandler of `gateway-post-classified`: each post's newest version upserted."""
    for event in events:
        if not isinstance(event.data, PostClassified):
            raise BadEvent(f"not a classified post: {event.type}")
        problem = classification_problem(event.data.classification)
        if problem is not None:
            raise BadEvent(f"post {event.data.post_id}: {problem}")
    session = writes.session
    post_ids = {event.data.post_id for event in events}
    await lock_keys(session, "gw_post", post_ids)
    stored_versions: dict[str, int] = {}
    for chunk in chunks(post_ids):
        query = select(POSTS.c.post_id, POSTS.c.version).where(POSTS.c.post_id.in_(chunk))
        found = await (await session.connection()).execute(query)
        stored_versions.update((post_id, version) for post_id, version in found)
    writes.upsert(Post, decide_posts(stored_versions, events, writes.received_json))
