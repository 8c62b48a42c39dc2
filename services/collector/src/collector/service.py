"""Collector logic without HTTP: ingest (dedup, versions, outbox), posts, sources, cursors, retention.

Functions take a session and keyword arguments and never commit; `Ingestor` is the one place that
owns ingest transactions, because it must serialise SQLite writers and retry unique-key races.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import DateTime, String, any_, bindparam, delete, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.models import Cursor, Post, Source
from collector.normalize import clean_text, content_hash, guess_language, post_id_for, synthetic_external_id, to_utc
from collector.schemas import (
    SECRET_FIELDS,
    SETTINGS_MODELS,
    AuthorRead,
    IngestItem,
    IngestResult,
    IngestStatus,
    PostIn,
    PostPage,
    PostRead,
    SourceRead,
    SourceState,
    SourceUpdate,
)
from incidents_common.db import Database, OutboxMessage, utcnow, writes_of
from incidents_common.events import SUBJECT_POST_COLLECTED, PostCollected, SourceType, encode_envelope
from incidents_common.metrics import count_on_commit
from incidents_common.problems import InvalidInput, NotFound, ProblemError, ServiceUnavailable
from incidents_common.secretbox import SecretBox
from incidents_common.tracing import current_traceparent

log = logging.getLogger("collector.service")

EVENT_SOURCE = "/services/collector"
# Bound parameters per statement stay well under SQLite's 32766 and asyncpg's 32767 limits.
_IN_CHUNK = 500


class ValidationProblem(ProblemError):
    status, slug, title = 422, "validation-failed", "Validation failed"


class Backpressure(ServiceUnavailable):
    slug, title = "backpressure", "Collector is catching up"


# ---------------------------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    post_id: str
    source_type: str
    external_id: str
    text: str
    hash: str
    row: dict[str, Any]
    post: PostIn


def has_text(post: PostIn) -> bool:
    """Whether anything is left of the text once cleaned (validation already refused blank text,
    so only markup or entities can empty it: plain texts skip the cleaning here)."""
    raw = post.text
    return bool(clean_text(raw)) if ("<" in raw or "&" in raw) else True


def _present(model: BaseModel) -> dict[str, Any]:
    # A flat model's set fields; model_dump(exclude_none=True) did the same at several times the cost.
    return {k: v for k, v in model.__dict__.items() if v is not None}


def _prepare(post: PostIn, *, source_id: str | None, now: datetime) -> _Prepared:
    text = clean_text(post.text)
    if not text:
        raise ValueError("text is empty once HTML and whitespace are removed")
    published_at = to_utc(post.published_at)
    author = post.author
    external_id = post.external_id or synthetic_external_id(
        author_id=author.id if author else None, url=post.url, published_at=published_at, text=text
    )
    source_type = str(post.source_type)
    post_id = post_id_for(source_type, external_id)
    digest = content_hash(text)
    row = {
        "id": post_id,
        "source_type": source_type,
        "external_id": external_id,
        "source_id": post.source_id or source_id,
        "version": 1,
        "content_hash": digest,
        "url": post.url,
        "author_id": author.id if author else None,
        "author_name": author.name if author else None,
        "author_url": author.profile_url if author else None,
        "author_followers": author.followers if author else None,
        "text": text,
        "published_at": published_at,
        "collected_at": now,
        "updated_at": now,
        "language": post.language or guess_language(text),
        "place_hints": _present(post.place_hints),
        "parent_external_id": post.parent_external_id,
        "repost_chain": [r.model_dump(mode="json", exclude_none=True) for r in post.repost_chain],
        "reach": _present(post.reach),
    }
    return _Prepared(post_id, source_type, external_id, text, digest, row, post)


def _json_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _compact(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if v is not None}


def _post_collected(row: Mapping[str, Any]) -> dict[str, Any]:
    """The PostCollected payload in its JSON form (None left out, as encode_event does)."""
    author = None
    if row["author_id"] or row["author_name"]:
        author = _compact(
            {
                "id": row["author_id"],
                "name": row["author_name"],
                "profile_url": row["author_url"],
                "followers": row["author_followers"],
            }
        )
    return _compact(
        {
            "post_id": row["id"],
            "version": row["version"],
            "source_id": row["source_id"],
            "source_type": row["source_type"],
            "external_id": row["external_id"],
            "url": row["url"],
            "author": author,
            "text": row["text"],
            "published_at": _json_time(row["published_at"]),
            "collected_at": _json_time(row["collected_at"]),
            "language": row["language"],
            "place_hints": row["place_hints"],
            "parent_external_id": row["parent_external_id"],
            "repost_chain": row["repost_chain"],
            "reach": row["reach"],
        }
    )


async def queue_post_collected(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue one PostCollected CloudEvent per stored row in the transaction's outbox.

    The same envelope as incidents_common.db.publish() writes, built as plain JSON: going through
    the pydantic models (new_event, encode_event) was a third of the ingest time at 1,000 posts per
    batch. The rows go into the shared outbox table with one executemany, and the relay of
    incidents_common publishes them. The tests decode every queued event with decode_event, so
    the contract is checked.
    """
    if not rows:
        return
    created_at = utcnow()
    now = _json_time(created_at)
    traceparent = current_traceparent()
    outbox = []
    for row in rows:
        event_id, payload = encode_envelope(
            PostCollected,
            _post_collected(row),
            source=EVENT_SOURCE,
            time=now,
            origin_post_id=row["id"],
            traceparent=traceparent,
        )
        outbox.append(
            {"event_id": event_id, "subject": SUBJECT_POST_COLLECTED, "payload": payload, "created_at": created_at}
        )
    await _executemany(session, OutboxMessage.__table__, outbox)  # type: ignore[attr-defined]
    writes_of(session).events_written(len(outbox))  # wakes the relay after the commit
    for source_type, collected in Counter(row["source_type"] for row in rows).items():
        count_on_commit(session, "posts_collected", collected, source_type=source_type)


