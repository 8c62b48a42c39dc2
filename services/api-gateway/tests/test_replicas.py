"""Two gateway replicas on one PostgreSQL: the fan-out (SSE, webhooks) and the read model stay exact.

A transaction that took its event-log `seq` and commits late must not be skipped by a cursor that
already read a higher `seq` (readmodel.serialize_event_log), no webhook delivery may be queued twice
when both replicas' dispatchers run, and two batches touching one incident at once must not undo
each other's effect (consumers.lock_keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from sqlmodel import select

from api_gateway.auth.principal import Role
from api_gateway.incidents.consumers import apply_incident_events
from api_gateway.incidents.models import Incident
from api_gateway.live import service as live
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, read_events, serve
from api_gateway.webhooks.models import WebhookDelivery
from incidents_common.db import Database
from incidents_common.events import (
    CloudEvent,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentStatus,
    new_event,
)
from incidents_common.testing import T0, eventually, incident_snapshot


def _created(incident_id: str) -> CloudEvent[Any]:
    snap = incident_snapshot(incident_id)
    return new_event(
        IncidentCreated(incident=snap, post_id=snap.post_ids[0]), source="/test", event_id=uuid.uuid4().hex
    )


@contextlib.asynccontextmanager
async def replica(tmp_path: Path, database_url: str, name: str) -> AsyncIterator[Gateway]:
    """A gateway process of its own (app, uvicorn on a free port) over the shared database."""
    settings = gateway_settings(
        tmp_path / name,
        database_url=database_url,
        webhook_allowed_hosts=["127.0.0.1"],
        webhook_backoff_base=0.05,
    )
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Gateway(app=app, client=client, settings=settings)


class LateCommit:
    """A consumer transaction that applied its event and waits to commit until released."""

    def __init__(self, db: Database, event: CloudEvent[Any]) -> None:
        self.db, self.event = db, event
        self.handled, self.release = asyncio.Event(), asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with self.db.transaction() as session:
            await apply_incident_events(session.writes, [self.event])
            self.handled.set()
            await self.release.wait()


async def _apply(db: Database, *events: CloudEvent[Any]) -> None:
    async with db.transaction() as session:
        await apply_incident_events(session.writes, list(events))


def receiver(received: list[str]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append(request.headers["x-incidents-event-id"])
        return {"ok": True}

    return app


class TestFanOutWithReplicas:
    async def test_an_event_committed_late_is_neither_skipped_nor_delivered_twice(
        self, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        received: list[str] = []
        polls = sse_polls(monkeypatch)
        async with (
            serve(receiver(received)) as hook_url,
            replica(tmp_path, postgres_url, "a") as a,
            replica(tmp_path, postgres_url, "b") as b,
        ):
            key = await a.key(Role.integration, ["64"])
            headers = {"X-API-Key": key}
            created = await b.client.post("/v1/webhooks", json={"url": f"{hook_url}/hook"}, headers=headers)
            assert created.status_code == 201, created.text
            dispatchers = [a.app.state.dispatcher, b.app.state.dispatcher]
            late, early, last = _created("late"), _created("early"), _created("last")

            async with b.client.stream("GET", "/v1/events/stream", headers=headers) as stream:
                assert stream.status_code == 200
                # Replica a takes its place in the log first and commits late; replica b writes meanwhile.
                first = LateCommit(a.app.state.db, late)
                await first.handled.wait()
                second = asyncio.create_task(_apply(b.app.state.db, early))
                await asyncio.wait({second}, timeout=1.0)  # committed by now, unless it must wait
                # Readers pass over the log while the late transaction is still open.
                await asyncio.gather(*(d.fan_out() for d in dispatchers))
                # Several SSE polls of the log while the late transaction is still open (every 0.05 s):
                # wait until three have been made, then every one of them found nothing to send (the
                # early event waits for the late one's commit, so no cursor can pass over it).
                opened = len(polls)
                await eventually(lambda: _ready(polls), until=lambda done: len(done) >= opened + 3)
                assert not any(polls[opened:]), polls[opened:]
                first.release.set()
                await asyncio.gather(first.task, second)
                await _apply(a.app.state.db, last)
                for _ in range(3):  # both dispatchers, at once, several passes
                    await asyncio.gather(*(d.fan_out() for d in dispatchers))
                    await asyncio.gather(*(d.deliver_due() for d in dispatchers))
                streamed = await read_events(stream, 3)

            ids = [orjson.loads(event["data"])["id"] for event in streamed]
            assert ids == [late.id, early.id, last.id]
            assert [int(event["id"]) for event in streamed] == sorted(int(event["id"]) for event in streamed)
            await eventually(lambda: _ready(received), until=lambda got: len(got) >= 3)
            assert Counter(received) == {late.id: 1, early.id: 1, last.id: 1}
            assert received == [late.id, early.id, last.id]  # in the log's order, whichever replica sent them
            async with a.app.state.db.transaction() as session:
                deliveries = (await session.exec(select(WebhookDelivery))).all()
            assert sorted(d.event_id for d in deliveries) == sorted([late.id, early.id, last.id])
            assert {d.status for d in deliveries} == {"delivered"}


async def _ready(received: list[Any]) -> list[Any]:
    return list(received)


def sse_polls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The event ids each SSE poll of the log found, in order (a spy around live.events_after)."""
    polls: list[list[str]] = []
    events_after = live.events_after

    async def spied(*args: Any, **kwargs: Any) -> Any:
        rows = await events_after(*args, **kwargs)
        polls.append([row.event_id for row in rows])
        return rows

    monkeypatch.setattr(live, "events_after", spied)
    return polls


class TestReadModelWithReplicas:
    async def test_batches_on_one_incident_at_once_do_not_undo_each_other(
        self, postgres_url: str, tmp_path: Path
    ) -> None:
        created = incident_snapshot("inc-r", status=IncidentStatus.new, official=None)
        assigned = incident_snapshot("inc-r", updated_at=T0 + timedelta(minutes=10))
        assert assigned.assignee is not None

        def event(payload: Any) -> CloudEvent[Any]:
            return new_event(payload, source="/test", event_id=uuid.uuid4().hex)

        async with replica(tmp_path, postgres_url, "a") as a, replica(tmp_path, postgres_url, "b") as b:
            # The newer events hold the incident (still to be inserted) while the older ones arrive.
            newer = LateCommit(
                a.app.state.db,
                event(IncidentAssigned(incident=assigned, assignee=assigned.assignee, explanation="rule")),
            )
            await newer.handled.wait()
            older = asyncio.create_task(
                _apply(
                    b.app.state.db,
                    event(IncidentCreated(incident=created, post_id="post-inc-r")),
                    event(IncidentEscalated(incident=created, level=1, reason="нет ответа")),
                )
            )
            await asyncio.wait({older}, timeout=1.0)
            newer.release.set()
            await asyncio.gather(newer.task, older)
            async with a.app.state.db.transaction() as session:
                incident = await session.get(Incident, "inc-r")
            assert incident is not None
            assert (incident.status, incident.assignee_id, incident.escalations) == ("assigned", "off-64-1", 1)
            federal = {"X-API-Key": await a.key(Role.federal, [])}
            detail = (await a.client.get("/v1/incidents/inc-r", headers=federal)).json()
            assert sorted(h["type"] for h in detail["history"]) == [
                "incident.assigned",
                "incident.created",
                "incident.escalated",
            ]
