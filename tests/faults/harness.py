"""Fault injection against the whole system as `make run` starts it: complaints go in while a process
is killed with SIGKILL, the broker dies, PostgreSQL stops or SQLite is locked, and the harness counts
what comes out at the gateway.

Every complaint has its own post id (the collector returns it); after a fault, a complaint counts as
routed when exactly one incident at the gateway lists its post id. Lost = pushed − routed; doubled =
post ids listed by more than one incident, or twice by one. The pushing client behaves as a real feed
does: a push that fails (connection refused while the collector restarts, 503 while it sheds load) is
sent again until it is accepted; the collector de-duplicates by external id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats.errors
import nats.js.errors

from incidents_common.identity import Identity
from incidents_common.processes import free_port, pid_serving

ROOT = Path(__file__).resolve().parents[2]
KEY = "faults-federal-key"
SERVICE_MODULES = {
    "collector": "collector",
    "classifier": "classifier",
    "routing": "routing",
    "api-gateway": "api_gateway",
}
CITIES = ["Саратове", "Энгельсе", "Самаре", "Тольятти", "Казани", "Екатеринбурге", "Новосибирске", "Воронеже"]
PROBLEMS = [
    "огромная яма на дороге у дома {n} на улице {street}, машины бьют колёса уже неделю",
    "третий день нет горячей воды в доме {n} на улице {street}, управляющая компания не отвечает",
    "во дворе дома {n} на улице {street} не вывозят мусор две недели, контейнеры переполнены",
    "на улице {street} у дома {n} не горят фонари, вечером страшно ходить",
]
STREETS = ["Ленина", "Советской", "Мира", "Гагарина", "Чернышевского", "Победы", "Московской", "Садовой"]


@dataclass
class Outcome:
    fault: str
    posts_in: int
    routed: int
    lost: int
    doubled: int
    recover_seconds: float
    incidents: int
    events_doubled: int = 0
    dead_letters: int = 0

    def row(self) -> str:
        return (
            f"| {self.fault} | {self.posts_in} | {self.incidents} | {self.routed} | {self.lost} | {self.doubled} "
            f"| {self.events_doubled} | {self.dead_letters} | {self.recover_seconds:.1f} |"
        )


TABLE_HEADER = (
    "| fault | posts in | incidents out | complaints routed | lost | doubled | incident events doubled "
    "| dead letters | seconds to recover |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class FaultSystem:
    """The launcher (scripts/run_local.py) on free ports in its own data folder, its output collected."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    batch_number: int = 0

    def start(self) -> FaultSystem:
        names = ("nats", "gateway", "collector", "classifier", "routing", "console")
        self.ports = {name: free_port() for name in names}
        command = [
            sys.executable, str(ROOT / "scripts" / "run_local.py"), "--data-dir", str(self.data_dir), "--no-demo",
            "--nats-port", str(self.ports["nats"]), "--gateway-port", str(self.ports["gateway"]),
            "--collector-port", str(self.ports["collector"]), "--classifier-port", str(self.ports["classifier"]),
            "--routing-port", str(self.ports["routing"]), "--console-port", str(self.ports["console"]),
            "--demo-key", KEY,
        ]  # fmt: skip
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GATEWAY_", "ROUTING_", "COLLECTOR_", "CLASSIFIER_", "CONSOLE_", "INCIDENTS_IDENTITY"))
        }
        env.update({"GATEWAY_RATE_LIMIT_PER_MINUTE": "100000", "GATEWAY_RATE_LIMIT_BURST": "10000", **self.env})
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        self.wait_for_output("READY", timeout=120)
        return self

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for_output(self, text: str, *, after: int = 0, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.output[after:]):
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"the launcher never said {text!r}:\n{''.join(self.output)}\n{self.tail_logs()}")

    def tail_logs(self) -> str:
        parts = []
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
        return "\n".join(parts)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    # -- traffic ---------------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports['gateway' if service == 'api-gateway' else service]}"

    def collector_headers(self) -> dict[str, str]:
        token = Identity.load("operator", self.data_dir / "secrets" / "identity").mint("collector", ttl=3600)
        return {"Authorization": f"Bearer {token}"}

    def make_batch(self, count: int) -> list[dict[str, object]]:
        self.batch_number += 1
        now = datetime.now(UTC).isoformat()
        posts = []
        for n in range(count):
            problem = PROBLEMS[n % len(PROBLEMS)].format(n=n + 1, street=STREETS[(n // 4) % len(STREETS)])
            city = CITIES[(n // 32) % len(CITIES)]
            posts.append(
                {
                    "source_type": "push",
                    "external_id": f"fault-{self.batch_number}-{n}",
                    "text": f"В {city} {problem}. Обращение {self.batch_number}-{n}",
                    "published_at": now,
                }
            )
        return posts

    def push(self, posts: list[dict[str, object]], *, batch: int = 25, timeout: float = 120) -> list[str]:
        """Send posts as a feed would, retrying a batch until the collector accepts it; their post ids."""
        post_ids: list[str] = []
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url("collector"), timeout=10) as client:
            for offset in range(0, len(posts), batch):
                body = {"posts": posts[offset : offset + batch]}
                while True:
                    try:
                        response = client.post("/v1/posts", json=body, headers=self.collector_headers())
                        if response.status_code < 300:
                            post_ids += [item["post_id"] for item in response.json()["items"]]
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"the collector did not accept posts for {timeout} s")
                    time.sleep(0.3)
        return post_ids

    def incidents(self) -> list[dict[str, object]]:
        items: list[dict[str, object]] = []
        cursor: str | None = None
        with httpx.Client(base_url=self.url("api-gateway"), headers={"X-API-Key": KEY}, timeout=10) as client:
            while True:
                params: dict[str, object] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = client.get("/v1/incidents", params=params)
                page.raise_for_status()
                body = page.json()
                items += body["items"]
                cursor = body.get("next_cursor")
                if not cursor:
                    return items

    def count(self, post_ids: list[str]) -> tuple[int, int, int]:
        """(routed, doubled, incidents holding them) for these post ids, as the gateway shows them now."""
        listed: Counter[str] = Counter()
        holding = 0
        wanted = set(post_ids)
        for incident in self.incidents():
            ids = [p for p in incident["post_ids"] if p in wanted]  # type: ignore[attr-defined]
            listed.update(ids)
            holding += bool(ids)
        routed = sum(1 for p in wanted if listed[p] >= 1)
        doubled = sum(n - 1 for n in listed.values() if n > 1)
        return routed, doubled, holding

    def wait_routed(self, post_ids: list[str], *, timeout: float = 180) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                routed, _, _ = self.count(post_ids)
            except httpx.HTTPError:
                routed = -1  # the gateway itself may be restarting
            if routed == len(set(post_ids)):
                return time.monotonic() - started
            time.sleep(0.5)
        return time.monotonic() - started

    # -- what NATS holds ---------------------------------------------------------------------------

    def event_census(self, regions: set[str]) -> tuple[int, int]:
        """(incident.created events beyond one per incident, dead letters), read as a region's
        subscriber and as the operator would read them."""
        return asyncio.run(self._event_census(regions))

    async def _event_census(self, regions: set[str]) -> tuple[int, int]:
        from incidents_common.deadletters import DeadLetters
        from incidents_common.nats import connect
        from incidents_common.natsauth import issue_region_credentials

        url = f"nats://127.0.0.1:{self.ports['nats']}"
        created: Counter[str] = Counter()
        for code in sorted(regions):
            record = issue_region_credentials(self.data_dir, code)
            nc = await connect(url, f"census-{code}", attempts=20, user=record["user"], password=record["password"])
            try:
                js = nc.jetstream(timeout=5)
                # A newly issued user's rights arrive with the server's config reload: retry until then.
                for attempt in range(50):
                    try:
                        with contextlib.suppress(nats.js.errors.NotFoundError):  # from the first event every time
                            await js.delete_consumer("INCIDENTS", record["durable"])
                        subscription = await js.pull_subscribe(
                            record["filter_subject"], durable=record["durable"], stream="INCIDENTS"
                        )
                        break
                    except (nats.errors.Error, TimeoutError):
                        if attempt == 49:
                            raise
                        await asyncio.sleep(0.2)
                while True:
                    try:
                        messages = await subscription.fetch(500, timeout=1)
                    except TimeoutError:
                        break
                    for message in messages:
                        if message.subject.startswith("incidents.v1.incident.created."):
                            created[json.loads(message.data)["data"]["incident"]["incident_id"]] += 1
                        await message.ack()
            finally:
                await nc.close()
        operator = json.loads((self.data_dir / "secrets" / "nats" / "operator.json").read_text())
        nc = await connect(url, "census-operator", attempts=20, user="operator", password=operator["password"])
        try:
            dead = await DeadLetters(nc.jetstream(), timeout=5).list(headers_only=True)
        finally:
            await nc.close()
        return sum(n - 1 for n in created.values()), len(dead)

    # -- faults ----------------------------------------------------------------------------------

    def pid_of(self, service: str) -> int:
        pid = pid_serving(SERVICE_MODULES[service], self.ports["gateway" if service == "api-gateway" else service])
        if pid is None:
            raise AssertionError(f"no process serves {service}")
        return pid

    def nats_pid(self) -> int:
        return int((self.data_dir / "nats" / "nats-server.pid").read_text().strip())

    def kill(self, service: str) -> None:
        mark = len(self.output)
        pid = self.nats_pid() if service == "nats-server" else self.pid_of(service)
        os.kill(pid, signal.SIGKILL)
        self.wait_for_output(f"{service}: restarting", after=mark, timeout=60)

    @contextmanager
    def sqlite_locked(self, service: str, seconds: float) -> Iterator[None]:
        """Another writer holds the service's SQLite file with an exclusive lock for `seconds`."""
        connection = sqlite3.connect(
            self.data_dir / f"{service}.db", timeout=30, isolation_level=None, check_same_thread=False
        )
        connection.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(seconds, lambda: (connection.execute("COMMIT"), connection.close()))
        release.start()
        try:
            yield
        finally:
            release.join()


Fault = Callable[[FaultSystem, Callable[[], None]], None]


def run_scenario(system: FaultSystem, name: str, inject: Callable[[], None], *, posts: int = 120) -> Outcome:
    """Push a third of the posts, inject the fault, push the rest, then count what reaches the gateway."""
    batch = system.make_batch(posts)
    third = posts // 3
    post_ids = system.push(batch[:third])
    inject()
    post_ids += system.push(batch[third:])
    seconds = system.wait_routed(post_ids)
    routed, doubled, incidents = system.count(post_ids)
    regions = {str(i["region_code"]) for i in system.incidents()}
    events_doubled, dead_letters = system.event_census(regions)
    return Outcome(
        name, posts, routed, len(set(post_ids)) - routed, doubled, seconds, incidents, events_doubled, dead_letters
    )
