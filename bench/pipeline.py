"""The benchmark of record: the whole system, end to end, on this machine, beside raw JetStream.

One run, everything on 127.0.0.1, in a temporary folder:

 1. raw JetStream: a separate nats-server with JetStream; --raw-messages 1 KB messages published with
    nats-py (async publish, acks awaited per window of 1,000), then read by a durable pull consumer
    (batches of 200) and acked. Its round trip (messages / publish + consume seconds) is the
    yardstick the pipeline is compared with.
 2. the system as `make run` starts it (scripts/run_local.py: nats-server and the four services,
    every door authenticated), on SQLite files or on one local PostgreSQL server (pgserver) with a
    database per service; a subscriber user for every region is issued first
    (`python -m incidents_common.natsauth region-credentials <code>`, as a library call).
 3. warm-up (--warmup posts), until every consumer has drained.
 4. throughput: --posts posts of a realistic mix built from the classifier's labelled corpus
    (bench/pipeline_mix.py: complaints from every region and category, duplicates, repost chains,
    noise; seeded) pushed to the collector (POST /v1/posts) as fast as it takes them. Timed until all
    are collected and classified (post.collected / post.classified and post.noise on the POSTS stream) and until
    routing's and the gateway's durable consumers have nothing pending (the gateway's read model then
    holds every incident; its API is read to count them).
 5. latency: posts at a fixed offered rate (--rate, a small batch every 100 ms for
    --latency-seconds). Each post is timed from its send to the first event on the INCIDENTS stream
    that names it and carries an assignee (incident created and assigned, or post attached): the
    event's JetStream timestamp, read as the regions' subscribers read it.
 6. CPU seconds (utime + stime from /proc/<pid>/stat) per phase and peak RSS (VmHWM) of every
    service, nats-server, PostgreSQL's processes and this client.
 7. the machine's speed: a fixed piece of pure-Python work timed (CPU ms) before the system starts
    and after it stops, so that runs of different hours can be told apart.

Prints a Markdown table with the targets (PASS/MISS) and writes it with a JSON file of every figure
(default bench/results/pipeline-<database>.md / .json). Exit code 0 when the run completed (whether
or not the targets are met), 1 when it could not run, 2 for bad arguments.

examples:
  python bench/pipeline.py                                    # 20,000 posts on SQLite
  python bench/pipeline.py --posts 3000 --database postgresql
  python bench/pipeline.py --both --rate 300 --latency-seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from pipeline_mix import MixPost, build_mix
from tqdm import tqdm

from incidents_common.identity import Identity
from incidents_common.nats import connect
from incidents_common.natsauth import SERVICES as NATS_USERS
from incidents_common.natsauth import issue_region_credentials, region_filter, region_user
from incidents_common.processes import NatsServer, asyncpg_url, free_port, nats_server_binary, pid_serving
from incidents_common.regions import REGIONS
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TICK = 0.1  # seconds between the latency phase's batches
READER_WAIT = 5.0  # seconds a region subscriber's pull waits for events (a long poll: few idle requests)
POLL = 0.2  # seconds between looks at the streams and consumers
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the NATS user and the launcher's name
    package: str
    prefix: str  # its settings' environment prefix, as scripts/run_local.py forms it
    rss_target_mb: int


SERVICES = (
    ServiceSpec("collector", "collector", "COLLECTOR_", 300),
    ServiceSpec("classifier", "classifier", "CLASSIFIER_", 500),
    ServiceSpec("routing", "routing", "ROUTING_", 300),
    ServiceSpec("api-gateway", "api_gateway", "GATEWAY_", 300),
)
TARGET_POSTS_PER_S = 1000
TARGET_RAW_SHARE_PCT = 7.0
TARGET_P99_S = 1.0


class BenchError(Exception):
    """The run cannot go on; main prints the message (and where the logs are) and exits with 1."""


# ---------------------------------------------------------------------------------------------
# /proc: CPU seconds and peak memory of a process
# ---------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    # The command name in parentheses may hold spaces: the fields start after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def peak_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


@dataclass
class Proc:
    """One measured process. `tree`: add its children (PostgreSQL's backends) and reaped children."""

    name: str
    pid: int
    rss_target_mb: int | None = None
    tree: bool = False

    def cpu_seconds(self) -> float:
        try:
            fields = _stat(self.pid)
        except OSError:
            return math.nan  # gone (a restart): the figure is marked missing, not wrong
        ticks = int(fields[11]) + int(fields[12])
        if self.tree:
            ticks += int(fields[13]) + int(fields[14])
            for child in child_pids(self.pid):
                with contextlib.suppress(OSError, IndexError):
                    child_fields = _stat(child)
                    ticks += int(child_fields[11]) + int(child_fields[12])
        return ticks / CLOCK_TICKS

    def alive(self) -> bool:
        return Path(f"/proc/{self.pid}").exists()


@dataclass
class PhaseCpu:
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # every core's non-idle seconds: the measured processes and everyone else
    iowait: float = 0.0
    interrupts: float = 0.0
    others: list[tuple[str, float]] = field(default_factory=list)  # the busiest unmeasured processes


def all_cpu_ticks() -> dict[int, tuple[int, str]]:
    """utime + stime and the command line of every process (to name what else ran meanwhile)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = _stat(int(entry.name))
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                command = command or f"[{(entry / 'comm').read_text().strip()}]"  # a kernel thread
                found[int(entry.name)] = (int(fields[11]) + int(fields[12]), command[:100])
    return found


def machine_cpu() -> tuple[float, float, float]:
    """Busy, I/O-wait and interrupt seconds of all cores since boot (/proc/stat). Interrupts
    (loopback networking runs in softirq) belong to no process, so they show as "everything else"."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle, iowait, interrupts = fields[3], fields[4], fields[5] + fields[6]
    return (sum(fields) - idle - iowait) / CLOCK_TICKS, iowait / CLOCK_TICKS, interrupts / CLOCK_TICKS


class CpuMeter:
    """CPU seconds each process spent between `start` and `stop` of a phase."""

    def __init__(self, procs: list[Proc]) -> None:
        self.procs = procs
        self._begin: dict[str, float] = {}
        self._machine = (0.0, 0.0, 0.0)
        self._all: dict[int, tuple[int, str]] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._machine = machine_cpu()
        self._all = all_cpu_ticks()
        self._begin = {p.name: p.cpu_seconds() for p in self.procs}

    def stop(self) -> PhaseCpu:
        wall = time.perf_counter() - self._t0
        used = {p.name: p.cpu_seconds() - self._begin[p.name] for p in self.procs}
        busy, iowait, interrupts = machine_cpu()
        ours = {p.pid for p in self.procs} | {c for p in self.procs if p.tree for c in child_pids(p.pid)}
        others = [
            (command or "?", (ticks - self._all.get(pid, (0, ""))[0]) / CLOCK_TICKS)
            for pid, (ticks, command) in all_cpu_ticks().items()
            if pid not in ours
        ]
        top = sorted((o for o in others if o[1] >= 0.5), key=lambda o: -o[1])[:3]
        begin = self._machine
        return PhaseCpu(wall, used, busy - begin[0], iowait - begin[1], interrupts - begin[2], top)


# ---------------------------------------------------------------------------------------------
# The system: the launcher, PostgreSQL
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    nats: int
    gateway: int
    collector: int
    classifier: int
    routing: int
    console: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), free_port())

    def of(self, service: str) -> int:
        return {"api-gateway": self.gateway, "collector": self.collector}.get(service) or getattr(self, service)


