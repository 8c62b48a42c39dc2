"""Officials' replies published where the complaints were: ReplyRequested on a real nats-server in, a
comment on the fake VK or a message on the fake Telegram out, and ReplyPublication back on NATS.

Each test runs the whole collector (consumer, publisher, outbox relay) and waits for positive signals:
events on NATS, rows in the publications table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
from fastapi import FastAPI
from sqlmodel import update

from collector.config import Settings
from collector.connectors.telegram import TelegramError
from collector.connectors.vk import VkError
from collector.ingest.schemas import PostCreate
from collector.main import create_app
from collector.models import Post, Publication, Source
from collector.publishing.decisions import (
    NO_ANSWER_REASON,
    UNCONFIRMED_REASON,
    Outcome,
    TelegramTarget,
    VkTarget,
    plan,
    settle,
    telegram_refusal,
    vk_refusal,
)
from collector.publishing.publisher import Publisher
from collector.testing import (
    TELEGRAM_BLOCKED,
    TELEGRAM_CHAT_NOT_FOUND,
    TELEGRAM_REPLIED_NOT_FOUND,
    FakeServer,
    FakeTelegram,
    FakeVk,
    make_settings,
)
from incidents_common.events import (
    SUBJECT_REPLY_PUBLICATION_ALL,
    CloudEvent,
    PublicationStatus,
    ReplyKind,
    ReplyPublication,
    ReplyRequested,
    SourceType,
    decode_event,
    encode_event,
    new_event,
    subject_of,
)
from incidents_common.testing import ServiceAuth, eventually, read_stream, reply_requested

T0 = datetime(2026, 11, 24, 10, tzinfo=UTC)
CHANNEL_URL = "https://t.me/tolyatti_today/3310"


@asynccontextmanager
async def collector(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The collector with NATS, its consumer and publisher running; retries after 0.05 s."""
    values: dict[str, Any] = {"nats_enabled": True, "nats_url": nats_url, "publish_backoff": [0.05]}
    app = create_app(make_settings(database_url, **{**values, **overrides}))
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.events.ready.wait(), timeout=20)
        yield app


async def add_source(app: FastAPI, kind: str, settings: dict[str, Any]) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=ServiceAuth("collector")) as client:
        response = await client.post("/v1/sources", json={"name": f"{kind} test", "type": kind, "settings": settings})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_vk_source(app: FastAPI, fake: FakeServer) -> str:
    return await add_source(app, "vk", {"token": "vk-community-token", "owner_ids": [-100], "base_url": fake.url})


async def add_telegram_source(app: FastAPI, fake: FakeServer) -> str:
    return await add_source(app, "telegram", {"token": "123:BOT", "base_url": fake.url, "long_poll_timeout": 0})


async def store_post(app: FastAPI, source_id: str | None, **fields: Any) -> tuple[str, dict[str, Any]]:
    """Store a post as a poll of `source_id` would; returns its id and what it was stored with."""
    post = PostCreate.model_validate({"text": "Во дворе нет света третий день", "published_at": T0, **fields})
    result = await app.state.ingestor.ingest([post], source_id=source_id)
    (item,) = result.items
    return item.post_id, post.model_dump(mode="json")


def reply_for(post_id: str, post: dict[str, Any], **fields: Any) -> ReplyRequested:
    values: dict[str, Any] = {
        "region": "63",
        "source_type": SourceType(post["source_type"]),
        "external_id": post["external_id"] or "h:none",
        "actor": "official:o-1",
        "requested_at": T0,
    }
    return reply_requested(post_id, **{**values, **fields})


async def request(nats_url: str, *replies: ReplyRequested) -> None:
    """Routing's side: publish ReplyRequested events (one event each) on JetStream."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for reply in replies:
            event = new_event(reply, source="/services/routing")
            await js.publish(subject_of(reply), encode_event(event), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()


async def publications(nats_url: str) -> list[CloudEvent[Any]]:
    return [decode_event(m.data) for m in await read_stream(nats_url, SUBJECT_REPLY_PUBLICATION_ALL, timeout=0.3)]


async def outcomes(nats_url: str, count: int) -> dict[str, ReplyPublication]:
    """Wait for `count` ReplyPublication events on NATS; reply id -> the event's payload."""
    events = await eventually(lambda: publications(nats_url), until=lambda found: len(found) >= count)
    assert len(events) == count, [e.data for e in events]
    assert all(e.source == "/services/collector" for e in events)
    return {e.data.reply_id: e.data for e in events}


async def row(app: FastAPI, reply_id: str) -> Publication | None:
    async with app.state.db.sessions() as session:
        return await session.get(Publication, reply_id)


