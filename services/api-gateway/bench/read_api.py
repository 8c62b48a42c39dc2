"""The gateway's read API under load: requests/s and p50/p99 latency of lists, filters and search.

    .venv/bin/python services/api-gateway/bench/read_api.py [--backend sqlite postgresql]
        [--incidents 100000] [--requests 1000] [--concurrency 1 8] [--json var/bench/read_api.json]

For each backend: a fresh database at the newest schema revision (a throwaway PostgreSQL from
pgserver, or --postgres-url), filled with `--incidents` incidents (each with one classified post,
so search looks into posts too) by bulk inserts straight into the gateway's own tables, spread over
regions, categories, statuses, deadlines and a year of creation times. Then the gateway itself runs
as a separate process (uvicorn on 127.0.0.1, one worker, as deployed) and a bounded asyncio httpx
client sends each scenario's requests with API keys, as a portal would: a regional admin of region
64 and a federal monitor. Prints a table per backend and writes every figure as JSON.

The target (issue 12, part 7): p99 ≤ 50 ms for a filtered list on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from tqdm import tqdm

from api_gateway.auth import service as credentials
from api_gateway.auth.principal import Role
from api_gateway.incidents.models import Incident, IncidentPost, Post
from api_gateway.incidents.search import index_text, normalize
from api_gateway.models import TABLES
from incidents_common.db import Database
from incidents_common.events import Category, IncidentStatus
from incidents_common.identity import IDENTITY_DIR_ENV, init_identity_dir
from incidents_common.processes import asyncpg_url, free_port, postgres_server
from incidents_common.regions import REGIONS
from incidents_common.secretbox import generate_key
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS, SERVER_KEEP_ALIVE_SECONDS

ROOT = Path(__file__).resolve().parents[3]
INSERT_CHUNK = 5_000

# Region 64 gets about a tenth of the country's incidents, the rest spread over 20 regions.
REGION_WEIGHTS = {"64": 10.0, **dict.fromkeys(("77", "78", "50", "63", "16", "66", "54", "23", "61"), 4.5)}
REGION_WEIGHTS.update(dict.fromkeys(("02", "24", "52", "59", "74", "34", "36", "42", "38", "55", "72"), 1.0))
STATUS_WEIGHTS = {
    IncidentStatus.new: 4,
    IncidentStatus.assigned: 18,
    IncidentStatus.in_progress: 18,
    IncidentStatus.answered: 10,
    IncidentStatus.resolved: 28,
    IncidentStatus.closed: 15,
    IncidentStatus.reopened: 2,
    IncidentStatus.rejected: 5,
}
CITIES = ["Саратов", "Энгельс", "Балаково", "Вольск", "Пугачёв", "Маркс", "Ртищево", "Аткарск"]
STREETS = ["Ленина", "Советской", "Мира", "Гагарина", "Чернышевского", "Победы", "Рабочей", "Садовой"]
TEXTS = {
    Category.roads: "На улице {street} огромная яма на дороге, машины пробивают колёса",
    Category.waste: "Во дворе дома на {street} не вывозят мусор, контейнеры переполнены",
    Category.housing_utilities: "В подъезде на {street} нет отопления, батареи холодные",
    Category.public_transport: "Автобус по {street} ходит раз в час, люди мёрзнут на остановке",
    Category.landscaping: "На {street} сломаны скамейки и не работает освещение в сквере",
    Category.stray_animals: "Стая бродячих собак у школы на {street} нападает на детей",
    Category.healthcare: "В поликлинике на {street} нет записи к терапевту уже месяц",
    Category.ecology: "Завод на {street} дымит по ночам, нечем дышать",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    params: dict[str, Any]
    caller: str = "regional"  # "regional": a regional_admin of 64; "federal": every region
    kind: str = "list"


SCENARIOS = [
    Scenario("list, newest first", "/v1/incidents", {}),
    Scenario("list region=64", "/v1/incidents", {"region": "64"}, caller="federal"),
    Scenario("list status (open)", "/v1/incidents", {"status": ["assigned", "in_progress"]}),
    Scenario("list category=roads", "/v1/incidents", {"category": "roads"}),
    Scenario("list overdue", "/v1/incidents", {"overdue": "true"}),
    Scenario("list sort=-severity", "/v1/incidents", {"sort": "-severity"}),
    Scenario(
        "list status+category+overdue",
        "/v1/incidents",
        {"status": "in_progress", "category": "waste", "overdue": "true"},
    ),
    Scenario(
        "list municipality, sort=-total_reach", "/v1/incidents", {"municipality": "Энгельс", "sort": "-total_reach"}
    ),
    Scenario(
        "list federal status+category", "/v1/incidents", {"status": "assigned", "category": "roads"}, caller="federal"
    ),
    Scenario("list federal sort=-complainants", "/v1/incidents", {"sort": "-complainants"}, caller="federal"),
    Scenario("list 2nd page (cursor)", "/v1/incidents", {"status": "resolved"}, kind="page2"),
    Scenario("search 'яма'", "/v1/incidents", {"q": "яма"}, kind="search"),
    Scenario("search 'мусор контейнеры'", "/v1/incidents", {"q": "мусор контейнеры"}, kind="search"),
    Scenario("search federal 'собаки'", "/v1/incidents", {"q": "собаки"}, caller="federal", kind="search"),
]


@dataclass
class Result:
    backend: str
    scenario: str
    kind: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    items_first_response: int


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


@cache
def _search_text(*parts: str | None) -> str:
    return index_text(*parts)


def incident_rows(count: int, now: datetime, seed: int = 12) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(incident row, post row) pairs, as the read model would hold them after the events."""
    rng = random.Random(seed)
    regions, region_weights = list(REGION_WEIGHTS), list(REGION_WEIGHTS.values())
    statuses, status_weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    categories = list(Category)
    for n in range(count):
        region = rng.choices(regions, region_weights)[0]
        status = rng.choices(statuses, status_weights)[0]
        category = rng.choice(categories)
        city = rng.choice(CITIES)
        template = TEXTS.get(category, "Жалоба жителей на {street}: прошу разобраться")
        text = template.format(street=rng.choice(STREETS))
        created = now - timedelta(minutes=rng.randint(10, 365 * 24 * 60))
        answered = status in {IncidentStatus.answered, IncidentStatus.resolved, IncidentStatus.closed}
        first_response_due = created + timedelta(hours=rng.choice([4, 8, 24, 72]))
        first_response_at = created + timedelta(hours=rng.uniform(0.5, 80)) if answered else None
        official = f"off-{region}-{rng.randint(1, 40)}" if status != IncidentStatus.new else None
        incident_id, post_id = f"inc-{n:06d}", f"post-{n:06d}"
        title = text.split(",")[0][:60]
        incident = {
            "incident_id": incident_id,
            "region_code": region,
            "region_name": REGIONS[region].name,
            "city": city,
            "city_norm": normalize(city),
            "category": category.value,
            "urgency": rng.choices(["normal", "high", "critical"], [80, 17, 3])[0],
            "status": status.value,
            "severity": rng.randint(1, 5),
            "title": title,
            "summary": text,
            "assignee": {"official_id": official, "name": f"Чиновник {official}"} if official else None,
            "assignee_id": official,
            "assignee_name": f"Чиновник {official}" if official else None,
            "department_id": f"dep-{region}-{category.value}" if official else None,
            "department_name": f"Ведомство {category.value}" if official else None,
            "assignment_explanation": "Правило по категории" if official else None,
            "post_ids": [post_id],
            "complainants": rng.randint(1, 30),
            "total_reach": rng.randint(0, 50_000),
            "escalation_level": 0,
            "escalations": 0,
            "first_response_due": first_response_due,
            "final_due": created + timedelta(days=30),
            "first_response_at": first_response_at,
            "answered_at": first_response_at,
            "closed_at": created + timedelta(days=rng.randint(1, 20))
            if status.value in {"resolved", "closed"}
            else None,
            "created_at": created,
            "updated_at": created + timedelta(hours=1),
            "search_text": _search_text(title, text, city),
        }
        post = {
            "post_id": post_id,
            "version": 1,
            "source_type": "vk",
            "external_id": f"ext-{n}",
            "url": f"https://vk.com/wall-1_{n}",
            "author": {"id": f"u{n % 5000}", "name": "Житель"},
            "text": text,
            "published_at": created,
            "reach": {"views": incident["total_reach"]},
            "place_hints": {"region_code": region},
            "classification": {"category": {"label": category.value, "confidence": 0.9}},
            "search_text": _search_text(text),
        }
        yield incident, post