class Launcher:
    """scripts/run_local.py in a child process; its output is kept (and shown when it fails)."""

    def __init__(self, data_dir: Path, ports: Ports, env: dict[str, str], demo_key: str) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.env = env
        self.demo_key = demo_key
        self.lines: deque[str] = deque(maxlen=200)
        self.restarts: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 180.0) -> None:
        p = self.ports
        command = [
            sys.executable, str(ROOT / "scripts" / "run_local.py"), "--data-dir", str(self.data_dir), "--no-demo",
            "--nats-port", str(p.nats), "--gateway-port", str(p.gateway), "--collector-port", str(p.collector),
            "--classifier-port", str(p.classifier), "--routing-port", str(p.routing),
            "--console-port", str(p.console), "--demo-key", self.demo_key,
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        # Read its output for the whole run: a full pipe would block the launcher, and a restart
        # it reports makes the figures suspect.
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.5):
            if self.process.poll() is not None:
                raise BenchError(f"the system did not start (launcher exited with {self.process.returncode})")
            if time.monotonic() > deadline:
                raise BenchError(f"the system was not READY within {timeout:.0f} s")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("READY"):
                self._ready.set()
            elif "restarting" in line or "exited with code" in line:
                self.restarts.append(line.strip())

    def tail(self, n: int = 25) -> str:
        return "\n".join(list(self.lines)[-n:])

    def procs(self) -> list[Proc]:
        assert self.process is not None
        found = []
        for spec in SERVICES:
            pid = pid_serving(spec.package, self.ports.of(spec.name))
            if pid is None:
                raise BenchError(f"no process serves {spec.name} on port {self.ports.of(spec.name)}")
            found.append(Proc(spec.name, pid, spec.rss_target_mb))
        for child in child_pids(self.process.pid):
            with contextlib.suppress(OSError):
                if b"nats-server" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(Proc("nats-server", child))
                    break
        return found

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def databases(kind: str, work: Path) -> Iterator[tuple[dict[str, str], Proc | None]]:
    """Environment variables pointing each service at its database, and PostgreSQL's process."""
    if kind == "sqlite":
        # The launcher's default: one SQLite file per service in its data folder.
        yield {}, None
        return
    try:
        import asyncpg

        from incidents_common.processes import postgres_server
    except ImportError as exc:
        raise BenchError(f"PostgreSQL needs the asyncpg and pgserver packages: {exc}") from exc
    pgdata = work / "pg"
    with postgres_server(pgdata) as libpq:
        names = {spec.name: "bench_" + spec.name.replace("-", "_") for spec in SERVICES}

        async def create() -> None:
            connection = await asyncpg.connect(libpq)
            try:
                for name in names.values():
                    await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())
        env = {f"{spec.prefix}DATABASE_URL": asyncpg_url(libpq, names[spec.name]) for spec in SERVICES}
        postmaster = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = Proc("postgresql", int((pgdata / "postmaster.pid").read_text().split()[0]), tree=True)
        yield env, postmaster


def nats_login(data_dir: Path, user: str) -> dict[str, str]:
    """A user's name and password from the launcher's credential store."""
    stored = json.loads((data_dir / "secrets" / "nats" / f"{user}.json").read_text())
    return {"user": stored["user"], "password": stored["password"]}


# ---------------------------------------------------------------------------------------------
# Watching the pipeline through NATS: stream counts and consumers' backlog
# ---------------------------------------------------------------------------------------------


