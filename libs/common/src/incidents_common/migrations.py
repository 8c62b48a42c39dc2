"""Schema migrations: one Alembic environment per service, applied at start-up.

Every service keeps its revisions inside its package, so they ship in the wheel the Dockerfile installs:

    services/<name>/src/<package>/migrations/env.py            run_env("<package>"), nothing else
    services/<name>/src/<package>/migrations/script.py.mako    the template of a new revision
    services/<name>/src/<package>/migrations/versions/NNNN_<slug>.py

The schema of a service is the outbox and inbox of this library plus `<package>.models.TABLES`. Its
first revision (the baseline) is the schema of the release before migrations existed, whose databases
have tables but no `alembic_version`: `upgrade()` stamps such a database at the baseline and upgrades it.

`upgrade()` runs in one transaction under a lock (a PostgreSQL advisory lock; BEGIN IMMEDIATE on
SQLite), so replicas starting together migrate once and a failed step leaves the schema as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import importlib.util
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, Table, inspect, make_url, text
from sqlalchemy.engine import Connection

from incidents_common.db import COMMON_TABLES, Database, migrations_dir

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

VERSION_TABLE = "alembic_version"
# One key for every service: each service has a database of its own.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"incidents-schema-migrations").digest()[:8], "big", signed=True)
COMMON_NAMES = frozenset(t.__tablename__ for t in COMMON_TABLES)
# PostgreSQL compresses (pglz) the widest values of a row over about 2 KB before it stores it: an
# event's payload, a classification, an incident's priority parts. Rows are rewritten often and read
# soon (the outbox's within a second), and pglz was 15 % of the server's CPU under load. A table's
# toast_tuple_target at its ceiling keeps rows up to a page (8 KB) whole; only longer rows are compressed.
ROW_KEPT_WHOLE_BYTES = 8160


# ------------------------------------------------------------------------------------------------
# What a service's schema is
# ------------------------------------------------------------------------------------------------


@cache
def service_tables(package: str) -> tuple[Table, ...]:
    """The outbox, the inbox and `<package>.models.TABLES`: the tables a service's revisions own."""
    models = importlib.import_module(f"{package}.models")
    return tuple(t.__table__ for t in (*COMMON_TABLES, *models.TABLES))


@cache
def service_metadata(package: str) -> MetaData:
    """The service's tables alone (SQLModel.metadata holds every service imported in this process)."""
    metadata = MetaData()
    for table in service_tables(package):
        table.to_metadata(metadata)
    return metadata


def _script_location(package: str) -> Path:
    location = migrations_dir(package)
    if location is None:
        raise RuntimeError(f"{package} has no migrations/env.py")
    return location


def alembic_config(package: str, *, connection: Connection | None = None) -> Config:
    """An Alembic Config for a service's environment (no alembic.ini: everything is set here)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_script_location(package)))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "60")
    config.attributes["package"] = package
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def script_directory(package: str) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(package))


def baseline_revision(package: str) -> str:
    """The first revision: the schema of the last release that created its tables with create_all."""
    base = script_directory(package).get_base()
    if base is None:
        raise RuntimeError(f"{package} has no revisions")
    return base


def head_revision(package: str) -> str:
    head = script_directory(package).get_current_head()
    if head is None:
        raise RuntimeError(f"{package} has no revisions")
    return head


# ------------------------------------------------------------------------------------------------
# The environment (each service's env.py calls run_env)
# ------------------------------------------------------------------------------------------------


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render a TypeDecorator (SQLModel's AutoString, UTCDateTime, orjson JSON …) as its plain SQLAlchemy
    type, so a revision never imports application code that may change or vanish later."""
    from sqlalchemy.types import TypeDecorator

    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy."):
            return f"sa.{impl!r}"
    return False


def _configure_options(connection: Connection) -> dict[str, Any]:
    return {
        "version_table": VERSION_TABLE,
        "compare_type": True,
        # SQLite cannot ALTER most things: batch mode copies the table (PostgreSQL runs plain ALTERs).
        "render_as_batch": connection.dialect.name == "sqlite",
        "render_item": _render_item,
    }


def _skip_empty(context: MigrationContext, revision: Any, directives: list[Any]) -> None:
    script = directives[0] if directives else None
    if script is not None and script.upgrade_ops is not None and script.upgrade_ops.is_empty():
        directives[:] = []


def run_env(package: str) -> None:
    """The body of every service's migrations/env.py.

    Alembic runs it on the connection this module gives it (upgrade(), `python -m <package> migrate`):
    the async engine's connection, driven synchronously through `AsyncConnection.run_sync`.
    """
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(f"run the migrations with `python -m {package} migrate` (incidents_common.migrations)")
    if not config.attributes.get("locked"):
        _lock(connection)
    context.configure(
        connection=connection,
        target_metadata=service_metadata(package),
        process_revision_directives=_skip_empty if config.attributes.get("skip_empty") else None,
        **_configure_options(connection),
    )
    with context.begin_transaction():
        context.run_migrations()


# ------------------------------------------------------------------------------------------------
# Upgrading a database (the start-up path)
# ------------------------------------------------------------------------------------------------


