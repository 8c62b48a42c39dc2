"""Live updates: SSE filtered by region and resumable with Last-Event-ID; signed, retried webhooks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlmodel import select

from api_gateway.auth.hashing import hash_key
from api_gateway.auth.models import ApiKey
from api_gateway.auth.principal import Role
from api_gateway.auth.service import create_key, revoke_key
from api_gateway.live import service as live
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, read_events, serve
from api_gateway.webhooks.models import Webhook
from api_gateway.webhooks.signing import SIGNATURE_HEADER, verify_signature
from incidents_common.events import IncidentStatus, IncidentStatusChanged
from incidents_common.testing import eventually, incident_snapshot


@contextlib.asynccontextmanager
async def _served(tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient, dict[str, str]]]:
    """The gateway over real HTTP (streams need it), with an integration key of region 64."""
    settings = gateway_settings(tmp_path)
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        gw = Gateway(app=app, client=client, settings=settings)
        yield gw, client, {"X-API-Key": await gw.key(Role.integration, ["64"])}


class TestServerSentEvents:
    async def test_stream_is_filtered_by_region_and_resumes_after_last_event_id(self, tmp_path: Path) -> None:
        async with _served(tmp_path) as (gw, client, headers):
            await gw.create(incident_snapshot("s-64a"))
            await gw.create(incident_snapshot("s-77", region="77"))
            await gw.create(incident_snapshot("s-64b"))

            async with client.stream("GET", "/v1/events/stream", params={"from_start": "true"}, headers=headers) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                first = await read_events(r, 2)
            assert [orjson.loads(e["data"])["data"]["incident"]["incident_id"] for e in first] == ["s-64a", "s-64b"]
            assert first[0]["event"] == "incident.created"
            last_id = first[-1]["id"]

            # While disconnected: one more event in each region; the resumed stream gets only ours.
            await _taken(gw, "s-64a")
            await gw.create(incident_snapshot("s-77b", region="77"))
            await gw.create(incident_snapshot("s-64c"))
            resume = {**headers, "Last-Event-ID": last_id}
            async with client.stream("GET", "/v1/events/stream", headers=resume) as r:
                resumed = await read_events(r, 2)
            assert [e["event"] for e in resumed] == ["incident.status_changed", "incident.created"]
            assert orjson.loads(resumed[1]["data"])["data"]["incident"]["incident_id"] == "s-64c"
            assert all(int(e["id"]) > int(last_id) for e in resumed)

    async def test_new_events_arrive_live(self, tmp_path: Path) -> None:
        settings = gateway_settings(tmp_path)
        app = create_app(settings)
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            gw = Gateway(app=app, client=client, settings=settings)
            headers = {"X-API-Key": await gw.key(Role.official, ["64"], official_id="off-64-1")}
            await gw.create(incident_snapshot("old"))
            async with client.stream("GET", "/v1/events/stream", headers=headers) as r:
                # The response has started: the stream took its starting point (the last event, "old")
                # before answering, so everything created from here on is live.
                assert r.status_code == 200
                await gw.create(incident_snapshot("live-77", region="77"))
                await gw.create(incident_snapshot("live-64"))
                events = await read_events(r, 1)
            assert orjson.loads(events[0]["data"])["data"]["incident"]["incident_id"] == "live-64"

    async def test_an_open_stream_ends_when_its_key_is_revoked(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rechecks: list[str | None] = []
        end_reason = live.end_reason

        async def spied(*args: Any, **kwargs: Any) -> str | None:
            rechecks.append(await end_reason(*args, **kwargs))
            return rechecks[-1]

        monkeypatch.setattr(live, "end_reason", spied)  # what each re-check of the stream found
        settings = gateway_settings(tmp_path, sse_recheck_seconds=0.2)
        app = create_app(settings)
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            gw = Gateway(app=app, client=client, settings=settings)
            async with app.state.db.transaction() as session:
                key, value = await create_key(session, name="temp", role=Role.integration, regions=["64"])
            async with client.stream("GET", "/v1/events/stream", headers={"X-API-Key": value}) as r:
                async with app.state.db.transaction() as session:
                    await revoke_key(session, key.key_id)
                # Wait until the stream's re-check (every 0.2 s) has found the key revoked; an event
                # created after that is never sent, and the server ends the stream saying why.
                await eventually(lambda: _copy(rechecks), until=lambda found: "credential_revoked" in found)
                await gw.create(incident_snapshot("after-revocation"))

                async def drain() -> str:
                    return "".join([chunk async for chunk in r.aiter_text()])

                rest = await asyncio.wait_for(drain(), timeout=10)  # the server closes the stream
            assert "after-revocation" not in rest
            assert 'event: stream.closed\r\ndata: {"reason":"credential_revoked"}' in rest, rest

    async def test_browsers_authenticate_with_an_access_token_parameter(self, gw: Gateway) -> None:
        client_id, secret = await gw.client_credentials(Role.integration, ["64"])
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        token = (await gw.client.post("/v1/oauth/token", data=form)).json()["access_token"]
        # An API key is refused in the URL; a bad token too. (The stream itself is tested above.)
        key_in_url = await gw.client.get("/v1/events/stream", params={"access_token": gw.keys["integration64"]})
        assert key_in_url.status_code == 401
        forged = await gw.client.get("/v1/events/stream", params={"access_token": token[:-4] + "AAAA"})
        assert forged.status_code == 401
        outside = await gw.client.get("/v1/events/stream", params={"access_token": token, "region": "77"})
        assert outside.status_code == 404  # authenticated, and still limited to its regions

    async def test_a_filter_on_a_type_that_never_comes_is_refused(self, tmp_path: Path) -> None:
        async with _served(tmp_path) as (gw, client, headers):
            unknown = await client.get("/v1/events/stream", params={"type": "nonsense"}, headers=headers)
            assert unknown.status_code == 422 and unknown.headers["content-type"].startswith("application/problem+json")
            assert "incident.created" in unknown.text, "the refusal lists the types there are"

            # The CloudEvents name of a type is the same filter as its short name.
            await gw.create(incident_snapshot("t-64"))
            await _taken(gw, "t-64")
            params = {"from_start": "true", "type": "ru.incidents.incident.status_changed"}
            async with client.stream("GET", "/v1/events/stream", params=params, headers=headers) as r:
                assert r.status_code == 200
                (only,) = await read_events(r, 1)
            assert only["event"] == "incident.status_changed"

            hook = {"url": "https://portal64.example/hook", "secret": "a-shared-secret-of-enough-length"}
            refused = await client.post("/v1/webhooks", json={**hook, "event_types": ["nope"]}, headers=headers)
            assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
            created = await client.post(
                "/v1/webhooks",
                json={**hook, "event_types": ["ru.incidents.incident.created", "alert.surge"]},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            assert created.json()["event_types"] == ["alert.surge", "incident.created"]


async def _taken(gw: Gateway, incident_id: str) -> None:
    """An official took the incident: its incident.status_changed, assigned → in_progress."""
    changed = incident_snapshot(incident_id, status=IncidentStatus.in_progress)
    await gw.feed(
        IncidentStatusChanged(
            incident=changed, from_status=IncidentStatus.assigned, to_status=IncidentStatus.in_progress, actor="x"
        )
    )


async def _copy(values: list[Any]) -> list[Any]:
    return list(values)


def receiver(received: list[tuple[dict[str, str], bytes]]) -> FastAPI:
    app = FastAPI()
    state = {"calls": 0}

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        state["calls"] += 1
        if state["calls"] == 1:
            return JSONResponse({"error": "try later"}, status_code=503)
        received.append((dict(request.headers), await request.body()))
        return {"ok": True}

    return app


class TestWebhooks:
    async def test_deliveries_are_signed_retried_logged_and_region_filtered(self, make_gateway) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        async with (
            serve(receiver(received)) as hook_url,
            make_gateway(
                webhooks_enabled=True,
                webhook_poll_interval=0.05,
                webhook_backoff_base=0.1,
                webhook_allowed_hosts=["127.0.0.1"],  # the receiver is local; see test_webhook_targets.py
            ) as gw,
        ):
            secret = "a-shared-secret-of-enough-length"
            created = await gw.client.post(
                "/v1/webhooks",
                json={"url": f"{hook_url}/hook", "secret": secret, "event_types": ["incident.created"]},
                headers=gw.headers("integration64"),
            )
            assert created.status_code == 201, created.text
            webhook_id = created.json()["webhook_id"]
            await gw.create(incident_snapshot("w-77", region="77"))
            await gw.create(incident_snapshot("w-64"))

            async def deliveries() -> list[dict[str, Any]]:
                response = await gw.client.get(
                    f"/v1/webhooks/{webhook_id}/deliveries", headers=gw.headers("integration64")
                )
                return response.json()  # type: ignore[no-any-return]

            log = await eventually(deliveries, until=lambda d: bool(d) and d[0]["status"] == "delivered")
            assert len(log) == 1
            assert log[0]["attempts"] == 2 and log[0]["last_status_code"] == 200
            assert len(received) == 1
            headers, body = received[0]
            assert verify_signature(secret, headers[SIGNATURE_HEADER.lower()], body)
            assert not verify_signature("another-secret-entirely-000000", headers[SIGNATURE_HEADER.lower()], body)
            assert orjson.loads(body)["data"]["incident"]["incident_id"] == "w-64"
            # Other callers neither see nor delete the webhook.
            other = await gw.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=gw.headers("admin64"))
            assert other.status_code == 404

            # Revoking the owner stops its webhooks: nothing more is sent.
            async with gw.app.state.db.transaction() as session:
                key = (
                    await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(gw.keys["integration64"])))
                ).one()
                await revoke_key(session, key.key_id)
            await gw.create(incident_snapshot("w-64-after"))
            dispatcher = gw.app.state.dispatcher
            await dispatcher.fan_out()
            await dispatcher.deliver_due()
            async with gw.app.state.db.transaction() as session:
                hook = await session.get(Webhook, webhook_id)
                assert hook is not None and hook.active is False
            assert len(received) == 1
