"""Routing's reads for a batch stay index lookups as its database grows.

Each batch reads the open incidents of its (region, category) pairs, its officials' open counts, the
surge counts of its places and the complaints of their current window. On a grown SQLite database
these were planned as scans (a row-value IN list is not matched against an index) or through the
index on status (no statistics told the planner it selects nothing), and routing's latency grew with
its database. Here a database is grown through the real write path and every SELECT of the next
batch is planned by SQLite itself (EXPLAIN QUERY PLAN, with the batch's own parameters)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.dialects import sqlite

from incidents_common.db import Database
from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.incidents.loading import load_candidates
from routing.incidents.models import Incident
from routing.incidents.writes import route_posts
from routing.seed import seed_demo_directory
from routing.tables import KEYS_PER_QUERY, KeyedQuery, table_of

from .conftest import T0, make_db

CATEGORIES = ["roads", "housing_utilities", "waste"]
PROBLEMS = {
    "roads": "яма на дороге во всю ширину, машины бьют колёса",
    "housing_utilities": "третий день нет горячей воды, управляющая компания молчит",
    "waste": "мусор не вывозят вторую неделю, контейнеры переполнены",
}
# Tables a batch reads whose size grows with the work done; the directory's tables stay small.
GROWING = ("routing_incidents", "routing_incident_posts", "routing_deadlines", "routing_surge_buckets")


def grown_posts(make_post: Any, count: int, *, prefix: str) -> list[Any]:
    regions = sorted(REGIONS)[:40]
    posts = []
    for n in range(count):
        category = CATEGORIES[n % len(CATEGORIES)]
        region = regions[(n // len(CATEGORIES)) % len(regions)]
        text = f"Улица Садовая, дом {n}: {PROBLEMS[category]} (обращение {prefix}{n})"
        posts.append(make_post(f"{prefix}{n}", text, region=region, category=category, city=None, published_at=T0))
    return posts


async def grow(db: Database, posts: list[Any], *, settings: Settings, batch: int) -> None:
    """The demo directory, then `posts` routed through the write path in batches of `batch`."""
    assert await seed_demo_directory(db) is not None
    for start in range(0, len(posts), batch):
        async with db.transaction() as session:
            await route_posts(session.writes, posts[start : start + batch], settings=settings, now=T0)


async def test_a_batch_on_a_grown_database_reads_through_indexes(settings: Settings, make_post: Any) -> None:
    settings = settings.model_copy(update={"surge_min_count": 100_000})  # counted, never raised
    db = await make_db(settings.database_url, directory=None)
    try:
        await grow(db, grown_posts(make_post, 1_500, prefix="g"), settings=settings, batch=250)
        assert db.statistics is not None and db.statistics.generation >= 1, "statistics were never gathered"

        sent: list[tuple[str, Any]] = []

        def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT") and not many:
                sent.append((statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", remember)
        try:
            async with db.transaction() as session:
                later = grown_posts(make_post, 6, prefix="next")
                await route_posts(session.writes, later, settings=settings, now=T0 + timedelta(minutes=5))
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", remember)

        reads_of_growing = 0
        async with db.engine.connect() as connection:
            for statement, parameters in sent:
                plan = [
                    row[3]
                    for row in (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
                ]
                if not any(table in statement for table in GROWING):
                    continue
                reads_of_growing += 1
                scans = [line for line in plan if re.match(rf"SCAN ({'|'.join(GROWING)})\b", line)]
                assert not scans, f"a batch scans a growing table: {plan}\n{statement}"
                by_status = [line for line in plan if "ix_routing_incidents_status" in line]
                assert not by_status, f"planned through the index on status: {plan}\n{statement}"
        # candidates, their posts, open counts, routed posts, surge counts, window complaints, prior alerts
        assert reads_of_growing >= 5, sent
    finally:
        await db.dispose()


def test_key_lists_of_any_length_compile_to_a_few_statements() -> None:
    # SQLAlchemy and each connection keep a compiled statement per shape: a shape per list length
    # held tens of megabytes in a long-running service. And each shape is built once, not per batch.
    table = table_of(Incident)
    query = KeyedQuery((table.c.region_code, table.c.category), lambda any_key: select(table.c.id).where(any_key))
    built: dict[int, Any] = {}
    shapes = set()
    for count in range(1, 301):
        keys = [(f"{n:02d}", "roads") for n in range(count)]
        for statement, parameters in query.runs(keys):
            size = len(parameters) // 2
            assert built.setdefault(size, statement) is statement, "a statement was built again"
            shapes.add(str(statement.compile(dialect=sqlite.dialect())))
    assert len(shapes) <= 8


async def test_a_key_list_finds_each_row_once(any_db: Database, make_post: Any) -> None:
    posts = grown_posts(make_post, 5, prefix="pad")  # five incidents in five (region, category) pairs
    async with any_db.transaction() as session:
        await route_posts(session.writes, posts, settings=Settings(), now=T0)
    table = table_of(Incident)
    keys = sorted({(p.classification.region.code, p.classification.category.label) for p in posts})
    assert len(keys) == 5
    query = KeyedQuery(
        (table.c.region_code, table.c.category),
        lambda any_key: select(table.c.id).where(any_key, table.c.created_at >= bindparam("since")),
    )
    if any_db.engine.dialect.name == "sqlite":  # padded to eight, the last key three more times
        ((_, parameters),) = query.runs(keys, since=T0 - timedelta(days=1))
        assert len(parameters) == 2 * 8 + 1
    # Each key twice, one that has no incident, and one longer than its column: cut to the column's
    # length it would be the first key again.
    listed = [*keys, *keys, ("99", "roads"), (keys[0][0] + "9", keys[0][1])]
    async with any_db.engine.connect() as connection:
        found = await query.fetch(connection, listed, since=T0 - timedelta(days=1))
        assert await query.fetch(connection, [], since=T0) == []
    async with any_db.transaction() as session:
        expected = (await session.exec(select(table.c.id))).all()
    assert sorted(row[0] for row in found) == sorted(row[0] for row in expected)
    with pytest.raises(ValueError, match="2 columns"):
        list(query.runs([("64",)]))
    with pytest.raises(ValueError, match="2 columns"):
        query.array_run([("64",)])


async def test_postgresql_reads_a_batchs_candidates_in_one_join_on_the_composite_index(
    postgres_url: str, make_post: Any
) -> None:
    # 64 OR'ed (region, category) pairs took PostgreSQL 4-5 ms to plan and ran as a BitmapOr of the
    # single-column indexes; one array per column, joined through unnest(), takes the cluster index.
    db = await make_db(postgres_url, directory=None)
    try:
        await grow(db, grown_posts(make_post, 1_200, prefix="g"), settings=Settings(), batch=200)
        # Planned from the statistics the write path gathered (incidents_common.db.PostgresStatistics).
        assert db.postgres_statistics is not None and db.postgres_statistics.gathered["routing_incidents"] >= 1
        every_pair = [(region, category) for region in sorted(REGIONS) for category in CATEGORIES]
        assert len(every_pair) > KEYS_PER_QUERY  # SQLite would take three statements
        a_batchs_pairs = every_pair[:3]
        plans = []
        for keys, incidents in ((every_pair, 1_200), (a_batchs_pairs, 30)):
            sent: list[tuple[str, Any]] = []

            def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
                if "FROM routing_incidents" in statement:
                    sent.append((statement, parameters))  # noqa: B023 - the listener is removed below

            event.listen(db.engine.sync_engine, "before_cursor_execute", remember)
            try:
                async with db.transaction() as session:
                    found = await load_candidates(session, keys, since=T0 - timedelta(days=1))
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", remember)
            assert sum(len(candidates) for candidates in found.values()) == incidents
            ((statement, parameters),) = sent
            async with db.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                plan = await raw.driver_connection.fetchval("EXPLAIN (FORMAT JSON) " + statement, *parameters)
            plans.append(json.dumps(plan))
        for plan in plans:
            assert "BitmapOr" not in plan, plan
            assert '"Alias": "wanted"' in plan, plan  # the keys' unnest()
        assert "ix_routing_incidents_cluster" in plans[1], plans[1]
    finally:
        await db.dispose()


async def test_candidates_read_from_the_database_share_one_string_per_term(db: Database, make_post: Any) -> None:
    # The candidate cache keeps the terms of up to 20,000 incidents' posts: a string per occurrence
    # made it the largest thing in routing's memory.
    posts = [
        make_post("far-1", "Улица Садовая, дом 1: яма на дороге во всю ширину"),
        make_post("far-2", "Проспект Мира, дом 90: яма на дороге во всю ширину"),
    ]
    async with db.transaction() as session:
        await route_posts(session.writes, posts, settings=Settings(), now=T0)
    async with db.transaction() as session:
        candidates = await load_candidates(session, [("64", "roads")], since=T0 - timedelta(days=1))
    first, second = (candidate.term_sets[0] for candidate in candidates[("64", "roads")])
    shared = first & second
    assert "яма" in shared
    by_value = {term: term for term in first}
    assert all(by_value[term] is next(t for t in second if t == term) for term in shared)


async def test_the_deadline_scan_on_a_grown_database_reads_only_the_clocks_that_are_due(
    settings: Settings, make_post: Any
) -> None:
    """The scanner runs every few seconds. Its look-up of due clocks walked every pending clock (the
    index on (state, due_at) narrowed to `pending` only, the OR with the warning time kept the rest):
    two rows an open incident, every pass. Each of the two conditions must be a range of an index."""
    from routing.incidents.scanner import scan

    db = await make_db(settings.database_url, directory=None)
    try:
        await grow(db, grown_posts(make_post, 600, prefix="g"), settings=settings, batch=200)
        await db.gather_statistics()

        sent: list[tuple[str, Any]] = []

        def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "routing_deadlines" in statement and not many:
                sent.append((statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", remember)
        try:
            async with db.transaction() as session:
                result = await scan(session, now=T0 + timedelta(minutes=10), settings=settings)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", remember)
        assert (result.warnings, result.escalations) == (0, 0)  # nothing is due ten minutes in
        (statement, parameters), *_ = sent
        async with db.engine.connect() as connection:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = [row[3] for row in rows.all()]
        searches = [line for line in plan if "routing_deadlines" in line]
        assert searches, plan
        assert all(re.search(r"\(state=\? AND \w+", line) for line in searches), plan
        assert any("due_at<" in line for line in searches) and any("warn_at<" in line for line in searches), plan
    finally:
        await db.dispose()
