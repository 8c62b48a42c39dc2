"""/v1/sources: type-specific validation, secrets never echoed, enable/disable, status, delete."""

from __future__ import annotations

import httpx
import pytest

from collector.main import create_app
from collector.scheduler import Scheduler
from collector.testing import make_settings
from incidents_common.testing import ServiceAuth

PROBLEM = "application/problem+json"


class TestSources:
    async def test_crud_without_echoing_secrets(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/v1/sources",
            json={
                "name": "Подслушано Тольятти",
                "type": "vk",
                "interval_seconds": 120,
                "settings": {"token": "vk1.a.secret", "owner_ids": [-85021433], "queries": ["яма Тольятти"]},
            },
        )
        assert created.status_code == 201, created.text
        source = created.json()
        assert "vk1.a.secret" not in created.text
        assert source["token_set"] is True and source["state"] == "ok"
        assert source["settings"]["owner_ids"] == [-85021433]
        for field in ("last_run", "last_success", "last_error", "next_run"):
            assert field in source
        assert source["posts_collected"] == 0

        listed = await client.get("/v1/sources")
        assert listed.json()["total"] == 1 and "vk1.a.secret" not in listed.text
        assert (await client.get("/v1/sources", params={"type": "rss"})).json()["total"] == 0

        disabled = (await client.post(f"/v1/sources/{source['id']}/disable")).json()
        assert (disabled["enabled"], disabled["state"]) == (False, "disabled")
        assert (await client.post(f"/v1/sources/{source['id']}/run")).status_code == 400
        enabled = (await client.post(f"/v1/sources/{source['id']}/enable")).json()
        assert (enabled["enabled"], enabled["state"]) == (True, "ok")

        renamed = await client.patch(f"/v1/sources/{source['id']}", json={"name": "ТЛТ", "interval_seconds": 60})
        assert (renamed.json()["name"], renamed.json()["interval_seconds"]) == ("ТЛТ", 60)
        assert renamed.json()["token_set"] is True

        assert (await client.delete(f"/v1/sources/{source['id']}")).status_code == 204
        missing = await client.get(f"/v1/sources/{source['id']}")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)

    async def test_type_specific_validation(self, client: httpx.AsyncClient) -> None:
        cases = [
            {"name": "x", "type": "vk", "settings": {"queries": ["a"]}},  # no token
            {"name": "x", "type": "vk", "settings": {"token": "t"}},  # nothing to read
            {"name": "x", "type": "vk", "settings": {"token": "t", "watched_posts": ["wall-1_2"]}},
            {"name": "x", "type": "telegram", "settings": {"token": "t", "mode": "webhook"}},  # no secret
            {"name": "x", "type": "telegram", "settings": {"token": "t", "mode": "push"}},
            {"name": "x", "type": "rss", "settings": {"url": "ftp://feeds.example/rss"}},
            {"name": "x", "type": "rss", "settings": {"url": "https://a.example", "colour": "red"}},
            {"name": "x", "type": "odnoklassniki", "settings": {}},
            {"name": "", "type": "rss", "settings": {"url": "https://a.example"}},
        ]
        for case in cases:
            response = await client.post("/v1/sources", json=case)
            assert response.status_code == 422, case
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["errors"], case
        assert (await client.get("/v1/sources")).json()["total"] == 0

    async def test_bad_settings_update_is_refused_and_changes_nothing(self, client: httpx.AsyncClient) -> None:
        source = (
            await client.post(
                "/v1/sources", json={"name": "feed", "type": "rss", "settings": {"url": "https://a.example"}}
            )
        ).json()
        response = await client.patch(f"/v1/sources/{source['id']}", json={"settings": {"url": "not a url"}})
        assert response.status_code == 422
        assert (await client.get(f"/v1/sources/{source['id']}")).json()["settings"]["url"] == "https://a.example"


async def test_a_source_change_wakes_the_scheduler_once_it_is_answered(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """The scheduler looks at the sources again at once after a change that makes one due, not at its
    next tick; a read wakes nothing."""
    woken: list[str] = []
    monkeypatch.setattr(Scheduler, "wake", lambda self: woken.append("woken"))
    app = create_app(make_settings(sqlite_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("collector")
        ) as client,
    ):
        created = await client.post(
            "/v1/sources", json={"name": "лента", "type": "rss", "settings": {"url": "http://127.0.0.1:9/feed"}}
        )
        assert created.status_code == 201, created.text
        assert woken == ["woken"]
        assert (await client.get("/v1/sources")).status_code == 200
        source_id = created.json()["id"]
        assert (await client.post(f"/v1/sources/{source_id}/disable")).status_code == 200
        assert woken == ["woken"]  # a disabled source is not due
        assert (await client.post(f"/v1/sources/{source_id}/enable")).status_code == 200
        assert woken == ["woken", "woken"]
