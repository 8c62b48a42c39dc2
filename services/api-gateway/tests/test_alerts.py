"""Surge alerts at the gateway: routing's SurgeAlert over NATS into GET /v1/alerts and the SSE stream,
each limited to the caller's regions; the list's filters and pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlmodel import func, select

from api_gateway.alerts.models import SurgeAlertRecord
from api_gateway.auth.principal import Role
from api_gateway.auth.service import create_key
from api_gateway.incidents.models import IncidentEventLog
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, read_events, serve
from api_gateway.webhooks.models import Webhook, WebhookDelivery
from incidents_common.db import Database, publish
from incidents_common.nats import EventRuntime
from incidents_common.testing import T0, eventually, incident_snapshot, surge_alert


async def _processed(app: Any, durable: str) -> int:
    consumer = next(c for c in app.state.events.consumers if c.spec.durable == durable)
    return int(consumer.stats.processed)


async def _count(gw: Gateway, model: Any) -> int:
    async with gw.app.state.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


class TestAlertsOverNats:
    async def test_an_alert_reaches_its_regions_list_and_stream_only(self, nats_url: str, tmp_path: Path) -> None:
        routing_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", [])
        await routing_db.create_tables()
        routing = EventRuntime(db=routing_db, nats_url=nats_url, client_name="fake-routing")
        await routing.start()
        settings = gateway_settings(tmp_path, nats_enabled=True, nats_url=nats_url)
        app = create_app(settings)
        try:
            async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
                gw = Gateway(app=app, client=client, settings=settings)
                saratov = {"X-API-Key": await gw.key(Role.integration, ["64"])}
                moscow = {"X-API-Key": await gw.key(Role.regional_admin, ["77"])}
                async with client.stream("GET", "/v1/events/stream", headers=saratov) as stream:
                    assert stream.status_code == 200
                    async with routing_db.transaction() as session:
                        publish(
                            session, surge_alert("alert-77", region="77", city="Москва"), source="/services/routing"
                        )
                        publish(session, surge_alert("alert-64"), source="/services/routing")
                        # Raised again (a retried transaction upstream): the same alert id, another event.
                        publish(session, surge_alert("alert-64"), source="/services/routing")
                        # A whole region's surge (complaints that named no town): city null, left out on the wire
                        region_wide = surge_alert("alert-77-all", region="77", city=None)
                        publish(session, region_wide, source="/services/routing")
                    (event,) = await read_events(stream, 1)
                assert event["event"] == "alert.surge"
                data = orjson.loads(event["data"])
                assert data["type"] == "ru.incidents.alert.surge"
                assert (data["data"]["alert_id"], data["data"]["city"]) == ("alert-64", "Саратов")

                # The four events were consumed (the positive signal); the repeat added nothing.
                await eventually(lambda: _processed(app, "gateway-alert-events"), until=lambda n: n == 4)
                assert await _count(gw, SurgeAlertRecord) == 3
                assert await _count(gw, IncidentEventLog) == 3

                ours = (await client.get("/v1/alerts", headers=saratov)).json()
                assert [a["alert_id"] for a in ours["items"]] == ["alert-64"]
                assert ours["items"][0]["explanation"].startswith("Саратов: сообщений в категории «housing_utilities»")
                assert ours["items"][0]["incident_ids"] == ["inc-alert-64"]
                theirs = (await client.get("/v1/alerts", headers=moscow)).json()
                assert sorted(a["alert_id"] for a in theirs["items"]) == ["alert-77", "alert-77-all"]
                assert {a["alert_id"]: a["city"] for a in theirs["items"]}["alert-77-all"] is None
                assert (await client.get("/v1/alerts/alert-77", headers=saratov)).status_code == 404
                assert (await client.get("/v1/alerts/alert-64", headers=moscow)).status_code == 404
                detail = await client.get("/v1/alerts/alert-64", headers=saratov)
                assert detail.status_code == 200 and detail.json()["count"] == 52
                # Not an incident: no incident's history or list shows it.
                assert (await client.get("/v1/incidents", headers=saratov)).json()["items"] == []
        finally:
            await routing.stop()
            await routing_db.dispose()


class TestAlertList:
    async def test_newest_first_in_pages_filtered_by_category_and_time(self, gw: Gateway) -> None:
        await gw.feed(
            *(surge_alert(f"a-{n}", raised_at=T0 + timedelta(minutes=10 * n)) for n in range(5)),
            surge_alert("roads-1", category="roads", raised_at=T0 + timedelta(minutes=7)),
            surge_alert("moscow-1", region="77", city="Москва", raised_at=T0 + timedelta(minutes=8)),
        )
        headers = gw.headers("admin64")
        first = (await gw.client.get("/v1/alerts", params={"limit": 3}, headers=headers)).json()
        assert [a["alert_id"] for a in first["items"]] == ["a-4", "a-3", "a-2"]
        second = (
            await gw.client.get("/v1/alerts", params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers)
        ).json()
        assert [a["alert_id"] for a in second["items"]] == ["a-1", "roads-1", "a-0"]
        assert second["next_cursor"] is None

        roads = (await gw.client.get("/v1/alerts", params={"category": "roads"}, headers=headers)).json()
        assert [a["alert_id"] for a in roads["items"]] == ["roads-1"]
        since = (T0 + timedelta(minutes=20)).isoformat()
        recent = (await gw.client.get("/v1/alerts", params={"since": since}, headers=headers)).json()
        assert [a["alert_id"] for a in recent["items"]] == ["a-4", "a-3", "a-2"]

        everywhere = (await gw.client.get("/v1/alerts", headers=gw.headers("federal"))).json()
        assert len(everywhere["items"]) == 7
        moscow_only = (await gw.client.get("/v1/alerts", params={"region": "77"}, headers=headers)).json()
        assert moscow_only["items"] == []

    async def test_a_malformed_cursor_is_a_client_error(self, gw: Gateway) -> None:
        response = await gw.client.get("/v1/alerts", params={"cursor": "not-a-cursor"}, headers=gw.headers("admin64"))
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_the_stream_and_webhooks_can_ask_for_alerts_only(self, tmp_path: Path) -> None:
        settings = gateway_settings(tmp_path)
        app = create_app(settings)
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            gw = Gateway(app=app, client=client, settings=settings)
            headers = {"X-API-Key": await gw.key(Role.integration, ["64"])}
            await gw.create(incident_snapshot("inc-1"))
            await gw.feed(surge_alert("only-alert"))
            await gw.create(incident_snapshot("inc-2"))
            params = {"from_start": "true", "type": "alert.surge"}
            async with client.stream("GET", "/v1/events/stream", params=params, headers=headers) as stream:
                (event,) = await read_events(stream, 1)
            assert event["event"] == "alert.surge"
            assert orjson.loads(event["data"])["data"]["alert_id"] == "only-alert"

            # Webhooks: the dispatcher fans out from the same log; a hook for alerts gets the alert only.
            async with app.state.db.transaction() as session:
                key, _ = await create_key(session, name="portal", role=Role.integration, regions=["64"])
                for hook_id, types in (("wh-alerts", ["alert.surge"]), ("wh-all", None)):
                    session.add(
                        Webhook(
                            webhook_id=hook_id,
                            owner=f"key:{key.key_id}",
                            url="https://example.org/h",
                            event_types=types,
                        )
                    )
            await app.state.dispatcher.fan_out()
            async with app.state.db.transaction() as session:
                deliveries = (
                    await session.exec(
                        select(WebhookDelivery.webhook_id, IncidentEventLog.type).join(
                            IncidentEventLog,
                            IncidentEventLog.seq == WebhookDelivery.seq,  # type: ignore[arg-type]
                        )
                    )
                ).all()
        assert sorted(deliveries) == [
            ("wh-alerts", "alert.surge"),
            ("wh-all", "alert.surge"),
            ("wh-all", "incident.created"),
            ("wh-all", "incident.created"),
        ]