class Watch:
    """Reads as the services' own users: each may look only at its own consumers (and the streams)."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.clients: dict[str, Any] = {}

    async def __aenter__(self) -> Watch:
        for user in ("api-gateway", "routing", "classifier"):
            login = nats_login(self.data_dir, user)
            self.clients[user] = await connect(
                self.url,
                f"bench-{user}",
                attempts=5,
                reconnect_attempts=3,
                user=login["user"],
                password=login["password"],
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            await client.close()

    async def counts(self) -> tuple[int, int, int]:
        """post.collected and post.classified stored on POSTS (on both of its subjects: the complaints',
        and the chatter's, post.noise); the last sequence of INCIDENTS."""
        js = self.clients["api-gateway"].jetstream(timeout=10)
        posts = await js.stream_info("POSTS", subjects_filter="incidents.v1.post.>")
        subjects = posts.state.subjects or {}
        incidents = await js.stream_info("INCIDENTS")
        return (
            subjects.get("incidents.v1.post.collected", 0),
            subjects.get("incidents.v1.post.classified", 0) + subjects.get("incidents.v1.post.noise", 0),
            incidents.state.last_seq,
        )

    async def pending(self) -> dict[str, int]:
        """Messages each durable consumer has not acknowledged yet (waiting or in progress)."""
        backlog = {}
        for user in ("classifier", "routing", "api-gateway"):
            js = self.clients[user].jetstream(timeout=10)
            for grant in NATS_USERS[user].grants():
                try:
                    info = await js.consumer_info(grant.stream, grant.durable)
                    backlog[grant.durable] = info.num_pending + info.num_ack_pending
                except Exception:  # noqa: BLE001 - not created yet: count it as busy
                    backlog[grant.durable] = 1
        return backlog

    async def wait_drained(
        self, *, base: tuple[int, int], posts: int, started: float, timeout: float, desc: str
    ) -> dict[str, float]:
        """Wait until `posts` more than `base` (collected, classified) are stored and no consumer has
        anything pending, twice in a row with no new incident event (routing's outbox relay publishes
        just after its consumer acked). Returns the seconds from `started` at which each was reached."""
        marks: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        quiet_since: tuple[float, int] | None = None
        expected = (base[0] + posts, base[1] + posts)
        with tqdm(total=posts, desc=desc, unit="post", leave=False, position=1, file=sys.stderr) as bar:
            while True:
                now = time.perf_counter() - started
                collected, classified, incidents_seq = await self.counts()
                bar.n = min(classified - base[1], posts)
                bar.refresh()
                if collected >= expected[0]:
                    marks.setdefault("collected", now)
                if classified >= expected[1]:
                    marks.setdefault("classified", now)
                    backlog = await self.pending()
                    bar.set_postfix(pending=sum(backlog.values()))
                    if sum(backlog.values()) == 0:
                        if quiet_since is not None and quiet_since[1] == incidents_seq:
                            marks["drained"] = quiet_since[0]
                            return marks
                        quiet_since = (now, incidents_seq)
                    else:
                        quiet_since = None
                if time.monotonic() > deadline:
                    backlog = await self.pending()
                    raise BenchError(
                        f"{desc}: not done after {timeout:.0f} s: collected {collected}/{expected[0]}, "
                        f"classified {classified}/{expected[1]}, pending {backlog}"
                    )
                await asyncio.sleep(POLL)


# ---------------------------------------------------------------------------------------------
# Region subscribers: when is each post assigned?
# ---------------------------------------------------------------------------------------------


class RegionReaders:
    """Every region's subscriber (its own user, its own durable consumer on INCIDENTS), recording for
    each post the JetStream time of the first event that names it with an assignee."""

    def __init__(self, url: str, credentials: dict[str, dict[str, str]]) -> None:
        self.url = url
        self.credentials = credentials
        self.clients: dict[str, Any] = {}
        self.subscriptions: dict[str, Any] = {}
        self.assigned_at: dict[str, float] = {}
        self.events = 0
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        # Two at a time: nats-server checks a bcrypt hash per login, and 89 at once on two cores
        # overrun the clients' connect timeout, whose retries then pile up.
        gate = asyncio.Semaphore(2)

        async def one(code: str) -> None:
            login = self.credentials[code]
            async with gate:
                try:
                    self.clients[code] = await connect(
                        self.url,
                        f"bench-{region_user(code)}",
                        attempts=5,
                        reconnect_attempts=3,
                        user=login["user"],
                        password=login["password"],
                    )
                except Exception as exc:  # noqa: BLE001 - say which user could not log in
                    raise BenchError(f"{region_user(code)} cannot log in to NATS: {exc!r}") from exc

        with tqdm(
            total=len(self.credentials), desc="subscribers log in", unit="user", leave=False, file=sys.stderr
        ) as bar:

            async def counted(code: str) -> None:
                await one(code)
                bar.update(1)

            await asyncio.gather(*(counted(code) for code in self.credentials))

    async def start(self) -> None:
        """Create the durable consumers (new events only) and read them until `stop`."""

        async def subscribe(code: str) -> None:
            js = self.clients[code].jetstream(timeout=10)
            self.subscriptions[code] = await js.pull_subscribe(
                region_filter(code),
                durable=region_user(code),
                stream="INCIDENTS",
                # One ack per batch (its last message acks all before it), as a subscriber that reads in
                # order would: an ack per event cost the bench client and nats-server about a second of
                # CPU each in a 30 s latency phase, which the system under test then went without.
                config=ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=DeliverPolicy.NEW, ack_wait=60),
            )

        await asyncio.gather(*(subscribe(code) for code in self.credentials))
        self._tasks = [asyncio.create_task(self._read(code)) for code in self.credentials]

    async def _read(self, code: str) -> None:
        subscription = self.subscriptions[code]
        while not self._stop.is_set():
            try:
                messages = await subscription.fetch(200, timeout=READER_WAIT)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - a reader that stops would silently lose events
                self.errors.append(f"{region_user(code)}: {exc!r}")
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                self._record(message)
            if messages:
                try:
                    await messages[-1].ack()
                except nats.errors.Error as exc:  # redelivered later (ack_wait), recorded once
                    self.errors.append(f"{region_user(code)}: ack: {exc!r}")

    def _record(self, message: Any) -> None:
        self.events += 1
        data = orjson.loads(message.data).get("data") or {}
        incident = data.get("incident") or {}
        if not incident.get("assignee"):
            return
        # The stream's own time of the event (not when this client got round to fetching it).
        at = message.metadata.timestamp.timestamp()
        for post_id in {*incident.get("post_ids", ()), data.get("post_id")}:
            if post_id and post_id not in self.assigned_at:
                self.assigned_at[post_id] = at

    async def backlog(self) -> int:
        total = 0
        for subscription in self.subscriptions.values():
            info = await subscription.consumer_info()
            total += info.num_pending + info.num_ack_pending
        return total

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()  # a reader may be in a long poll
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients.values()), return_exceptions=True)


