"""How fast routing turns classified posts into incidents (no NATS: the handler on batches of 200).

Run: .venv/bin/python services/routing/bench/route_posts.py [--posts 4000] [--database-url URL]
Prints posts/s for the consumer's work (cluster-or-create, assign, clocks, outbox) on the demo directory.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime

from incidents_common.db import Database
from incidents_common.events import (
    Author,
    Classification,
    LabelResult,
    PostClassified,
    RegionResult,
    SourceType,
)
from routing.config import Settings
from routing.incidents.service import handle_classified
from routing.models import TABLES
from routing.seed import seed_demo_directory

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


def make_post(n: int) -> PostClassified:
    region = random.choice(list(CITIES))
    category, problem = random.choice(PROBLEMS)
    text = f"На улице {random.choice(STREETS)}, д. {random.randint(1, 60)} {problem}"

    def label(value: str) -> LabelResult:
        return LabelResult(label=value, confidence=0.9)

    return PostClassified(
        post_id=f"b{n}",
        source_type=SourceType.vk,
        external_id=f"b{n}",
        text=text,
        published_at=datetime.now(UTC),
        author=Author(id=f"u{n % 997}", followers=random.randint(0, 5000)),
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    random.seed(1)
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url, TABLES)
    await db.create_tables()
    await seed_demo_directory(db)
    settings = Settings(nats_enabled=False)
    posts = [make_post(n) for n in range(args.posts)]
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(posts), 200):
        async with db.transaction() as session:
            for post in posts[start : start + 200]:
                await handle_classified(session, post=post, settings=settings)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(  # noqa: T201 - a bench prints its figures
        f"{args.posts} posts in {elapsed:.1f} s wall, {cpu:.1f} s CPU: {args.posts / elapsed:.0f} posts/s, "
        f"{args.posts / cpu:.0f} posts per CPU-second ({db.url.split(':')[0]})"
    )
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
