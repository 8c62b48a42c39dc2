"""Shutdown of the webhook dispatcher: a POST in flight is finished and recorded (so the next start does
not send it again); one that outlives the grace period is abandoned and sent again, the others are not."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI
from sqlmodel import col, select

from api_gateway.testing import Gateway, serve
from api_gateway.webhooks.dispatcher import WebhookDispatcher
from api_gateway.webhooks.models import WebhookDelivery
from incidents_common.testing import eventually, incident_snapshot


class Receiver:
    """A webhook endpoint per name; `slow` ones answer only once released."""

    def __init__(self, *slow: str) -> None:
        self.calls: dict[str, int] = {}
        self.arrived = {name: asyncio.Event() for name in slow}
        self.release = asyncio.Event()
        self.slow = set(slow)
        self.app = FastAPI()

        @self.app.post("/hook/{name}")
        async def hook(name: str) -> dict[str, Any]:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name in self.slow:
                self.arrived[name].set()
                await self.release.wait()
            return {"ok": True}


async def _webhook(gw: Gateway, url: str) -> str:
    created = await gw.client.post(
        "/v1/webhooks",
        json={"url": url, "secret": "a-shared-secret-of-enough-length", "event_types": ["incident.created"]},
        headers=gw.headers("integration64"),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["webhook_id"])


async def _deliveries(gw: Gateway) -> dict[str, WebhookDelivery]:
    async with gw.app.state.db.transaction() as session:
        rows = (await session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id)))).all()
    return {row.webhook_id: row for row in rows}


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()  # what the gateway's shutdown does
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_delivery_in_flight_at_shutdown_is_finished_recorded_and_not_sent_again(make_gateway: Any) -> None:
    receiver = Receiver("slow")
    async with serve(receiver.app) as base, make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
        hook = await _webhook(gw, f"{base}/hook/slow")
        await gw.create(incident_snapshot("shutdown-64"))
        dispatcher = WebhookDispatcher(gw.app.state.db, gw.settings)
        running = asyncio.create_task(dispatcher.run())
        await asyncio.wait_for(receiver.arrived["slow"].wait(), 20)
        stopping = asyncio.create_task(_stopped(running))
        await eventually(lambda: _value(dispatcher._stopping))  # noqa: SLF001 - shutdown has begun
        receiver.release.set()  # the POST in flight answers during the shutdown
        await stopping
        delivery = (await _deliveries(gw))[hook]
        assert delivery.status == "delivered" and delivery.attempts == 1

        # The next start sends nothing again.
        again = WebhookDispatcher(gw.app.state.db, gw.settings)
        await again.fan_out()
        assert await again.deliver_due() == 0
        assert receiver.calls == {"slow": 1}
        await dispatcher.close()
        await again.close()


async def test_a_delivery_that_outlives_the_grace_is_sent_again_the_finished_ones_are_not(make_gateway: Any) -> None:
    receiver = Receiver("slow")
    async with serve(receiver.app) as base, make_gateway(webhook_allowed_hosts=["127.0.0.1"]) as gw:
        fast = await _webhook(gw, f"{base}/hook/fast")
        slow = await _webhook(gw, f"{base}/hook/slow")
        await gw.create(incident_snapshot("grace-64"))
        dispatcher = WebhookDispatcher(gw.app.state.db, gw.settings, shutdown_grace=0.2)
        running = asyncio.create_task(dispatcher.run())
        await asyncio.wait_for(receiver.arrived["slow"].wait(), 20)
        await eventually(lambda: _value(receiver.calls.get("fast", 0)), until=lambda n: n == 1)
        await _stopped(running)  # the slow POST never answers within the grace: abandoned
        deliveries = await _deliveries(gw)
        assert deliveries[fast].status == "delivered" and deliveries[fast].attempts == 1
        assert deliveries[slow].status == "pending" and deliveries[slow].attempts == 0

        receiver.release.set()
        again = WebhookDispatcher(gw.app.state.db, gw.settings)
        await again.fan_out()
        assert await again.deliver_due() == 1
        assert receiver.calls == {"fast": 1, "slow": 2}
        assert (await _deliveries(gw))[slow].status == "delivered"
        await dispatcher.close()
        await again.close()


async def _value(value: Any) -> Any:
    return value
