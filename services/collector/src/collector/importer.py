"""JSONL import shared by the upload endpoint and the command line: per-line errors, bulk batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson

from collector.schemas import ImportResult, LineError, PostIn
from collector.service import Ingestor, parse_post

MAX_REPORTED_ERRORS = 1000


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
    pending: list[PostIn] = []
    pending_bytes = 0
    pending_lines = 0

    async def flush() -> None:
        nonlocal pending, pending_bytes, pending_lines
        if pending:
            stored = await ingestor.ingest(pending, keep_items=False)
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
        try:
            pending.append(parse_post(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            _reject(result, number, f"not JSON: {exc}")
        except ValueError as exc:
            _reject(result, number, str(exc))
        if len(pending) >= batch:
            await flush()
    await flush()
    return result


def _reject(result: ImportResult, line: int, error: str) -> None:
    result.rejected += 1
    if len(result.errors) < MAX_REPORTED_ERRORS:
        result.errors.append(LineError(line=line, error=error[:500]))