def issue_regions(data_dir: Path) -> dict[str, dict[str, str]]:
    """Every region's subscriber user, issued before nats-server starts (so it loads them at once):
    what `python -m incidents_common.natsauth region-credentials <code>` does, without 89 interpreters."""
    credentials = {}
    for code in tqdm(sorted(REGIONS), desc="region subscribers", unit="region", leave=False, file=sys.stderr):
        issued = issue_region_credentials(data_dir, code)
        credentials[code] = {"user": issued["user"], "password": issued["password"]}
    return credentials


# ---------------------------------------------------------------------------------------------
# Sending posts to the collector
# ---------------------------------------------------------------------------------------------


class Collector:
    """POST /v1/posts with an operator token; retries what the collector asks to retry (503)."""

    def __init__(self, port: int, data_dir: Path) -> None:
        token = Identity.load("operator", data_dir / "secrets" / "identity").mint("collector", ttl=3600)
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=120,
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS
            ),
        )
        self.retries = 0

    async def send(self, posts: list[MixPost]) -> list[str]:
        """The collector's post ids, in the order of `posts`."""
        body = orjson.dumps({"posts": [p.body for p in posts]})
        for attempt in range(30):
            response = await self.client.post("/v1/posts", content=body)
            if response.status_code == 503:
                self.retries += 1
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            if response.status_code != 200:
                raise BenchError(f"the collector answered {response.status_code}: {response.text[:500]}")
            items = response.json()["items"]
            created = sum(item["status"] == "created" for item in items)
            if created != len(posts):
                raise BenchError(f"the collector stored {created} of {len(posts)} posts as new: {items[:3]}")
            return [item["post_id"] for item in items]
        raise BenchError("the collector kept answering 503 (too many events wait for NATS)")

    async def send_all(self, posts: list[MixPost], *, batch: int, concurrency: int, desc: str) -> None:
        queue = [posts[i : i + batch] for i in range(0, len(posts), batch)]
        with tqdm(total=len(posts), desc=desc, unit="post", leave=False, position=0, file=sys.stderr) as bar:

            async def worker() -> None:
                while queue:
                    chunk = queue.pop(0)
                    await self.send(chunk)
                    bar.update(len(chunk))

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def close(self) -> None:
        await self.client.aclose()


async def gateway_read_model(port: int, key: str) -> dict[str, int]:
    """What the gateway's API shows: incidents (analytics summary and the list), posts in them, assigned."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as api:

        async def get(path: str, params: dict[str, Any]) -> Any:
            for _ in range(60):
                response = await api.get(path, params=params)
                if response.status_code == 429:  # the gateway's rate limit: wait as it says
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code != 200:
                    raise BenchError(f"gateway {path} answered {response.status_code}: {response.text[:300]}")
                return response.json()
            raise BenchError(f"gateway {path} kept answering 429")

        summary = await get("/v1/analytics/summary", {})
        listed = posts = assigned = 0
        params: dict[str, Any] = {"limit": 200}
        while True:
            page = await get("/v1/incidents", params)
            for incident in page["items"]:
                listed += 1
                posts += len(incident.get("post_ids") or ())
                assigned += incident.get("assignee") is not None
            if not page.get("next_cursor"):
                break
            params = {"limit": 200, "cursor": page["next_cursor"]}
    return {"incidents": summary["total"]["incidents"], "listed": listed, "posts": posts, "assigned": assigned}


# ---------------------------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------------------------


def rate(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value below which q % of the samples lie)."""
    index = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


async def throughput_phase(
    args: argparse.Namespace, collector: Collector, watch: Watch, meter: CpuMeter, posts: list[MixPost]
) -> tuple[dict[str, Any], PhaseCpu]:
    collected0, classified0, _ = await watch.counts()
    meter.start()
    started = time.perf_counter()
    drained = asyncio.create_task(
        watch.wait_drained(
            base=(collected0, classified0), posts=len(posts), started=started, timeout=args.timeout, desc="classified"
        )
    )
    await collector.send_all(posts, batch=args.batch, concurrency=args.concurrency, desc="sent")
    sent = time.perf_counter() - started
    marks = await drained
    cpu = meter.stop()
    n = len(posts)
    result = {
        "posts": n,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "sent_seconds": round(sent, 3),
        "ingest_posts_per_s": round(n / sent, 1),
        "collected_seconds": round(marks["collected"], 3),
        "collected_posts_per_s": round(n / marks["collected"], 1),
        "classified_seconds": round(marks["classified"], 3),
        "classified_posts_per_s": round(n / marks["classified"], 1),
        "end_to_end_seconds": round(marks["drained"], 3),
        "end_to_end_posts_per_s": round(n / marks["drained"], 1),
        "collector_503_retries": collector.retries,
    }
    return result, cpu


