"""JSONL import shared by the upload endpoint and the command line: per-line errors, bulk batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from pydantic import TypeAdapter, ValidationError

from collector.errors import ValidationProblem
from collector.ingest.ingestor import Ingestor
from collector.ingest.prepare import has_text, parse_post
from collector.ingest.schemas import ImportResult, LineError, PostCreate
from incidents_common.problems import InvalidInput

MAX_REPORTED_ERRORS = 1000

_POST_LIST = TypeAdapter(list[PostCreate])


def _parse_batch(numbered: list[tuple[int, bytes]], result: ImportResult) -> list[PostCreate]:
    """Parse a batch of lines. The usual case, every line valid, is one validate_json call over the
    lines joined into a JSON array (2-3x faster than line by line); otherwise the batch is parsed
    line by line to report each bad line with its number."""
    try:
        posts = _POST_LIST.validate_json(b"[" + b",".join(line for _, line in numbered) + b"]")
    except ValidationError:
        posts = None
    # Each non-blank line adds at least one element, so equal lengths mean one post per line.
    if posts is not None and len(posts) == len(numbered) and all(has_text(p) for p in posts):
        return posts
    parsed = []
    for number, line in numbered:
        try:
            parsed.append(parse_post(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            _reject(result, number, f"not JSON: {exc}")
        except ValueError as exc:
            _reject(result, number, str(exc))
    return parsed


async def import_lines(
    ingestor: Ingestor,
    lines: Iterable[bytes],
    *,
    batch: int = 1000,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import JSON lines: good lines are stored (one transaction per `batch`), bad lines reported
    with their 1-based line numbers. Blank lines are skipped. `on_progress(lines, bytes)`."""
    result = ImportResult()
    pending: list[tuple[int, bytes]] = []
    pending_bytes = 0
    pending_lines = 0

    async def flush() -> None:
        nonlocal pending, pending_bytes, pending_lines
        posts = _parse_batch(pending, result) if pending else []
        if posts:
            stored = await ingestor.ingest(posts, keep_items=False)
            result.accepted += stored.accepted
            result.duplicates += stored.duplicates
            result.updated += stored.updated
        if on_progress is not None:
            on_progress(pending_lines, pending_bytes)
        pending, pending_bytes, pending_lines = [], 0, 0

    for number, raw in enumerate(lines, start=1):
        pending_bytes += len(raw)
        pending_lines += 1
        line = raw.strip()
        if not line:
            continue
        result.lines += 1
        pending.append((number, line))
        if len(pending) >= batch:
            await flush()
    await flush()
    result.errors.sort(key=lambda e: e.line)
    return result


def _reject(result: ImportResult, line: int, error: str) -> None:
    result.rejected += 1
    if len(result.errors) < MAX_REPORTED_ERRORS:
        result.errors.append(LineError(line=line, error=error[:500]))


async def import_upload(ingestor: Ingestor, data: bytes, *, batch: int) -> ImportResult:
    """An uploaded JSONL file (POST /v1/posts/import): InvalidInput when it is empty, Backpressure while
    the outbox is over its limit, ValidationProblem when none of its lines is a valid post; otherwise the
    good lines stored and the bad ones reported."""
    if not data.strip():
        raise InvalidInput("the file is empty")
    await ingestor.check_backpressure()
    result = await import_lines(ingestor, data.splitlines(), batch=batch)
    if result.rejected and result.rejected == result.lines:
        raise ValidationProblem(
            f"none of the {result.lines} line(s) is a valid post",
            errors=[e.model_dump() for e in result.errors[:50]],
        )
    return result
