"""Schema migrations of every service (incidents_common.migrations), on SQLite and PostgreSQL.

- An empty database upgraded to head has exactly the models' schema (what `alembic check` checks).
- A database of release fdc6d0c, the last before migrations (tests/migrations/<service>.<dialect>.sql is
  the DDL its create_all issued), is taken over by the start-up path: stamped at the baseline, upgraded,
  its rows kept.
- `python -m <package> migrate …` upgrades, reports and checks.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from incidents_common import migrations
from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.processes import asyncpg_url
from incidents_common.settings import ServiceSettings

RELEASE_SQL = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    # A row an operator of the previous release had, in SQL both dialects accept, and how to find it.
    insert: str
    select: str
    new_tables: frozenset[str] = field(default_factory=frozenset)

    def tables(self) -> Any:
        return importlib.import_module(f"{self.package}.models").TABLES

    def cli_main(self) -> Callable[[list[str]], int]:
        return importlib.import_module(f"{self.package}.cli").main


SERVICES = [
    Service(
        "api-gateway",
        "api_gateway",
        "INSERT INTO gw_webhook (webhook_id, owner, url, secret, active, cursor, created_at) "
        "VALUES ('wh_old', 'user:admin64', 'https://portal.example/hook', 'plain-secret', true, 7, "
        "'2026-11-01 00:00:00')",
        "SELECT owner, secret, cursor FROM gw_webhook WHERE webhook_id = 'wh_old'",
        frozenset({"gw_webhook_secret"}),
    ),
    Service(
        "classifier",
        "classifier",
        "INSERT INTO classifier_feedback (text, is_incident, urgency, sentiment, corrected, created_at) "
        "VALUES ('Свалку у реки подожгли', true, 'high', 'negative', '[\"category\"]', '2026-11-01 00:00:00')",
        "SELECT text, urgency, corrected FROM classifier_feedback",
    ),
    Service(
        "collector",
        "collector",
        "INSERT INTO sources (id, name, type, enabled, interval_seconds, settings, state, halted, "
        "posts_collected, consecutive_failures, created_at, updated_at) VALUES ('src-1', 'Подслушано', 'vk', "
        "true, 300.0, '{\"token\": \"sealed\"}', 'ok', false, 42, 0, '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
        "SELECT name, settings, posts_collected FROM sources WHERE id = 'src-1'",
        frozenset({"publications"}),
    ),
    Service(
        "routing",
        "routing",
        "INSERT INTO routing_officials (id, region_code, name, role, categories, municipalities, work_start, "
        "work_end, work_days, capacity, active, on_leave, assignments_total, created_at, updated_at) VALUES "
        "('o-1', '64', 'Иванова И. И.', 'curator', '[]', '[]', '09:00', '18:00', '[1, 2, 3, 4, 5]', 50, true, "
        "false, 3, '2026-11-01 00:00:00', '2026-11-01 00:00:00')",
        "SELECT name, role, assignments_total FROM routing_officials WHERE id = 'o-1'",
    ),
]
BY_NAME = {s.name: s for s in SERVICES}
with_every_service = pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def _state(db: Database) -> tuple[str | None, list[Any], set[str]]:
    """The database's revision, its differences from the models, and its tables."""
    assert db.migrations is not None
    package = db.migrations

    def read(sync: Any) -> tuple[str | None, list[Any], set[str]]:
        names = set(inspect(sync).get_table_names())
        return migrations.current_revision(sync), migrations.compare(sync, package), names

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def _execute(conn: AsyncConnection, sql: str) -> None:
    for statement in sql.split(";\n"):
        lines = [line for line in statement.splitlines() if not line.startswith("--")]
        if "".join(lines).strip():
            await conn.exec_driver_sql("\n".join(lines))


async def _previous_release(service: Service, url: str) -> None:
    """A database exactly as release fdc6d0c left it: its create_all's DDL and a row of data."""
    ddl = (RELEASE_SQL / f"{service.name}.{_dialect(url)}.sql").read_text(encoding="utf-8")
    db = Database(url, [])
    try:
        async with db.engine.begin() as conn:
            await _execute(conn, ddl)
            await conn.execute(text(service.insert))
            await conn.execute(
                text("INSERT INTO outbox (event_id, subject, payload, created_at) VALUES (:e, :s, :p, :t)"),
                {"e": "evt-old", "s": "incidents.created.64", "p": b"{}", "t": datetime(2026, 11, 1, tzinfo=UTC)},
            )
    finally:
        await db.dispose()


