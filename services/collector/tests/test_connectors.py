"""Connectors against fake VK, Telegram and feed servers speaking the documented wire formats:
paging, cursors across a restart, rate-limit and auth errors, skips, timeouts, edits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from collector.main import create_app
from collector.models import Source
from collector.sources.service import due_sources
from collector.testing import FakeServer, Reply, Request, make_settings
from incidents_common.testing import ServiceAuth

T0 = 1764000000  # 2025-11-24T16:00:00Z


async def add_source(client: httpx.AsyncClient, kind: str, settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/sources", json={"name": f"{kind} test", "type": kind, "settings": settings, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def poll(app: FastAPI, source_id: str) -> dict[str, Any]:
    """One poll of one source through the scheduler; returns the source as the API shows it."""
    async with app.state.db.sessions() as session:
        source = await session.get(Source, source_id)
    await app.state.scheduler.poll(source)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=ServiceAuth("collector")) as client:
        return (await client.get(f"/v1/sources/{source_id}")).json()


async def posts(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await client.get("/v1/posts", params={"limit": 500, **params})).json()["items"]


def vk_item(post_id: int, owner: int = -100, text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": post_id,
        "owner_id": owner,
        "from_id": owner,
        "date": T0 + post_id,
        "text": text if text is not None else f"Пост {post_id}: в Тольятти на Курчатова нет света",
        "likes": {"count": post_id, "user_likes": 0},
        "reposts": {"count": 1},
        "comments": {"count": 0},
        "views": {"count": 100 + post_id},
        "post_type": "post",
        **extra,
    }


GROUPS = [
    {
        "id": 100,
        "name": "Подслушано Тольятти",
        "screen_name": "podslushano_tlt",
        "members_count": 120000,
        "city": {"id": 2, "title": "Тольятти"},
    },
]


def vk_ok(items: list[dict[str, Any]], next_from: str | None = None, **extra: Any) -> Reply:
    response: dict[str, Any] = {"items": items, "count": len(items), "groups": GROUPS, "profiles": [], **extra}
    if next_from:
        response["next_from"] = next_from
    return Reply(body={"response": response})


def vk_error(code: int, message: str) -> Reply:
    return Reply(body={"error": {"error_code": code, "error_msg": message, "request_params": []}})


class TestVk:
    async def test_search_pages_resume_after_a_restart_in_the_middle(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FastAPI, sqlite_url: str
    ) -> None:
        pages = {
            None: ([vk_item(1), vk_item(2)], "p2"),
            "p2": ([vk_item(3), vk_item(4)], "p3"),
            "p3": ([vk_item(5)], None),
        }
        crash = {"on": "p3"}

        def script(request: Request) -> Reply:
            assert request.path == "/method/newsfeed.search"
            assert (request.form["access_token"], request.form["v"]) == ("vk-token", "5.199")
            start_from = request.form.get("start_from")
            if start_from == crash["on"]:
                return Reply(status=502, body="Bad Gateway")
            items, next_from = pages[start_from]
            return vk_ok(items, next_from)

        fake.script = script
        source = await add_source(
            client, "vk", {"token": "vk-token", "queries": ["нет света"], "base_url": f"{fake.url}/method"}
        )
        assert "token" not in source["settings"] and source["token_set"] is True

        failed = await poll(app, source["id"])
        assert failed["state"] == "failing" and "502" in failed["last_error"]
        assert len(await posts(client)) == 4

        # The service restarts; the cursor in the database says where paging stopped.
        crash["on"] = "never"
        fake.requests.clear()
        restarted = create_app(make_settings(sqlite_url))
        async with restarted.router.lifespan_context(restarted):
            status = await poll(restarted, source["id"])
        assert [r.form.get("start_from") for r in fake.requests] == ["p3"]
        assert status["state"] == "ok" and status["posts_collected"] == 5
        stored = await posts(client)
        assert sorted(p["external_id"] for p in stored) == [f"-100_{n}" for n in range(1, 6)]
        first = next(p for p in stored if p["external_id"] == "-100_1")
        assert first["url"] == "https://vk.com/wall-100_1"
        assert first["place_hints"] == {"city": "Тольятти", "title": "Подслушано Тольятти"}
        assert first["reach"] == {"likes": 1, "reposts": 1, "comments": 0, "views": 101}
        assert first["author"]["followers"] == 120000

        cursors = (await client.get(f"/v1/sources/{source['id']}/cursors")).json()
        assert cursors["search:нет света"]["newest"] == T0 + 5
        assert cursors["search:нет света"]["next_from"] is None

        # The next poll asks only for what is newer than the newest post seen.
        fake.requests.clear()
        fake.script = lambda request: vk_ok([])
        await poll(app, source["id"])
        assert fake.requests[0].form["start_time"] == str(T0 + 5 + 1)
        assert "start_from" not in fake.requests[0].form

        # Reset: the next poll starts afresh from the look-back window; stored posts stay single.
        assert (await client.delete(f"/v1/sources/{source['id']}/cursors")).status_code == 204
        assert (await client.get(f"/v1/sources/{source['id']}/cursors")).json() == {}
        fake.requests.clear()
        fake.script = lambda request: vk_ok([vk_item(1), vk_item(2)])
        await poll(app, source["id"])
        lookback_start = datetime.now(UTC).timestamp() - 24 * 3600
        assert abs(int(fake.requests[0].form["start_time"]) - lookback_start) < 600
        assert len(await posts(client)) == 5

    async def test_error_6_is_retried_and_29_backs_off(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        answers = [vk_error(6, "Too many requests per second"), vk_ok([vk_item(1)])]
        fake.script = lambda request: answers.pop(0)
        source = await add_source(client, "vk", {"token": "t", "queries": ["яма"], "base_url": fake.url})
        status = await poll(app, source["id"])
        assert status["state"] == "ok" and len(fake.requests) == 2 and status["posts_collected"] == 1

        fake.script = lambda request: vk_error(29, "Rate limit reached")
        before = datetime.now(UTC)
        status = await poll(app, source["id"])
        assert status["state"] == "failing" and "29" in status["last_error"]
        assert datetime.fromisoformat(status["next_run"]) >= before + timedelta(minutes=50)

    async def test_auth_failure_stops_polling_until_the_token_changes(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        fake.script = lambda request: vk_error(5, "User authorization failed: invalid access_token (4).")
        source = await add_source(client, "vk", {"token": "old", "queries": ["яма"], "base_url": fake.url})
        status = await poll(app, source["id"])
        assert status["state"] == "failing" and "authorisation failed" in status["last_error"]
        async with app.state.db.sessions() as session:
            far_future = datetime.now(UTC) + timedelta(days=30)
            assert source["id"] not in [s.id for s in await due_sources(session, now=far_future)]

        updated = await client.patch(f"/v1/sources/{source['id']}", json={"settings": {"token": "new"}})
        assert updated.json()["state"] == "ok"
        assert updated.json()["settings"]["queries"] == ["яма"]  # merged, not replaced
        async with app.state.db.sessions() as session:
            assert source["id"] in [s.id for s in await due_sources(session, now=datetime.now(UTC))]

    async def test_walls_skip_private_ones_and_dedup_with_search_and_comments(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        def script(request: Request) -> Reply:
            method = request.path.rsplit("/", 1)[-1]
            if method == "newsfeed.search":
                return vk_ok([vk_item(1)])
            if method == "wall.get" and request.form["owner_id"] == "-200":
                return vk_error(30, "This profile is private")
            if method == "wall.get":
                # The pinned post sits on top whatever its age.
                pinned = vk_item(1, is_pinned=1)
                return vk_ok([pinned, vk_item(3), vk_item(2)])
            if method == "wall.getComments":
                assert (request.form["owner_id"], request.form["post_id"]) == ("-100", "1")
                comment = {
                    "id": 55,
                    "from_id": 777,
                    "post_id": 1,
                    "owner_id": -100,
                    "date": T0 + 60,
                    "text": "У нас тоже нет света!",
                    "likes": {"count": 2},
                }
                profiles = [
                    {
                        "id": 777,
                        "first_name": "Анна",
                        "last_name": "Кузнецова",
                        "screen_name": "anna_k",
                        "city": {"id": 2, "title": "Тольятти"},
                    }
                ]
                return vk_ok([comment], profiles=profiles)
            return vk_error(3, "Unknown method passed")

        fake.script = script
        source = await add_source(
            client,
            "vk",
            {
                "token": "t",
                "queries": ["свет"],
                "owner_ids": [-200, -100],
                "watched_posts": ["-100_1"],
                "base_url": fake.url,
            },
        )
        status = await poll(app, source["id"])
        assert status["state"] == "ok"
        assert "wall -200 skipped: profile is private (VK error 30)" in status["last_error"]
        stored = {p["external_id"]: p for p in await posts(client)}
        assert sorted(stored) == ["-100_1", "-100_1_c55", "-100_2", "-100_3"]  # -100_1 once: search and wall
        comment = stored["-100_1_c55"]
        assert comment["parent_external_id"] == "-100_1"
        assert comment["author"]["name"] == "Анна Кузнецова"
        assert comment["url"] == "https://vk.com/wall-100_1?reply=55"

        # Nothing new on the wall since the last id: the next poll stores nothing.
        await poll(app, source["id"])
        assert len(await posts(client)) == 4

    async def test_repost_chain(self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer) -> None:
        original = vk_item(9, owner=-300, text="Оригинал: прорыв трубы на Матросова")
        repost = vk_item(10, owner=555, text="", copy_history=[original])
        fake.script = lambda request: vk_ok([repost])
        source = await add_source(client, "vk", {"token": "t", "queries": ["труба"], "base_url": fake.url})
        await poll(app, source["id"])
        (stored,) = await posts(client)
        assert stored["text"] == "Оригинал: прорыв трубы на Матросова"
        assert stored["repost_chain"][0]["external_id"] == "-300_9"


def tg_update(
    update_id: int, kind: str, message_id: int, text: str, chat: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"update_id": update_id, kind: {"message_id": message_id, "date": T0, "chat": chat, "text": text, **extra}}


CHANNEL = {"id": -1001744003322, "type": "channel", "title": "Тольятти сегодня", "username": "tolyatti_today"}
GROUP = {"id": -1009, "type": "supergroup", "title": "Жители Энгельса"}
PRIVATE = {"id": 12345, "type": "private", "first_name": "Пётр"}


class TestTelegram:
    async def test_long_polling_with_offset_and_edits(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        updates = [
            tg_update(10, "channel_post", 3310, "Прорвало трубу на Матросова", CHANNEL, views=1200),
            tg_update(
                11,
                "message",
                7,
                "Во дворе <b>нет</b> света",
                GROUP,
                **{"from": {"id": 5, "first_name": "Ира", "username": "ira"}},
            ),
            tg_update(12, "message", 8, "Привет, бот", PRIVATE),
        ]

        def script(request: Request) -> Reply:
            assert request.path == "/botTOKEN:1/getUpdates"
            offset = request.json.get("offset", 0)
            return Reply(body={"ok": True, "result": [u for u in updates if u["update_id"] >= offset]})

        fake.script = script
        source = await add_source(
            client, "telegram", {"token": "TOKEN:1", "base_url": fake.url, "long_poll_timeout": 0}
        )
        status = await poll(app, source["id"])
        assert status["state"] == "ok" and status["posts_collected"] == 2
        stored = {p["external_id"]: p for p in await posts(client)}
        assert set(stored) == {"-1001744003322_3310", "-1009_7"}  # the private chat is not collected
        channel_post = stored["-1001744003322_3310"]
        assert channel_post["url"] == "https://t.me/tolyatti_today/3310"
        assert channel_post["place_hints"]["title"] == "Тольятти сегодня"
        assert channel_post["reach"]["views"] == 1200
        assert stored["-1009_7"]["text"] == "Во дворе нет света"
        assert fake.requests[0].json["allowed_updates"] == [
            "channel_post",
            "message",
            "edited_message",
            "edited_channel_post",
        ]

        updates.append(
            tg_update(13, "edited_channel_post", 3310, "Прорвало трубу, аварийка приехала", CHANNEL, edit_date=T0 + 600)
        )
        fake.requests.clear()
        await poll(app, source["id"])
        assert fake.requests[0].json["offset"] == 13
        edited = (await client.get(f"/v1/posts/{channel_post['id']}")).json()
        assert (edited["version"], edited["text"]) == (2, "Прорвало трубу, аварийка приехала")

    async def test_rejected_token_halts_the_source(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        fake.script = lambda request: Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        source = await add_source(client, "telegram", {"token": "bad", "base_url": fake.url, "long_poll_timeout": 0})
        status = await poll(app, source["id"])
        assert status["state"] == "failing" and "Unauthorized" in status["last_error"]

    async def test_set_webhook_registers_the_secret(self, client: httpx.AsyncClient, fake: FakeServer) -> None:
        fake.script = lambda request: Reply(body={"ok": True, "result": True, "description": "Webhook was set"})
        source = await add_source(
            client, "telegram", {"token": "T:1", "mode": "webhook", "secret": "s3cr3t", "base_url": fake.url}
        )
        url = "https://collector.example/v1/telegram/webhook/" + source["id"]
        answer = await client.post(f"/v1/sources/{source['id']}/telegram/set-webhook", json={"url": url})
        assert answer.status_code == 200 and answer.json()["description"] == "Webhook was set"
        (request,) = fake.requests
        assert request.path == "/botT:1/setWebhook"
        assert (request.json["url"], request.json["secret_token"]) == (url, "s3cr3t")

        fake.script = lambda request: Reply(400, {"ok": False, "error_code": 400, "description": "bad webhook"})
        refused = await client.post(f"/v1/sources/{source['id']}/telegram/set-webhook", json={"url": url})
        assert refused.status_code == 502 and "bad webhook" in refused.json()["detail"]
        plain = await client.post(f"/v1/sources/{source['id']}/telegram/set-webhook", json={"url": "http://x"})
        assert plain.status_code == 422

    async def test_webhook_checks_the_secret_token(self, client: httpx.AsyncClient) -> None:
        source = await add_source(client, "telegram", {"token": "T", "mode": "webhook", "secret": "s3cr3t"})
        assert source["secret_set"] is True and "secret" not in source["settings"]
        url = f"/v1/telegram/webhook/{source['id']}"
        update = tg_update(1, "channel_post", 5, "Нет отопления в школе №3", CHANNEL)
        wrong = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
        assert wrong.status_code == 403
        assert (await client.post(url, json=update)).status_code == 403
        ok = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cr3t"})
        assert ok.json()["accepted"] == 1
        private = tg_update(2, "message", 9, "привет", PRIVATE)
        ignored = await client.post(url, json=private, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cr3t"})
        assert ignored.json()["accepted"] == 0
        (stored,) = await posts(client)
        assert stored["source_id"] == source["id"]


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Новости Энгельса</title><link>https://engels.example</link>
<item><title>Отключение воды в 2-м микрорайоне</title><link>https://engels.example/n/1</link>
<guid>https://engels.example/n/1</guid><pubDate>Mon, 24 Nov 2025 09:00:00 +0400</pubDate>
<description>&lt;p&gt;С 10:00 до 18:00 &amp;laquo;Водоканал&amp;raquo; отключит воду.&lt;/p&gt;</description></item>
<item><title>Ремонт моста</title><link>https://engels.example/n/2</link><guid>https://engels.example/n/2</guid>
<pubDate>Mon, 24 Nov 2025 10:00:00 +0400</pubDate><description>Мост закроют на ночь.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Мэрия Казани</title><id>urn:kzn</id>
<updated>2025-11-24T10:00:00Z</updated>
<entry><title>Уборка снега</title><id>urn:kzn:1</id><updated>2025-11-24T10:00:00Z</updated>
<link href="https://kzn.example/1"/><author><name>Пресс-служба</name></author>
<content type="html">{content}</content></entry></feed>"""