class TestVk:
    async def test_a_reply_becomes_a_comment_under_the_community_post(
        self, database_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(database_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)

            published = (await outcomes(nats_url, 1))[reply.reply_id]
            (comment,) = vk.comments
            assert comment["owner_id"] == "-100" and comment["post_id"] == "77"
            assert comment["from_group"] == "100"  # the community answers, not a person
            assert comment["guid"] == reply.reply_id
            assert comment["message"] == reply.text
            assert comment["access_token"] == "vk-community-token" and comment["v"] == "5.199"
            assert "reply_to_comment" not in comment
            assert fake.requests[0].path == "/wall.createComment" and fake.requests[0].method == "POST"
            number = comment["comment_id"]
            assert published.status == PublicationStatus.published and published.channel == "vk"
            assert published.url == f"https://vk.com/wall-100_77?reply={number}"
            assert (published.published_id, published.attempts) == (str(number), 1)
            assert (published.incident_id, published.region_code, published.kind) == ("inc-1", "63", ReplyKind.reply)
            assert published.reason is None and published.error_code is None
            stored = await row(app, reply.reply_id)
            assert stored is not None
            assert (stored.status, stored.url, stored.attempts) == ("published", published.url, 1)

    async def test_a_comment_is_answered_under_its_post_and_a_person_s_wall_without_from_group(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            comment_id, comment = await store_post(
                app, source_id, source_type="vk", external_id="-100_77_c55", parent_external_id="-100_77"
            )
            person_id, person = await store_post(app, source_id, source_type="vk", external_id="555_3")
            to_comment, to_person = reply_for(comment_id, comment), reply_for(person_id, person)
            await request(nats_url, to_comment, to_person)

            found = await outcomes(nats_url, 2)
            under = next(c for c in vk.comments if c["guid"] == to_comment.reply_id)
            assert (under["owner_id"], under["post_id"], under["reply_to_comment"]) == ("-100", "77", "55")
            assert under["from_group"] == "100"
            assert found[to_comment.reply_id].url == f"https://vk.com/wall-100_77?reply={under['comment_id']}"
            wall = next(c for c in vk.comments if c["guid"] == to_person.reply_id)
            assert (wall["owner_id"], wall["post_id"]) == ("555", "3")
            assert "from_group" not in wall and "reply_to_comment" not in wall
            assert found[to_person.reply_id].status == PublicationStatus.published

    async def test_each_refusal_fails_with_its_reason_and_is_not_retried(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        reasons = {
            5: "token was revoked or has expired (VK error 5); update the source's token and publish again",
            15: "VK denied access",
            18: "deleted or blocked",
            100: "post was probably deleted",
            212: "access to the VK post's comments is denied",
            213: "comments on the VK post are closed",
        }
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            replies = {}
            for number, code in enumerate(reasons, start=1):
                vk.refuse[f"-100_{number}"] = code
                post_id, post = await store_post(
                    app, source_id, source_type="vk", external_id=f"-100_{number}", text=f"Жалоба номер {number}"
                )
                replies[code] = reply_for(post_id, post)
            await request(nats_url, *replies.values())

            found = await outcomes(nats_url, len(reasons))
            for code, reply in replies.items():
                failed = found[reply.reply_id]
                assert failed.status == PublicationStatus.failed, failed
                assert failed.error_code == f"vk:{code}" and failed.channel == "vk"
                assert failed.reason is not None and reasons[code] in failed.reason
                assert failed.attempts == 1 and failed.url is None
                stored = await row(app, reply.reply_id)
                assert stored is not None and (stored.status, stored.attempts) == ("failed", 1)
            # One call each: a refusal is final (only pending rows are ever taken again).
            assert sorted(c["guid"] for c in vk.calls) == sorted(r.reply_id for r in replies.values())
            assert vk.comments == []

    async def test_too_many_requests_then_success_is_published_on_the_second_attempt(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        vk.errors = [6]
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)

            published = (await outcomes(nats_url, 1))[reply.reply_id]
            assert (published.status, published.attempts) == (PublicationStatus.published, 2)
            assert published.reason is None and published.error_code is None
            assert [c["guid"] for c in vk.calls] == [reply.reply_id, reply.reply_id]
            assert len(vk.comments) == 1

    async def test_passing_failures_give_up_after_the_last_attempt_with_the_last_error(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        vk.errors = [6, 9, 10, 29]
        fake.script = vk
        async with collector(sqlite_url, nats_url, publish_max_attempts=4) as app:
            source_id = await add_vk_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)

            failed = (await outcomes(nats_url, 1))[reply.reply_id]
            assert (failed.status, failed.attempts, failed.error_code) == (PublicationStatus.failed, 4, "vk:29")
            assert failed.reason == "VK's rate limit for the token is reached (VK error 29); gave up after 4 attempts"
            assert len(vk.calls) == 4 and vk.comments == []

    async def test_the_same_reply_requested_again_is_published_once(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = reply_for(post_id, post)
            await request(nats_url, reply, reply)  # asked twice (two events), likely in one batch
            await outcomes(nats_url, 1)
            await request(nats_url, reply)  # and again once it is published

            (consumer,) = app.state.events.consumers
            await eventually(lambda: _processed(consumer), until=lambda n: n == 3)
            assert len(vk.calls) == 1 and len(vk.comments) == 1
            assert len(await publications(nats_url)) == 1
            stored = await row(app, reply.reply_id)
            assert stored is not None and (stored.status, stored.attempts) == ("published", 1)

    async def test_a_crash_between_the_call_and_its_record_calls_again_with_the_same_guid(
        self, database_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        vk.delay = 30.0  # VK makes the comment, but the collector dies before the answer comes
        fake.script = vk
        async with collector(database_url, nats_url) as app:
            source_id = await add_vk_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="vk", external_id="-100_77")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)
            await eventually(lambda: _count(vk.comments), until=lambda n: n == 1)
            await kill(app.state.publisher)
            stored = await row(app, reply.reply_id)
            assert stored is not None and (stored.status, stored.attempts) == ("sending", 1)

        vk.delay = 0.0
        async with collector(database_url, nats_url):
            published = (await outcomes(nats_url, 1))[reply.reply_id]
        assert [c["guid"] for c in vk.calls] == [reply.reply_id, reply.reply_id]
        (comment,) = vk.comments  # VK answered the second call with the comment it had made
        assert published.status == PublicationStatus.published and published.attempts == 2
        assert published.published_id == str(comment["comment_id"])


class TestTelegram:
    async def test_a_reply_is_sent_as_a_reply_to_the_message(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        fake.script = telegram
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_telegram_source(app, fake)
            channel_id, channel = await store_post(
                app, source_id, source_type="telegram", external_id="-1001744003322_3310", url=CHANNEL_URL
            )
            group_id, group = await store_post(app, source_id, source_type="telegram", external_id="-1009_7")
            to_channel, to_group = reply_for(channel_id, channel), reply_for(group_id, group)
            await request(nats_url, to_channel, to_group)

            found = await outcomes(nats_url, 2)
            sent = {m["chat_id"]: m for m in telegram.messages}
            assert set(sent) == {-1001744003322, -1009}
            message = sent[-1001744003322]
            assert message["token"] == "123:BOT" and message["text"] == to_channel.text
            assert message["reply_parameters"] == {"message_id": 3310, "allow_sending_without_reply": False}
            assert sent[-1009]["reply_parameters"]["message_id"] == 7
            published = found[to_channel.reply_id]
            assert (published.status, published.channel) == (PublicationStatus.published, "telegram")
            assert published.published_id == str(message["message_id"])
            assert published.url == f"https://t.me/tolyatti_today/{message['message_id']}"
            in_group = found[to_group.reply_id]  # a chat without a public name: no link
            assert in_group.status == PublicationStatus.published and in_group.url is None
            assert in_group.published_id == str(sent[-1009]["message_id"])

    async def test_refusals_fail_with_their_reason_and_a_flood_wait_is_respected(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        telegram.refuse = {-1: TELEGRAM_BLOCKED, -2: TELEGRAM_REPLIED_NOT_FOUND, -3: TELEGRAM_CHAT_NOT_FOUND}
        fake.script = telegram
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_telegram_source(app, fake)
            replies = {}
            for chat in (-1, -2, -3):
                post_id, post = await store_post(
                    app, source_id, source_type="telegram", external_id=f"{chat}_5", text=f"Жалоба из чата {chat}"
                )
                replies[chat] = reply_for(post_id, post)
            await request(nats_url, *replies.values())
            found = await outcomes(nats_url, 3)

            blocked, deleted, gone = (found[replies[chat].reply_id] for chat in (-1, -2, -3))
            assert (blocked.status, blocked.error_code) == (PublicationStatus.failed, "telegram:403")
            assert blocked.reason is not None and "blocked or removed" in blocked.reason
            assert (deleted.status, deleted.error_code) == (PublicationStatus.failed, "telegram:400")
            assert deleted.reason is not None and "the message answered was deleted" in deleted.reason
            assert (gone.status, gone.error_code) == (PublicationStatus.failed, "telegram:400")
            assert gone.reason is not None and "chat was not found" in gone.reason
            assert len(telegram.calls) == 3 and telegram.messages == []

            # Too many requests: Telegram's retry_after is waited, then the message goes out once.
            telegram.errors = [(429, "Too Many Requests: retry after 1", 1)]
            post_id, post = await store_post(app, source_id, source_type="telegram", external_id="-4_5")
            flood = reply_for(post_id, post)
            asked = datetime.now(UTC)
            await request(nats_url, flood)
            published = (await outcomes(nats_url, 4))[flood.reply_id]
            assert (published.status, published.attempts) == (PublicationStatus.published, 2)
            assert len(telegram.messages) == 1
            assert published.at - asked >= timedelta(seconds=1)

    async def test_a_crash_between_the_call_and_its_record_is_unconfirmed_and_never_sent_again(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        telegram.delay = 30.0  # the message is in the chat, but the collector dies before the answer comes
        fake.script = telegram
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_telegram_source(app, fake)
            post_id, post = await store_post(
                app, source_id, source_type="telegram", external_id="-1001744003322_3310", url=CHANNEL_URL
            )
            reply = reply_for(post_id, post)
            await request(nats_url, reply)
            await eventually(lambda: _count(telegram.messages), until=lambda n: n == 1)
            await kill(app.state.publisher)

        telegram.delay = 0.0
        async with collector(sqlite_url, nats_url) as restarted:
            unconfirmed = (await outcomes(nats_url, 1))[reply.reply_id]
            stored = await row(restarted, reply.reply_id)
        assert (unconfirmed.status, unconfirmed.channel) == (PublicationStatus.unconfirmed, "telegram")
        assert unconfirmed.reason == UNCONFIRMED_REASON and unconfirmed.attempts == 1
        assert stored is not None and stored.status == "unconfirmed"
        assert len(telegram.calls) == 1 and len(telegram.messages) == 1

    async def test_no_answer_after_sending_is_unconfirmed_and_not_retried(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        telegram.delay = 3.0  # longer than the HTTP timeout (2 s): the message went out, no answer came
        fake.script = telegram
        async with collector(sqlite_url, nats_url) as app:
            source_id = await add_telegram_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="telegram", external_id="-1009_7")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)
            unconfirmed = (await outcomes(nats_url, 1))[reply.reply_id]
        assert (unconfirmed.status, unconfirmed.reason) == (PublicationStatus.unconfirmed, NO_ANSWER_REASON)
        assert len(telegram.calls) == 1


class TestRecovery:
    async def test_a_row_left_sending_is_recovered_at_a_later_pass_only_once_stale(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        telegram = FakeTelegram()
        fake.script = telegram
        # No pass of the loop but the one a request wakes: the test makes the recovery passes itself.
        async with collector(sqlite_url, nats_url, publish_interval=3600.0) as app:
            source_id = await add_telegram_source(app, fake)
            post_id, post = await store_post(app, source_id, source_type="telegram", external_id="-1009_7")
            reply = reply_for(post_id, post)
            await request(nats_url, reply)
            await outcomes(nats_url, 1)
            publisher: Publisher = app.state.publisher
            # As if another call were under way: not stale yet, left alone.
            await _set(app, reply.reply_id, status="sending", channel="telegram", updated_at=datetime.now(UTC))
            assert await publisher.recover() == 0
            await _set(app, reply.reply_id, updated_at=datetime.now(UTC) - publisher.stale_after - timedelta(1))
            assert await publisher.recover() == 1
            stored = await row(app, reply.reply_id)
            assert stored is not None and (stored.status, stored.reason) == ("unconfirmed", UNCONFIRMED_REASON)
            assert len(telegram.calls) == 1


class TestNoWayBack:
    async def test_pushed_imported_and_sourceless_posts_are_recorded_only(
        self, sqlite_url: str, nats_url: str, fake: FakeServer
    ) -> None:
        vk = FakeVk()
        fake.script = vk
        async with collector(sqlite_url, nats_url) as app:
            pushed_id, pushed = await store_post(app, None, source_type="push", external_id="cur64-2211")
            imported_id, imported = await store_post(app, None, source_type="import", external_id="line-7")
            # A VK post pushed by a third party: no source, so no token to answer with.
            foreign_id, foreign = await store_post(app, None, source_type="vk", external_id="-300_9")
            feed = await add_source(app, "rss", {"url": fake.url})
            fed_id, fed = await store_post(app, feed, source_type="rss", external_id="https://x.example/1")
            replies = {
                "push": reply_for(pushed_id, pushed),
                "import": reply_for(imported_id, imported),
                "vk": reply_for(foreign_id, foreign),
                "rss": reply_for(fed_id, fed),
                "gone": reply_for("0" * 36, pushed),  # the post is no longer stored
            }
            await request(nats_url, *replies.values())

            found = await outcomes(nats_url, len(replies))
            for reply in replies.values():
                recorded = found[reply.reply_id]
                assert (recorded.status, recorded.channel) == (PublicationStatus.recorded_only, "none")
                assert recorded.attempts == 0 and recorded.url is None
            reasons = {kind: found[reply.reply_id].reason or "" for kind, reply in replies.items()}
            assert reasons["push"] == (
                "the complaint came by HTTP push: there is no way back to its author; the reply is only recorded"
            )
            assert "imported from a file" in reasons["import"]
            assert "no credentials to answer with" in reasons["vk"]
            assert "RSS/Atom feed" in reasons["rss"]
            assert "no longer stored" in reasons["gone"]
            assert vk.calls == []


class TestDecisions:
    def test_passing_failures_back_off_on_the_schedule_then_fail_with_the_last_error(self) -> None:
        backoff = Settings().publish_backoff
        now = datetime(2026, 11, 24, tzinfo=UTC)
        flood = vk_refusal(VkError(9, "Flood control"))
        delays = []
        for attempts in range(1, 6):
            settled = settle(flood, attempts=attempts, now=now, max_attempts=6, backoff=backoff)
            assert settled.status == "pending" and settled.next_attempt_at is not None
            delays.append((settled.next_attempt_at - now).total_seconds())
        assert delays == [30, 120, 600, 1800, 3600]
        last = settle(flood, attempts=6, now=now, max_attempts=6, backoff=backoff)
        assert (last.status, last.next_attempt_at) == ("failed", None)
        assert last.reason == "VK flood control (VK error 9); gave up after 6 attempts"
        refused = settle(vk_refusal(VkError(213, "x")), attempts=1, now=now, max_attempts=6, backoff=backoff)
        assert refused.status == "failed" and refused.final

    def test_telegram_s_retry_after_wins_over_the_schedule(self) -> None:
        now = datetime(2026, 11, 24, tzinfo=UTC)
        flood = telegram_refusal(TelegramError(429, "Too Many Requests: retry after 7", 7))
        settled = settle(flood, attempts=1, now=now, max_attempts=6, backoff=[30.0])
        assert (settled.status, settled.next_attempt_at) == ("pending", now + timedelta(seconds=7))
        assert telegram_refusal(TelegramError(502, "Bad Gateway")).retry

    def test_where_a_reply_goes(self) -> None:
        def post(kind: str, external_id: str, url: str | None = None) -> Post:
            return Post(
                id="p",
                source_type=kind,
                external_id=external_id,
                url=url,
                source_id="s",
                content_hash="h",
                text="Во дворе нет света",
                published_at=T0,
                collected_at=T0,
                updated_at=T0,
            )

        vk, telegram = (
            Source(id="s", name="s", type="vk", settings={"token": "t"}),
            Source(id="s", name="s", type="telegram", settings={"token": "t"}),
        )
        assert plan(post("vk", "-100_77_c55"), vk) == ("vk", VkTarget(-100, 77, 55))
        assert plan(post("vk", "12_3"), vk) == ("vk", VkTarget(12, 3, None))
        assert plan(post("telegram", "-1001_5", "https://t.me/city_news/5"), telegram) == (
            "telegram",
            TelegramTarget(-1001, 5, "city_news"),
        )
        malformed = plan(post("vk", "h:abc"), vk)
        assert isinstance(malformed, Outcome) and malformed.status == PublicationStatus.failed
        elsewhere = plan(post("vk", "-100_77"), telegram)  # a VK post under a Telegram source: no VK token
        assert isinstance(elsewhere, Outcome) and elsewhere.status == PublicationStatus.recorded_only
        tokenless = plan(post("vk", "-100_77"), Source(id="s", name="old", type="vk", settings={}))
        assert isinstance(tokenless, Outcome) and "has no token" in (tokenless.reason or "")


# ---------------------------------------------------------------------------------------------


async def kill(publisher: Publisher) -> None:
    """Stop the publisher as a crash would: in the middle of its call, nothing recorded after it."""
    task = publisher._task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _count(items: list[Any]) -> int:
    return len(items)


async def _processed(consumer: Any) -> int:
    return int(consumer.stats.processed + consumer.stats.duplicates)


async def _set(app: FastAPI, reply_id: str, **values: Any) -> None:
    async with app.state.db.transaction() as session:
        await session.exec(update(Publication).where(Publication.reply_id == reply_id).values(**values))  # type: ignore[call-overload,arg-type]