_Stored = tuple[int, str, datetime, dict[str, Any]]


async def _existing(session: AsyncSession, post_ids: Sequence[str]) -> dict[str, _Stored]:
    """post id -> (version, content hash, collected_at, reach) for the posts already stored.

    Post ids derive from (source_type, external_id), so the lookup is by primary key. PostgreSQL
    gets one array parameter (`= ANY($1)`): a 500-value IN list cost more to plan than to run."""
    columns = (Post.id, Post.version, Post.content_hash, Post.collected_at, Post.reach)
    found: dict[str, _Stored] = {}
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        chunks: list[Any] = [any_(bindparam("ids", list(post_ids), type_=ARRAY(String)))]
    else:
        chunks = [list(post_ids[i : i + _IN_CHUNK]) for i in range(0, len(post_ids), _IN_CHUNK)]
    for chunk in chunks:
        condition = Post.id == chunk if not isinstance(chunk, list) else Post.id.in_(chunk)  # type: ignore[attr-defined]
        rows = await session.exec(select(*columns).where(condition))  # type: ignore[call-overload]
        for post_id, version, digest, collected_at, reach in rows:
            found[post_id] = (version, digest, collected_at, reach or {})
    return found


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime storage format, so that ORM reads and comparisons agree.
    # ("YYYY-MM-DD HH:MM:SS.ffffff"; isoformat is several times faster than strftime.)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def _executemany(
    session: AsyncSession, table: Any, rows: Sequence[Mapping[str, Any]], *, json_columns: Sequence[str] = ()
) -> None:
    """Insert rows with one executemany straight on the driver: SQLAlchemy's per-row parameter
    processing was the largest single cost of a bulk insert. Values are converted here as the
    column types would (JSON to text, datetimes to SQLAlchemy's SQLite format); the columns are
    the table's own, so a schema change shows up as an error in the storage tests."""
    if not rows:
        return
    connection = await session.connection()
    sqlite = connection.dialect.name == "sqlite"
    columns = [c.name for c in table.columns if c.name in rows[0]]
    times = [i for i, c in enumerate(columns) if isinstance(table.columns[c].type, DateTime)] if sqlite else []
    jsons = [columns.index(c) for c in json_columns]
    placeholders = ["?"] * len(columns) if sqlite else [f"${n}" for n in range(1, len(columns) + 1)]
    getter = itemgetter(*columns)
    params = []
    for row in rows:
        values = list(getter(row))
        for i in jsons:
            values[i] = orjson.dumps(values[i]).decode()
        for i in times:
            if values[i] is not None:
                values[i] = _sqlite_time(values[i])
        params.append(tuple(values))
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(placeholders)})"  # noqa: S608 - names from the table
    await connection.exec_driver_sql(statement, params)