class TestFeeds:
    async def test_rss_with_etag(self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer) -> None:
        def script(request: Request) -> Reply:
            if request.headers.get("if-none-match") == '"v1"':
                return Reply(304)
            return Reply(
                body=RSS,
                headers={
                    "Content-Type": "application/rss+xml",
                    "ETag": '"v1"',
                    "Last-Modified": "Mon, 24 Nov 2025 10:00:00 GMT",
                },
            )

        fake.script = script
        source = await add_source(client, "rss", {"url": f"{fake.url}/rss.xml", "city": "Энгельс", "region_code": "64"})
        status = await poll(app, source["id"])
        assert status["posts_collected"] == 2
        stored = {p["external_id"]: p for p in await posts(client)}
        water = stored["https://engels.example/n/1"]
        assert water["text"] == "Отключение воды в 2-м микрорайоне\n\nС 10:00 до 18:00 «Водоканал» отключит воду."
        assert water["published_at"].startswith("2025-11-24T05:00:00")
        assert water["place_hints"] == {"title": "Новости Энгельса", "city": "Энгельс", "region_code": "64"}

        status = await poll(app, source["id"])
        assert fake.requests[-1].headers["if-modified-since"] == "Mon, 24 Nov 2025 10:00:00 GMT"
        assert status["state"] == "ok" and status["posts_collected"] == 2

    async def test_atom_entry_update_is_a_new_version(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
    ) -> None:
        content = {"value": "Дворы убирают с 6 утра."}
        fake.script = lambda request: Reply(
            body=ATOM.format(content=content["value"]), headers={"Content-Type": "application/atom+xml"}
        )
        source = await add_source(client, "rss", {"url": fake.url})
        await poll(app, source["id"])
        content["value"] = "Дворы убирают с 5 утра, техника вышла на улицы."
        await poll(app, source["id"])
        (stored,) = await posts(client)
        assert (stored["version"], stored["external_id"]) == (2, "urn:kzn:1")
        assert stored["author"]["name"] == "Пресс-служба" and stored["url"] == "https://kzn.example/1"