async def latency_phase(
    args: argparse.Namespace,
    collector: Collector,
    watch: Watch,
    readers: RegionReaders,
    meter: CpuMeter,
    posts: list[MixPost],
) -> tuple[dict[str, Any], PhaseCpu]:
    collected0, classified0, _ = await watch.counts()
    await readers.start()
    sent_at: dict[str, float] = {}
    tasks: list[asyncio.Task[None]] = []
    late_ticks = 0

    async def send(chunk: list[MixPost]) -> None:
        at = time.time()  # wall clock, as the JetStream timestamps the readers compare it with
        for post_id in await collector.send(chunk):
            sent_at[post_id] = at

    meter.start()
    started = time.perf_counter()
    offset = 0
    owed = 0.0
    tick = 0
    with tqdm(total=len(posts), desc=f"latency @{args.rate:g}/s", unit="post", leave=False, file=sys.stderr) as bar:
        while offset < len(posts):
            # Open loop: each batch leaves at its time whatever the earlier ones are doing, so a
            # slow system shows up as latency, not as a lower offered rate.
            tick += 1
            delay = started + tick * TICK - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late_ticks += 1
            owed += args.rate * TICK
            count = min(int(owed), len(posts) - offset)
            owed -= count
            if count:
                tasks.append(asyncio.create_task(send(posts[offset : offset + count])))
                offset += count
                bar.update(count)
            failed = next((t for t in tasks if t.done() and t.exception()), None)
            if failed is not None:
                await failed  # raises the collector's error now rather than after the phase
        await asyncio.gather(*tasks)
    sending = time.perf_counter() - started
    marks = await watch.wait_drained(
        base=(collected0, classified0), posts=len(posts), started=started, timeout=args.timeout, desc="latency drain"
    )
    cpu = meter.stop()
    for _ in range(int(60 / POLL)):  # the subscribers read what is left (at most a minute)
        if not await readers.backlog():
            break
        await asyncio.sleep(POLL)
    await readers.stop()
    latencies = sorted(readers.assigned_at[p] - sent_at[p] for p in sent_at if p in readers.assigned_at)
    complaints = sum(p.complaint for p in posts)
    result: dict[str, Any] = {
        "offered_posts_per_s": args.rate,
        "achieved_posts_per_s": round(len(posts) / sending, 1),
        "seconds": args.latency_seconds,
        "posts": len(posts),
        "complaints_by_label": complaints,
        "assigned_posts": len(latencies),
        "incident_events_read": readers.events,
        "reader_errors": readers.errors[:20],
        "late_ticks": late_ticks,
        "drained_seconds": round(marks["drained"], 3),
    }
    if latencies:
        result |= {
            "p50_s": round(percentile(latencies, 50), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "p99_s": round(percentile(latencies, 99), 3),
            "max_s": round(latencies[-1], 3),
            "mean_s": round(statistics.fmean(latencies), 3),
        }
    return result, cpu


async def raw_jetstream(messages: int, work: Path) -> dict[str, Any]:
    """One hop through JetStream with nothing else: publish, then consume, 1 KB messages."""
    server = NatsServer(work / "raw-jetstream").start(log_file=work / "raw-nats.log")
    payload = bytes(1024)
    window = 1000
    try:
        client = await nats.connect(server.url, name="bench-raw")
        js = client.jetstream(timeout=30)
        await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"], storage=StorageType.FILE))
        started = time.perf_counter()
        with tqdm(total=messages, desc="raw publish", unit="msg", leave=False, file=sys.stderr) as bar:
            for offset in range(0, messages, window):
                count = min(window, messages - offset)
                acks = [await js.publish_async("raw.bench", payload) for _ in range(count)]
                await asyncio.gather(*acks)
                bar.update(count)
        published = time.perf_counter() - started
        subscription = await js.pull_subscribe("raw.bench", durable="raw", stream="RAW")
        started = time.perf_counter()
        consumed = 0
        with tqdm(total=messages, desc="raw consume", unit="msg", leave=False, file=sys.stderr) as bar:
            while consumed < messages:
                batch = await subscription.fetch(200, timeout=10)
                for message in batch:
                    await message.ack()
                consumed += len(batch)
                bar.update(len(batch))
        await client.flush()
        consume = time.perf_counter() - started
        await client.close()
    finally:
        server.stop()
    return {
        "messages": messages,
        "payload_bytes": len(payload),
        "publish_window": window,
        "fetch_batch": 200,
        "publish_msgs_per_s": round(messages / published, 1),
        "consume_msgs_per_s": round(messages / consume, 1),
        "round_trip_msgs_per_s": round(messages / (published + consume), 1),
    }


# ---------------------------------------------------------------------------------------------
# One run of the system
# ---------------------------------------------------------------------------------------------


def run_pipeline(args: argparse.Namespace, database: str, work: Path) -> dict[str, Any]:
    data_dir = work / "system"
    data_dir.mkdir(parents=True)
    base_time = datetime.now(UTC) - timedelta(hours=1)
    warmup, _ = build_mix(args.warmup, seed=args.seed, prefix="warm", base_time=base_time)
    posts, stats = build_mix(args.posts, seed=args.seed, prefix="tp", base_time=base_time)
    latency_posts, latency_stats = build_mix(
        round(args.rate * args.latency_seconds), seed=args.seed, prefix="lat", base_time=base_time
    )
    print(f"[{database}] issuing a subscriber user for each of {len(REGIONS)} regions …", file=sys.stderr)
    credentials = issue_regions(data_dir)
    ports = Ports.free()
    demo_key = "bench-" + secrets.token_hex(12)
    with databases(database, work) as (db_env, postgres):
        launcher = Launcher(data_dir, ports, {**os.environ, **db_env}, demo_key)
        speed_before = speed_probe()
        print(f"[{database}] starting the system (nats-server + 4 services) …", file=sys.stderr)
        try:
            launcher.start()
            procs = launcher.procs()
            if postgres is not None:
                procs.append(postgres)
            procs.append(Proc("bench client", os.getpid()))
            result = asyncio.run(_measure(args, launcher, procs, credentials, warmup, posts, latency_posts))
            peaks = {p.name: peak_rss_mb(p.pid) for p in procs if not p.tree}
            gone = [p.name for p in procs if not p.alive()]
        except (BenchError, httpx.HTTPError, nats.errors.Error, OSError, TimeoutError) as exc:
            message = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
            raise BenchError(f"{message}\n--- launcher output (last lines) ---\n{launcher.tail()}") from exc
        finally:
            launcher.stop()
    if launcher.restarts or gone:
        result["warnings"].append(f"a process restarted during the run: {launcher.restarts or gone}")
    result["database"] = database
    result["machine_speed"] = {"before_ms": speed_before, "after_ms": speed_probe()}
    result["mix"] = {"throughput": stats.as_dict(), "latency": latency_stats.as_dict()}
    for proc in procs:
        entry = result["processes"][proc.name]
        entry["peak_rss_mb"] = None if proc.tree else _round(peaks.get(proc.name), 1)
        entry["rss_target_mb"] = proc.rss_target_mb
    return result


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


async def _measure(
    args: argparse.Namespace,
    launcher: Launcher,
    procs: list[Proc],
    credentials: dict[str, dict[str, str]],
    warmup: list[MixPost],
    posts: list[MixPost],
    latency_posts: list[MixPost],
) -> dict[str, Any]:
    url = f"nats://127.0.0.1:{launcher.ports.nats}"
    readers = RegionReaders(url, credentials)
    collector = Collector(launcher.ports.collector, launcher.data_dir)
    meter = CpuMeter(procs)
    try:
        async with Watch(url, launcher.data_dir) as watch:
            # The region users log in now: nats-server checks each bcrypt hash once, outside the phases.
            await readers.connect()
            if warmup:
                base = await watch.counts()
                await collector.send_all(warmup, batch=100, concurrency=1, desc="warm-up")
                await watch.wait_drained(
                    base=base[:2],
                    posts=len(warmup),
                    started=time.perf_counter(),
                    timeout=args.timeout,
                    desc="warm-up drain",
                )
            gateway_before = await gateway_read_model(launcher.ports.gateway, launcher.demo_key)
            throughput, throughput_cpu = await throughput_phase(args, collector, watch, meter, posts)
            gateway_after = await gateway_read_model(launcher.ports.gateway, launcher.demo_key)
            throughput["gateway"] = {k: gateway_after[k] - gateway_before[k] for k in gateway_after}
            latency, latency_cpu = await latency_phase(args, collector, watch, readers, meter, latency_posts)
            # Cross-check: the posts the subscribers saw assigned should be the posts the gateway holds.
            gateway_end = await gateway_read_model(launcher.ports.gateway, launcher.demo_key)
            latency["gateway"] = {k: gateway_end[k] - gateway_after[k] for k in gateway_end}
    finally:
        await collector.close()
        await readers.close()
    processes: dict[str, dict[str, Any]] = {}
    for proc in procs:
        processes[proc.name] = {"pid": proc.pid}
        for phase, cpu in (("throughput", throughput_cpu), ("latency", latency_cpu)):
            used = cpu.cpu.get(proc.name, math.nan)
            processes[proc.name][f"cpu_s_{phase}"] = _round(used, 2)
            processes[proc.name][f"cpu_pct_{phase}"] = _round(100 * used / cpu.seconds, 1)
    # Other engineers' jobs share the machine: what the cores did besides the measured processes.
    others: dict[str, Any] = {"pid": None, "peak_rss_mb": None, "rss_target_mb": None}
    machine: dict[str, Any] = {"cores": os.cpu_count()}
    for phase, cpu in (("throughput", throughput_cpu), ("latency", latency_cpu)):
        rest = cpu.machine_busy - sum(v for v in cpu.cpu.values() if not math.isnan(v))
        others[f"cpu_s_{phase}"] = _round(max(rest, 0.0), 2)
        others[f"cpu_pct_{phase}"] = _round(100 * max(rest, 0.0) / cpu.seconds, 1)
        machine[phase] = {
            "seconds": round(cpu.seconds, 3),
            "busy_core_seconds": round(cpu.machine_busy, 2),
            "iowait_core_seconds": round(cpu.iowait, 2),
            "interrupt_core_seconds": round(cpu.interrupts, 2),
            "busiest_other_processes": [{"command": c, "cpu_s": round(t, 2)} for c, t in cpu.others],
        }
    processes["everything else on the machine"] = others
    warnings = []
    if readers.errors:
        warnings.append(f"{len(readers.errors)} errors reading the regions' events, e.g. {readers.errors[0]}")
    if latency["assigned_posts"] != latency["gateway"]["posts"]:
        warnings.append(
            f"the region subscribers saw {latency['assigned_posts']:,} posts assigned in the latency phase, "
            f"the gateway's incidents gained {latency['gateway']['posts']:,} posts"
        )
    return {
        "throughput": throughput,
        "latency": latency,
        "processes": processes,
        "machine_cpu": machine,
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------
# Targets, tables, files
# ---------------------------------------------------------------------------------------------


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    throughput, latency, raw = result["throughput"], result["latency"], result["raw_jetstream"]
    e2e = throughput["end_to_end_posts_per_s"]
    share = 100 * e2e / raw["round_trip_msgs_per_s"]
    result["pipeline_vs_raw_pct"] = round(share, 2)
    targets = [
        {
            "what": "end to end, sent → assigned at the gateway",
            "figure": f"{e2e:,.0f} posts/s",
            "target": f"≥ {TARGET_POSTS_PER_S:,} posts/s",
            "pass": e2e >= TARGET_POSTS_PER_S,
        },
        {
            "what": "share of raw JetStream (round trip)",
            "figure": f"{share:.1f} % of {raw['round_trip_msgs_per_s']:,.0f} msg/s",
            "target": f"≥ {TARGET_RAW_SHARE_PCT:g} %",
            "pass": share >= TARGET_RAW_SHARE_PCT,
        },
    ]
    p99 = latency.get("p99_s")
    targets.append(
        {
            "what": f"p99 sent to the collector → assigned, at {latency['offered_posts_per_s']:g} posts/s",
            "figure": f"{p99:.2f} s" if p99 is not None else "no complaint was assigned",
            "target": f"≤ {TARGET_P99_S:g} s",
            "pass": p99 is not None and p99 <= TARGET_P99_S,
        }
    )
    for name, entry in result["processes"].items():
        limit = entry.get("rss_target_mb")
        if limit is None:
            continue
        peak = entry.get("peak_rss_mb")
        targets.append(
            {
                "what": f"peak RSS {name}",
                "figure": f"{peak:,.0f} MB" if peak is not None else "unknown",
                "target": f"≤ {limit} MB",
                "pass": peak is not None and peak <= limit,
            }
        )
    result["targets"] = targets
    return targets


def _n(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    t, lat, raw, mix = result["throughput"], result["latency"], result["raw_jetstream"], result["mix"]["throughput"]
    kinds = mix["posts_by_kind"]
    machine = result["machine"]
    speed = result["machine_speed"]
    lines = [
        f"### Pipeline benchmark — {result['database']}, {t['posts']:,} posts",
        "",
        f"{result['started_at']} · {machine['cores']} cores · Python {machine['python']} · "
        f"{machine['nats_server']} · seed {result['config']['seed']} · load average before "
        f"{machine['load_average_before']:.2f}",
        "",
        f"Machine speed (bench/pipeline.py's speed_probe, CPU ms of fixed pure-Python work; lower is faster): "
        f"{speed['before_ms']} before the system started, {speed['after_ms']} after it stopped.",
        "",
        f"Mix: {kinds.get('noise', 0):,} noise, {kinds.get('complaint', 0):,} single complaints, "
        f"{kinds.get('duplicate', 0):,} duplicates in {mix['duplicate_groups']:,} groups, "
        f"{kinds.get('repost', 0):,} reposts and originals in {mix['repost_chains']:,} chains; "
        f"{mix['complaints_by_label']:,} complaints by the corpus label, {mix['regions_named']} regions, "
        f"{mix['categories']} categories.",
        "",
        "| target | figure | target | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {x['what']} | {x['figure']} | {x['target']} | {'PASS' if x['pass'] else 'MISS'} |"
        for x in result["targets"]
    ]
    gateway = t["gateway"]
    lines += [
        "",
        "| throughput phase | seconds | posts/s |",
        "|---|---|---|",
        f"| sent to the collector (HTTP batches of {t['batch']}, {t['concurrency']} in flight) | "
        f"{t['sent_seconds']:.1f} | {_n(t['ingest_posts_per_s'])} |",
        f"| collected (post.collected on POSTS) | {t['collected_seconds']:.1f} | {_n(t['collected_posts_per_s'])} |",
        f"| classified (post.classified and post.noise on POSTS) | {t['classified_seconds']:.1f} | "
        f"{_n(t['classified_posts_per_s'])} |",
        f"| end to end (routing's and the gateway's consumers drained) | {t['end_to_end_seconds']:.1f} | "
        f"{_n(t['end_to_end_posts_per_s'])} |",
        f"| gateway API: {gateway['incidents']:,} new incidents ({gateway['assigned']:,} assigned) holding "
        f"{gateway['posts']:,} posts | | |",
        "",
        "| latency phase | figure |",
        "|---|---|",
        f"| offered / achieved | {lat['offered_posts_per_s']:g} / {lat['achieved_posts_per_s']:g} posts/s for "
        f"{lat['seconds']:g} s ({lat['posts']:,} posts, {lat['complaints_by_label']:,} complaints by label) |",
        f"| posts assigned (timed) | {lat['assigned_posts']:,} |",
        f"| sent → assigned p50 / p95 / p99 / max | {_n(lat.get('p50_s'), 3)} / {_n(lat.get('p95_s'), 3)} / "
        f"{_n(lat.get('p99_s'), 3)} / {_n(lat.get('max_s'), 3)} s |",
        "",
        "| raw JetStream (own nats-server, 1 KB, file storage) | msg/s |",
        "|---|---|",
        f"| publish (async, acks awaited per {raw['publish_window']:,}) | {_n(raw['publish_msgs_per_s'])} |",
        f"| consume (durable pull, batches of {raw['fetch_batch']}, acked) | {_n(raw['consume_msgs_per_s'])} |",
        f"| round trip ({raw['messages']:,} messages / publish + consume seconds) | "
        f"{_n(raw['round_trip_msgs_per_s'])} |",
        "",
        "| process | CPU s (throughput) | % of a core | CPU s (latency) | % of a core | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in result["processes"].items():
        lines.append(
            f"| {name} | {_n(p['cpu_s_throughput'], 1)} | {_n(p['cpu_pct_throughput'])} | "
            f"{_n(p['cpu_s_latency'], 1)} | {_n(p['cpu_pct_latency'])} | {_n(p['peak_rss_mb'])} |"
        )
    used = result["machine_cpu"]
    lines += [
        "",
        "Cores busy on average (all processes on the machine): "
        + "; ".join(
            f"{phase} phase {used[phase]['busy_core_seconds'] / used[phase]['seconds']:.2f} of {used['cores']}"
            f" (interrupts {used[phase]['interrupt_core_seconds'] / used[phase]['seconds']:.2f},"
            f" I/O wait {used[phase]['iowait_core_seconds'] / used[phase]['seconds']:.2f})"
            for phase in ("throughput", "latency")
        )
        + ".",
    ]
    for phase in ("throughput", "latency"):
        others = used[phase]["busiest_other_processes"]
        if others:
            lines += [
                "",
                f"Busiest other processes in the {phase} phase: "
                + "; ".join(f"`{o['command'][:70]}` {o['cpu_s']:.1f} CPU s" for o in others)
                + ".",
            ]
    services = {n: p for n, p in result["processes"].items() if p.get("rss_target_mb") is not None}
    busiest = max(services, key=lambda n: services[n]["cpu_pct_throughput"] or 0, default=None)
    if busiest is not None:
        lines += [
            "",
            f"Busiest service in the throughput phase: {busiest} at "
            f"{_n(services[busiest]['cpu_pct_throughput'])} % of one core (a service runs on one core).",
        ]
    lines += ["", *(f"Warning: {w}" for w in result["warnings"])]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# The machine's speed this hour
# ---------------------------------------------------------------------------------------------

_PROBE_TEXT = (
    "Третий день нет горячей воды в доме 12 на улице Ленина, управляющая компания не отвечает. "
    "Во дворе яма, машины объезжают по газону; дети ходят в школу по проезжей части! "
) * 4
_PROBE_WORD = re.compile(r"[а-яёa-z0-9]+")
_PROBE_DOC = {
    "type": "ru.incidents.post.classified",
    "data": {"text": _PROBE_TEXT, "evidence": ["вода", "яма"] * 5, "scores": [i / 7 for i in range(40)]},
}


def speed_probe(rounds: int = 9) -> float:
    """CPU milliseconds (the median of `rounds`) of a fixed piece of pure-Python work like the services'
    own (a regex over Russian text, counting, sorting, a JSON round trip), run here between phases.

    The same code on this machine gave 650-890 posts/s within twenty minutes: the host lends its cores
    at a speed that varies by the hour. This figure (lower is faster) tells two runs' hours apart."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(1000):
            words = _PROBE_WORD.findall(_PROBE_TEXT.lower())
            counts = Counter(words)
            sorted(counts, key=counts.__getitem__)
            json.loads(json.dumps(_PROBE_DOC, ensure_ascii=False))
        times.append(time.process_time() - started)
    return round(statistics.median(times) * 1000, 1)


def machine_info() -> dict[str, Any]:
    try:
        version = subprocess.run(  # noqa: S603 - fixed argv
            [nats_server_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "nats-server (version unknown)"
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "nats_server": version,
        "load_average_before": os.getloadavg()[0],
    }


def output_path(given: Path | None, database: str, suffix: str, *, both: bool) -> Path:
    """The default bench/results/pipeline-<database><suffix>; with --both a given path gets -<database>."""
    if given is None:
        return RESULTS / f"pipeline-{database}{suffix}"
    return given.with_name(f"{given.stem}-{database}{given.suffix}") if both else given


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/pipeline.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )

    def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
        def check(text: str) -> Any:
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
            if value <= 0:
                raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
            return value

        return check

    parser.add_argument(
        "--posts", type=positive(int), default=20_000, help="posts in the throughput phase (%(default)s)"
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite", help="the services' databases (%(default)s)"
    )
    parser.add_argument("--both", action="store_true", help="run on SQLite, then on PostgreSQL (one raw baseline)")
    parser.add_argument(
        "--rate", type=positive(float), default=300.0, help="offered posts/s in the latency phase (%(default)s)"
    )
    parser.add_argument(
        "--latency-seconds", type=positive(float), default=30.0, help="length of the latency phase (%(default)s)"
    )
    parser.add_argument(
        "--batch",
        type=positive(int),
        default=500,
        help="posts per HTTP request, throughput phase (%(default)s; ≤ 1000)",
    )
    parser.add_argument(
        "--concurrency", type=positive(int), default=2, help="HTTP requests in flight, throughput phase (%(default)s)"
    )
    parser.add_argument("--warmup", type=int, default=500, help="posts sent and drained before measuring (%(default)s)")
    parser.add_argument(
        "--raw-messages",
        type=positive(int),
        default=100_000,
        help="messages in the raw JetStream baseline (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the post mix (%(default)s)")
    parser.add_argument(
        "--timeout", type=positive(float), default=1800.0, help="seconds a phase may take to drain (%(default)s)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="where to write the figures (default bench/results/pipeline-<database>.json; with --both, "
        "-<database> is added to the name)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="where to write the table (default bench/results/pipeline-<database>.md; as --json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, logs) after the run")
    args = parser.parse_args(argv)
    if args.batch > 1000:
        parser.error("--batch: the collector takes at most 1000 posts per request")
    if args.warmup < 0:
        parser.error("--warmup cannot be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.both else [args.database]
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    failed = False
    try:
        machine = machine_info()
        started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
        print("raw JetStream baseline …", file=sys.stderr)
        raw = asyncio.run(raw_jetstream(args.raw_messages, work))
        for database in kinds:
            result = run_pipeline(args, database, work / database)
            result |= {
                "benchmark": "bench/pipeline.py",
                "started_at": started_at,
                "machine": machine,
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "raw_jetstream": raw,
            }
            evaluate(result)
            table = markdown(result)
            json_path = output_path(args.json, database, ".json", both=args.both)
            md_path = output_path(args.markdown, database, ".md", both=args.both)
            write(json_path, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
            write(md_path, table)
            print(table)
            print(f"written: {json_path}, {md_path}", file=sys.stderr)
    except BenchError as exc:
        failed = True
        print(f"error: {exc}", file=sys.stderr)
    except (httpx.HTTPError, nats.errors.Error, OSError, TimeoutError) as exc:
        failed = True
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        failed = True
        print("interrupted", file=sys.stderr)
    finally:
        if args.keep or failed:
            print(f"the run's folder (logs under */system/logs) is kept: {work}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
