# ruff: noqa: T201 - a command-line tool reports on stdout/stderr
"""Command line: `python -m collector import FILE [--batch N]` writes straight into the collector's
database (settings from COLLECTOR_* env vars), through the same ingest code as the HTTP API. The
running service's outbox relay then publishes the queued events to NATS."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from collector.config import Settings
from collector.ingest.importer import import_lines
from collector.ingest.ingestor import Ingestor
from collector.models import TABLES
from collector.sources.secrets import rotate_source_secrets
from incidents_common.db import Database
from incidents_common.migrations import add_migrate_command, run_migrate_command

DEMO = "demo_posts.jsonl"


def demo_path() -> Path:
    return Path(str(resources.files("collector") / "data" / DEMO))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collector", description="Collector command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "import",
        help="import a JSONL file of posts into the collector's database",
        description="Import posts, one JSON object per line (the POST /v1/posts format). Bad lines are "
        "reported with their numbers and skipped; good lines are stored and queued for NATS. The database "
        "comes from COLLECTOR_DATABASE_URL (empty: var/collector.db under the current directory).",
    )
    imp.add_argument("file", nargs="?", help="path of the JSONL file ('-' reads standard input)")
    imp.add_argument("--demo", action="store_true", help=f"import the bundled demo set ({DEMO})")
    imp.add_argument("--batch", type=int, default=None, help="posts per transaction (default COLLECTOR_IMPORT_BATCH)")
    imp.add_argument("--database-url", default=None, help="override COLLECTOR_DATABASE_URL")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("demo-path", help="print the path of the bundled demo JSONL file")
    rotate = commands.add_parser(
        "rotate",
        help="re-encrypt every stored source secret with the first of COLLECTOR_SECRET_KEYS",
        description="Key rotation: put the new key first in COLLECTOR_SECRET_KEYS (keep the old ones after it), "
        "run this, then drop the old keys. Secrets stored in plaintext by an earlier release are encrypted too.",
    )
    rotate.add_argument("--database-url", default=None, help="override COLLECTOR_DATABASE_URL")
    add_migrate_command(commands)
    return parser


async def _rotate(settings: Settings) -> int:
    db = Database(settings.resolved_database_url(), TABLES)
    try:
        await db.migrate()
        async with db.transaction() as session:
            return await rotate_source_secrets(session, box=settings.secret_box())
    finally:
        await db.dispose()


async def _import(path: str, *, settings: Settings, batch: int, quiet: bool) -> int:
    db = Database(settings.resolved_database_url(), TABLES)
    try:
        await db.migrate()
        ingestor = Ingestor(db)
        if path == "-":
            stream: BinaryIO = sys.stdin.buffer
            total = None
        else:
            # A CLI with nothing else on its loop: blocking file reads cost nothing here.
            stream = open(path, "rb")  # noqa: SIM115,ASYNC230 - closed below
            total = os.fstat(stream.fileno()).st_size
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="import", disable=quiet, file=sys.stderr)
        try:
            result = await import_lines(
                ingestor, stream, batch=batch, on_progress=lambda _lines, size: bar.update(size)
            )
        finally:
            bar.close()
            if stream is not sys.stdin.buffer:
                stream.close()
    finally:
        await db.dispose()
    out = sys.stderr
    for error in result.errors[:20]:
        print(f"line {error.line}: {error.error}", file=out)
    if result.rejected > 20:
        print(f"… and {result.rejected - 20} more bad lines", file=out)
    print(
        f"{result.lines} lines: {result.accepted} new, {result.updated} updated, "
        f"{result.duplicates} duplicates, {result.rejected} rejected",
        file=out,
    )
    return 1 if result.rejected else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo-path":
        print(demo_path())
        return 0
    if args.command == "migrate":
        return run_migrate_command(args, package="collector", database_url=lambda: Settings().resolved_database_url())
    if args.command == "rotate":
        settings = Settings(**({"database_url": args.database_url} if args.database_url else {}))
        try:
            changed = asyncio.run(_rotate(settings))
        except Exception as exc:  # noqa: BLE001 - a clear one-line message instead of a traceback
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        print(f"re-encrypted the secrets of {changed} source(s) with the first key", file=sys.stderr)
        return 0
    if args.demo == bool(args.file):
        parser.error("give a FILE or --demo (one of them)")
    path = str(demo_path()) if args.demo else args.file
    if path != "-" and not Path(path).is_file():
        what = "a folder, not a file" if Path(path).is_dir() else "no such file"
        parser.exit(2, f"error: {what}: {path}\n")
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = Settings(**overrides)
    batch = settings.import_batch if args.batch is None else args.batch
    if not 1 <= batch <= 10_000:
        parser.error("--batch must be between 1 and 10000")
    try:
        return asyncio.run(_import(path, settings=settings, batch=batch, quiet=args.quiet))
    except KeyboardInterrupt:
        print("interrupted: the batches already committed stay imported", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a clear one-line message instead of a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