class TestScheduler:
    async def test_a_slow_source_fails_alone_and_backs_off(
        self, app: FastAPI, client: httpx.AsyncClient, fake: FakeServer, fake2: FakeServer
    ) -> None:
        fake.script = lambda request: Reply(body=RSS, delay=3.0)  # longer than http_timeout (2 s)
        fake2.script = lambda request: Reply(body=RSS.replace("engels.example", "other.example"))
        slow = await add_source(client, "rss", {"url": fake.url})
        quick = await add_source(client, "rss", {"url": fake2.url})
        scheduler = app.state.scheduler
        started = datetime.now(UTC)
        await scheduler.tick()
        assert set(scheduler._running) == {slow["id"], quick["id"]}
        await asyncio.gather(*scheduler._running.values())
        slow_status = (await client.get(f"/v1/sources/{slow['id']}")).json()
        quick_status = (await client.get(f"/v1/sources/{quick['id']}")).json()
        assert quick_status["state"] == "ok" and quick_status["posts_collected"] == 2
        assert slow_status["state"] == "failing" and "timed out" in slow_status["last_error"]
        assert slow_status["consecutive_failures"] == 1
        backoff = datetime.fromisoformat(slow_status["next_run"]) - started
        assert timedelta(seconds=29) <= backoff <= timedelta(seconds=40)  # backoff_base 30 s, no jitter
        assert datetime.fromisoformat(quick_status["next_run"]) - started >= timedelta(seconds=299)

    async def test_polling_pauses_while_the_outbox_backlog_is_over_the_limit(
        self, sqlite_url: str, fake: FakeServer
    ) -> None:
        fake.script = lambda request: Reply(body=RSS)
        app = create_app(make_settings(sqlite_url, max_outbox_backlog=1))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=ServiceAuth("collector")
            ) as client:
                await add_source(client, "rss", {"url": fake.url})
                body = {"posts": [{"text": f"пост {n}", "published_at": "2026-11-24T10:00:00Z"} for n in range(2)]}
                assert (await client.post("/v1/posts", json=body)).status_code == 200
                await app.state.scheduler.tick()
                assert app.state.scheduler.paused_for_backlog is True
                assert not app.state.scheduler._running and not fake.requests

    async def test_running_scheduler_polls_a_new_source(self, sqlite_url: str, fake: FakeServer) -> None:
        fake.script = lambda request: Reply(body=RSS)
        app = create_app(make_settings(sqlite_url, scheduler_enabled=True))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=ServiceAuth("collector")
            ) as client:
                source = await add_source(client, "rss", {"url": fake.url}, interval_seconds=3600)
                for _ in range(200):
                    if len(await posts(client)) == 2:
                        break
                    await asyncio.sleep(0.05)
                assert len(await posts(client)) == 2
                assert (await client.get(f"/v1/sources/{source['id']}")).json()["last_success"] is not None