def _shape(sync: Any) -> dict[str, Any]:
    """Every table's columns, indexes, unique constraints and key as reflected (enum types on PostgreSQL)."""
    found = inspect(sync)
    shape: dict[str, Any] = {}
    for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
        shape[table] = (
            [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in found.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            found.get_pk_constraint(table)["constrained_columns"],
        )
    if sync.dialect.name == "postgresql":
        shape["enum types"] = sorted((e["name"], tuple(e["labels"])) for e in found.get_enums())  # type: ignore[attr-defined]
    return shape


async def _new_postgres_database(libpq_url: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(libpq_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _reflect(url: str) -> dict[str, Any]:
    db = Database(url, [])
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_shape)
    finally:
        await db.dispose()


async def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql))).all()]


class TestEmptyDatabase:
    @with_every_service
    async def test_head_is_the_models_schema(self, service: Service, database_url: str) -> None:
        db = Database(database_url, service.tables())
        try:
            assert db.migrations == service.package
            await db.migrate()
            revision, differences, names = await _state(db)
            assert revision == migrations.head_revision(service.package)
            assert differences == []
            assert {t.name for t in migrations.service_tables(service.package)} <= names
            await db.migrate()  # a second start changes nothing
            assert (await _state(db))[0] == revision
        finally:
            await db.dispose()

    @with_every_service
    async def test_every_revision_downgrades_to_nothing(self, service: Service, database_url: str) -> None:
        from alembic import command

        db = Database(database_url, service.tables())
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                await conn.run_sync(
                    lambda sync: command.downgrade(migrations.alembic_config(service.package, connection=sync), "base")
                )
            assert (await _state(db))[2] == {"alembic_version"}
            await db.migrate()  # and up again: the downgrade left nothing behind (enum types included)
            assert (await _state(db))[1] == []
        finally:
            await db.dispose()


class TestPreviousRelease:
    @with_every_service
    async def test_the_baseline_revision_is_that_release_schema(
        self, service: Service, database_url: str, request: pytest.FixtureRequest
    ) -> None:
        from alembic import command

        await _previous_release(service, database_url)
        if database_url.startswith("sqlite"):
            baseline_url = database_url.replace("test.db", "baseline.db")
        else:
            libpq = request.getfixturevalue("postgres_libpq_url")
            baseline_url = asyncpg_url(libpq, await _new_postgres_database(libpq))
        db = Database(baseline_url, service.tables())
        try:
            baseline = migrations.baseline_revision(service.package)
            async with db.engine.begin() as conn:
                config = await conn.run_sync(lambda sync: migrations.alembic_config(service.package, connection=sync))
                await conn.run_sync(lambda _: command.upgrade(config, baseline))
        finally:
            await db.dispose()
        assert await _reflect(baseline_url) == await _reflect(database_url)

    @with_every_service
    async def test_is_stamped_at_the_baseline_and_upgraded_keeping_its_rows(
        self, service: Service, database_url: str
    ) -> None:
        await _previous_release(service, database_url)
        db = Database(database_url, service.tables())
        try:
            before = await _rows(db, service.select)
            assert len(before) == 1
            assert (await _state(db))[0] is None  # no version table: an earlier release's database
            await db.migrate()  # what the service's start-up does
            revision, differences, names = await _state(db)
            assert revision == migrations.head_revision(service.package)
            assert differences == []
            assert service.new_tables <= names
            assert await _rows(db, service.select) == before
            assert await _rows(db, "SELECT event_id FROM outbox") == [("evt-old",)]
        finally:
            await db.dispose()

    async def test_the_gateway_keeps_plaintext_secrets_for_the_dispatcher_to_seal(self, tmp_path: Path) -> None:
        from api_gateway.webhooks.models import Webhook

        service = BY_NAME["api-gateway"]
        url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
        await _previous_release(service, url)
        db = Database(url, service.tables())
        try:
            await db.migrate()
            async with db.transaction() as session:
                hook = await session.get(Webhook, "wh_old")
                assert hook is not None and (hook.secret, hook.cursor, hook.active) == ("plain-secret", 7, True)
            assert await _rows(db, "SELECT count(*) FROM gw_webhook_secret") == [(0,)]
        finally:
            await db.dispose()

    async def test_tables_completed_by_create_all_are_still_upgraded(self, tmp_path: Path) -> None:
        # An earlier release's database that create_tables() then completed (gw_webhook_secret made by
        # create_all, as the release before migrations did at start-up): not stamped at head, and the
        # upgrade copes with the table being there.
        service = BY_NAME["api-gateway"]
        url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
        await _previous_release(service, url)
        db = Database(url, service.tables())
        try:
            await db.create_tables()
            assert (await _state(db))[0] is None
            await db.migrate()
            revision, differences, _ = await _state(db)
            assert (revision, differences) == (migrations.head_revision(service.package), [])
        finally:
            await db.dispose()

    async def test_the_service_lifespan_upgrades(self, tmp_path: Path) -> None:
        service = BY_NAME["routing"]
        url = f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}"
        await _previous_release(service, url)
        db = Database(url, service.tables())
        settings = ServiceSettings(service_name="routing", nats_enabled=False, log_json=False)
        app: FastAPI = create_service_app(title="t", description="", version="0", settings=settings, db=db, events=None)
        async with app.router.lifespan_context(app):
            pass  # the lifespan disposes of the engine on the way out; its database stays
        check = Database(url, service.tables())
        try:
            revision, differences, _ = await _state(check)
            assert (revision, differences) == (migrations.head_revision(service.package), [])
        finally:
            await check.dispose()


