"""An open SSE stream ends when what opened it ends: the access token expires or is revoked, the
credential is revoked, or its role or regions change. Each test waits for the positive signal (the
`stream.closed` event with its reason, then the server closing the response), never for a pause."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import select

from api_gateway.auth.hashing import hash_key
from api_gateway.auth.models import ApiKey
from api_gateway.auth.principal import Role
from api_gateway.auth.service import create_key, revoke_client
from api_gateway.live import service as live
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, serve
from incidents_common.testing import eventually, incident_snapshot


@contextlib.asynccontextmanager
async def live_gateway(tmp_path: Path, **overrides: Any) -> AsyncIterator[Gateway]:
    settings = gateway_settings(tmp_path, **{"sse_recheck_seconds": 0.1, **overrides})
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Gateway(app=app, client=client, settings=settings)


async def until_closed(response: httpx.Response) -> tuple[list[dict[str, str]], str]:
    """Read the stream to its end; the events seen and the reason of the closing event."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def read() -> None:
        async for line in response.aiter_lines():  # returns only when the server ends the response
            if not line:
                if "data" in current:
                    events.append(dict(current))
                current.clear()
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.strip()

    await asyncio.wait_for(read(), timeout=15)
    closing = [e for e in events if e.get("event") == "stream.closed"]
    assert len(closing) == 1 and events[-1] is closing[0], events
    return events[:-1], orjson.loads(closing[0]["data"])["reason"]


def credential_rechecks(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What each re-check of an open stream's credential found (None: nothing, the stream goes on);
    a spy around live.end_reason."""
    found: list[str | None] = []
    end_reason = live.end_reason

    async def spied(*args: Any, **kwargs: Any) -> str | None:
        reason = await end_reason(*args, **kwargs)
        found.append(reason)
        return reason

    monkeypatch.setattr(live, "end_reason", spied)
    return found


async def _copy(values: list[Any]) -> list[Any]:
    return list(values)


async def token_for(gw: Gateway, role: Role, regions: list[str]) -> tuple[str, str]:
    client_id, secret = await gw.client_credentials(role, regions)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = await gw.client.post("/v1/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return client_id, response.json()["access_token"]


class TestStreamLifetime:
    async def test_the_stream_ends_when_its_access_token_expires(self, tmp_path: Path) -> None:
        # The token lives 3 s from its issue, the last step before the stream opens: on a loaded
        # machine a second could pass before the request reached the server, refused as expired.
        async with live_gateway(tmp_path, token_ttl_seconds=3, sse_recheck_seconds=60) as gw:
            await gw.create(incident_snapshot("before"))
            _, token = await token_for(gw, Role.integration, ["64"])
            params = {"access_token": token, "from_start": "true"}
            async with gw.client.stream("GET", "/v1/events/stream", params=params) as response:
                assert response.status_code == 200
                events, reason = await until_closed(response)
            # Ended by the expiry itself, not by the (one-minute) re-check.
            assert reason == "token_expired"
            assert [orjson.loads(e["data"])["data"]["incident"]["incident_id"] for e in events] == ["before"]

    async def test_the_stream_ends_when_its_access_token_is_revoked(self, tmp_path: Path) -> None:
        async with live_gateway(tmp_path) as gw:
            _, token = await token_for(gw, Role.integration, ["64"])
            headers = {"Authorization": f"Bearer {token}"}
            async with gw.client.stream("GET", "/v1/events/stream", headers=headers) as response:
                revoked = await gw.client.post("/v1/oauth/revoke", data={"token": token}, headers=headers)
                assert revoked.status_code == 200
                _, reason = await until_closed(response)
            assert reason == "token_revoked"

    async def test_the_stream_ends_when_its_client_is_revoked(self, tmp_path: Path) -> None:
        async with live_gateway(tmp_path) as gw:
            client_id, token = await token_for(gw, Role.integration, ["64"])
            async with gw.client.stream("GET", "/v1/events/stream", params={"access_token": token}) as response:
                async with gw.app.state.db.transaction() as session:
                    await revoke_client(session, client_id)
                _, reason = await until_closed(response)
            assert reason == "credential_revoked"

    async def test_the_stream_ends_when_its_regions_change(self, tmp_path: Path) -> None:
        async with live_gateway(tmp_path) as gw:
            async with gw.app.state.db.transaction() as session:
                _, value = await create_key(session, name="monitor", role=Role.integration, regions=["64"])
            async with gw.client.stream("GET", "/v1/events/stream", headers={"X-API-Key": value}) as response:
                await gw.create(incident_snapshot("in-64"))
                async with gw.app.state.db.transaction() as session:
                    key = (await session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(value)))).one()
                    key.regions = ["64", "77"]  # widened: the open stream was filtered by the old regions
                    session.add(key)
                events, reason = await until_closed(response)
            assert reason == "credential_changed"
            assert all("in-64" in e["data"] for e in events)

    async def test_a_stream_whose_credential_is_unchanged_stays_open(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rechecks = credential_rechecks(monkeypatch)
        async with live_gateway(tmp_path) as gw:
            value = await gw.key(Role.integration, ["64"])
            async with gw.client.stream("GET", "/v1/events/stream", headers={"X-API-Key": value}) as response:
                # Wait until the open stream has re-checked its credential three times (every 0.1 s),
                # each finding no reason to end; then a live event still arrives.
                await eventually(lambda: _copy(rechecks), until=lambda done: len(done) >= 3)
                assert set(rechecks) == {None}
                await gw.create(incident_snapshot("still-open"))

                async def first_event() -> dict[str, Any]:
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            return dict(orjson.loads(line.partition(":")[2]))
                    raise AssertionError("the stream ended")

                event = await asyncio.wait_for(first_event(), timeout=10)
            assert event["data"]["incident"]["incident_id"] == "still-open"
