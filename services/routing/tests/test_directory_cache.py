"""The directory kept between batches (incidents.loading.DirectoryCache): read once while its version
holds, read again after any change of the directory, whoever made it; the round-robin counters
always as committed. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from incidents_common.db import Database
from incidents_common.events import new_event
from routing.config import Settings
from routing.consumers import post_classified_handler
from routing.deadlines.models import SlaPolicy
from routing.deadlines.schemas import SlaPolicyCreate
from routing.deadlines.service import create_policy
from routing.directory.models import Department, Official, watched_columns
from routing.directory.service import directory_version
from routing.incidents.models import Incident
from routing.models import TABLES
from routing.rules.models import Rule
from routing.rules.schemas import RuleUpdate
from routing.rules.service import load_workload, update_rule
from routing.tables import table_of

from .test_batch import statements

DIRECTORY_READS = ("FROM routing_departments", "FROM routing_rules", "FROM routing_sla_policies")


def directory_reads(sent: list[str]) -> list[str]:
    return [s for s in sent if s.startswith("SELECT") and any(table in s for table in DIRECTORY_READS)]


async def version(db: Database) -> int | None:
    async with db.transaction() as session:
        return await directory_version(session)


async def route(db: Database, handler: Any, posts: list[Any]) -> list[str]:
    events = [new_event(p, source="/services/classifier", origin_post_id=p.post_id) for p in posts]
    with statements(db) as sent:
        async with db.transaction() as session:
            await handler(session.writes, events)
    return sent


async def assignees(db: Database, post_ids: list[str]) -> list[str | None]:
    async with db.transaction() as session:
        found = dict(
            (
                await session.exec(
                    select(Incident.origin_post_id, Incident.assignee_id).where(
                        col(Incident.origin_post_id).in_(post_ids)
                    )
                )
            ).all()
        )
    return [found.get(post_id) for post_id in post_ids]


ROAD = "На улице {street}, д. 5 огромная яма на дороге, машины бьют колёса"


class TestKeptWhileTheVersionHolds:
    async def test_the_second_batch_reads_only_the_version(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        handler = post_classified_handler(settings)
        first = await route(any_db, handler, [make_post("r1", ROAD.format(street="Ленина"), category="roads")])
        assert len(directory_reads(first)) == 3
        second = await route(any_db, handler, [make_post("r2", ROAD.format(street="Мира"), category="roads")])
        assert directory_reads(second) == []
        assert any("FROM routing_directory_version" in s for s in second)
        # Decided as before: the road officials share the roads (least loaded, then round-robin).
        assert sorted(await assignees(any_db, ["r1", "r2"])) == ["roads-a", "roads-b"]  # type: ignore[type-var]

    async def test_an_official_on_leave_gets_no_more_incidents_from_the_next_batch(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        """Another replica (or the API, or an operator with psql) sends roads-a on leave: a plain
        UPDATE, no call of ours, and the replica that kept the directory assigns as the directory says."""
        handler = post_classified_handler(settings)
        await route(any_db, handler, [make_post("r1", ROAD.format(street="Ленина"), category="roads")])
        before = await version(any_db)
        async with any_db.engine.begin() as connection:
            await connection.exec_driver_sql("UPDATE routing_officials SET on_leave = true WHERE id = 'roads-a'")
        assert before is not None and await version(any_db) == before + 1
        posts = [
            make_post(f"n{n}", ROAD.format(street=street), category="roads")
            for n, street in enumerate(["Мира", "Кирова", "Гагарина"])
        ]
        sent = await route(any_db, handler, posts)
        assert len(directory_reads(sent)) == 3  # read again
        assert await assignees(any_db, ["n0", "n1", "n2"]) == ["roads-b"] * 3


class TestWhatMovesTheVersion:
    CHANGES: dict[str, str] = {
        "an official added": "INSERT INTO routing_officials (id, region_code, name, role, categories, municipalities, "
        "work_start, work_end, work_days, capacity, active, on_leave, assignments_total, created_at, updated_at) "
        "VALUES ('new-1', '64', 'Новый', 'official', '[]', '[]', '09:00', '18:00', '[1]', 5, true, false, 0, "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "an official's categories": "UPDATE routing_officials SET categories = '[\"roads\"]' WHERE id = 'health-a'",
        "a department renamed": "UPDATE routing_departments SET name = 'министерство' WHERE id = '64-roads'",
        "a department removed": "DELETE FROM routing_departments WHERE id = '64-empty'",
        "a rule switched off": "UPDATE routing_rules SET active = false",
        "a policy removed": "DELETE FROM routing_sla_policies",
    }

    @pytest.mark.parametrize("change", CHANGES)
    async def test_any_write_of_the_directory(self, any_db: Database, change: str) -> None:
        before = await version(any_db)
        assert before is not None
        async with any_db.engine.begin() as connection:
            await connection.exec_driver_sql(self.CHANGES[change])
        after = await version(any_db)
        assert after is not None and after > before

    async def test_the_service_functions_the_api_calls(self, any_db: Database) -> None:
        seen = [await version(any_db)]
        async with any_db.transaction() as session:
            await create_policy(session, data=SlaPolicyCreate(region_code="64", first_reaction_hours=2))
        seen.append(await version(any_db))
        async with any_db.transaction() as session:
            rule_id = (await session.exec(select(Rule.id))).first()
            assert rule_id is not None
            await update_rule(session, rule_id=rule_id, data=RuleUpdate(priority=5))
        seen.append(await version(any_db))
        assert None not in seen and seen == sorted(set(seen)), seen  # type: ignore[type-var]

    async def test_not_the_round_robin_counter_every_batch_moves(self, any_db: Database) -> None:
        before = await version(any_db)
        async with any_db.engine.begin() as connection:
            await connection.exec_driver_sql("UPDATE routing_officials SET assignments_total = assignments_total + 1")
        assert await version(any_db) == before


async def test_the_workload_reads_the_counters_as_committed(any_db: Database) -> None:
    async with any_db.transaction() as session:
        kept = (await session.exec(select(Official).where(Official.id == "roads-a"))).one()
    assert kept.assignments_total == 0
    async with any_db.engine.begin() as connection:
        await connection.exec_driver_sql("UPDATE routing_officials SET assignments_total = 7 WHERE id = 'roads-a'")
    async with any_db.transaction() as session:
        workload = await load_workload(session, [kept])  # an Official as a directory read earlier holds it
    assert workload.assignments == {"roads-a": 7}


async def test_a_migrated_database_moves_its_version_too(database_url: str) -> None:
    db = Database(database_url, TABLES)
    try:
        await db.migrate()
        assert await version(db) == 0
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(TestWhatMovesTheVersion.CHANGES["an official added"])
            await connection.exec_driver_sql("UPDATE routing_officials SET assignments_total = 3")
        assert await version(db) == 1
    finally:
        await db.drop_tables()
        await db.dispose()


async def test_a_migrated_database_watches_every_column_of_the_directory(tmp_path: Any) -> None:
    """The migrations' triggers name the columns the models have now (but the round-robin counter): a
    column added later must join its table's trigger in its own revision."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", TABLES)
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            found = dict(
                (
                    await connection.exec_driver_sql(
                        "SELECT tbl_name, sql FROM sqlite_master WHERE name LIKE '%_updated'"
                    )
                )
                .tuples()
                .all()
            )
        for table in (table_of(model) for model in (Department, Official, Rule, SlaPolicy)):
            clause = found[table.name].split("UPDATE OF ", 1)[1].split(" ON ", 1)[0]
            assert [c.strip() for c in clause.split(",")] == watched_columns(table), table.name
    finally:
        await db.dispose()
