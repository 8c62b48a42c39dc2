"""End-to-end throughput of the whole system on this machine.

Starts the system with scripts/run_local.py (real nats-server, four services on SQLite files in a
temporary folder, free ports on 127.0.0.1), sends N posts to the collector in batches over HTTP, and
measures how long until the classifier has published post.classified for all of them and routing's
and the gateway's consumers have nothing pending.

    python bench/pipeline.py [--posts 5000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tqdm import tqdm

from incidents_common.identity import Identity
from incidents_common.nats import connect
from incidents_common.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "В {city} на улице {street} огромная яма на дороге, машины бьют колёса уже неделю",
    "Третий день нет горячей воды в доме {n} по улице {street}, {city}. УК не отвечает",
    "Во дворе дома {n} на {street} не вывозят мусор, контейнеры переполнены, крысы. {city}",
    "Автобус 12 в {city} ходит раз в час, люди мёрзнут на остановке {street}",
    "Спасибо администрации {city} за новую детскую площадку на {street}!",
    "Продам гараж на {street}, {city}, недорого, звоните",
]
CITIES = ["Саратове", "Энгельсе", "Тольятти", "Самаре", "Казани", "Екатеринбурге", "Новосибирске", "Москве"]
STREETS = ["Ленина", "Советской", "Мира", "Гагарина", "Чернышевского", "Победы"]


def make_posts(count: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    now = datetime.now(UTC).isoformat()
    return [
        {
            "source_type": "push",
            "external_id": f"bench-{n}",
            "text": rng.choice(TEXTS).format(city=rng.choice(CITIES), street=rng.choice(STREETS), n=rng.randint(1, 99))
            + f" #{n}",
            "published_at": now,
        }
        for n in range(count)
    ]


def nats_login(data_dir: Path, user: str) -> dict[str, str]:
    """A service's NATS user and password from the launcher's credential store (NATS refuses anonymous clients)."""
    stored = json.loads((data_dir / "secrets" / "nats" / f"{user}.json").read_text())
    return {"user": stored["user"], "password": stored["password"]}


async def wait_done(nats_url: str, data_dir: Path, count: int, started: float) -> dict[str, float]:
    # Each user may look only at its own consumers: the gateway's login reads the stream and its
    # consumer, routing's login reads routing's consumer.
    gateway = await connect(nats_url, "bench-gateway", **nats_login(data_dir, "api-gateway"))
    routing = await connect(nats_url, "bench-routing", **nats_login(data_dir, "routing"))
    js, routing_js = gateway.jetstream(), routing.jetstream()
    marks: dict[str, float] = {}
    with tqdm(total=count, desc="classified", unit="post") as bar:
        classified = 0
        while True:
            info = await js.stream_info("POSTS", subjects_filter="incidents.v1.post.>")
            subjects = info.state.subjects or {}
            now_classified = subjects.get("incidents.v1.post.classified", 0)
            bar.update(now_classified - classified)
            classified = now_classified
            if classified >= count and "classified" not in marks:
                marks["classified"] = time.perf_counter() - started
            if "classified" in marks:
                pending = 0
                for context, durable, stream in (
                    (routing_js, "routing-post-classified", "POSTS"),
                    (js, "gateway-incident-events", "INCIDENTS"),
                ):
                    try:
                        consumer = await context.consumer_info(stream, durable)
                        pending += consumer.num_pending + consumer.num_ack_pending
                    except Exception:  # noqa: BLE001 - a consumer not created yet counts as pending
                        pending += 1
                if pending == 0:
                    marks["routed"] = time.perf_counter() - started
                    break
            await asyncio.sleep(0.2)
    await gateway.close()
    await routing.close()
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    ports = {name: free_port() for name in ("nats", "gateway", "collector", "classifier", "routing")}
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, str(ROOT / "scripts" / "run_local.py"), "--data-dir", tmp, "--no-demo",
            "--nats-port", str(ports["nats"]), "--gateway-port", str(ports["gateway"]),
            "--collector-port", str(ports["collector"]), "--classifier-port", str(ports["classifier"]),
            "--routing-port", str(ports["routing"]),
        ]  # fmt: skip
        system = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
        assert system.stdout is not None
        for line in system.stdout:
            if line.startswith("READY"):
                break
        else:
            print("the system did not start", file=sys.stderr)
            return 1
        try:
            posts = make_posts(args.posts)
            started = time.perf_counter()
            token = Identity.load("operator", Path(tmp) / "secrets" / "identity").mint("collector", ttl=3600)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{ports['collector']}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as client:
                for offset in range(0, len(posts), args.batch):
                    response = client.post("/v1/posts", json={"posts": posts[offset : offset + args.batch]})
                    response.raise_for_status()
            ingested = time.perf_counter() - started
            marks = asyncio.run(wait_done(f"nats://127.0.0.1:{ports['nats']}", Path(tmp), args.posts, started))
        finally:
            system.send_signal(signal.SIGINT)
            system.wait(timeout=60)
    figures = {
        "posts": args.posts,
        "ingest_http_posts_per_s": round(args.posts / ingested),
        "classified_posts_per_s": round(args.posts / marks["classified"]),
        "end_to_end_posts_per_s": round(args.posts / marks["routed"]),
        "end_to_end_seconds": round(marks["routed"], 2),
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