async def fill(db: Database, count: int) -> None:
    """Bulk-insert `count` incidents with their posts and links (the bench's own shortcut past NATS)."""
    tables = (Incident.__table__, Post.__table__, IncidentPost.__table__)  # type: ignore[attr-defined]
    incidents: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    with tqdm(total=count, desc="fill", unit="incident") as bar:
        for incident, post in incident_rows(count, now):
            incidents.append(incident)
            posts.append(post)
            if len(incidents) == INSERT_CHUNK:
                await _insert_chunk(db, tables, incidents, posts)
                bar.update(len(incidents))
                incidents, posts = [], []
        if incidents:
            await _insert_chunk(db, tables, incidents, posts)
            bar.update(len(incidents))
    # The state autovacuum would reach soon after such a load (visibility map, planner statistics), now
    # rather than in the middle of the measurements.
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE")


async def _insert_chunk(db: Database, tables: tuple[Any, ...], incidents: list[Any], posts: list[Any]) -> None:
    incident_table, post_table, link_table = tables
    links = [{"post_id": p["post_id"], "incident_id": i["incident_id"]} for i, p in zip(incidents, posts, strict=True)]
    async with db.engine.begin() as conn:
        await conn.execute(insert(incident_table), incidents)
        await conn.execute(insert(post_table), posts)
        await conn.execute(insert(link_table), links)


