"""The four services served over real HTTP on 127.0.0.1 for the security suite, with known data.

Each service runs its own uvicorn in a thread (its own event loop), so both async probes and
schemathesis' synchronous calls reach it as any outside client would. Routing carries the demo
directory; the gateway knows one incident and one surge alert of Saratov (64) and of Moscow (77) and
has keys of every role; the collector and the classifier start empty. They are connected to the session's
nats-server, so what they publish flows between them and their dead-letter API has a broker to ask.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from incidents_common.events import ReviewReason
from incidents_common.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("collector", "classifier", "routing", "api-gateway")


def committed_openapi(service: str) -> dict[str, Any]:
    return json.loads((ROOT / "services" / service / "openapi.json").read_text())


def operations(service: str) -> list[tuple[str, str]]:
    """Every (METHOD, path) of a service's committed OpenAPI document."""
    found = []
    for path, item in committed_openapi(service)["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path))
    return sorted(found)


class ServedApp:
    """A FastAPI app under uvicorn on a free 127.0.0.1 port, in a thread with its own event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


DANGER_REASON = ReviewReason(
    field="danger", confidence=0.4, detail="возможна угроза жизни или здоровью: вероятность 0.40"
)


@dataclass
class System:
    urls: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, str] = field(default_factory=dict)


def _seed_gateway(settings: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Keys of every role and one incident per region, written before the gateway serves."""
    from api_gateway.testing import running
    from incidents_common.testing import incident_snapshot, surge_alert

    async def seed() -> tuple[dict[str, str], dict[str, str]]:
        async with running(settings) as gateway:
            # Both await review, so the review queue has something to leak (and to show its own region).
            review = {"needs_review": True, "review_reasons": [DANGER_REASON], "possibly_critical": True}
            await gateway.create(
                incident_snapshot("inc-64", region="64", official="64-gzhi-1", department="64-gzhi").model_copy(
                    update=review
                )
            )
            await gateway.create(
                incident_snapshot("inc-77", region="77", city="Москва", official="77-gzhi-1").model_copy(update=review)
            )
            # A surge alert in each region, for the alert list to leak (or not).
            await gateway.feed(surge_alert("alert-64"), surge_alert("alert-77", region="77", city="Москва"))
            return dict(gateway.keys), {"64": "inc-64", "77": "inc-77"}

    return asyncio.run(seed())


def _wait_ready(url: str, timeout: float = 60) -> None:
    """Until the service says its database and NATS answer (GET /health/ready is 200)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory, nats_server: Any) -> Iterator[System]:
    from api_gateway.main import create_app as gateway_app
    from api_gateway.testing import gateway_settings
    from classifier.config import Settings as ClassifierSettings
    from classifier.main import create_app as classifier_app
    from collector.config import Settings as CollectorSettings
    from collector.main import create_app as collector_app
    from routing.config import Settings as RoutingSettings
    from routing.main import create_app as routing_app

    folder = tmp_path_factory.mktemp("security")
    common: dict[str, Any] = {"nats_url": nats_server.url, "log_json": False, "log_level": "WARNING"}
    with (
        # The scheduler stays off: no source the fuzzer creates is ever polled, so nothing leaves 127.0.0.1.
        ServedApp(
            collector_app(
                CollectorSettings(
                    database_url=f"sqlite+aiosqlite:///{folder / 'collector.db'}",
                    scheduler_enabled=False,
                    data_dir=str(folder),  # its generated encryption key stays in the test's folder
                    **common,
                )
            )
        ) as collector,
        ServedApp(
            classifier_app(ClassifierSettings(database_url=f"sqlite+aiosqlite:///{folder / 'classifier.db'}", **common))
        ) as classifier,
        ServedApp(
            routing_app(
                RoutingSettings(
                    database_url=f"sqlite+aiosqlite:///{folder / 'routing.db'}",
                    seed_demo=True,
                    deadline_scanner_enabled=False,
                    **common,
                )
            )
        ) as routing,
    ):
        settings = gateway_settings(folder, routing_url=routing.url, collector_url=collector.url)
        keys, incidents = _seed_gateway(settings)
        settings = settings.model_copy(update={"nats_enabled": True, "nats_url": nats_server.url})
        with ServedApp(gateway_app(settings)) as gateway:
            for url in (collector.url, classifier.url, routing.url, gateway.url):
                _wait_ready(url)
            yield System(
                urls={
                    "collector": collector.url,
                    "classifier": classifier.url,
                    "routing": routing.url,
                    "api-gateway": gateway.url,
                },
                keys=keys,
                incidents=incidents,
            )
