"""The consumer's batch: a bounded number of statements whatever its size, one per table written,
similar posts of one batch in one incident; the BatchHandler on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, func, select

from incidents_common.db import Database, OutboxMessage
from incidents_common.events import BadEvent, new_event
from incidents_common.testing import post_collected
from routing.config import Settings
from routing.consumers import post_classified_handler
from routing.incidents.loading import CandidateCache, ReadPosts
from routing.incidents.models import Incident
from routing.incidents.writes import route_posts

STREETS = ["Ленина", "Чернышевского", "Московской", "Советской", "Гагарина", "Кирова", "Мира", "Победы"]
PROBLEMS = [
    ("roads", "огромная яма на дороге, машины бьют колёса"),
    ("healthcare", "в поликлинике не записаться к терапевту, талонов нет"),
    ("housing_utilities", "третий день нет горячей воды, управляющая компания не отвечает"),
]


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)


def writes_per_table(sent: list[str]) -> Counter[tuple[str, str]]:
    verbs = Counter[tuple[str, str]]()
    for statement in sent:
        match = re.match(r"(INSERT INTO|UPDATE|DELETE FROM) (\w+)", statement)
        if match:
            verbs[(match.group(1).split()[0], match.group(2))] += 1
    return verbs


def batch(make_post: Any, size: int, *, start: int, repeat_every: int = 4) -> list[Any]:
    """`size` classified posts: distinct problems (a house each), every `repeat_every`-th post a reworded
    repeat of the one before it, one post that is not an incident."""
    posts = []
    for n in range(start, start + size - 1):
        house = n - 1 if n % repeat_every == 0 and n > start else n  # a repeat names the previous post's house
        category, problem = PROBLEMS[house % len(PROBLEMS)]
        prefix = "Опять! " if house != n else ""
        text = f"{prefix}На улице {STREETS[house % len(STREETS)]}, д. {house} {problem}"
        posts.append(make_post(f"b{n}", text, category=category))
    posts.append(make_post(f"s{start}", "Спасибо за новый парк!", is_incident=False))
    return posts


async def handle(db: Database, settings: Settings, posts: list[Any]) -> list[str]:
    handler = post_classified_handler(settings)
    events = [new_event(p, source="/services/classifier", origin_post_id=p.post_id) for p in posts]
    with statements(db) as sent:
        async with db.transaction() as session:
            await handler(session.writes, events)
    return sent


async def count(db: Database, table: Any) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


class TestStatementsPerBatch:
    async def test_a_batch_costs_the_same_few_statements_whatever_its_size(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        # Complaints are counted for surge alerts, but none is raised here (test_surges counts those statements).
        settings = settings.model_copy(update={"surge_min_count": 1000})
        await handle(any_db, settings, batch(make_post, 8, start=100))  # so that both batches below have candidates
        small = await handle(any_db, settings, batch(make_post, 8, start=1000))
        large_batch = batch(make_post, 80, start=2000)
        events_before = await count(any_db, OutboxMessage)
        large = await handle(any_db, settings, large_batch)
        assert len(large) == len(small), (small, large)
        # Reads: the directory's version, directories (3) and policies (each `handle` is a new consumer,
        # which keeps none: test_directory_cache), workload (open incidents, round-robin counters),
        # candidates and their posts' terms, routed posts, the surge counts, the advisory locks on
        # PostgreSQL; writes: one per table below.
        assert len(large) <= 20, large
        assert writes_per_table(large) == {
            ("INSERT", "routing_incidents"): 1,
            ("INSERT", "routing_incident_posts"): 1,
            ("INSERT", "routing_incident_history"): 1,
            ("INSERT", "routing_deadlines"): 1,
            ("INSERT", "routing_skipped_posts"): 1,  # the upsert
            ("UPDATE", "routing_officials"): 1,  # round-robin counters
            ("INSERT", "routing_surge_buckets"): 1,  # the upsert
            ("INSERT", "outbox"): 1,
        }
        # Every 4th post repeats the one before: it joins the incident the batch opened for it.
        repeats = sum(1 for p in large_batch if p.text.startswith("Опять!"))
        problems = len(large_batch) - 1 - repeats
        assert (repeats, problems) == (19, 60)
        async with any_db.transaction() as session:
            incidents = (
                await session.exec(select(Incident.post_ids).where(col(Incident.origin_post_id).like("b2%")))
            ).all()
        assert len(incidents) == problems
        assert sorted(len(post_ids) for post_ids in incidents) == [1] * (problems - repeats) + [2] * repeats
        # created and assigned per incident, post_attached per repeat
        assert await count(any_db, OutboxMessage) - events_before == 2 * problems + repeats

    async def test_posts_joining_stored_incidents_update_them_in_one_statement(
        self, any_db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        first = batch(make_post, 12, start=3000, repeat_every=1000)  # 11 problems, no repeats
        await handle(any_db, settings, first)
        again = [
            make_post(f"again-{p.post_id}", "Опять! " + p.text, category=p.classification.category.label)
            for p in first[:-1]
        ]
        sent = await handle(any_db, settings, again)
        writes = writes_per_table(sent)
        assert writes[("UPDATE", "routing_incidents")] == 1 and ("INSERT", "routing_incidents") not in writes
        assert writes[("INSERT", "routing_incident_posts")] == 1
        # Posts read: the candidates' terms, the batch's posts already routed, what the joined incidents'
        # priorities read (incidents.priority), one query each whatever the number of incidents.
        assert sum(s.startswith("SELECT") and "FROM routing_incident_posts" in s for s in sent) == 3, sent
        async with any_db.transaction() as session:
            sizes = (await session.exec(select(Incident.complainants, Incident.post_ids))).all()
            subjects = [m.subject for m in (await session.exec(select(OutboxMessage))).all()]
        assert sorted(len(post_ids) for _, post_ids in sizes) == [2] * 11
        assert {complainants for complainants, _ in sizes} == {2}
        assert subjects.count("incidents.v1.incident.post_attached.64") == 11
        async with any_db.transaction() as session:
            velocities = [
                next(p["value"] for p in priority["parts"] if p["name"] == "velocity")
                for priority in (await session.exec(select(Incident.priority))).all()
            ]
        assert velocities == [2] * 11  # each incident's stored post and the one that joined it


class TestHandler:
    async def test_similar_posts_of_one_batch_cluster_into_one_incident(
        self, db: Database, settings: Settings, make_post: Any
    ) -> None:
        pothole = "На улице Чернышевского огромная яма на дороге, машины бьют колёса"
        reworded = "Когда заделают яму на Чернышевского? Каждый день бью колёса об эту яму на дороге"
        await handle(db, settings, [make_post("c1", pothole), make_post("c2", reworded)])
        async with db.transaction() as session:
            incidents = (await session.exec(select(Incident))).all()
        assert [i.post_ids for i in incidents] == [["c1", "c2"]]
        assert incidents[0].complainants == 2

    async def test_an_event_of_another_type_is_a_bad_event(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        stray = post_collected("x", "?", external_id="x", published_at=t0)
        events = [
            new_event(make_post("ok", "Яма на дороге"), source="/services/classifier"),
            new_event(stray, source="/services/collector"),
        ]
        with pytest.raises(BadEvent, match="expected post.classified"):
            async with db.transaction() as session:
                await post_classified_handler(settings)(session.writes, events)
        assert await count(db, Incident) == 0  # nothing of the batch was written

    async def test_events_continue_the_consumed_events_trace(
        self, db: Database, settings: Settings, make_post: Any
    ) -> None:
        post = make_post("tr", "Яма на дороге")
        consumed = new_event(post, source="/services/classifier", origin_post_id="tr")
        async with db.transaction() as session:
            session.writes.traceparents = {consumed.id: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
            await post_classified_handler(settings)(session.writes, [consumed])
        async with db.transaction() as session:
            payloads = [m.payload for m in (await session.exec(select(OutboxMessage))).all()]
        assert len(payloads) == 2
        assert all(b"0af7651916cd43dd8448eb211c80319c" in p for p in payloads)

    async def test_a_window_later_the_same_problem_opens_a_new_incident(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        from incidents_common.db import writes_of

        text = "На улице Чернышевского огромная яма на дороге, машины бьют колёса"
        async with db.transaction() as session:
            (first,) = await route_posts(writes_of(session), [make_post("w1", text)], settings=settings, now=t0)
        later = t0 + timedelta(hours=settings.cluster_window_hours + 1)
        async with db.transaction() as session:
            (second,) = await route_posts(writes_of(session), [make_post("w2", text)], settings=settings, now=later)
        assert first is not None and second is not None and first.id != second.id


async def test_cached_candidates_see_what_another_replica_attached(
    any_db: Database, settings: Settings, make_post: Any
) -> None:
    """Each consumer keeps the open incidents' posts between batches (CandidateCache). When another
    replica attaches a post, the incident's history_seq moves and the next batch reads its posts again:
    a repost of the post the other replica attached joins the incident instead of opening a new one."""
    replica_a, replica_b = post_classified_handler(settings), post_classified_handler(settings)

    async def route(handler: Any, post: Any) -> None:
        async with any_db.transaction() as session:
            await handler(session.writes, [new_event(post, source="/services/classifier", origin_post_id=post.post_id)])

    pothole = "На улице Ленина, д. 5 огромная яма на дороге, машины бьют колёса"
    await route(replica_a, make_post("c1", pothole))
    # A second problem of the same region and category: replica A reads (and keeps) c1's incident.
    await route(replica_a, make_post("d1", "На улице Мира, д. 40 не горят фонари, вечером темно"))
    await route(replica_b, make_post("c2", "Опять! " + pothole))
    # Words of its own, nothing of the pothole's: only the repost of c2 ties it to the incident.
    await route(replica_a, make_post("c3", "Делюсь, пусть все видят, что творится", repost_of="c2"))
    async with any_db.transaction() as session:
        incidents = (await session.exec(select(Incident))).all()
    assert sorted(sorted(incident.post_ids) for incident in incidents) == [["c1", "c2", "c3"], ["d1"]]


def test_the_candidate_cache_answers_only_for_the_seq_it_read_and_stays_bounded() -> None:
    cache = CandidateCache(limit=2)
    read = ReadPosts(3, (frozenset({"яма"}),), frozenset({"ext-1"}), frozenset({"p1"}))
    cache.put("i1", read)
    assert cache.get("i1", 3) is read
    assert cache.get("i1", 4) is None  # the incident changed since
    cache.put("i2", read)
    cache.put("i3", read)  # over the limit: the oldest goes
    assert cache.get("i1", 3) is None and cache.get("i2", 3) is read and cache.get("i3", 3) is read