async def make_keys(db: Database) -> dict[str, str]:
    async with db.transaction() as session:
        _, regional = await credentials.create_key(
            session, name="bench ЦУР 64", role=Role.regional_admin, regions=["64"]
        )
        _, federal = await credentials.create_key(session, name="bench monitor", role=Role.federal, regions=[])
    return {"regional": regional, "federal": federal}


# ---------------------------------------------------------------------------------------------
# The gateway process
# ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def gateway_process(database_url: str, work: Path) -> AsyncIterator[str]:
    """The gateway as deployed: `uvicorn --factory api_gateway.main:create_app`, one worker, no NATS."""
    port = free_port()
    identity_dir = work / "identity"
    if not identity_dir.exists():
        init_identity_dir(identity_dir)
    env = {
        **os.environ,
        IDENTITY_DIR_ENV: str(identity_dir),
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_NATS_ENABLED": "false",
        "GATEWAY_WEBHOOKS_ENABLED": "false",
        "GATEWAY_DATA_DIR": str(work),
        "GATEWAY_JWT_SECRET": os.urandom(24).hex(),
        "GATEWAY_SECRET_KEYS": generate_key(),
        # The bench is one client sending thousands of requests: the per-client limit would answer 429.
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
        "GATEWAY_RATE_LIMIT_BURST": "1000000",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "api_gateway.main:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    command += ["--timeout-keep-alive", str(SERVER_KEEP_ALIVE_SECONDS)]
    with (work / "gateway.log").open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(*command, env=env, cwd=ROOT, stdout=log_file, stderr=log_file)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            deadline = time.monotonic() + 60
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the gateway exited; see {work / 'gateway.log'}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/health/live")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the gateway did not start within 60 s")
                await asyncio.sleep(0.1)
        yield base_url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_scenario(
    client: httpx.AsyncClient,
    backend: str,
    scenario: Scenario,
    keys: dict[str, str],
    *,
    requests: int,
    concurrency: int,
    bar: tqdm,  # type: ignore[type-arg]
) -> Result:
    headers = {"X-API-Key": keys[scenario.caller]}
    params = dict(scenario.params)
    first = await client.get(scenario.path, params=params, headers=headers)
    first.raise_for_status()
    items = len(first.json()["items"])
    if scenario.kind == "page2":
        params["cursor"] = first.json()["next_cursor"]
    for _ in range(min(20, requests)):  # warm-up: connections, the server's caches
        await client.get(scenario.path, params=params, headers=headers)
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            queue.get_nowait()
            started = time.perf_counter()
            response = await client.get(scenario.path, params=params, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1
            bar.update(1)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        backend=backend,
        scenario=scenario.name,
        kind=scenario.kind,
        concurrency=concurrency,
        requests=requests,
        errors=errors,
        seconds=round(elapsed, 3),
        requests_per_second=round(requests / elapsed, 1),
        p50_ms=round(_percentile(latencies, 0.50) * 1000, 1),
        p90_ms=round(_percentile(latencies, 0.90) * 1000, 1),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(latencies[-1] * 1000, 1),
        items_first_response=items,
    )