class TestCreateTables:
    @with_every_service
    async def test_a_database_it_makes_is_at_head_so_a_start_on_it_changes_nothing(
        self, service: Service, tmp_path: Path
    ) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'made.db'}", service.tables())
        try:
            await db.create_tables()
            head = migrations.head_revision(service.package)
            assert (await _state(db))[:2] == (head, [])
            await db.migrate()
            assert (await _state(db))[:2] == (head, [])
        finally:
            await db.dispose()

    async def test_part_of_a_schema_is_not_stamped(self, tmp_path: Path) -> None:
        from classifier.models import ClassificationRecord

        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'part.db'}", [ClassificationRecord])
        try:
            assert db.migrations == "classifier"
            await db.create_tables()
            assert (await _state(db))[0] is None
        finally:
            await db.dispose()

    async def test_tables_of_the_library_alone_have_no_migrations(self, tmp_path: Path) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lib.db'}", [])
        try:
            assert db.migrations is None
            await db.migrate()  # create_all
            async with db.engine.connect() as conn:
                names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert names == {"outbox", "inbox"}
        finally:
            await db.dispose()


class TestMigrateCommand:
    @with_every_service
    def test_upgrade_current_check_history(
        self, service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        main = service.cli_main()
        url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        asyncio.run(_previous_release(service, url))
        head = migrations.head_revision(service.package)

        assert main(["migrate", "current", "--database-url", url]) == 0
        assert "made by a release before migrations" in capsys.readouterr().out
        assert main(["migrate", "check", "--database-url", url]) == 1
        assert "run `migrate upgrade` first" in capsys.readouterr().out
        assert main(["migrate", "--database-url", url]) == 0  # upgrade is the default
        assert f"to {head} (head)" in capsys.readouterr().out
        assert main(["migrate", "upgrade", "--database-url", url]) == 0
        assert f"already at {head}" in capsys.readouterr().out
        assert main(["migrate", "current", "--database-url", url]) == 0
        assert capsys.readouterr().out.strip() == f"{head} (head)"
        assert main(["migrate", "check", "--database-url", url]) == 0
        assert "matching the models" in capsys.readouterr().out
        assert main(["migrate", "history"]) == 0
        history = capsys.readouterr().out
        assert f"{head} (head)" in history and "<base> -> 0001" in history

    @with_every_service
    def test_usage_errors(self, service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        main = service.cli_main()
        with pytest.raises(SystemExit) as shown:
            main(["migrate", "--help"])
        assert shown.value.code == 0
        assert "upgrade" in capsys.readouterr().out
        with pytest.raises(SystemExit) as refused:
            main(["migrate", "sideways"])
        assert refused.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
        assert main(["migrate", "revision"]) == 2
        assert "needs -m" in capsys.readouterr().err
        assert main(["migrate", "upgrade", "-m", "x"]) == 2
        assert main(["migrate", "current", "--database-url", "nosuchdriver://x"]) == 2
        assert capsys.readouterr().err.startswith("error: ")
        missing = tmp_path / "typo.db"
        for action in ("current", "check"):  # reading does not create the file it was asked about
            assert main(["migrate", action, "--database-url", f"sqlite+aiosqlite:///{missing}"]) == 2
            assert f"no database at {missing}" in capsys.readouterr().err
        assert not missing.exists()

    def test_routing_takes_the_database_before_the_command_too(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from routing.cli import main

        url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
        assert main(["--database-url", url, "migrate"]) == 0
        assert main(["--database-url", url, "migrate", "check"]) == 0
        assert "matching the models" in capsys.readouterr().out


async def _compressed_payloads(db: Database, sizes: list[int]) -> list[str | None]:
    """Queue an outbox row of each size (compressible JSON) and read how PostgreSQL stored each."""
    async with db.engine.begin() as conn:
        for n, size in enumerate(sizes):
            payload = ('{"words": "' + "труба течёт " * (size // 20) + '"}').encode()
            await conn.execute(
                text("INSERT INTO outbox (event_id, subject, payload, created_at) VALUES (:e, :s, :p, :t)"),
                {"e": f"wide-{n}", "s": "incidents.v1.post.collected", "p": payload, "t": datetime.now(UTC)},
            )
    rows = await _rows(
        db, "SELECT pg_column_compression(payload) FROM outbox WHERE event_id LIKE 'wide-%' ORDER BY event_id"
    )
    return [row[0] for row in rows]


async def _storage_options(db: Database) -> dict[str, list[str]]:
    rows = await _rows(
        db,
        "SELECT relname, coalesce(reloptions, '{}') FROM pg_class "
        "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace",
    )
    return {name: list(options) for name, options in rows if name != "alembic_version"}


class TestRowsKeptWhole:
    """PostgreSQL keeps a row up to a page uncompressed: pglz on every wide row (an outbox payload,
    an incident's parts) was 15 % of the server's CPU under load."""

    @with_every_service
    async def test_every_table_of_a_migrated_database_keeps_rows_of_a_page_whole(
        self, service: Service, postgres_url: str
    ) -> None:
        db = Database(postgres_url, service.tables())
        try:
            await db.migrate()
            wanted = f"toast_tuple_target={migrations.ROW_KEPT_WHOLE_BYTES}"
            options = await _storage_options(db)
            assert {t.name for t in migrations.service_tables(service.package)} <= set(options)
            assert {name: wanted in found for name, found in options.items()} == dict.fromkeys(options, True)
            # 3 KB would be compressed by default; 20 KB is still compressed (and kept out of the row).
            assert await _compressed_payloads(db, [3_000, 20_000]) == [None, "pglz"]
        finally:
            await db.dispose()

    async def test_an_earlier_release_database_gets_it_when_upgraded(self, postgres_url: str) -> None:
        await _previous_release(BY_NAME["collector"], postgres_url)
        db = Database(postgres_url, BY_NAME["collector"].tables())
        try:
            assert await _compressed_payloads(db, [3_000]) == ["pglz"]  # the release's table, as it was
            await db.migrate()
            wanted = f"toast_tuple_target={migrations.ROW_KEPT_WHOLE_BYTES}"
            assert all(wanted in found for found in (await _storage_options(db)).values())
        finally:
            await db.dispose()

    async def test_tables_of_the_library_alone_too(self, postgres_url: str) -> None:
        db = Database(postgres_url, [])
        try:
            await db.create_tables()
            assert await _compressed_payloads(db, [3_000]) == [None]
        finally:
            await db.dispose()
