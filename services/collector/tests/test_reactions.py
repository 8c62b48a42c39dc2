"""Citizens' reactions to published replies: a reply published on the fake VK or Telegram (ReplyRequested on
a real nats-server in), comments and messages written under it, and ReactionCollected out on NATS.

Each test runs the whole collector (consumer, publisher, watcher, outbox relay). The watcher's own loop
polls only at start (`reaction_poll_seconds` is an hour): the tests run its polls themselves and wait
for positive signals (events on NATS, the poll's count, the fake's requests), never for silence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import select, update

from collector.ingest.schemas import PostCreate
from collector.main import create_app
from collector.models import Post, Publication
from collector.reactions.watcher import Watcher
from collector.testing import FakeServer, FakeTelegram, FakeVk, make_settings
from incidents_common.events import (
    SUBJECT_REACTION_COLLECTED_ALL,
    SUBJECT_REPLY_PUBLICATION_ALL,
    ReactionCollected,
    ReplyRequested,
    SourceType,
    decode_event,
)
from incidents_common.testing import ServiceAuth, eventually, read_stream

from .test_publishing import add_source, reply_for, request

COMPLAINANT, NEIGHBOUR = 777, 888
SECRET = "s3cr3t"
CHAT = {"id": -1001744003322, "type": "supergroup", "title": "Тольятти сегодня", "username": "tolyatti_today"}


@asynccontextmanager
async def collector(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    values: dict[str, Any] = {"nats_enabled": True, "nats_url": nats_url, "reaction_poll_seconds": 3600.0}
    app = create_app(make_settings(database_url, **{**values, **overrides}))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.events.ready.wait(), timeout=20)
        yield app


def api(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test", auth=ServiceAuth("collector"))


async def store_post(app: FastAPI, source_id: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """The complaint, stored as a poll of `source_id` would; returns its id and what it was stored with."""
    values = {"text": "Во дворе нет света третий день", "published_at": datetime.now(UTC) - timedelta(hours=1)}
    post = PostCreate.model_validate({**values, **fields})
    (item,) = (await app.state.ingestor.ingest([post], source_id=source_id)).items
    return item.post_id, post.model_dump(mode="json")


async def publish_reply(nats_url: str, post_id: str, post: dict[str, Any]) -> ReplyRequested:
    """Routing asks for a reply to the complaint; returns once the collector says it is published."""
    reply = reply_for(post_id, post, requested_at=datetime.now(UTC))
    await request(nats_url, reply)
    published = await eventually(lambda: _read(nats_url, SUBJECT_REPLY_PUBLICATION_ALL), until=lambda e: len(e) >= 1)
    assert [e.data.status for e in published] == ["published"], [e.data for e in published]
    return reply


async def _read(nats_url: str, subject: str) -> list[Any]:
    return [decode_event(m.data) for m in await read_stream(nats_url, subject, timeout=0.3)]


async def reactions(nats_url: str, count: int) -> list[ReactionCollected]:
    """Wait for `count` ReactionCollected on NATS: all of them, in the order published (exactly `count`)."""
    messages = await eventually(
        lambda: read_stream(nats_url, SUBJECT_REACTION_COLLECTED_ALL, timeout=0.3),
        until=lambda found: len(found) >= count,
    )
    events = [decode_event(m.data) for m in messages]
    assert len(events) == count, [e.data for e in events]
    assert {m.subject for m in messages} == {"incidents.v1.reaction.collected.63"}
    assert all(e.source == "/services/collector" for e in events)
    return [e.data for e in events]


async def publication(app: FastAPI, reply_id: str) -> Publication:
    async with app.state.db.sessions() as session:
        row = await session.get(Publication, reply_id)
    assert row is not None
    return row


class TestVk:
    async def test_citizens_comments_after_the_reply_become_reactions_once(
        self, database_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(database_url, nats_url) as app:
            source_id = await add_source(app, "vk", {"token": "vk-token", "owner_ids": [-100], "base_url": fake.url})
            post_id, post = await store_post(
                app, source_id, source_type="vk", external_id="-100_77", author={"id": str(COMPLAINANT)}
            )
            older = vk.add_comment(-100, 77, from_id=NEIGHBOUR, text="У нас тоже нет света")  # before the reply
            reply = await publish_reply(nats_url, post_id, post)
            official = vk.comments[0]["comment_id"]
            # An answer in the thread of an older comment: a conversation the reply is not part of.
            vk.add_comment(-100, 77, from_id=NEIGHBOUR, text="Ответ на старый", reply_to=older)
            thanks = vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Спасибо, свет дали!")
            vk.add_comment(-100, 77, from_id=-100, text="Рады помочь. Администрация")  # the community itself
            vk.add_comment(-100, 77, from_id=NEIGHBOUR, text="   ")  # nothing to read
            in_thread = vk.add_comment(-100, 77, from_id=NEIGHBOUR, text="А у нас до сих пор нет", reply_to=official)
            watcher: Watcher = app.state.watcher

            assert await watcher.poll() == 2
            by_complainant, by_neighbour = await reactions(nats_url, 2)
            assert by_complainant == ReactionCollected(
                reaction_id=f"vk:-100_77_c{thanks}",
                reply_id=reply.reply_id,
                incident_id="inc-1",
                region_code="63",
                source_type=SourceType.vk,
                external_id=f"-100_77_c{thanks}",
                url=f"https://vk.com/wall-100_77?reply={thanks}",
                author_id=str(COMPLAINANT),
                by_complainant=True,
                text="Спасибо, свет дали!",
                published_at=by_complainant.published_at,
            )
            assert abs(by_complainant.published_at - datetime.now(UTC)) < timedelta(minutes=1)
            assert (by_neighbour.external_id, by_neighbour.author_id) == (f"-100_77_c{in_thread}", str(NEIGHBOUR))
            assert by_neighbour.by_complainant is False and by_neighbour.text == "А у нас до сих пор нет"
            assert by_neighbour.url == f"https://vk.com/wall-100_77?reply={in_thread}"

            # What VK was asked: the post's comments from the reply on, with their threads, as the source.
            read = vk.reads[-1]
            assert (read["owner_id"], read["post_id"], read["start_comment_id"]) == ("-100", "77", str(official))
            assert (read["sort"], read["count"], read["extended"]) == ("asc", "100", "1")
            assert read["thread_items_count"] == "10"  # replies to the official's comment come along
            assert read["access_token"] == "vk-token" and "comment_id" not in read

            # A second poll finds the same comments: nothing new; a later comment is the next reaction.
            assert await watcher.poll() == 0
            later = vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Опять отключили", reply_to=official)
            assert await watcher.poll() == 1
            *_, last = await reactions(nats_url, 3)
            assert last.external_id == f"-100_77_c{later}" and last.by_complainant

    async def test_a_reply_to_a_comment_watches_that_comment_s_thread_read_through(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_source(app, "vk", {"token": "vk-token", "owner_ids": [-100], "base_url": fake.url})
            complaint = vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Во дворе нет света")
            post_id, post = await store_post(
                app,
                source_id,
                source_type="vk",
                external_id=f"-100_77_c{complaint}",
                parent_external_id="-100_77",
                author={"id": str(COMPLAINANT)},
            )
            await publish_reply(nats_url, post_id, post)
            vk.add_comment(-100, 77, from_id=NEIGHBOUR, text="Комментарий к посту, не к жалобе")
            answers = [
                vk.add_comment(-100, 77, from_id=NEIGHBOUR + n, text=f"Сосед {n}: света нет", reply_to=complaint)
                for n in range(12)
            ]

            assert await app.state.watcher.poll() == 12
            found = await reactions(nats_url, 12)
            assert [r.external_id for r in found] == [f"-100_77_c{a}" for a in answers]
            assert not any(r.by_complainant for r in found)
            assert {r["comment_id"] for r in vk.reads} == {str(complaint)}  # the complaint's thread only

    async def test_after_the_window_nothing_is_watched(self, sqlite_url: str, nats_url: str, fake: FakeServer) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url, reaction_watch_hours=72.0) as app:
            source_id = await add_source(app, "vk", {"token": "vk-token", "owner_ids": [-100], "base_url": fake.url})
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = await publish_reply(nats_url, post_id, post)
            vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Спасибо!")
            watcher: Watcher = app.state.watcher
            reads = len(vk.reads)
            await _set(app, reply.reply_id, published_at=datetime.now(UTC) - timedelta(hours=72, minutes=1))

            assert await watcher.poll() == 0
            assert len(vk.reads) == reads  # VK was not asked

            await _set(app, reply.reply_id, published_at=datetime.now(UTC) - timedelta(hours=71, minutes=59))
            assert await watcher.poll() == 1  # within the window it was
            await reactions(nats_url, 1)

    async def test_a_passing_error_waits_for_the_next_poll_and_error_15_ends_the_watch(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_source(app, "vk", {"token": "vk-token", "owner_ids": [-100], "base_url": fake.url})
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = await publish_reply(nats_url, post_id, post)
            vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Спасибо!")
            watcher: Watcher = app.state.watcher

            vk.errors = [6]  # too many requests per second: the next poll reads again
            assert await watcher.poll() == 0
            assert (await publication(app, reply.reply_id)).watch_ended is None
            assert await watcher.poll() == 1
            await reactions(nats_url, 1)

            vk.refuse["-100_77"] = 15  # access denied: the post is gone
            reads = len(vk.reads)
            assert await watcher.poll() == 0
            assert len(vk.reads) == reads + 1
            ended = (await publication(app, reply.reply_id)).watch_ended
            assert ended is not None and ended.startswith("VK error 15")
            del vk.refuse["-100_77"]
            vk.add_comment(-100, 77, from_id=COMPLAINANT, text="Не сделали")
            assert await watcher.poll() == 0
            assert len(vk.reads) == reads + 1  # no longer watched: VK not asked again


class TestTelegram:
    async def test_messages_answering_the_bot_s_reply_or_the_complaint_become_reactions(
        self, database_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        fake.script = telegram
        async with collector(database_url, nats_url) as app:
            settings = {"token": "123:BOT", "base_url": fake.url, "mode": "webhook", "secret": SECRET}
            source_id = await add_source(app, "telegram", settings)
            post_id, post = await store_post(
                app,
                source_id,
                source_type="telegram",
                external_id=f"{CHAT['id']}_3310",
                url="https://t.me/tolyatti_today/3310",
                author={"id": str(COMPLAINANT)},
            )
            reply = await publish_reply(nats_url, post_id, post)
            bot_message = telegram.messages[0]["message_id"]

            async def message(message_id: int, user: int, text: str, answers: int | None) -> int:
                update: dict[str, Any] = {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": CHAT,
                    "from": {"id": user, "is_bot": False, "first_name": "Житель"},
                    "text": text,
                }
                if answers is not None:
                    update["reply_to_message"] = {"message_id": answers, "chat": CHAT, "date": 0}
                async with api(app) as client:
                    response = await client.post(
                        f"/v1/telegram/webhook/{source_id}",
                        json={"update_id": message_id, "message": update},
                        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    )
                assert response.status_code == 200, response.text
                return int(response.json()["accepted"])

            # Not reactions: an answer to another message, a message answering nothing.
            assert await message(bot_message + 1, NEIGHBOUR, "Кто знает, где купить дрова?", answers=100)
            assert await message(bot_message + 2, NEIGHBOUR, "Всем привет", answers=None)
            assert await message(bot_message + 3, COMPLAINANT, "Спасибо, свет дали!", answers=bot_message)
            assert await message(bot_message + 4, NEIGHBOUR, "А у нас нет", answers=3310)
            thanks, neighbour = await reactions(nats_url, 2)
            assert thanks == ReactionCollected(
                reaction_id=f"telegram:{CHAT['id']}_{bot_message + 3}",
                reply_id=reply.reply_id,
                incident_id="inc-1",
                region_code="63",
                source_type=SourceType.telegram,
                external_id=f"{CHAT['id']}_{bot_message + 3}",
                url=f"https://t.me/tolyatti_today/{bot_message + 3}",
                author_id=str(COMPLAINANT),
                by_complainant=True,
                text="Спасибо, свет дали!",
                published_at=thanks.published_at,
            )
            assert (neighbour.external_id, neighbour.author_id) == (f"{CHAT['id']}_{bot_message + 4}", str(NEIGHBOUR))
            assert neighbour.by_complainant is False and neighbour.reply_id == reply.reply_id

            # Telegram delivers the same update again: stored as the same post, no second reaction.
            assert await message(bot_message + 3, COMPLAINANT, "Спасибо, свет дали!", answers=bot_message) == 0
            await message(bot_message + 5, COMPLAINANT, "Опять выключили", answers=bot_message)
            *_, again = await reactions(nats_url, 3)
            assert again.external_id == f"{CHAT['id']}_{bot_message + 5}"

            # The messages are collected as posts as well, as before.
            async with app.state.db.sessions() as session:
                stored = set((await session.exec(select(Post.external_id).where(Post.source_id == source_id))).all())  # type: ignore[arg-type]
            assert {f"{CHAT['id']}_{bot_message + n}" for n in range(1, 6)} <= stored

    async def test_after_the_window_a_message_is_only_a_post(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        fake.script = telegram
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_source(app, "telegram", {"token": "123:BOT", "base_url": fake.url})
            post_id, post = await store_post(
                app, source_id, source_type="telegram", external_id="-1009_7", author={"id": str(COMPLAINANT)}
            )
            reply = await publish_reply(nats_url, post_id, post)
            bot_message = telegram.messages[0]["message_id"]

            def answer(message_id: int, text: str) -> PostCreate:
                return PostCreate.model_validate(
                    {
                        "source_type": "telegram",
                        "external_id": f"-1009_{message_id}",
                        "author": {"id": str(COMPLAINANT)},
                        "text": text,
                        "published_at": datetime.now(UTC),
                        "parent_external_id": f"-1009_{bot_message}",
                    }
                )

            await _set(app, reply.reply_id, published_at=datetime.now(UTC) - timedelta(hours=73))
            late = await app.state.ingestor.ingest([answer(bot_message + 1, "Поздно")], source_id=source_id)
            assert late.accepted == 1
            await _set(app, reply.reply_id, published_at=datetime.now(UTC) - timedelta(hours=1))
            await app.state.ingestor.ingest([answer(bot_message + 2, "Спасибо")], source_id=source_id)
            (only,) = await reactions(nats_url, 1)  # the late one, stored first, made none
            assert only.external_id == f"-1009_{bot_message + 2}" and only.url is None and only.by_complainant


# ---------------------------------------------------------------------------------------------


async def _set(app: FastAPI, reply_id: str, **values: Any) -> None:
    async with app.state.db.transaction() as session:
        await session.exec(update(Publication).where(Publication.reply_id == reply_id).values(**values))  # type: ignore[call-overload,arg-type]