def prepare_posts(posts: Sequence[PostIn], *, source_id: str | None = None) -> list[_Prepared]:
    """Normalise posts into rows (no database work). ValidationProblem if a text is empty once cleaned:
    raised before any write, so that a submission is stored completely or not at all."""
    now = utcnow()
    prepared = []
    errors = []
    for index, post in enumerate(posts):
        try:
            prepared.append(_prepare(post, source_id=source_id, now=now))
        except ValueError as exc:
            errors.append({"loc": ["body", "posts", str(index), "text"], "msg": str(exc), "type": "value_error"})
    if errors:
        raise ValidationProblem(f"{len(errors)} post(s) have no text", errors=errors[:50])
    return prepared


async def ingest_posts(
    session: AsyncSession, *, posts: Sequence[PostIn], source_id: str | None = None, keep_items: bool = True
) -> IngestResult:
    """Store posts in bulk and queue one PostCollected per new post or new version (outbox).

    A post is identified by (source_type, external_id); the same text again is a duplicate, other
    text is an edit: the row is updated, its version incremented and the new version published.
    """
    return await store_prepared(session, prepared=prepare_posts(posts, source_id=source_id), keep_items=keep_items)


async def store_prepared(
    session: AsyncSession, *, prepared: Sequence[_Prepared], keep_items: bool = True
) -> IngestResult:
    """The database half of ingest_posts."""
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
        await _executemany(
            session,
            Post.__table__,  # type: ignore[attr-defined]
            list(inserts.values()),
            json_columns=("place_hints", "repost_chain", "reach"),
        )
    if updates:
        await session.exec(update(Post), params=list(updates.values()))  # type: ignore[call-overload]
    refreshed = [row for post_id, row in reach_updates.items() if post_id not in updates]
    if refreshed:
        await session.exec(update(Post), params=refreshed)  # type: ignore[call-overload]
    await queue_post_collected(session, [*inserts.values(), *updates.values()])
    return result


