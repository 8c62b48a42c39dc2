"""Command-line tools: `python -m routing import-directory FILE`, `seed-demo`, `scan-deadlines`, `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from incidents_common.db import Database
from incidents_common.migrations import add_migrate_command, run_migrate_command
from incidents_common.problems import ProblemError
from routing.config import Settings
from routing.models import TABLES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m routing", description="Routing service tools")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: ROUTING_DATABASE_URL or var/routing.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    importer = commands.add_parser("import-directory", help="Import a directory YAML or a CSV of officials")
    importer.add_argument("file", type=Path, help="directory.yaml / directory.yml / officials.csv")
    importer.add_argument("--format", choices=["yaml", "yml", "csv"], help="Override the format the suffix implies")
    commands.add_parser("seed-demo", help="Load the shipped demo directory if the directory is empty")
    commands.add_parser("scan-deadlines", help="Run one deadline scan (warnings, escalations) now")
    add_migrate_command(commands)  # its --database-url, like the one before the command, overrides the default
    return parser


async def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    content = args.file.read_bytes() if args.command == "import-directory" else b""
    db = Database(args.database_url or settings.resolved_database_url(), TABLES)
    await db.migrate()
    try:
        if args.command == "import-directory":
            from tqdm import tqdm

            from routing.directory.service import import_directory, parse_import

            with tqdm(total=2, desc="import", unit="step", file=sys.stderr) as bar:
                document = parse_import(content, filename=args.file.name, fmt=args.format)
                bar.update(1)
                async with db.transaction() as session:
                    result = await import_directory(session, document=document)
                bar.update(1)
            sys.stdout.write(result.model_dump_json() + "\n")
        elif args.command == "seed-demo":
            from routing.seed import seed_demo_directory

            seeded = await seed_demo_directory(db)
            sys.stdout.write((seeded.model_dump_json() if seeded else '{"skipped": "directory not empty"}') + "\n")
        elif args.command == "scan-deadlines":
            from routing.deadlines.scanner import scan

            async with db.transaction() as session:
                scanned = await scan(session, settings=settings)
            sys.stdout.write(scanned.model_dump_json() + "\n")
    finally:
        await db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "migrate":
        return run_migrate_command(args, package="routing", database_url=lambda: Settings().resolved_database_url())
    try:
        return asyncio.run(_run(args))
    except FileNotFoundError as exc:
        sys.stderr.write(f"error: no such file: {exc.filename}\n")
    except ProblemError as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        for line in exc.extensions.get("errors", []):
            sys.stderr.write(f"  {line}\n")
    return 2
