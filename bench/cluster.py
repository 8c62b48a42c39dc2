"""Benchmark: JetStream publish throughput and latency, one node vs a 3-node cluster, R1 vs R3.

Starts its own nats-server processes on 127.0.0.1 (authenticated as in production: the collector's
user publishes), creates the streams with `ensure_streams` and publishes PostCollected-sized messages
(about 1 KB, each with its own Nats-Msg-Id, as the outbox relay does) to POSTS:

- throughput: `--messages` async publishes, at most `--window` awaiting their ack (the relay's way);
- latency: `--sequential` publishes one after the other (each waits for its ack: the write path).

Setups: a single nats-server with the default lazy fsync (today's `make run`), and the 3-node cluster
with `sync_interval: always` holding POSTS on 1 replica and on 3 (and, with `--lazy`, the cluster
without `sync_interval` too, to separate the cost of fsync from the cost of the quorum).

    python bench/cluster.py [--messages 20000] [--sequential 500] [--window 1000] [--lazy]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import nats

from incidents_common.events import SUBJECT_POST_COLLECTED
from incidents_common.nats import inbox_prefix_of
from incidents_common.natsauth import prepare_local_nats
from incidents_common.processes import NatsCluster, NatsServer
from incidents_common.streams import configured_streams, ensure_streams

PAYLOAD = ("Во дворе на Ленина 5 третий день не вывозят мусор, контейнеры переполнены. " * 8).encode()[:1024]


@dataclass
class Result:
    setup: str
    throughput: float
    p50_ms: float
    p99_ms: float


async def measure(
    setup: str, urls: list[str], user: str, password: str, replicas: int, args: argparse.Namespace
) -> Result:
    nc = await nats.connect(urls, user=user, password=password, inbox_prefix=inbox_prefix_of(user))
    try:
        js = nc.jetstream(publish_async_max_pending=args.window)
        await ensure_streams(js, configured_streams(replicas=replicas))
        for _ in range(200):  # warm up: the stream's leader is elected, files are open
            await js.publish(SUBJECT_POST_COLLECTED, PAYLOAD, headers={"Nats-Msg-Id": uuid.uuid4().hex})

        started = time.perf_counter()
        futures = [
            await js.publish_async(SUBJECT_POST_COLLECTED, PAYLOAD, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            for _ in range(args.messages)
        ]
        await asyncio.gather(*futures)
        throughput = args.messages / (time.perf_counter() - started)

        latencies = []
        for _ in range(args.sequential):
            began = time.perf_counter()
            await js.publish(SUBJECT_POST_COLLECTED, PAYLOAD, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            latencies.append((time.perf_counter() - began) * 1000)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return Result(setup, throughput, statistics.median(latencies), p99)
    finally:
        await nc.close()


async def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder:
        base = Path(folder)
        auth = prepare_local_nats(base / "auth")
        user, password = auth.credentials["collector"].user, auth.credentials["collector"].password

        server = NatsServer(base / "single" / "jetstream", config_file=auth.config_file).start()
        try:
            results.append(await measure("1 node, R1, lazy fsync (default)", [server.url], user, password, 1, args))
        finally:
            server.stop()

        setups = [("always", 1), ("always", 3)] + ([(None, 1), (None, 3)] if args.lazy else [])
        for sync, replicas in setups:
            label = f"3 nodes, R{replicas}, " + ("sync_interval: always" if sync else "lazy fsync (default)")
            cluster = NatsCluster(base / f"cluster-{sync}-{replicas}", data_dir=base / "auth", sync_interval=sync)
            with cluster:
                results.append(await measure(label, cluster.urls, user, password, replicas, args))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="async publishes for the throughput figure")
    parser.add_argument("--sequential", type=int, default=500, help="one-at-a-time publishes for the latency figures")
    parser.add_argument("--window", type=int, default=1000, help="async publishes awaiting their ack at most")
    parser.add_argument("--lazy", action="store_true", help="also the cluster without sync_interval: always")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"{len(PAYLOAD)}-byte messages; {args.messages} async (window {args.window}), {args.sequential} sequential")
    print(f"{'setup':<45} {'msgs/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(f"{r.setup:<45} {r.throughput:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}")


if __name__ == "__main__":
    main()
