"""Ingest's database half: posts stored in bulk (dedup, versions) and PostCollected queued in the outbox.

Functions take a session and never commit; `collector.ingest.ingestor.Ingestor` runs the transactions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from collector import EVENT_SOURCE
from collector.ingest.prepare import PreparedPost, json_time, post_collected_payload, prepare_posts
from collector.ingest.schemas import IngestItem, IngestResult, IngestStatus, PostCreate
from collector.models import POSTS, Post
from incidents_common.db import OutboxMessage, utcnow, writes_of
from incidents_common.events import SUBJECT_POST_COLLECTED, PostCollected, encode_envelope
from incidents_common.metrics import count_on_commit
from incidents_common.tracing import current_traceparent

# Bound parameters per statement stay well under SQLite's 32766 and asyncpg's 32767 limits.
_IN_CHUNK = 500


async def queue_post_collected(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue one PostCollected CloudEvent per stored row in the transaction's outbox.

    The same envelope as incidents_common.db.publish() writes, built as plain JSON: going through
    the pydantic models (new_event, encode_event) was a third of the ingest time at 1,000 posts per
    batch. The rows go into the shared outbox table in one statement (the transaction's Writes), and the relay of
    incidents_common publishes them. The tests decode every queued event with decode_event, so
    the contract is checked.
    """
    if not rows:
        return
    created_at = utcnow()
    now = json_time(created_at)
    traceparent = current_traceparent()
    outbox = []
    for row in rows:
        event_id, payload = encode_envelope(
            PostCollected,
            post_collected_payload(row),
            source=EVENT_SOURCE,
            time=now,
            origin_post_id=row["id"],
            traceparent=traceparent,
        )
        outbox.append(
            {"event_id": event_id, "subject": SUBJECT_POST_COLLECTED, "payload": payload, "created_at": created_at}
        )
    writes = writes_of(session)
    writes.insert(OutboxMessage, outbox)
    writes.events_written(len(outbox))  # wakes the relay after the commit
    for source_type, collected in Counter(row["source_type"] for row in rows).items():
        count_on_commit(session, "posts_collected", collected, source_type=source_type)


_Stored = tuple[int, str, datetime, dict[str, Any]]


async def _existing(session: AsyncSession, post_ids: Sequence[str]) -> dict[str, _Stored]:
    """post id -> (version, content hash, collected_at, reach) for the posts already stored.

    Post ids derive from (source_type, external_id), so the lookup is by primary key. PostgreSQL
    gets one array parameter (`= ANY($1)`): a 500-value IN list cost more to plan than to run."""
    columns = (POSTS.c.id, POSTS.c.version, POSTS.c.content_hash, POSTS.c.collected_at, POSTS.c.reach)
    found: dict[str, _Stored] = {}
    connection = await session.connection()
    conditions: list[ColumnElement[bool]]
    if connection.dialect.name == "postgresql":
        conditions = [POSTS.c.id == any_(bindparam("ids", list(post_ids), type_=ARRAY(String)))]
    else:
        chunks = [list(post_ids[i : i + _IN_CHUNK]) for i in range(0, len(post_ids), _IN_CHUNK)]
        conditions = [POSTS.c.id.in_(chunk) for chunk in chunks]
    for condition in conditions:
        rows = await connection.execute(select(*columns).where(condition))
        for post_id, version, digest, collected_at, reach in rows:
            found[post_id] = (version, digest, collected_at, reach or {})
    return found


async def ingest_posts(
    session: AsyncSession, *, posts: Sequence[PostCreate], source_id: str | None = None, keep_items: bool = True
) -> IngestResult:
    """Store posts in bulk and queue one PostCollected per new post or new version (outbox).

    A post is identified by (source_type, external_id); the same text again is a duplicate, other
    text is an edit: the row is updated, its version incremented and the new version published.
    """
    return await store_prepared(session, prepared=prepare_posts(posts, source_id=source_id), keep_items=keep_items)


async def store_prepared(
    session: AsyncSession, *, prepared: Sequence[PreparedPost], keep_items: bool = True
) -> IngestResult:
    """The database half of ingest_posts. New posts and their events are written in bulk with the
    transaction (incidents_common.db.Writes); what an earlier call of the same transaction queued is
    written first, so that this one finds those posts stored."""
    writes = writes_of(session)
    await writes.flush()
    now = utcnow()
    existing = await _existing(session, list({p.post_id for p in prepared}))
    result = IngestResult()
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    reach_updates: dict[str, dict[str, Any]] = {}
    for item in prepared:
        pending = inserts.get(item.post_id) or updates.get(item.post_id)
        if pending is not None:
            current_version, current_hash = pending["version"], pending["content_hash"]
        elif item.post_id in existing:
            current_version, current_hash, _, _ = existing[item.post_id]
        else:
            inserts[item.post_id] = item.row
            result.accepted += 1
            status, version = IngestStatus.created, 1
            if keep_items:
                result.items.append(
                    IngestItem(
                        post_id=item.post_id,
                        source_type=item.post.source_type,
                        external_id=item.external_id,
                        version=version,
                        status=status,
                    )
                )
            continue
        if current_hash == item.hash:
            result.duplicates += 1
            status, version = IngestStatus.duplicate, current_version
            reach = item.row["reach"]
            if reach and pending is not None:
                pending["reach"] = reach
            elif reach and reach != existing[item.post_id][3]:
                # Likes and views grow: the stored reach is refreshed in place, without a new version.
                reach_updates[item.post_id] = {"id": item.post_id, "reach": reach, "updated_at": now}
        else:
            version = current_version + 1
            row = dict(item.row, version=version)
            if pending is not None and item.post_id in inserts:
                inserts[item.post_id] = row
            else:
                # An edit keeps the first collection time; the row's id is its primary key.
                row["collected_at"] = existing[item.post_id][2] if item.post_id in existing else now
                updates[item.post_id] = row
            result.updated += 1
            status = IngestStatus.updated
        if keep_items:
            result.items.append(
                IngestItem(
                    post_id=item.post_id,
                    source_type=item.post.source_type,
                    external_id=item.external_id,
                    version=version,
                    status=status,
                )
            )
    if inserts:
        writes.insert(Post, list(inserts.values()))
    if updates:
        await session.exec(update(Post), params=list(updates.values()))
    refreshed = [row for post_id, row in reach_updates.items() if post_id not in updates]
    if refreshed:
        await session.exec(update(Post), params=refreshed)
    await queue_post_collected(session, [*inserts.values(), *updates.values()])
    return result