def _lock(connection: Connection) -> None:
    """Serialise migrations: replicas starting together upgrade one after the other, in one transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    elif connection.dialect.name == "sqlite":
        # pysqlite would run each DDL statement in autocommit; an explicit transaction makes the whole
        # upgrade atomic and takes the write lock before anything is read.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def is_unversioned(connection: Connection, package: str) -> bool:
    """True for a database made by a release before migrations: the service's tables, no version table."""
    names = _table_names(connection)
    own = {t.name for t in service_tables(package)} - COMMON_NAMES
    return VERSION_TABLE not in names and bool(names & own)


@dataclass(frozen=True)
class Upgraded:
    """What upgrade() did: the revision before (None: empty or unversioned) and after."""

    before: str | None
    after: str | None
    stamped: bool = False  # an earlier release's database, stamped at the baseline first


def _upgrade(connection: Connection, package: str, revision: str) -> Upgraded:
    from alembic import command

    _lock(connection)
    config = alembic_config(package, connection=connection)
    config.attributes["locked"] = True
    before = current_revision(connection)
    stamped = before is None and is_unversioned(connection, package)
    start = before
    if stamped:
        start = baseline_revision(package)
        log.info("%s: a database of the release before migrations; stamping it at the baseline %s", package, start)
        command.stamp(config, start)
    command.upgrade(config, revision)
    keep_rows_whole(connection, service_tables(package))
    after = current_revision(connection)
    if after != start:
        log.info("%s: schema upgraded from %s to %s", package, start or "an empty database", after)
    return Upgraded(before, after, stamped)


async def upgrade(db: Database, revision: str = "head") -> Upgraded:
    """Upgrade `db` to `revision` (head).

    A database made by the release before migrations is stamped at the baseline first. Databases
    whose tables come from this library alone (tools, tests) have no revisions: create_all.
    """
    if db.migrations is None:
        await db.create_tables()
        return Upgraded(None, None)
    package = db.migrations
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        # Alembic says which dialect it found on every start; this module logs what it changed.
        alembic_log.setLevel(logging.WARNING)
    async with db.engine.begin() as conn:
        return await conn.run_sync(_upgrade, package, revision)


def create_all(connection: Connection, db: Database) -> None:
    """Database.create_tables(): create_all; a database it makes from nothing is stamped at head.

    So a database a test or tool made with create_tables() is not taken for an earlier release's
    when the service later starts on it. A database that already had some of the tables (an earlier
    release's) is left unversioned: the start-up path stamps it at the baseline and upgrades it.
    """
    package = db.migrations
    stamp = False
    if package is not None:
        names = _table_names(connection)
        own = {t.name for t in service_tables(package)}
        stamp = VERSION_TABLE not in names and not (names & own) and own <= {t.name for t in db.tables}
    db.metadata_create_all(connection)
    keep_rows_whole(connection, db.tables)
    if stamp and package is not None:
        from alembic.runtime.migration import MigrationContext

        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        context.stamp(script_directory(package), "head")


def keep_rows_whole(connection: Connection, tables: Iterable[Table]) -> None:
    """PostgreSQL: set ROW_KEPT_WHOLE_BYTES on the tables that lack it (a storage parameter, which
    revisions do not track: every table gets it, those of later revisions too)."""
    if connection.dialect.name != "postgresql":
        return
    wanted = f"toast_tuple_target={ROW_KEPT_WHOLE_BYTES}"
    names = [t.name for t in tables]
    found = connection.execute(
        text(
            "SELECT relname, coalesce(reloptions, '{}') FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace AND relname = ANY(:names)"
        ),
        {"names": names},
    ).all()
    quote = connection.dialect.identifier_preparer.quote
    altered = [name for name, options in found if wanted not in options]
    for name in altered:
        connection.exec_driver_sql(f"ALTER TABLE {quote(name)} SET (toast_tuple_target = {ROW_KEPT_WHOLE_BYTES})")
    if altered:
        log.info("rows up to %d bytes kept uncompressed", ROW_KEPT_WHOLE_BYTES, extra={"tables": len(altered)})


def compare(connection: Connection, package: str) -> list[Any]:
    """What `alembic check` reports: differences between the database and the service's models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    options = _configure_options(connection)
    options.pop("render_as_batch")
    options.pop("render_item")
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, service_metadata(package)))


# ------------------------------------------------------------------------------------------------
# `python -m <package> migrate …`
# ------------------------------------------------------------------------------------------------

ACTIONS = ("upgrade", "current", "history", "check", "revision")


def add_migrate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add `migrate` to a service's argparse subcommands (`commands` is add_subparsers()' result)."""
    cmd = commands.add_parser(
        "migrate",
        help="upgrade the database schema, or show its revision, history or drift",
        description="Schema migrations (Alembic). The service upgrades its database at start-up; this runs "
        "the same upgrade by hand or inspects it. upgrade: to the newest revision (a database of the release "
        "before migrations is stamped at the baseline first); current: the database's revision; history: "
        "every revision; check: exit 1 unless the database is at head and matches the models; revision: "
        "write a new revision autogenerated from the models against a scratch SQLite database at head.",
    )
    cmd.add_argument("action", nargs="?", default="upgrade", choices=ACTIONS, help="default: upgrade")
    # SUPPRESS: a --database-url given before the command (routing's) is not overwritten with None.
    cmd.add_argument("--database-url", default=argparse.SUPPRESS, help="override the service's database URL")
    cmd.add_argument("-m", "--message", help="revision: what the revision changes, e.g. 'add incidents.source'")
    cmd.add_argument(
        "--empty", action="store_true", help="revision: write a revision with no operations (data migrations)"
    )
    return cmd