async def bench_backend(backend: str, database_url: str, work: Path, args: argparse.Namespace) -> list[Result]:
    db = Database(database_url, TABLES)
    try:
        await db.migrate()
        await fill(db, args.incidents)
        keys = await make_keys(db)
    finally:
        await db.dispose()
    results = []
    most = max(args.concurrency)
    limits = httpx.Limits(
        max_connections=most, max_keepalive_connections=most, keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS
    )
    async with (
        gateway_process(database_url, work) as base_url,
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client,
    ):
        total = len(SCENARIOS) * len(args.concurrency) * args.requests
        with tqdm(total=total, desc=f"requests ({backend})", unit="req") as bar:
            for concurrency in args.concurrency:
                for scenario in SCENARIOS:
                    result = await run_scenario(
                        client, backend, scenario, keys, requests=args.requests, concurrency=concurrency, bar=bar
                    )
                    results.append(result)
    return results


def say(line: str) -> None:
    print(line)  # noqa: T201 - a benchmark prints its figures


def print_table(results: list[Result]) -> None:
    header = (
        f"{'scenario':<40} {'in flight':>9} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'errors':>6}"
    )
    for backend in dict.fromkeys(r.backend for r in results):
        say(f"\n{backend}")
        say(header)
        say("-" * len(header))
        for r in results:
            if r.backend == backend:
                say(
                    f"{r.scenario:<40} {r.concurrency:>9} {r.requests_per_second:>7.0f} {r.p50_ms:>7.1f} "
                    f"{r.p90_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.errors:>6}"
                )


async def main(args: argparse.Namespace) -> None:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="gw-read-api-") as tmp:
        work = Path(tmp)
        for backend in args.backend:
            folder = work / backend
            folder.mkdir()
            if backend == "sqlite":
                results += await bench_backend(backend, f"sqlite+aiosqlite:///{folder / 'gateway.db'}", folder, args)
            elif args.postgres_url:
                results += await bench_backend(backend, args.postgres_url, folder, args)
            else:
                with postgres_server(folder / "pg") as libpq_url:
                    results += await bench_backend(backend, asyncpg_url(libpq_url), folder, args)
    print_table(results)
    figures = {
        "incidents": args.incidents,
        "requests_per_scenario": args.requests,
        "concurrency": args.concurrency,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": [asdict(r) for r in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents to fill the database with")
    parser.add_argument("--requests", type=int, default=1000, help="requests per scenario")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8], help="requests in flight at once (each value in turn)"
    )
    parser.add_argument("--postgres-url", default=None, help="an empty PostgreSQL database (default: a pgserver)")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "var" / "bench" / "read_api.json", help="where the figures go (JSON)"
    )
    asyncio.run(main(parser.parse_args()))
