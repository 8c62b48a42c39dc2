"""Command-line tools: `python -m routing import-directory FILE`, `seed-demo`, `scan-deadlines`, `audit-verify`,
`audit-seal`, `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select
from tqdm import tqdm

from incidents_common.db import Database
from incidents_common.migrations import add_migrate_command, missing_sqlite_file, run_migrate_command
from incidents_common.problems import ProblemError
from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.directory.parsing import parse_import
from routing.directory.service import import_directory
from routing.incidents.audit import INCIDENTS, check_incident, check_roots, seal_days
from routing.incidents.scanner import scan
from routing.models import TABLES
from routing.seed import seed_demo_directory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m routing", description="Routing service tools")
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: ROUTING_DATABASE_URL or var/routing.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    importer = commands.add_parser("import-directory", help="Import a directory YAML or a CSV of officials")
    importer.add_argument("file", type=Path, help="directory.yaml / directory.yml / officials.csv")
    importer.add_argument("--format", choices=["yaml", "yml", "csv"], help="Override the format the suffix implies")
    commands.add_parser("seed-demo", help="Load the shipped demo directory if the directory is empty")
    commands.add_parser("scan-deadlines", help="Run one deadline scan (warnings, escalations) now")
    verify = commands.add_parser(
        "audit-verify",
        help="Check every incident's hash chain and every stored daily root; exit code 1 if anything broke",
    )
    verify.add_argument("--incident", help="Only this incident's chain")
    verify.add_argument("--region", type=_region_code, help="Only this region's incidents and roots (two digits)")
    verify.add_argument("--day", type=date.fromisoformat, help="Only the roots of this UTC day (YYYY-MM-DD)")
    commands.add_parser("audit-seal", help="Store and publish the daily roots of the days that are over, now")
    add_migrate_command(commands)  # its --database-url, like the one before the command, overrides the default
    return parser


def _region_code(value: str) -> str:
    if value not in REGIONS:
        raise argparse.ArgumentTypeError(f"unknown region code {value!r} (two digits, such as 64)")
    return value


async def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    content = args.file.read_bytes() if args.command == "import-directory" else b""
    db = Database(args.database_url or settings.resolved_database_url(), TABLES)
    if args.command == "audit-verify":
        # Checking, not writing: a mistyped URL must not become a new empty database that verifies
        # clean ("0 chains checked: 0 broken" would read as an all-clear).
        await _require_routing_database(db)
    else:
        await db.migrate()
    try:
        if args.command == "import-directory":
            with tqdm(total=2, desc="import", unit="step", file=sys.stderr) as bar:
                document = parse_import(content, filename=args.file.name, fmt=args.format)
                bar.update(1)
                async with db.transaction() as session:
                    result = await import_directory(session, document=document)
                bar.update(1)
            sys.stdout.write(result.model_dump_json() + "\n")
        elif args.command == "seed-demo":
            seeded = await seed_demo_directory(db)
            sys.stdout.write((seeded.model_dump_json() if seeded else '{"skipped": "directory not empty"}') + "\n")
        elif args.command == "audit-verify":
            return await _audit_verify(db, args)
        elif args.command == "audit-seal":
            async with db.transaction() as session:
                roots = await seal_days(session)
            for root in roots:
                sys.stdout.write(root.model_dump_json() + "\n")
            sys.stderr.write(f"{len(roots)} daily roots sealed (published by the service's outbox relay)\n")
        elif args.command == "scan-deadlines":
            async with db.transaction() as session:
                scanned = await scan(session, settings=settings)
            sys.stdout.write(scanned.model_dump_json() + "\n")
    finally:
        await db.dispose()
    return 0


async def _require_routing_database(db: Database) -> None:
    try:
        async with db.engine.connect() as connection:
            present = await connection.run_sync(lambda sync: inspect(sync).has_table(INCIDENTS.name))
    except (OSError, SQLAlchemyError) as exc:
        raise CliError(
            f"cannot open the routing database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        await db.dispose()
    if not present:
        raise CliError(f"{db.url.rsplit('@', 1)[-1]} has no routing tables: not the routing database")


def _require_database_file(url: str) -> None:
    """An SQLite URL names a file that exists (opening one that does not would create it)."""
    path = missing_sqlite_file(url)
    if path is not None:
        raise CliError(f"no routing database at {path} (give --database-url, or run from the project folder)")


class CliError(Exception):
    """A clear message for the user, exit code 2."""


async def _audit_verify(db: Database, args: argparse.Namespace) -> int:
    """One JSON line per broken chain or root, a summary on stderr; 1 when anything broke."""
    broken = 0
    async with db.transaction() as session:
        if args.incident:
            ids = [args.incident]
        else:
            query = select(INCIDENTS.c.id).order_by(INCIDENTS.c.id)
            if args.region:
                query = query.where(INCIDENTS.c.region_code == args.region)
            ids = list((await session.exec(query)).all())
        for incident_id in tqdm(ids, desc="incident chains", unit="incident", file=sys.stderr):
            check = await check_incident(session, incident_id)
            if check is None:
                sys.stderr.write(f"error: no incident {incident_id!r}\n")
                return 2
            if not check.ok:
                broken += 1
                line = {"incident_id": incident_id, "broken_at": check.broken_at, "reason": check.reason}
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        roots = [] if args.incident else await check_roots(session, region=args.region, day=args.day)
        for root in roots:
            if not root.ok:
                broken += 1
                line = {
                    "region_code": root.region_code,
                    "day": root.day.isoformat(),
                    "stored": root.stored,
                    "recomputed": root.recomputed,
                    "reason": "the day's entries no longer give the root that was published",
                }
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stderr.write(f"{len(ids)} incident chains and {len(roots)} daily roots checked: {broken} broken\n")
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "migrate":
        return run_migrate_command(args, package="routing", database_url=lambda: Settings().resolved_database_url())
    try:
        if args.command == "audit-verify":
            _require_database_file(args.database_url or Settings().resolved_database_url())
        return asyncio.run(_run(args))
    except FileNotFoundError as exc:
        sys.stderr.write(f"error: no such file: {exc.filename}\n")
    except CliError as exc:
        sys.stderr.write(f"error: {exc}\n")
    except ProblemError as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        for line in exc.extensions.get("errors", []):
            sys.stderr.write(f"  {line}\n")
    return 2
