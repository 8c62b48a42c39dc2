"""CPU per routed post: routing alone (no NATS), batches of 200, on the demo directory.

Run: .venv/bin/python services/routing/bench/route_posts.py [--posts 2000] [--database-url URL] [--profile FILE]

Two phases, each in batches of 200:
  new       every post is a different problem (another house in the street), so each opens an
            incident: cluster check, assignment, two clocks in working time, history, two events;
  attached  each post repeats an incident of the first phase (same text and house), so it joins it:
            cluster match, severity, history, one event.
Prints the CPU time per post of each phase; `--profile FILE` writes a pyinstrument text profile of
both phases to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from incidents_common.db import Database, writes_of
from incidents_common.events import (
    Author,
    Classification,
    LabelResult,
    PostClassified,
    RegionResult,
    SourceType,
)
from routing.config import Settings
from routing.incidents.models import Incident, IncidentPost
from routing.incidents.writes import route_posts
from routing.models import TABLES
from routing.seed import seed_demo_directory

BATCH = 200
CITIES = {
    "64": "Саратов",
    "63": "Тольятти",
    "77": "Москва",
    "78": "Санкт-Петербург",
    "16": "Казань",
    "66": "Екатеринбург",
}
PROBLEMS = [
    ("roads", "огромная яма на дороге, машины бьют колёса"),
    ("housing_utilities", "третий день нет горячей воды, управляющая компания не отвечает"),
    ("waste", "контейнерная площадка переполнена, мусор не вывозят неделю"),
    ("healthcare", "в поликлинике не записаться к терапевту, талонов нет"),
    ("public_transport", "автобус не ходит по расписанию, люди мёрзнут на остановке"),
]
STREETS = ["Ленина", "Чернышевского", "Московской", "Советской", "Гагарина", "Кирова", "Мира", "Победы"]


def label(value: str) -> LabelResult:
    return LabelResult(label=value, confidence=0.9)


def make_post(post_id: str, *, region: str, category: str, text: str, author: str) -> PostClassified:
    return PostClassified(
        post_id=post_id,
        source_type=SourceType.vk,
        external_id=post_id,
        text=text,
        published_at=datetime.now(UTC),
        author=Author(id=author, followers=random.randint(0, 5000)),
        classification=Classification(
            model_version="bench",
            is_incident=True,
            incident=label("complaint"),
            category=label(category),
            region=RegionResult(code=region, city=CITIES[region], confidence=0.9),
            urgency=label("normal"),
            sentiment=label("negative"),
        ),
    )


def problems(count: int) -> list[tuple[str, str, str]]:
    """`count` different problems: (region, category, text); the house number tells them apart."""
    out = []
    for n in range(count):
        region = random.choice(list(CITIES))
        category, problem = random.choice(PROBLEMS)
        out.append((region, category, f"На улице {random.choice(STREETS)}, д. {n + 1} {problem}"))
    return out


async def route_batch(db: Database, settings: Settings, posts: Sequence[PostClassified]) -> None:
    """One consumer batch: one transaction, as the consumer runs it (without the inbox rows)."""
    async with db.transaction() as session:
        await route_posts(writes_of(session), posts, settings=settings)


async def count(db: Database, table: Any) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def run_phase(db: Database, settings: Settings, posts: list[PostClassified]) -> float:
    """CPU seconds to route `posts` in batches of BATCH."""
    cpu = time.process_time()
    for start in range(0, len(posts), BATCH):
        await route_batch(db, settings, posts[start : start + BATCH])
    return time.process_time() - cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000, help="new incidents, then as many attached posts")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", default="", help="write a pyinstrument text profile here")
    args = parser.parse_args()
    random.seed(1)
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url, TABLES)
    await db.create_tables()
    await seed_demo_directory(db)
    settings = Settings(nats_enabled=False)
    cases = problems(args.posts)
    fresh = [
        make_post(f"n{n}", region=r, category=c, text=t, author=f"u{n % 997}") for n, (r, c, t) in enumerate(cases)
    ]
    repeats = [
        make_post(f"a{n}", region=r, category=c, text=t, author=f"v{n % 991}") for n, (r, c, t) in enumerate(cases)
    ]
    # Warm-up outside the figures: pymorphy's dictionaries, SQLAlchemy's statement caches.
    await route_batch(db, settings, [make_post("w0", region="64", category="roads", text=cases[0][2], author="w")])

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
    new_cpu = await run_phase(db, settings, fresh)
    attached_cpu = await run_phase(db, settings, repeats)
    if profiler is not None:
        profiler.stop()
        profile = profiler.output_text(unicode=True, color=False, show_all=False)
        await asyncio.to_thread(Path(args.profile).write_text, profile, encoding="utf-8")

    incidents, posts = await count(db, Incident), await count(db, IncidentPost)
    expected = (args.posts + 1, 2 * args.posts + 1)
    check = "ok" if (incidents, posts) == expected else f"UNEXPECTED, wanted {expected}"
    dialect = db.url.split(":")[0]
    print(  # noqa: T201 - a bench prints its figures
        f"{dialect}: {args.posts} new incidents: {1000 * new_cpu / args.posts:.2f} ms CPU each; "
        f"{args.posts} attached posts: {1000 * attached_cpu / args.posts:.2f} ms CPU each "
        f"({incidents} incidents, {posts} posts: {check})"
    )
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
