"""Source secrets at rest: encrypted in the database, rotatable, never echoed; rows of the release
before encryption keep working; and a source cannot be pointed at another host without its token."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from collector import cli
from collector.main import create_app
from collector.models import Source
from collector.testing import TEST_SECRET_KEY, FakeServer, Reply, Request, make_settings
from incidents_common.secretbox import ExampleSecretError, SecretBox, SecretBoxError, generate_key
from incidents_common.testing import ServiceAuth

TOKEN = "vk1.a.TOKEN-that-must-not-leak-42"
BOT_TOKEN = "123456:BOT-token-that-must-not-leak"
WEBHOOK_SECRET = "webhook-secret-that-must-not-leak"
PROBLEM = "application/problem+json"


@contextlib.asynccontextmanager
async def running(sqlite_url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(make_settings(sqlite_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=ServiceAuth("collector")
        ) as client:
            yield app, client


async def raw(app: FastAPI, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with app.state.db.transaction() as session:
        result = await session.exec(text(sql), params=params)  # type: ignore[call-overload]
        return [tuple(row) for row in result.all()] if result.returns_rows else []


async def poll(app: FastAPI, client: httpx.AsyncClient, source_id: str) -> dict[str, Any]:
    async with app.state.db.sessions() as session:
        source = await session.get(Source, source_id)
    await app.state.scheduler.poll(source)
    return (await client.get(f"/v1/sources/{source_id}")).json()  # type: ignore[no-any-return]


def vk_answering(fake: FakeServer, *, error: str | None = None) -> None:
    def script(request: Request) -> Reply:
        if error is not None:
            return Reply(body={"error": {"error_code": 100, "error_msg": error}})
        return Reply(body={"response": {"items": [], "count": 0, "groups": [], "profiles": []}})

    fake.script = script


async def vk_source(client: httpx.AsyncClient, base_url: str, token: str = TOKEN) -> dict[str, Any]:
    response = await client.post(
        "/v1/sources",
        json={"name": "vk", "type": "vk", "settings": {"token": token, "queries": ["яма"], "base_url": base_url}},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class TestAtRest:
    async def test_stored_columns_hold_no_plaintext_and_responses_no_secrets(
        self, sqlite_url: str, fake: FakeServer
    ) -> None:
        async with running(sqlite_url) as (app, client):
            vk = await vk_source(client, f"{fake.url}/method")
            telegram = await client.post(
                "/v1/sources",
                json={
                    "name": "tg",
                    "type": "telegram",
                    "settings": {"token": BOT_TOKEN, "mode": "webhook", "secret": WEBHOOK_SECRET},
                },
            )
            assert telegram.status_code == 201, telegram.text
            rows = await raw(app, "SELECT name, settings FROM sources")
            stored = " ".join(row[1] for row in rows)
            for secret in (TOKEN, BOT_TOKEN, WEBHOOK_SECRET):
                assert secret not in stored
            assert stored.count("fernet:") == 3
            box = SecretBox([TEST_SECRET_KEY])
            by_name = {name: orjson.loads(settings) for name, settings in rows}
            assert box.reveal(by_name["vk"]["token"]) == TOKEN

            responses = [
                await client.get("/v1/sources"),
                await client.get(f"/v1/sources/{vk['id']}"),
                await client.patch(f"/v1/sources/{vk['id']}", json={"name": "renamed"}),
                telegram,
            ]
            for response in responses:
                for secret in (TOKEN, BOT_TOKEN, WEBHOOK_SECRET):
                    assert secret not in response.text
                assert "fernet:" not in response.text

            # The connector gets the token in clear; an error text quoting it is stored redacted.
            vk_answering(fake, error=f"User authorization failed: invalid access_token {TOKEN}")
            status = await poll(app, client, vk["id"])
            assert fake.requests[-1].form["access_token"] == TOKEN
            assert TOKEN not in str(status) and "***" in status["last_error"]

            # The Telegram webhook still authenticates with the (decrypted) secret.
            hook = f"/v1/telegram/webhook/{telegram.json()['id']}"
            update = {"update_id": 1}
            wrong = await client.post(hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
            right = await client.post(hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
            assert (wrong.status_code, right.status_code) == (403, 200)

    async def test_rotation(self, sqlite_url: str, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
        old, new = TEST_SECRET_KEY, generate_key()
        vk_answering(fake)
        async with running(sqlite_url, secret_keys=old) as (_, client):
            source = await vk_source(client, f"{fake.url}/method")
        # The new key first, the old one after it: what the old key encrypted still decrypts.
        async with running(sqlite_url, secret_keys=f"{new},{old}") as (app, client):
            assert (await poll(app, client, source["id"]))["state"] == "ok"
            assert fake.requests[-1].form["access_token"] == TOKEN

        monkeypatch.setenv("COLLECTOR_SECRET_KEYS", f"{new},{old}")
        assert await asyncio.to_thread(cli.main, ["rotate", "--database-url", sqlite_url]) == 0

        # After `rotate` the new key alone is enough, and the old one no longer opens anything.
        async with running(sqlite_url, secret_keys=new) as (app, client):
            assert (await poll(app, client, source["id"]))["state"] == "ok"
            assert fake.requests[-1].form["access_token"] == TOKEN
            [(settings,)] = await raw(app, "SELECT settings FROM sources")
        with pytest.raises(SecretBoxError):
            SecretBox([old]).reveal(orjson.loads(settings)["token"])

    async def test_a_previous_release_plaintext_row_still_works(self, sqlite_url: str, fake: FakeServer) -> None:
        vk_answering(fake)
        async with running(sqlite_url) as (app, client):
            # A row as the release before encryption wrote it: the token in plaintext.
            settings = {"token": TOKEN, "queries": ["яма"], "base_url": f"{fake.url}/method"}
            await raw(
                app,
                "INSERT INTO sources (id, name, type, enabled, interval_seconds, settings, state, halted, "
                "posts_collected, consecutive_failures, created_at, updated_at) VALUES "
                "('old-1', 'old', 'vk', 1, 300, :settings, 'ok', 0, 0, 0, '2026-11-01 00:00:00', "
                "'2026-11-01 00:00:00')",
                settings=orjson.dumps(settings).decode(),
            )
            listed = await client.get("/v1/sources/old-1")
            assert listed.json()["token_set"] is True and TOKEN not in listed.text
            # Read transparently: the poll sends the right token.
            assert (await poll(app, client, "old-1"))["state"] == "ok"
            assert fake.requests[-1].form["access_token"] == TOKEN
        # The next start seals it.
        async with running(sqlite_url) as (app, client):
            [(stored,)] = await raw(app, "SELECT settings FROM sources WHERE id = 'old-1'")
            assert TOKEN not in stored and "fernet:" in stored
            assert (await poll(app, client, "old-1"))["state"] == "ok"
            assert fake.requests[-1].form["access_token"] == TOKEN


class TestWhereTheTokenGoes:
    async def test_changing_base_url_needs_the_token_again(
        self, client: httpx.AsyncClient, fake: FakeServer, fake2: FakeServer, app: FastAPI
    ) -> None:
        vk_answering(fake)
        vk_answering(fake2)
        source = await vk_source(client, f"{fake.url}/method")
        path = f"/v1/sources/{source['id']}"

        moved = await client.patch(path, json={"settings": {"base_url": f"{fake2.url}/method"}})
        assert moved.status_code == 422
        assert moved.headers["content-type"].startswith(PROBLEM)
        problem = moved.json()
        assert problem["type"].endswith("/secrets-needed") and "token" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", "settings", "token"]
        assert TOKEN not in moved.text
        # Removing the override (back to COLLECTOR_VK_BASE_URL) moves the token too.
        assert (await client.patch(path, json={"settings": {"base_url": None}})).status_code == 422
        # Nothing changed: a poll still goes to the first host.
        await poll(app, client, source["id"])
        assert len(fake.requests) == 1 and fake2.requests == []

        # Other settings change freely; the same base_url again is no move.
        same = {"queries": ["мусор"], "base_url": f"{fake.url}/method"}
        assert (await client.patch(path, json={"settings": same})).status_code == 200

        with_token = await client.patch(
            path, json={"settings": {"base_url": f"{fake2.url}/method", "token": "vk1.a.new-token"}}
        )
        assert with_token.status_code == 200, with_token.text
        await poll(app, client, source["id"])
        assert fake2.requests[-1].form["access_token"] == "vk1.a.new-token"

    async def test_a_telegram_webhook_source_needs_token_and_secret(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/v1/sources",
            json={
                "name": "tg",
                "type": "telegram",
                "settings": {"token": BOT_TOKEN, "mode": "webhook", "secret": WEBHOOK_SECRET},
            },
        )
        path = f"/v1/sources/{created.json()['id']}"
        elsewhere = "https://bots.attacker.example"
        only_token = await client.patch(path, json={"settings": {"base_url": elsewhere, "token": BOT_TOKEN}})
        assert only_token.status_code == 422 and "secret" in only_token.json()["detail"]
        both = {"base_url": elsewhere, "token": BOT_TOKEN, "secret": WEBHOOK_SECRET}
        assert (await client.patch(path, json={"settings": both})).status_code == 200


class TestStartupSecretCheck:
    def test_example_values_are_refused_outside_the_local_launcher(self, tmp_path: Path) -> None:
        settings = make_settings("sqlite+aiosqlite://", secret_keys="change-me", data_dir=str(tmp_path))
        with pytest.raises(ExampleSecretError) as refused:
            settings.check_secrets(environ={})
        assert "COLLECTOR_SECRET_KEYS" in str(refused.value) and "change-me," not in str(refused.value)
        with pytest.raises(SecretBoxError):  # the launcher may use examples, but this is no key at all
            settings.check_secrets(environ={"INCIDENTS_LOCAL_LAUNCHER": "1"})

    def test_a_generated_key_file_is_private_and_reused(self, tmp_path: Path) -> None:
        settings = make_settings("sqlite+aiosqlite://", secret_keys="", data_dir=str(tmp_path))
        settings.check_secrets(environ={})
        key_file = tmp_path / "collector-secret.keys"
        assert not key_file.exists()  # the check has no side effects; the key is made at first use
        settings.secret_box()
        assert key_file.stat().st_mode & 0o077 == 0
        sealed = settings.secret_box().seal("x")
        again = make_settings("sqlite+aiosqlite://", secret_keys="", data_dir=str(tmp_path))
        assert again.secret_box().reveal(sealed) == "x"
        make_settings("sqlite+aiosqlite://").check_secrets(environ={})  # a real key passes