def run_migrate_command(args: argparse.Namespace, *, package: str, database_url: Callable[[], str]) -> int:
    """Carry out `migrate`; `database_url` is called only by the actions that need a database."""
    if args.action == "revision" and not args.message:
        sys.stderr.write("error: revision needs -m/--message\n")
        return 2
    if args.action != "revision" and (args.message or args.empty):
        sys.stderr.write("error: -m/--message and --empty are options of `migrate revision`\n")
        return 2
    try:
        if args.action == "history":
            return _history(package)
        if args.action == "revision":
            return asyncio.run(_revision(package, args.message, empty=args.empty))
        url = getattr(args, "database_url", None) or database_url()
        missing = missing_sqlite_file(url)
        if missing is not None and args.action in ("current", "check"):
            # Reading must not create the file it was asked about (upgrade creates it on purpose).
            sys.stderr.write(f"error: no database at {missing}\n")
            return 2
        return asyncio.run(_on_database(package, url, args.action))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - a one-line message instead of a traceback
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        return 2


def missing_sqlite_file(url: str) -> str | None:
    """The path of an SQLite URL whose file does not exist; None for any other URL."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    return path if path and path != ":memory:" and not Path(path).exists() else None


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _history(package: str) -> int:
    script = script_directory(package)
    head = script.get_current_head()
    for rev in script.walk_revisions():
        marker = " (head)" if rev.revision == head else ""
        _out(f"{rev.down_revision or '<base>'} -> {rev.revision}{marker}: {rev.doc}")
    return 0


async def _on_database(package: str, url: str, action: str) -> int:
    shown = make_url(url).render_as_string(hide_password=True)
    db = Database(url, [], migrations=package)
    try:
        if action == "upgrade":
            done = await upgrade(db)
            if done.stamped:
                _out(
                    f"{shown}: made by a release before migrations: stamped at {baseline_revision(package)}, "
                    f"upgraded to {done.after} (head)"
                )
            elif done.before == done.after:
                _out(f"{shown}: already at {done.after} (head)")
            else:
                _out(f"{shown}: upgraded from {done.before or 'an empty database'} to {done.after} (head)")
            return 0
        async with db.engine.connect() as conn:
            current = await conn.run_sync(current_revision)
            unversioned = await conn.run_sync(is_unversioned, package)
            head = head_revision(package)
            if action == "current":
                if current is not None:
                    _out(f"{current}{' (head)' if current == head else f' (head is {head}: run migrate upgrade)'}")
                elif unversioned:
                    baseline = baseline_revision(package)
                    _out(f"none: made by a release before migrations (upgrade stamps it at {baseline})")
                else:
                    _out("none: an empty database")
                return 0
            if current != head:
                _out(f"{shown}: at {current or 'no revision'}, head is {head}: run `migrate upgrade` first")
                return 1
            differences = await conn.run_sync(compare, package)
        if differences:
            _out(f"{shown}: the models differ from the schema at {head}; a revision is missing:")
            for diff in differences:
                _out(f"  {diff}")
            return 1
        _out(f"{shown}: at {head} (head), matching the models")
        return 0
    finally:
        await db.dispose()


def _next_revision_id(package: str) -> str:
    ids = [rev.revision for rev in script_directory(package).walk_revisions()]
    numbers = [int(i) for i in ids if i.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


async def _revision(package: str, message: str, *, empty: bool) -> int:
    from alembic import command

    with tempfile.TemporaryDirectory(prefix="migrations-") as scratch:
        db = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}", [], migrations=package)
        try:
            await upgrade(db)

            def write(connection: Connection) -> Any:
                config = alembic_config(package, connection=connection)
                config.attributes["locked"] = True
                config.attributes["skip_empty"] = not empty
                return command.revision(
                    config, message=message, autogenerate=not empty, rev_id=_next_revision_id(package)
                )

            async with db.engine.begin() as conn:
                script = await conn.run_sync(write)
        finally:
            await db.dispose()
    script_directory.cache_clear()
    if isinstance(script, list):
        script = script[0] if script else None
    if script is None:
        _out("the models match the newest revision: nothing to write")
        return 1
    path = Path(script.path)
    _tidy(path)
    _out(f"wrote {path}: review it (autogenerate misses renames and data), then run the migration tests")
    return 0


def _tidy(path: Path) -> None:
    """ruff (a development tool, when installed) formats the generated file to the project's style."""
    if importlib.util.find_spec("ruff") is None:
        return
    for args in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *args, str(path)], check=False)  # noqa: S603 - fixed module
