"""Sources without HTTP: settings validation, CRUD, the polling schedule, cursors, the Telegram webhook's
registration. Functions take a session and keyword arguments and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.config import Settings
from collector.connectors.base import ConnectorError
from collector.connectors.telegram import set_webhook
from collector.errors import ValidationProblem
from collector.models import Cursor, Source
from collector.sources.schemas import (
    SECRET_FIELDS,
    SETTINGS_MODELS,
    SourceCreate,
    SourceKind,
    SourceRead,
    SourceState,
    SourceUpdate,
)
from collector.sources.secrets import check_destination, has_plaintext, redact, reveal_settings, seal_settings
from incidents_common.db import utcnow
from incidents_common.problems import InvalidInput, NotFound, ProblemError
from incidents_common.secretbox import SecretBox


class UpstreamFailed(ProblemError):
    status, slug, title = 502, "upstream-failed", "Telegram refused the request"


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


def source_read(source: Source) -> SourceRead:
    public = {k: v for k, v in source.settings.items() if k not in SECRET_FIELDS}
    return SourceRead(
        id=source.id,
        name=source.name,
        type=SourceKind(source.type),
        enabled=source.enabled,
        interval_seconds=source.interval_seconds,
        settings=public,
        token_set=bool(source.settings.get("token")),
        secret_set=bool(source.settings.get("secret")),
        state=SourceState.disabled if not source.enabled else SourceState(source.state),
        last_run=source.last_run,
        last_success=source.last_success,
        last_error=source.last_error,
        posts_collected=source.posts_collected,
        consecutive_failures=source.consecutive_failures,
        next_run=source.next_run,
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


async def create_source(session: AsyncSession, *, data: SourceCreate, box: SecretBox) -> SourceRead:
    settings = seal_settings(box, _validate_settings(data.type, data.settings.model_dump()))
    now = utcnow()
    source = Source(
        id=str(uuid.uuid4()),
        name=data.name,
        type=data.type,
        enabled=data.enabled,
        interval_seconds=data.interval_seconds,
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
    query = select(Source).order_by(col(Source.created_at), col(Source.id))
    if kind is not None:
        query = query.where(col(Source.type) == kind)
    return [source_read(s) for s in (await session.exec(query)).all()]


async def update_source(session: AsyncSession, *, source_id: str, data: SourceUpdate, box: SecretBox) -> SourceRead:
    source = await _load_source(session, source_id)
    changes = data.model_dump(exclude_unset=True)
    if "settings" in changes and changes["settings"] is not None:
        update = changes.pop("settings")
        stored = reveal_settings(box, source.settings)
        # Explicit nulls remove a setting (for example an optional base_url).
        merged = {k: v for k, v in {**stored, **update}.items() if v is not None}
        check_destination(source.type, stored, update, merged)
        source.settings = seal_settings(box, _validate_settings(source.type, merged))
    elif has_plaintext(box, source.settings):
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
    await session.exec(delete(Cursor).where(col(Cursor.source_id) == source_id))
    await session.delete(source)


async def due_sources(session: AsyncSession, *, now: datetime, exclude: Iterable[str] = ()) -> list[Source]:
    query = select(Source).where(
        col(Source.enabled).is_(True),
        col(Source.halted).is_(False),
        col(Source.next_run).is_(None) | (col(Source.next_run) <= now),
    )
    rows = (await session.exec(query)).all()
    skip = set(exclude)
    return [s for s in rows if s.id not in skip]


async def next_due(session: AsyncSession) -> datetime | None:
    query = select(func.min(Source.next_run)).where(
        col(Source.enabled).is_(True),
        col(Source.halted).is_(False),
    )
    return (await session.exec(query)).one_or_none()


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
    rows = await session.exec(select(Cursor).where(col(Cursor.source_id) == source_id))
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
    await session.exec(delete(Cursor).where(col(Cursor.source_id) == source_id))
    if source.enabled:
        source.next_run = utcnow()
        session.add(source)


# ---------------------------------------------------------------------------------------------
# The Telegram webhook's registration (Telegram's Updates come in through collector.ingest.webhook)
# ---------------------------------------------------------------------------------------------


async def register_webhook(session: AsyncSession, *, source_id: str, url: str, settings: Settings) -> dict[str, Any]:
    """setWebhook for a Telegram source in webhook mode, with its secret token; Telegram's answer.
    UpstreamFailed (502) when Telegram refuses or does not answer, its reason without the source's secrets."""
    source = await _load_source(session, source_id)
    if source.type != "telegram" or source.settings.get("mode") != "webhook":
        raise InvalidInput("only a Telegram source in webhook mode can register a webhook")
    revealed = reveal_settings(settings.secret_box(), source.settings)
    async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
        try:
            return await set_webhook(
                http,
                base_url=str(revealed.get("base_url") or settings.telegram_base_url),
                token=str(revealed["token"]),
                url=url,
                secret=str(revealed["secret"]),
            )
        except (ConnectorError, httpx.HTTPError) as exc:
            reason = str(exc) if isinstance(exc, ConnectorError) else type(exc).__name__
            raise UpstreamFailed(redact(reason, revealed)) from exc
