"""Webhook deliveries arrive in event-sequence order: one POST in flight per webhook, and a delivery
waiting for its retry holds back the later ones of its webhook; different webhooks deliver at once.
The SSE stream carries the same events in the same order."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api_gateway.auth.principal import Role
from api_gateway.incidents.models import IncidentEventLog
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, read_events, serve
from incidents_common.events import (
    Assignee,
    IncidentAssigned,
    IncidentCreated,
    IncidentPostAttached,
    IncidentSnapshot,
    IncidentStatus,
    IncidentStatusChanged,
)
from incidents_common.testing import eventually, incident_snapshot

SECRET = "a-shared-secret-of-enough-length"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST in arrival order as (event seq, answer).

    It answers 500 the first time it gets an event of the type `fail_once`; an event of the type `hold`
    waits for `release` before it is answered (`arrived` is set when it came)."""

    def __init__(self, *, fail_once: str | None = None, hold: str | None = None) -> None:
        self.arrivals: list[tuple[int, int]] = []
        self.fail_once = fail_once
        self.hold = hold
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Any:
            seq = int(request.headers["x-incidents-event-seq"])
            kind = str(orjson.loads(await request.body())["type"]).removeprefix("ru.incidents.")
            if kind == self.hold:
                self.arrived.set()
                await self.release.wait()
            if kind == self.fail_once:
                self.fail_once = None
                self.arrivals.append((seq, 500))
                return JSONResponse({"error": "try again"}, status_code=500)
            self.arrivals.append((seq, 200))
            return {"ok": True}

    async def delivered(self) -> list[int]:
        return [seq for seq, status in self.arrivals if status == 200]


async def _webhook(gw: Gateway, url: str, headers: dict[str, str]) -> str:
    created = await gw.client.post("/v1/webhooks", json={"url": url, "secret": SECRET}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["webhook_id"])


async def _seqs(gw: Gateway, event_ids: list[str]) -> list[int]:
    """The event log's seq of each event, in the order of `event_ids`."""
    async with gw.app.state.db.transaction() as session:
        rows = (await session.exec(select(IncidentEventLog).where(col(IncidentEventLog.event_id).in_(event_ids)))).all()
    seq_of = {row.event_id: row.seq or 0 for row in rows}
    return [seq_of[event_id] for event_id in event_ids]


def _life_of_an_incident(incident_id: str) -> list[Any]:
    """created → assigned → post attached → taken, each snapshot one revision on."""

    def at(revision: int, **kw: Any) -> IncidentSnapshot:
        return incident_snapshot(incident_id, **kw).model_copy(update={"revision": revision})

    assignee = Assignee(official_id="off-64-1", name="Чиновник off-64-1")
    return [
        IncidentCreated(incident=at(1, status=IncidentStatus.new, official=None), post_id="p-1"),
        IncidentAssigned(incident=at(2), assignee=assignee, explanation="по категории"),
        IncidentPostAttached(incident=at(3, post_ids=["p-1", "p-2"]), post_id="p-2", similarity=0.9, explanation="x"),
        IncidentStatusChanged(
            incident=at(4, status=IncidentStatus.in_progress),
            from_status=IncidentStatus.assigned,
            to_status=IncidentStatus.in_progress,
            actor="off-64-1",
        ),
    ]


class TestDeliveryOrder:
    async def test_one_incidents_events_arrive_in_sequence_order_even_when_one_is_retried(
        self, tmp_path: Any, database_url: str
    ) -> None:
        settings = gateway_settings(
            tmp_path,
            database_url=database_url,
            webhooks_enabled=True,
            webhook_poll_interval=0.05,
            webhook_backoff_base=0.2,
            webhook_allowed_hosts=["127.0.0.1"],  # the receiver is local (see test_webhook_targets.py)
        )
        receiver = Receiver(fail_once="incident.assigned")
        app = create_app(settings)
        async with (
            serve(receiver.app) as hook_url,
            serve(app) as gateway_url,
            httpx.AsyncClient(base_url=gateway_url, timeout=10) as client,
        ):
            gw = Gateway(app=app, client=client, settings=settings)
            headers = {"X-API-Key": await gw.key(Role.integration, ["64"])}
            await _webhook(gw, f"{hook_url}/hook", headers)
            async with client.stream("GET", "/v1/events/stream", headers=headers) as stream:
                assert stream.status_code == 200
                # As routing emits them, in one consumer batch (one moment in the log), and then another
                # incident's event: the receiver refuses the assignment once.
                payloads = [*_life_of_an_incident("order-64"), *_life_of_an_incident("order-64-b")[:1]]
                events = await gw.feed(*payloads)
                ids = [event.id for event in events]
                seqs = await _seqs(gw, ids)
                assert seqs == sorted(seqs), "the log keeps the order of the batch"
                streamed = await read_events(stream, len(ids))

            delivered = await eventually(receiver.delivered, until=lambda got: len(got) >= len(ids))
            # Every event once, in sequence order; the refused one retried before any later one was sent.
            assert delivered == seqs
            assert receiver.arrivals == [(seqs[0], 200), (seqs[1], 500), *((seq, 200) for seq in seqs[1:])]
            # The SSE stream: the same events, in the same order.
            assert [int(event["id"]) for event in streamed] == seqs
            assert [orjson.loads(event["data"])["id"] for event in streamed] == ids

    async def test_a_webhook_waiting_on_its_receiver_does_not_hold_back_another(self, make_gateway: Any) -> None:
        slow, fast = Receiver(hold="incident.created"), Receiver()
        async with (
            serve(slow.app) as slow_url,
            serve(fast.app) as fast_url,
            make_gateway(webhooks_enabled=True, webhook_poll_interval=0.05, webhook_allowed_hosts=["127.0.0.1"]) as gw,
        ):
            headers = gw.headers("integration64")
            await _webhook(gw, f"{slow_url}/hook", headers)
            await _webhook(gw, f"{fast_url}/hook", headers)
            events = await gw.feed(*_life_of_an_incident("parallel-64")[:2])
            seqs = await _seqs(gw, [event.id for event in events])
            try:
                await asyncio.wait_for(slow.arrived.wait(), 15)
                # While the slow receiver holds its first POST, the other webhook gets both events ...
                assert await eventually(fast.delivered, until=lambda got: len(got) == 2) == seqs
                # ... and the slow one nothing more: its second event waits for the first.
                assert slow.arrivals == []
            finally:
                slow.release.set()  # else the receiver's shutdown would wait for the held POST
            assert await eventually(slow.delivered, until=lambda got: len(got) == 2) == seqs