class TestBackoffAndLimits:
    async def test_backoff_doubles_up_to_the_ceiling(self, sqlite_url: str, fake: FakeServer) -> None:
        fake.script = lambda request: Reply(status=500, body="oops")
        app = create_app(make_settings(sqlite_url, backoff_base=30.0, backoff_max=100.0))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", auth=ServiceAuth("collector")
            ) as client:
                source = await add_source(client, "rss", {"url": fake.url})
                delays = []
                for _ in range(4):
                    status = await poll(app, source["id"])
                    delay = datetime.fromisoformat(status["next_run"]) - datetime.fromisoformat(status["last_run"])
                    delays.append(round(delay.total_seconds()))
                assert delays == [30, 60, 100, 100]
                assert status["consecutive_failures"] == 4 and "HTTP 500" in status["last_error"]
                fake.script = lambda request: Reply(body=RSS)
                healed = await poll(app, source["id"])
                assert (healed["state"], healed["consecutive_failures"], healed["last_error"]) == ("ok", 0, None)

    async def test_sources_sharing_a_vk_token_share_one_rate_limiter(self, app: FastAPI) -> None:
        scheduler = app.state.scheduler
        one = Source(id="a", name="a", type="vk", settings={"token": "same"})
        two = Source(id="b", name="b", type="vk", settings={"token": "same"})
        other = Source(id="c", name="c", type="vk", settings={"token": "different"})
        assert scheduler.limiter_for(one) is scheduler.limiter_for(two)
        assert scheduler.limiter_for(one) is not scheduler.limiter_for(other)
        assert scheduler.limiter_for(one).interval == 1 / app.state.settings.vk_requests_per_second