class Ingestor:
    """Runs ingest transactions: SQLite writers serialised in-process, unique-key races retried."""

    def __init__(
        self,
        db: Database,
        *,
        max_backlog: int | None = None,
        on_store: Callable[[AsyncSession, Sequence[Mapping[str, Any]]], Awaitable[object]] | None = None,
    ) -> None:
        self.db = db
        self.max_backlog = max_backlog
        # Runs in each ingest transaction with the posts rows stored (collector.reactions' Telegram hook).
        self.on_store = on_store
        self._lock = asyncio.Lock() if db.is_sqlite else None
        self._backlog_checked = 0.0
        self._backlog = 0
        self.retries = 0  # transactions retried after a race with another writer

    async def backlog(self, *, max_age: float = 1.0) -> int:
        """Unpublished outbox rows (cached for `max_age` seconds)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._backlog_checked > max_age:
            async with self.db.sessions() as session:
                self._backlog = int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())
            self._backlog_checked = loop.time()
        return self._backlog

    async def check_backpressure(self) -> None:
        if self.max_backlog is not None and await self.backlog() > self.max_backlog:
            raise Backpressure(
                f"more than {self.max_backlog} events wait for NATS; retry later",
                headers={"Retry-After": "5"},
                retry_after=5,
            )

    async def ingest(
        self,
        posts: Sequence[PostIn],
        *,
        source_id: str | None = None,
        cursors: Mapping[str, dict[str, Any]] | None = None,
        keep_items: bool = True,
    ) -> IngestResult:
        """Ingest posts (and save the source's cursors) in one transaction."""
        # Normalising is CPU work: done before taking the SQLite writer lock, so that it overlaps
        # another request's database work (which runs in the driver's thread).
        prepared = prepare_posts(posts, source_id=source_id)
        for attempt in range(4):
            try:
                if self._lock is None:
                    return await self._once(prepared, source_id, cursors, keep_items)
                async with self._lock:
                    return await self._once(prepared, source_id, cursors, keep_items)
            except IntegrityError:
                # Another writer inserted one of these posts first: re-read and classify again.
                if attempt == 3:
                    raise
                self.retries += 1
            except OperationalError as exc:
                # SQLite: another process (the import CLI) holds the write lock past busy_timeout.
                if "locked" not in str(exc) or attempt == 3:
                    raise
                self.retries += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _once(
        self,
        prepared: Sequence[_Prepared],
        source_id: str | None,
        cursors: Mapping[str, dict[str, Any]] | None,
        keep_items: bool,
    ) -> IngestResult:
        async with self.db.transaction() as session:
            result = await store_prepared(session, prepared=prepared, keep_items=keep_items)
            if self.on_store is not None:
                await self.on_store(session, [item.row for item in prepared])
            if source_id is not None and cursors:
                await save_cursors(session, source_id=source_id, cursors=cursors)
            if source_id is not None and (result.accepted or result.updated):
                await session.exec(
                    update(Source)
                    .where(Source.id == source_id)  # type: ignore[arg-type]
                    .values(posts_collected=Source.posts_collected + result.accepted + result.updated)
                )
        self._backlog += result.accepted + result.updated
        return result


def parse_post(document: Any) -> PostIn:
    """Validate one decoded JSON document as a post; ValueError with a readable reason."""
    if not isinstance(document, dict):
        raise ValueError("a post must be a JSON object")
    try:
        post = PostIn.model_validate(document)
    except ValidationError as exc:
        raise ValueError(_errors_text(exc)) from exc
    if not has_text(post):
        raise ValueError("text: empty once HTML and whitespace are removed")
    return post


def _errors_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'post'}: {e['msg']}" for e in exc.errors()[:5])


# ---------------------------------------------------------------------------------------------
# Posts
# ---------------------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def post_read(post: Post) -> PostRead:
    author = None
    if post.author_id or post.author_name:
        author = AuthorRead(
            id=post.author_id, name=post.author_name, profile_url=post.author_url, followers=post.author_followers
        )
    return PostRead(
        id=post.id,
        version=post.version,
        source_id=post.source_id,
        source_type=SourceType(post.source_type),
        external_id=post.external_id,
        url=post.url,
        author=author,
        text=post.text,
        published_at=_aware(post.published_at),  # type: ignore[arg-type]
        collected_at=_aware(post.collected_at),  # type: ignore[arg-type]
        updated_at=_aware(post.updated_at),  # type: ignore[arg-type]
        language=post.language,
        place_hints=post.place_hints,
        parent_external_id=post.parent_external_id,
        repost_chain=post.repost_chain,
        reach=post.reach,
    )


