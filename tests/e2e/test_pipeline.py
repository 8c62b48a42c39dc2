"""The whole system, as the README runs it: the launcher starts a real nats-server and the four
services (SQLite files), a post sent to the collector's HTTP API becomes an assigned incident at the
gateway, Ctrl-C stops everything cleanly, and a second start keeps the data."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from incidents_common.identity import Identity
from incidents_common.processes import free_port, pid_serving
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS, SERVER_KEEP_ALIVE_SECONDS

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-federal-key"
UVICORN_DEFAULT_KEEP_ALIVE = 5  # seconds (uvicorn.Config's timeout_keep_alive)


@dataclass
class RunningSystem:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    output: list[str]
    data_dir: Path

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def collector(self) -> str:
        return f"http://127.0.0.1:{self.ports['collector']}"

    def collector_auth(self) -> dict[str, str]:
        """An operator token for the collector, signed with the key the launcher made."""
        token = Identity.load("operator", self.data_dir / "secrets" / "identity").mint("collector")
        return {"Authorization": f"Bearer {token}"}


def _start(
    data_dir: Path, ports: dict[str, int], demo: bool = False, settings: dict[str, str] | None = None
) -> RunningSystem:
    """The launcher as the README runs it; `settings`: environment variables for the services."""
    command = [
        sys.executable, str(ROOT / "scripts" / "run_local.py"), "--data-dir", str(data_dir),
        "--nats-port", str(ports["nats"]), "--gateway-port", str(ports["gateway"]),
        "--collector-port", str(ports["collector"]), "--classifier-port", str(ports["classifier"]),
        "--routing-port", str(ports["routing"]), "--console-port", str(ports["console"]), "--demo-key", KEY,
    ]  # fmt: skip
    if not demo:
        command.append("--no-demo")
    prefixes = ("GATEWAY_", "ROUTING_", "COLLECTOR_", "CLASSIFIER_", "CONSOLE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(settings or {})
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if line.startswith("READY"):
            return RunningSystem(process, ports, output, data_dir)
    logs = "".join(output) + _tail_logs(data_dir)
    process.kill()
    raise AssertionError(f"the system did not come up:\n{logs}")


def _lines_not_json(data_dir: Path) -> list[str]:
    """The lines of the services' and the console's logs that are not JSON objects naming their service."""
    bad = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        if log.name == "nats-server.log":
            continue  # nats-server's own format
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not (isinstance(entry, dict) and entry.get("service")):
                bad.append(f"{log.name}: {line}")
    return bad


def _tail_logs(data_dir: Path) -> str:
    parts = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(parts)


def _stop(system: RunningSystem) -> int:
    system.process.send_signal(signal.SIGINT)
    try:
        return system.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        system.process.kill()
        raise


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("nats", "gateway", "collector", "classifier", "routing", "console")}


@pytest.fixture
def system(tmp_path: Path, ports: dict[str, int]) -> Iterator[RunningSystem]:
    running = _start(tmp_path / "var", ports)
    yield running
    if running.process.poll() is None:
        _stop(running)


def _wait_for_incident(system: RunningSystem, post_text_fragment: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    with httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
        while time.monotonic() < deadline:
            response = client.get("/v1/incidents", params={"region": "64"})
            last = response.text
            if response.status_code == 200:
                for item in response.json()["items"]:
                    if item.get("status") == "assigned" and item.get("assignee"):
                        return item
            time.sleep(0.3)
    raise AssertionError(
        f"no assigned incident for {post_text_fragment!r} within {timeout}s; last answer: {last}\n"
        + _tail_logs(system.data_dir)
    )


COMPLAINT = {
    "source_type": "push",
    "external_id": "e2e-1",
    "text": "В Саратове на улице Чернышевского огромная яма на дороге уже месяц, машины бьют колёса! "
    "Администрация, когда отремонтируете дорогу?",
    "author": {"id": "u1", "name": "Ирина"},
}


MARKER = {
    "source_type": "push",
    "external_id": "e2e-marker",
    "text": "В Москве на Тверской улице огромная яма на дороге, машины бьют колёса! Когда отремонтируете?",
    "author": {"id": "u2", "name": "Олег"},
}


def _wait_for_region(system: RunningSystem, region: str, timeout: float = 60) -> dict:
    """The first incident of `region` at the gateway, whatever its status."""
    deadline = time.monotonic() + timeout
    last: object = None
    with httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
        while time.monotonic() < deadline:
            response = client.get("/v1/incidents", params={"region": region})
            last = response.text
            if response.status_code == 200 and response.json()["items"]:
                return dict(response.json()["items"][0])
            time.sleep(0.3)
    raise AssertionError(f"no incident in region {region} within {timeout}s; last answer: {last}")


def _metric(system: RunningSystem, service: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples on `service`'s /metrics (read with an operator token) whose
    labels include `labels`."""
    token = Identity.load("operator", system.data_dir / "secrets" / "identity").mint(service)
    response = httpx.get(
        f"http://127.0.0.1:{system.ports[service]}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in response.text.splitlines():
        sample, _, value = line.rpartition(" ")
        if (sample == name or sample.startswith(name + "{")) and all(w in sample for w in wanted):
            total += float(value)
    return total


class TestWholePipeline:
    def test_post_becomes_assigned_incident_and_survives_restart(
        self, tmp_path: Path, ports: dict[str, int], system: RunningSystem
    ) -> None:
        post = dict(COMPLAINT, published_at=datetime.now(UTC).isoformat())
        # The collector's door: no token, no post.
        refused = httpx.post(f"{system.collector}/v1/posts", json=post, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        response = httpx.post(f"{system.collector}/v1/posts", json=post, headers=system.collector_auth(), timeout=10)
        assert response.status_code in (200, 201, 202), response.text

        incident = _wait_for_incident(system, "яма")
        assert incident["region_code"] == "64"
        assert incident["category"] == "roads"

        with httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
            detail = client.get(f"/v1/incidents/{incident['incident_id']}")
            assert detail.status_code == 200, detail.text
            body = detail.json()
            assert body["assignment_explanation"]
            assert any("Чернышевского" in str(p) for p in body.get("posts", [])), body.get("posts")
            assert client.get("/v1/incidents").status_code == 200
            assert httpx.get(f"{system.gateway}/v1/incidents", timeout=5).status_code == 401

        assert _stop(system) == 0, "".join(system.output)
        # Structured logs from start to stop, the web server's own lines included.
        assert _lines_not_json(system.data_dir) == [], "plain-text log lines"

        again = _start(tmp_path / "var", ports)
        try:
            with httpx.Client(base_url=again.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
                ids = [i["incident_id"] for i in client.get("/v1/incidents").json()["items"]]
                assert incident["incident_id"] in ids
            # The same post again is recognised as a duplicate, so nothing is published for it.
            response = httpx.post(f"{again.collector}/v1/posts", json=post, headers=again.collector_auth(), timeout=10)
            assert response.status_code in (200, 201, 202)
            assert response.json()["duplicates"] == 1 and response.json()["accepted"] == 0, response.text
            # The signal that the pipeline has run past the duplicate: another complaint, sent after it
            # (another region), reaches the gateway. By then each stage counts exactly that one post
            # since the restart (its /metrics), not the duplicate, and region 64 still has one incident.
            marker = dict(MARKER, published_at=datetime.now(UTC).isoformat())
            response = httpx.post(
                f"{again.collector}/v1/posts", json=marker, headers=again.collector_auth(), timeout=10
            )
            assert response.status_code in (200, 201, 202) and response.json()["accepted"] == 1, response.text
            _wait_for_region(again, "77")
            assert _metric(again, "collector", "incidents_posts_collected_total") == 1
            processed = "incidents_consumer_processed_total"
            assert _metric(again, "classifier", processed, consumer="classifier-post-collected") == 1
            assert _metric(again, "routing", processed, consumer="routing-post-classified") == 1
            with httpx.Client(base_url=again.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
                items = client.get("/v1/incidents", params={"region": "64"}).json()["items"]
                assert len(items) == 1
        finally:
            assert _stop(again) == 0

    def test_bad_input_gets_problem_json(self, system: RunningSystem) -> None:
        response = httpx.post(
            f"{system.collector}/v1/posts",
            content=b"{broken",
            headers={"Content-Type": "application/json", **system.collector_auth()},
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        response = httpx.post(
            f"{system.collector}/v1/posts",
            json={"text": 5, "source_type": "carrier-pigeon"},
            headers=system.collector_auth(),
        )
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_idle_connections_outlive_the_clients_keep_alive(self, system: RunningSystem) -> None:
        """Every server of the launcher keeps an idle connection past uvicorn's default 5 s: a client that
        reuses one as the server closes it gets no answer (the benchmark's collector client once died of
        it), so our clients drop theirs first (CLIENT_KEEP_ALIVE_SECONDS < SERVER_KEEP_ALIVE_SECONDS)."""
        assert CLIENT_KEEP_ALIVE_SECONDS < UVICORN_DEFAULT_KEEP_ALIVE < SERVER_KEEP_ALIVE_SECONDS
        servers = ("gateway", "collector", "classifier", "routing", "console")
        connections = {
            name: http.client.HTTPConnection("127.0.0.1", system.ports[name], timeout=10) for name in servers
        }
        local_ports = {}
        for name, connection in connections.items():
            connection.request("GET", "/health/live")
            assert connection.getresponse().read() is not None
            assert connection.sock is not None
            local_ports[name] = connection.sock.getsockname()[1]
        time.sleep(UVICORN_DEFAULT_KEEP_ALIVE + 1.5)  # idle past the default timeout
        for name, connection in connections.items():
            connection.request("GET", "/health/live")  # on the same socket: http.client does not reconnect
            response = connection.getresponse()  # RemoteDisconnected had the server closed it
            response.read()
            assert response.status == 200, name
            assert connection.sock is not None and connection.sock.getsockname()[1] == local_ports[name], name
            connection.close()

    def test_a_complaint_without_a_place_waits_and_is_placed_by_the_federal_level(self, system: RunningSystem) -> None:
        nowhere = {
            "source_type": "push",
            "external_id": "e2e-nowhere",
            "text": "Третий день нет горячей воды во всём доме, управляющая компания трубку не берёт! Сколько можно?",
            "published_at": datetime.now(UTC).isoformat(),
        }
        # A second one, which the operator decides is not a complaint: a negative example, of no region.
        not_really = nowhere | {
            "external_id": "e2e-nowhere-not-really",
            "text": "Второй день во дворе не вывозят мусор, контейнеры переполнены, вонь на весь подъезд!",
        }
        for post in (nowhere, not_really):
            response = httpx.post(
                f"{system.collector}/v1/posts", json=post, headers=system.collector_auth(), timeout=10
            )
            assert response.status_code in (200, 201, 202), response.text
        with httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=5) as client:
            deadline, waiting, dismissible = time.monotonic() + 60, [], []
            while not (waiting and dismissible) and time.monotonic() < deadline:
                items = client.get("/v1/review-queue/posts").json()["items"]
                waiting = [i for i in items if "горячей" in i["text"]]
                dismissible = [i for i in items if "мусор" in i["text"]]
                time.sleep(0.3)
            assert waiting, "the complaint without a place is not waiting for a person\n" + _tail_logs(system.data_dir)
            assert dismissible, "the second complaint without a place is not waiting\n" + _tail_logs(system.data_dir)
            dismissed = client.post(
                f"/v1/review-queue/posts/{dismissible[0]['post_id']}/dismiss",
                json={"not_a_complaint": True, "comment": "проверка"},
            )
            assert dismissed.status_code == 200 and dismissed.json()["decision"] == "dismissed", dismissed.text
            assert waiting[0]["region_code"] is None and "без региона" in waiting[0]["reason"]
            placed = client.post(
                f"/v1/review-queue/posts/{waiting[0]['post_id']}/place",
                json={"region_code": "64", "city": "Саратов", "comment": "автор из Саратова"},
            )
            assert placed.status_code == 200, placed.text
            incident = client.get(f"/v1/incidents/{placed.json()['incident_id']}", timeout=5)
            deadline = time.monotonic() + 30
            while incident.status_code == 404 and time.monotonic() < deadline:  # the read model follows
                time.sleep(0.3)
                incident = client.get(f"/v1/incidents/{placed.json()['incident_id']}")
            assert incident.status_code == 200, incident.text
            assert incident.json()["region_code"] == "64" and incident.json()["assignee"]
        # Both decisions are classifier feedback: the placed one a complaint, of region 64; the dismissed
        # one not a complaint (published on …classification.corrected.noregion, under the NATS grants).
        token = Identity.load("operator", system.data_dir / "secrets" / "identity").mint("classifier")
        classifier = f"http://127.0.0.1:{system.ports['classifier']}"
        decided = {waiting[0]["post_id"], dismissible[0]["post_id"]}
        deadline, rows = time.monotonic() + 30, {}
        while len(rows) < 2 and time.monotonic() < deadline:
            page = httpx.get(f"{classifier}/v1/feedback", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            rows = {r["post_id"]: r for r in page.json()["items"] if r["post_id"] in decided}
            time.sleep(0.3)
        assert len(rows) == 2, "a decision is not the classifier's feedback\n" + _tail_logs(system.data_dir)
        placed_row, dismissed_row = rows[waiting[0]["post_id"]], rows[dismissible[0]["post_id"]]
        assert placed_row["region_code"] == "64" and placed_row["is_incident"] is True
        assert dismissed_row["is_incident"] is False and dismissed_row["corrected"] == ["is_incident"]


class TestSupervision:
    def test_a_service_killed_with_sigkill_is_restarted_and_the_pipeline_goes_on(self, system: RunningSystem) -> None:
        pid = pid_serving("classifier", system.ports["classifier"])
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert system.process.stdout is not None
        deadline = time.monotonic() + 60
        said = ""
        while "classifier: restarting" not in said and time.monotonic() < deadline:
            said += system.process.stdout.readline()
        assert "classifier exited with code" in said and "classifier: restarting" in said, said
        post = dict(COMPLAINT, external_id="after-restart", published_at=datetime.now(UTC).isoformat())
        response = httpx.post(f"{system.collector}/v1/posts", json=post, headers=system.collector_auth(), timeout=10)
        assert response.status_code in (200, 201, 202), response.text
        incident = _wait_for_incident(system, "яма")
        assert incident["region_code"] == "64"
        assert system.process.poll() is None, "the launcher itself kept running"
