"""Collector ingest throughput into JetStream: batched HTTP pushes and a JSONL import.

  1. JSONL: imports N posts the way `python -m collector import` does (same code, straight into
     the collector's database: posts and outbox rows);
  2. starts its own nats-server (incidents_common.processes.NatsServer) and the collector under
     uvicorn on a free 127.0.0.1 port, and waits until its outbox relay has put the N imported
     posts into the POSTS stream;
  3. HTTP: POSTs N other posts in batches (`{"posts": [...]}`) and waits until they too are in the
     stream (counted with the stream's message count).
Prints posts/s for each stage, and the machine's load average (other processes on the same cores
lower the figures). Usage: python bench/ingest.py [--posts N] [--batch B] [--concurrency C] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import nats

from collector.ingest.importer import import_lines
from collector.ingest.ingestor import Ingestor
from collector.models import TABLES
from incidents_common.db import Database
from incidents_common.identity import IDENTITY_DIR_ENV, Identity, init_identity_dir
from incidents_common.processes import NatsServer, asyncpg_url, free_port, postgres_server, wait_for_port
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS, SERVER_KEEP_ALIVE_SECONDS

TEXTS = [
    "Во дворе дома на улице {street} <b>неделю</b> не вывозят мусор, контейнеры переполнены &amp; воняет",
    "Яма на дороге по улице {street}, уже два колеса пробил, дорожники не реагируют",
    "Нет горячей воды третий день в доме на {street}, УК не отвечает на звонки",
    "Автобус не ходит с утра, на остановке «{street}» люди мёрзнут по сорок минут",
    "Спасибо коммунальщикам: на улице {street} наконец починили фонари",
]
STREETS = ["Ленина", "Московской", "Чернышевского", "Курчатова", "Победы", "Фучика", "Маркса"]
CITIES = ["Саратов", "Энгельс", "Тольятти", "Москва", "Екатеринбург", "Казань", "Новосибирск"]


def make_post(n: int, prefix: str) -> dict[str, Any]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return {
        "source_type": "push",
        "external_id": f"{prefix}-{n}",
        "text": TEXTS[n % len(TEXTS)].format(street=STREETS[n % len(STREETS)]) + f" (№{n})",
        "published_at": (start + timedelta(seconds=n)).isoformat(),
        "author": {"id": str(n % 5000), "name": "Житель"},
        "place_hints": {"city": CITIES[n % len(CITIES)]},
        "reach": {"likes": n % 40, "reposts": n % 5},
    }


async def stream_count(js: Any) -> int:
    try:
        return int((await js.stream_info("POSTS")).state.messages)
    except Exception:  # noqa: BLE001 - the stream does not exist yet
        return 0


async def wait_for_stream(js: Any, target: int, timeout: float = 300.0) -> float:
    deadline = time.perf_counter() + timeout
    while (count := await stream_count(js)) < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {count} of {target} messages reached the POSTS stream")
        await asyncio.sleep(0.02)
    return time.perf_counter()


async def bench_http(
    base_url: str, js: Any, posts: int, batch: int, concurrency: int, *, already: int = 0
) -> tuple[float, float]:
    bodies = [
        json.dumps({"posts": [make_post(n, "http") for n in range(start, min(start + batch, posts))]}).encode()
        for start in range(0, posts, batch)
    ]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                response = await client.post("/v1/posts", content=body, headers={"content-type": "application/json"})
                if response.status_code != 503:  # back-pressure: retry
                    break
                await asyncio.sleep(0.2)
            response.raise_for_status()

    token = Identity.load("operator").mint("collector", ttl=3600)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
        limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS),
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        accepted = time.perf_counter()
    landed = await wait_for_stream(js, already + posts)
    return posts / (accepted - started), posts / (landed - started)


async def bench_import(database_url: str, path: Path, posts: int) -> tuple[float, float]:
    db = Database(database_url, TABLES)
    try:
        await db.create_tables()
        started = time.perf_counter()
        with path.open("rb") as stream:
            result = await import_lines(Ingestor(db), stream, batch=1000)
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    assert result.accepted == posts, result
    return posts / seconds, seconds


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    if args.postgres:
        with postgres_server(work / "pg") as libpq:
            name = "bench_collector"
            connection = await asyncpg.connect(libpq)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()
            await run(args, work, asyncpg_url(libpq, name))
    else:
        await run(args, work, args.database_url or f"sqlite+aiosqlite:///{work / 'collector.db'}")


async def run(args: argparse.Namespace, work: Path, database_url: str) -> None:
    jsonl = work / "posts.jsonl"
    with jsonl.open("w") as out:
        for n in range(args.posts):
            out.write(json.dumps(make_post(n, "jsonl"), ensure_ascii=False) + "\n")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"collector bench: {args.posts} posts per stage, HTTP batches of {args.batch}, "
        f"{args.concurrency} concurrent clients, database {database_url.split(':')[0]}"
    )
    # 1. JSONL import the way `python -m collector import` does it: straight into the database.
    imported, import_seconds = await bench_import(database_url, jsonl, args.posts)

    nats_server = NatsServer(work / "nats").start()
    port = free_port()
    identity_dir = work / "identity"
    init_identity_dir(identity_dir)
    os.environ[IDENTITY_DIR_ENV] = str(identity_dir)  # the collector's keys, and the operator's for the pushes
    env = dict(
        os.environ,
        COLLECTOR_NATS_URL=nats_server.url,
        COLLECTOR_DATABASE_URL=database_url,
        COLLECTOR_SCHEDULER_ENABLED="false",
        COLLECTOR_LOG_LEVEL="WARNING",
        COLLECTOR_MAX_BODY_BYTES=str(50 * 1024 * 1024),
    )
    command = [sys.executable, "-m", "uvicorn", "--factory", "collector.main:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    command += ["--timeout-keep-alive", str(SERVER_KEEP_ALIVE_SECONDS)]
    # Started once, between measurements: a blocking Popen is harmless here.
    service = subprocess.Popen(command, env=env, cwd=work)  # noqa: S603,ASYNC220 - fixed argv
    nc = None
    try:
        wait_for_port(port, timeout=30)
        started = time.perf_counter()
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        # 2. The service starts and its outbox relay publishes the imported posts.
        drained = await wait_for_stream(js, args.posts)
        drain = args.posts / (drained - started)
        overall = args.posts / (import_seconds + drained - started)
        print(
            f"JSONL import : {imported:8.0f} posts/s imported (stored + outbox), relay {drain:8.0f} posts/s, "
            f"{overall:8.0f} posts/s from file into JetStream"
        )
        # 3. Batched HTTP pushes while the service relays: from the first request to the last message.
        accepted, landed = await bench_http(
            f"http://127.0.0.1:{port}", js, args.posts, args.batch, args.concurrency, already=args.posts
        )
        print(
            f"HTTP batch   : {accepted:8.0f} posts/s accepted (stored + outbox), {landed:8.0f} posts/s into JetStream"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if nc is not None:
            await nc.close()
        service.terminate()
        service.wait(timeout=30)
        nats_server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000, help="posts per stage (default 20000)")
    parser.add_argument("--batch", type=int, default=1000, help="posts per HTTP request, at most 1000")
    parser.add_argument("--concurrency", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--database-url", default="", help="collector database (default: a fresh SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL (pgserver) instead")
    asyncio.run(main(parser.parse_args()))