async def list_posts(
    session: AsyncSession,
    *,
    source_id: str | None = None,
    source_type: SourceType | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PostPage:
    query = select(Post)
    count = select(func.count()).select_from(Post)
    if source_id is not None:
        query = query.where(Post.source_id == source_id)  # type: ignore[arg-type]
        count = count.where(Post.source_id == source_id)  # type: ignore[arg-type]
    if source_type is not None:
        query = query.where(Post.source_type == str(source_type))  # type: ignore[arg-type]
        count = count.where(Post.source_type == str(source_type))  # type: ignore[arg-type]
    query = query.order_by(Post.collected_at.desc(), Post.id).limit(limit).offset(offset)  # type: ignore[attr-defined]
    total = int((await session.exec(count)).one())
    rows = (await session.exec(query)).all()
    return PostPage(items=[post_read(p) for p in rows], total=total, limit=limit, offset=offset)


async def get_post(session: AsyncSession, *, post_id: str) -> PostRead:
    post = await session.get(Post, post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post_read(post)


async def delete_expired_posts(session: AsyncSession, *, older_than: datetime) -> int:
    """Retention: raw posts collected before `older_than` are deleted."""
    result = await session.exec(delete(Post).where(Post.collected_at < older_than))  # type: ignore[arg-type]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _validate_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    model = SETTINGS_MODELS[kind]
    try:
        validated = model.model_validate(settings)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", "settings", *[str(p) for p in e["loc"]]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise ValidationProblem(f"invalid {kind} settings", errors=errors) from exc
    data = validated.model_dump(exclude_none=True)
    _check_settings(kind, data)
    return data


def _check_settings(kind: str, data: dict[str, Any]) -> None:
    def missing(field: str, why: str) -> ValidationProblem:
        return ValidationProblem(why, errors=[{"loc": ["body", "settings", field], "msg": why, "type": "missing"}])

    if kind in ("vk", "telegram") and not data.get("token"):
        raise missing("token", f"a {kind} source needs a token")
    if kind == "vk" and not (data.get("queries") or data.get("owner_ids") or data.get("watched_posts")):
        raise missing("queries", "a vk source needs queries, owner_ids or watched_posts")
    if kind == "telegram" and data.get("mode") == "webhook" and not data.get("secret"):
        raise missing("secret", "a telegram webhook source needs a secret")


# ---------------------------------------------------------------------------------------------
# Secrets at rest
#
# A source's token and webhook secret are stored as `fernet:<token>` inside its settings document
# (incidents_common.secretbox). Rows written by the release before encryption hold them in
# plaintext. We read those transparently (reveal() passes a value without the prefix through) and
# seal them when they are next written, plus once at start-up (Scheduler.start) and by `rotate`,
# rather than requiring a migration step before start: a database made by the previous release
# then works at once, in the service and in the command-line tools alike, and a start-up pass
# that failed halfway (or a replica that has not run it yet) leaves nothing unreadable.
# ---------------------------------------------------------------------------------------------

# Settings that decide where a source's secrets are sent: changing one needs the secrets again.
DESTINATION_FIELDS: dict[str, tuple[str, ...]] = {"vk": ("base_url",), "telegram": ("base_url",), "rss": ("url",)}


def seal_settings(box: SecretBox, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as stored: every secret field encrypted (already sealed ones are kept)."""
    sealed = dict(settings)
    for field in SECRET_FIELDS:
        value = sealed.get(field)
        if isinstance(value, str) and not box.is_sealed(value):
            sealed[field] = box.seal(value)
    return sealed


def reveal_settings(box: SecretBox, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as the connectors use them: secrets decrypted (plaintext from an old release as is)."""
    revealed = dict(settings)
    for field in SECRET_FIELDS:
        value = revealed.get(field)
        if isinstance(value, str):
            revealed[field] = box.reveal(value)
    return revealed


def redact(text: str | None, settings: Mapping[str, Any]) -> str | None:
    """`text` with the source's secrets blanked out: error texts are stored and shown to operators."""
    if not text:
        return text
    for field in SECRET_FIELDS:
        value = settings.get(field)
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _has_plaintext(box: SecretBox, settings: Mapping[str, Any]) -> bool:
    return any(isinstance(settings.get(f), str) and not box.is_sealed(settings[f]) for f in SECRET_FIELDS)


async def seal_plaintext_sources(session: AsyncSession, *, box: SecretBox) -> int:
    """Encrypt the secrets an earlier release stored in plaintext; returns the sources changed."""
    changed = 0
    for source in (await session.exec(select(Source))).all():
        if _has_plaintext(box, source.settings):
            source.settings = seal_settings(box, source.settings)
            session.add(source)
            changed += 1
    return changed


async def rotate_source_secrets(session: AsyncSession, *, box: SecretBox) -> int:
    """Re-encrypt every stored secret with the first key (plaintext ones included); returns the
    sources changed. Afterwards the other keys can be removed from the setting."""
    changed = 0
    for source in (await session.exec(select(Source))).all():
        rotated = dict(source.settings)
        touched = False
        for field in SECRET_FIELDS:
            value = rotated.get(field)
            if isinstance(value, str):
                rotated[field] = box.rotate(value)
                touched = True
        if touched:
            source.settings = rotated
            session.add(source)
            changed += 1
    return changed


class SecretsNeeded(ValidationProblem):
    slug, title = "secrets-needed", "Secrets must be sent again"


def _check_destination(
    kind: str, stored: Mapping[str, Any], update: Mapping[str, Any], merged: Mapping[str, Any]
) -> None:
    """A change of where the secrets go (base_url …) must come with the secrets themselves: otherwise
    whoever may edit a source could point it at their own host and have the stored token sent there."""
    moved = [f for f in DESTINATION_FIELDS.get(kind, ()) if stored.get(f) != merged.get(f)]
    if not moved:
        return
    missing = [f for f in SECRET_FIELDS if stored.get(f) and not update.get(f)]
    if missing:
        fields = " and ".join(missing)
        raise SecretsNeeded(
            f"changing {', '.join(moved)} decides where the stored {fields} is sent: send {fields} again in the "
            "same request",
            errors=[
                {
                    "loc": ["body", "settings", field],
                    "msg": f"required when {', '.join(moved)} changes",
                    "type": "missing",
                }
                for field in missing
            ],
        )


def source_read(source: Source) -> SourceRead:
    public = {k: v for k, v in source.settings.items() if k not in SECRET_FIELDS}
    return SourceRead(
        id=source.id,
        name=source.name,
        type=source.type,  # type: ignore[arg-type]
        enabled=source.enabled,
        interval_seconds=source.interval_seconds,
        settings=public,
        token_set=bool(source.settings.get("token")),
        secret_set=bool(source.settings.get("secret")),
        state=SourceState.disabled if not source.enabled else SourceState(source.state),
        last_run=_aware(source.last_run),
        last_success=_aware(source.last_success),
        last_error=source.last_error,
        posts_collected=source.posts_collected,
        consecutive_failures=source.consecutive_failures,
        next_run=_aware(source.next_run),
        created_at=_aware(source.created_at),  # type: ignore[arg-type]
        updated_at=_aware(source.updated_at),  # type: ignore[arg-type]
    )


async def create_source(session: AsyncSession, *, data: BaseModel, box: SecretBox) -> SourceRead:
    payload = data.model_dump()
    kind = payload["type"]
    settings = seal_settings(box, _validate_settings(kind, payload["settings"]))
    now = utcnow()
    source = Source(
        id=str(uuid.uuid4()),
        name=payload["name"],
        type=kind,
        enabled=payload["enabled"],
        interval_seconds=payload["interval_seconds"],
        settings=settings,
        next_run=now,
        created_at=now,
        updated_at=now,
    )
    session.add(source)
    await session.flush()
    return source_read(source)


async def _load_source(session: AsyncSession, source_id: str) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} not found")
    return source


async def get_source(session: AsyncSession, *, source_id: str) -> SourceRead:
    return source_read(await _load_source(session, source_id))


async def get_source_row(session: AsyncSession, *, source_id: str) -> Source:
    return await _load_source(session, source_id)


async def list_sources(session: AsyncSession, *, kind: str | None = None) -> list[SourceRead]:
    query = select(Source).order_by(Source.created_at, Source.id)  # type: ignore[arg-type]
    if kind is not None:
        query = query.where(Source.type == kind)  # type: ignore[arg-type]
    return [source_read(s) for s in (await session.exec(query)).all()]


async def update_source(session: AsyncSession, *, source_id: str, data: SourceUpdate, box: SecretBox) -> SourceRead:
    source = await _load_source(session, source_id)
    changes = data.model_dump(exclude_unset=True)
    if "settings" in changes and changes["settings"] is not None:
        update = changes.pop("settings")
        stored = reveal_settings(box, source.settings)
        # Explicit nulls remove a setting (for example an optional base_url).
        merged = {k: v for k, v in {**stored, **update}.items() if v is not None}
        _check_destination(source.type, stored, update, merged)
        source.settings = seal_settings(box, _validate_settings(source.type, merged))
    elif _has_plaintext(box, source.settings):
        source.settings = seal_settings(box, source.settings)  # a row of the release before encryption
    changes.pop("settings", None)
    for field, value in changes.items():
        if value is not None:
            setattr(source, field, value)
    _reset(source)
    session.add(source)
    await session.flush()
    return source_read(source)


def _reset(source: Source) -> None:
    """An operator changed the source: forget the failure state and poll it soon."""
    now = utcnow()
    source.halted = False
    source.state = "ok"
    source.consecutive_failures = 0
    source.next_run = now
    source.updated_at = now


async def set_enabled(session: AsyncSession, *, source_id: str, enabled: bool) -> SourceRead:
    source = await _load_source(session, source_id)
    source.enabled = enabled
    _reset(source)
    session.add(source)
    await session.flush()
    return source_read(source)


async def run_now(session: AsyncSession, *, source_id: str) -> SourceRead:
    source = await _load_source(session, source_id)
    if not source.enabled:
        raise InvalidInput("the source is disabled; enable it first")
    _reset(source)
    session.add(source)
    await session.flush()
    return source_read(source)


async def delete_source(session: AsyncSession, *, source_id: str) -> None:
    source = await _load_source(session, source_id)
    await session.exec(delete(Cursor).where(Cursor.source_id == source_id))  # type: ignore[arg-type]
    await session.delete(source)


async def due_sources(session: AsyncSession, *, now: datetime, exclude: Iterable[str] = ()) -> list[Source]:
    query = select(Source).where(
        Source.enabled.is_(True),  # type: ignore[attr-defined]
        Source.halted.is_(False),  # type: ignore[attr-defined]
        (Source.next_run.is_(None)) | (Source.next_run <= now),  # type: ignore[union-attr,operator]
    )
    rows = (await session.exec(query)).all()
    skip = set(exclude)
    return [s for s in rows if s.id not in skip]


async def next_due(session: AsyncSession) -> datetime | None:
    query = select(func.min(Source.next_run)).where(
        Source.enabled.is_(True),  # type: ignore[attr-defined]
        Source.halted.is_(False),  # type: ignore[attr-defined]
    )
    return _aware((await session.exec(query)).one_or_none())


async def record_run(
    session: AsyncSession,
    *,
    source_id: str,
    started: datetime,
    error: str | None,
    next_run: datetime,
    halt: bool = False,
    failed: bool = False,
) -> None:
    """Write the outcome of one poll into the source's status fields."""
    source = await session.get(Source, source_id)
    if source is None:
        return  # deleted while it was being polled
    source.last_run = started
    source.next_run = next_run
    source.last_error = error
    if failed:
        source.consecutive_failures += 1
        source.state = "failing"
    else:
        source.consecutive_failures = 0
        source.last_success = utcnow()
        source.state = "ok"
    if halt:
        source.halted = True
        source.state = "failing"
    session.add(source)


# ---------------------------------------------------------------------------------------------
# Cursors
# ---------------------------------------------------------------------------------------------


async def load_cursors(session: AsyncSession, *, source_id: str) -> dict[str, dict[str, Any]]:
    rows = await session.exec(select(Cursor).where(Cursor.source_id == source_id))  # type: ignore[arg-type]
    return {c.key: dict(c.value) for c in rows.all()}


async def save_cursors(session: AsyncSession, *, source_id: str, cursors: Mapping[str, dict[str, Any]]) -> None:
    now = utcnow()
    for key, value in cursors.items():
        cursor = await session.get(Cursor, (source_id, key))
        if cursor is None:
            session.add(Cursor(source_id=source_id, key=key, value=dict(value), updated_at=now))
        else:
            cursor.value = dict(value)
            cursor.updated_at = now
            session.add(cursor)
    await session.flush()


async def source_cursors(session: AsyncSession, *, source_id: str) -> dict[str, dict[str, Any]]:
    await _load_source(session, source_id)
    return await load_cursors(session, source_id=source_id)


async def reset_cursors(session: AsyncSession, *, source_id: str) -> None:
    """Forget where the source stopped: the next poll starts afresh (already stored posts stay
    de-duplicated)."""
    source = await _load_source(session, source_id)
    await session.exec(delete(Cursor).where(Cursor.source_id == source_id))  # type: ignore[arg-type]
    if source.enabled:
        source.next_run = utcnow()
        session.add(source)


def retention_cutoff(days: int) -> datetime:
    return utcnow() - timedelta(days=days)
