"""Dead letters are operable: listed, shown, replayed (processed once, never doubled) and purged, through
the DeadLetters class, the operator's command line and a service's admin API; each NATS user sees only
what its permissions grant. Against a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import pytest
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.deadletters import (
    DeadLetterNotFound,
    DeadLetters,
    DeadLettersUnavailable,
    UnknownConsumer,
    dead_letter_router,
    subject_matches,
)
from incidents_common.events import (
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_POST_COLLECTED,
    CloudEvent,
    PostCollected,
    SourceType,
    dead_letter_subject,
    encode_event,
    new_event,
)
from incidents_common.identity import PROTECTED, ActingUser
from incidents_common.nats import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_REASON_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    ConsumerSpec,
    EventRuntime,
    connect,
    each_event,
)
from incidents_common.natsauth import CredentialStore, prepare_local_nats
from incidents_common.processes import NatsServer, free_port
from incidents_common.settings import ServiceSettings
from incidents_common.streams import ensure_streams
from incidents_common.testing import ServiceAuth, eventually

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)


class Applied(SQLModel, table=True):
    __tablename__ = "test_dl_applied"
    id: int | None = Field(default=None, primary_key=True)
    consumer: str
    post_id: str


A, B = "test-dl-a", "test-dl-b"


def _post(name: str) -> PostCollected:
    now = datetime.now(UTC)
    return PostCollected(
        post_id=name, source_type=SourceType.push, external_id=name, text="Яма", published_at=now, collected_at=now
    )


def _event(name: str) -> CloudEvent[Any]:
    return new_event(_post(name), source="/test", event_id=f"ev-{name}")


@dataclass
class Pipeline:
    """Two services' consumers of post.collected on one database, each in its runtime: A applies
    everything; B refuses the posts named in `broken` (a bug, fixed by emptying it), max_deliver 1."""

    runtimes: dict[str, EventRuntime]
    db: Database
    broken: set[str]

    @property
    def js(self) -> Any:
        js = self.runtimes[A].js
        assert js is not None
        return js

    def stats(self, durable: str) -> Any:
        return self.runtimes[durable].consumers[0].stats

    async def applied(self, durable: str) -> list[str]:
        async with self.db.transaction() as session:
            rows = await session.exec(select(Applied.post_id).where(Applied.consumer == durable))
            return sorted(rows.all())

    async def publish(self, *names: str) -> list[CloudEvent[Any]]:
        events = [_event(name) for name in names]
        for event in events:
            await self.js.publish(SUBJECT_POST_COLLECTED, encode_event(event), headers={"Nats-Msg-Id": event.id})
        return events


def _handler(durable: str, broken: set[str]) -> Any:
    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if event.data.post_id in broken:
            raise ValueError(f"cannot route {event.data.post_id}")
        session.add(Applied(consumer=durable, post_id=event.data.post_id))

    return handle


@contextlib.asynccontextmanager
async def pipeline(nats_url: str, tmp_path: Path, *, start_b: bool = True) -> AsyncIterator[Pipeline]:
    """`start_b=False`: B's runtime is left to the caller (an app's lifespan starts it)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dl.db'}", [Applied])
    broken: set[str] = set()
    runtimes = {
        durable: EventRuntime(
            db=db,
            nats_url=nats_url,
            client_name=f"dl-{durable}",
            consumers=[
                ConsumerSpec(
                    durable, "POSTS", SUBJECT_POST_COLLECTED, each_event(handler), fetch_timeout=0.3, max_deliver=1
                )
            ],
        )
        for durable, handler in ((A, _handler(A, set())), (B, _handler(B, broken)))
    }
    await db.create_tables()
    started = [runtimes[A], runtimes[B]] if start_b else [runtimes[A]]
    try:
        for runtime in started:
            await runtime.start()
            await asyncio.wait_for(runtime.ready.wait(), 20)
        yield Pipeline(runtimes, db, broken)
    finally:
        for runtime in started:
            await runtime.stop()
        await db.dispose()


async def _dead_lettered(p: Pipeline, broken: list[str], good: list[str]) -> None:
    """Publish: B dead-letters `broken` (and the malformed message), A applies everything."""
    p.broken.update(broken)
    await p.publish(*good, *broken)
    await p.js.publish(SUBJECT_POST_COLLECTED, b"{not json")
    await eventually(lambda: p.applied(A), until=lambda names: len(names) == len(good) + len(broken))
    await eventually(lambda: _value(p.stats(B).dead_lettered), until=lambda n: n == len(broken) + 1)
    await eventually(lambda: _value(p.stats(A).dead_lettered), until=lambda n: n == 1)


async def _value(value: Any) -> Any:
    return value


async def _violation(errors: list[Exception], fragment: str) -> None:
    """Wait for the server's permissions violation naming `fragment` (errors from a client's error_cb)."""
    await eventually(
        lambda: _value([str(e).lower() for e in errors]),
        until=lambda texts: any("permissions violation" in text and fragment in text for text in texts),
        timeout=5,
    )


# ---------------------------------------------------------------------------------------------
# The class
# ---------------------------------------------------------------------------------------------


def test_subject_matching() -> None:
    assert subject_matches("incidents.v1.incident.created.64", "incidents.v1.incident.>")
    assert subject_matches("incidents.v1.post.classified", "incidents.v1.post.classified")
    assert subject_matches("a.b.c", "a.*.c") and not subject_matches("a.b.c.d", "a.*.c")
    assert not subject_matches("incidents.v1.incident", "incidents.v1.incident.>")
    assert not subject_matches("incidents.v1.post.collected", "incidents.v1.post.classified")


async def test_nothing_dead_lettered_yet(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        assert await DeadLetters(nc.jetstream(), timeout=1).list() == []  # not even a DEADLETTER stream
        await ensure_streams(nc.jetstream())
        assert await DeadLetters(nc.jetstream(), timeout=1).list() == []
        with pytest.raises(DeadLetterNotFound):
            await DeadLetters(nc.jetstream(), timeout=1).get(1)
    finally:
        await nc.close()


async def test_list_show_replay_and_purge(nats_url: str, tmp_path: Path) -> None:
    async with pipeline(nats_url, tmp_path) as p:
        await _dead_lettered(p, broken=["b1", "b2"], good=["g1", "g2"])
        everything = DeadLetters(p.js, timeout=2)
        letters = await everything.list()
        assert [letter.consumer for letter in letters].count(B) == 3 and len(letters) == 4
        mine = await everything.list(B)
        by_event = {letter.event_id: letter for letter in mine}
        b1 = by_event["ev-b1"]
        summary = b1.summary()
        assert summary["reason"] == "failed 1 times: ValueError('cannot route b1')"
        assert summary["original_subject"] == SUBJECT_POST_COLLECTED and summary["original_stream"] == "POSTS"
        assert summary["event_type"] == "ru.incidents.post.collected" and summary["deliveries"] == 1
        assert 0 <= summary["age_seconds"] < 600
        malformed = next(letter for letter in mine if letter.event_id is None)
        assert malformed.reason.startswith("not JSON")

        detail = (await everything.get(b1.seq)).detail()
        assert detail["payload"]["id"] == "ev-b1" and detail["payload_encoding"] == "json"
        assert detail["headers"][DEAD_LETTER_CONSUMER_HEADER] == B
        assert (await everything.get(malformed.seq)).detail()["payload"] == "{not json"
        with pytest.raises(DeadLetterNotFound):
            await everything.get(10_000)
        assert [letter.seq for letter in await everything.list(B, after=b1.seq)] == [
            letter.seq for letter in mine if letter.seq > b1.seq
        ]
        assert len(await everything.list(limit=1)) == 1

        # Scoped to A (what A's service sees): B's dead letters do not exist for it.
        only_a = DeadLetters(p.js, {A: SUBJECT_POST_COLLECTED}, timeout=2)
        assert {letter.consumer for letter in await only_a.list()} == {A}
        with pytest.raises(DeadLetterNotFound):
            await only_a.get(b1.seq)
        with pytest.raises(DeadLetterNotFound):
            await only_a.replay(b1.seq)
        with pytest.raises(UnknownConsumer):
            await only_a.list(B)

        # The bug is fixed; b1 is replayed: B applies it once; A, which applied it already, skips it.
        p.broken.clear()
        duplicates_before = p.stats(A).duplicates
        replayed = await everything.replay(b1.seq)
        assert replayed.subject == SUBJECT_POST_COLLECTED and replayed.stream == "POSTS" and not replayed.duplicate
        await eventually(lambda: p.applied(B), until=lambda names: names == ["b1", "g1", "g2"])
        await eventually(lambda: _value(p.stats(A).duplicates), until=lambda n: n == duplicates_before + 1)
        assert await p.applied(A) == ["b1", "b2", "g1", "g2"], "a replay never doubles an effect"
        with pytest.raises(DeadLetterNotFound):  # replayed means deleted
            await everything.get(b1.seq)

        # Purge: one, then a consumer's older than a day (none), then all of a consumer.
        await everything.purge(malformed.seq)
        assert await everything.purge_all(A, older_than=timedelta(days=1)) == 0
        assert await everything.purge_all(A) == 1
        assert [letter.event_id for letter in await everything.list()] == ["ev-b2"]
        done, failed = await everything.replay_all(B)
        assert [r.event_id for r in done] == ["ev-b2"] and failed == []
        await eventually(lambda: p.applied(B), until=lambda names: names == ["b1", "b2", "g1", "g2"])
        assert await everything.list() == []
        assert p.stats(B).dead_lettered == 3, "nothing failed again"


# ---------------------------------------------------------------------------------------------
# The operator's command line
# ---------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "incidents_common.deadletters", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread: the consumers of this test's event loop keep working meanwhile."""
    return await asyncio.to_thread(_cli, *args)


async def test_the_command_line(nats_url: str, tmp_path: Path) -> None:
    empty_store = str(tmp_path / "no-store")  # no credentials: an anonymous connection to the open server
    common = ["--nats-url", nats_url, "--data-dir", empty_store]
    helped = await cli("--help")
    assert helped.returncode == 0 and "replay" in helped.stdout and "exit codes" in helped.stdout
    assert (await cli("replay", *common)).returncode == 2, "replay what? a sequence, --consumer or --all"
    unreachable = await cli("list", "--nats-url", f"nats://127.0.0.1:{free_port()}", "--data-dir", empty_store)
    assert unreachable.returncode == 1 and "cannot reach NATS" in unreachable.stderr

    async with pipeline(nats_url, tmp_path) as p:
        await _dead_lettered(p, broken=["c1", "c2", "c3"], good=["g1"])
        listed = await cli("list", *common, "--consumer", B, "--json")
        assert listed.returncode == 0, listed.stderr
        letters = json.loads(listed.stdout)
        assert len(letters) == 4 and {letter["consumer"] for letter in letters} == {B}
        table = await cli("list", *common)
        assert table.returncode == 0 and "SEQ" in table.stdout and "cannot route c1" in table.stdout
        c1 = next(letter for letter in letters if letter["event_id"] == "ev-c1")
        shown = await cli("show", str(c1["seq"]), *common)
        assert shown.returncode == 0 and json.loads(shown.stdout)["payload"]["data"]["post_id"] == "c1"
        missing = await cli("show", "99999", *common)
        assert missing.returncode == 3 and "no dead letter 99999" in missing.stderr
        assert (await cli("list", *common, "--consumer", "nobody.here")).returncode == 3
        for command in (["list"], ["replay"], ["purge"]):  # a typo is not "no dead letters"
            typo = await cli(*command, *common, "--consumer", "routing-post-clasified")
            assert typo.returncode == 3 and "none of the consumers" in typo.stderr, (command, typo.stderr)
        quiet = await cli("list", *common, "--consumer", "routing-post-classified")
        assert quiet.returncode == 0 and "no dead letters" in quiet.stderr
        password_alone = await cli("list", *common, "--password", "secret")
        assert password_alone.returncode == 2 and "--password needs --user" in password_alone.stderr
        assert (await cli("purge", str(c1["seq"]), "--older-than", "3", *common)).returncode == 2

        p.broken.clear()
        one = await cli("replay", str(c1["seq"]), *common)
        assert one.returncode == 0, one.stderr
        assert json.loads(one.stdout)["event_id"] == "ev-c1"
        await eventually(lambda: p.applied(B), until=lambda names: names == ["c1", "g1"])
        # Replaying the consumer's others, the malformed one included (it is dead-lettered again, by both).
        rest = await cli("replay", "--consumer", B, *common)
        assert rest.returncode == 0, rest.stderr
        assert json.loads(rest.stdout.strip().splitlines()[-1]) == {"replayed": 3, "failed": 0}
        await eventually(lambda: p.applied(B), until=lambda names: names == ["c1", "c2", "c3", "g1"])
        assert await p.applied(A) == ["c1", "c2", "c3", "g1"], "A applied each once, replays notwithstanding"
        await eventually(lambda: _value(p.stats(A).dead_lettered), until=lambda n: n == 2)

        old = await cli("purge", "--all", "--older-than", "30", *common)
        assert old.returncode == 0 and json.loads(old.stdout) == {"purged": 0}
        everything = await cli("purge", "--all", *common)
        assert everything.returncode == 0 and json.loads(everything.stdout)["purged"] >= 2
        assert json.loads((await cli("list", *common, "--json")).stdout) == []


# ---------------------------------------------------------------------------------------------
# A service's admin API
# ---------------------------------------------------------------------------------------------


async def test_the_admin_api_is_the_operators_and_sees_only_the_services_consumers(
    nats_url: str, tmp_path: Path
) -> None:
    async with pipeline(nats_url, tmp_path, start_b=False) as p:
        # The service under test owns B (A belongs to another service); its app starts B's runtime.
        settings = ServiceSettings(service_name="routing", log_json=False)
        app = create_service_app(
            title="t",
            description="",
            version="0",
            settings=settings,
            db=p.db,
            events=p.runtimes[B],
            allowed_callers=settings.allowed_callers,
        )
        app.include_router(dead_letter_router(), dependencies=PROTECTED)
        base = "/v1/admin/dead-letters"
        operator = ServiceAuth("routing")
        gateway = ServiceAuth("routing", identity="api-gateway")
        for_a_user = ServiceAuth("routing", identity="api-gateway", user=ActingUser("u1", "federal", None))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            await asyncio.wait_for(p.runtimes[B].ready.wait(), 20)
            await _dead_lettered(p, broken=["d1", "d2"], good=["g1"])
            assert (await client.get(base)).status_code == 401
            assert (await client.get(base, auth=gateway)).status_code == 403
            forbidden = await client.get(base, auth=for_a_user)
            assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"

            listing = await client.get(base, auth=operator)
            assert listing.status_code == 200, listing.text
            page = listing.json()
            assert page["consumers"] == [B] and len(page["items"]) == 3 and page["next_after"] is None
            assert {item["consumer"] for item in page["items"]} == {B}
            first = (await client.get(base, params={"limit": 1}, auth=operator)).json()
            assert len(first["items"]) == 1 and first["next_after"] == first["items"][0]["seq"]
            d1 = next(item for item in page["items"] if item["event_id"] == "ev-d1")
            shown = await client.get(f"{base}/{d1['seq']}", auth=operator)
            assert shown.status_code == 200 and shown.json()["payload"]["id"] == "ev-d1"
            assert shown.json()["headers"][ORIGINAL_SUBJECT_HEADER] == SUBJECT_POST_COLLECTED

            a_letter = (await DeadLetters(p.js, timeout=2).list(A))[0]
            for method, path in (
                ("GET", f"{base}/{a_letter.seq}"),
                ("POST", f"{base}/{a_letter.seq}/replay"),
                ("DELETE", f"{base}/{a_letter.seq}"),
                ("GET", f"{base}/999999"),
            ):
                response = await client.request(method, path, auth=operator)
                assert response.status_code == 404, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/dead-letter-not-found")
            unknown = await client.get(base, params={"consumer": A}, auth=operator)
            assert unknown.status_code == 404 and unknown.json()["type"].endswith("/unknown-consumer")

            p.broken.clear()
            replayed = await client.post(f"{base}/{d1['seq']}/replay", auth=operator)
            assert replayed.status_code == 200 and replayed.json()["event_id"] == "ev-d1"
            await eventually(lambda: p.applied(B), until=lambda names: names == ["d1", "g1"])

            # A dead letter of an event B has processed since (an old copy): replaying it doubles nothing.
            copy = await p.js.publish(
                dead_letter_subject(B),
                encode_event(_event("d1")),
                headers={DEAD_LETTER_REASON_HEADER: "an old copy", ORIGINAL_SUBJECT_HEADER: SUBJECT_POST_COLLECTED},
            )
            duplicates = p.stats(B).duplicates
            again = await client.post(f"{base}/{copy.seq}/replay", auth=operator)
            assert again.status_code == 200
            await eventually(lambda: _value(p.stats(B).duplicates), until=lambda n: n == duplicates + 1)
            assert await p.applied(B) == ["d1", "g1"]

            everything = await client.post(f"{base}/replay", json={"consumer": B}, auth=operator)
            assert everything.status_code == 200
            assert {r["event_id"] for r in everything.json()["replayed"]} == {"ev-d2"}
            assert len(everything.json()["failed"]) == 1, "the malformed one cannot be applied: it stays"
            await eventually(lambda: p.applied(B), until=lambda names: names == ["d1", "d2", "g1"])
            # The malformed one is still among B's dead letters: purge it.
            left = (await client.get(base, auth=operator)).json()["items"]
            assert len(left) == 1
            deleted = await client.delete(f"{base}/{left[0]['seq']}", auth=operator)
            assert deleted.status_code == 200 and deleted.json() == {"purged": 1}
            purged = await client.post(f"{base}/purge", json={"older_than_days": 1}, auth=operator)
            assert purged.status_code == 200 and purged.json() == {"purged": 0}
            assert (await client.get(base, auth=operator)).json()["items"] == []
            assert len(await DeadLetters(p.js, timeout=2).list(A)) == 1, "A's dead letters are untouched"


async def test_the_admin_api_without_nats_is_503(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="routing", nats_enabled=False, log_json=False)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", [])
    app = create_service_app(
        title="t", description="", version="0", settings=settings, db=db, events=None, allowed_callers=["operator"]
    )
    app.include_router(dead_letter_router(), dependencies=PROTECTED)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/v1/admin/dead-letters", auth=ServiceAuth("routing"))
        assert response.status_code == 503 and response.json()["type"].endswith("/dead-letters-unavailable")


# ---------------------------------------------------------------------------------------------
# NATS permissions: a service reads and replays its own dead letters only; the operator all of them
# ---------------------------------------------------------------------------------------------


async def test_each_user_operates_only_the_dead_letters_it_is_granted(tmp_path: Path) -> None:
    auth = prepare_local_nats(tmp_path)
    store = CredentialStore(tmp_path)
    passwords = {user: record.password for user, record in store.load().items()}
    assert store.load()["operator"].kind == "operator"
    server = NatsServer(tmp_path / "jetstream", config_file=auth.config_file).start()
    clients: dict[str, Any] = {}
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    try:
        for user in ("routing", "classifier"):
            clients[user] = await connect(server.url, user, attempts=1, user=user, password=passwords[user])
        await ensure_streams(clients["routing"].jetstream())
        routing_js, classifier_js = clients["routing"].jetstream(), clients["classifier"].jetstream()
        # Each dead-letters into its own subject, as its consumer would.
        for js, durable, subject in (
            (routing_js, "routing-post-classified", SUBJECT_POST_CLASSIFIED),
            (classifier_js, "classifier-post-collected", SUBJECT_POST_COLLECTED),
        ):
            await js.publish(
                dead_letter_subject(durable),
                encode_event(_event(durable)),
                headers={DEAD_LETTER_REASON_HEADER: "test", ORIGINAL_SUBJECT_HEADER: subject},
            )

        routing_own = DeadLetters(routing_js, {"routing-post-classified": SUBJECT_POST_CLASSIFIED}, timeout=2)
        (letter,) = await routing_own.list()
        assert letter.consumer == "routing-post-classified"
        # Routing cannot read the classifier's dead letters, even when it asks for them by name.
        snooping = await nats.connect(
            server.url,
            user="routing",
            password=passwords["routing"],
            inbox_prefix="_INBOX_routing",
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        clients["snooping"] = snooping
        with pytest.raises(DeadLettersUnavailable):
            await DeadLetters(snooping.jetstream(), timeout=1).list("classifier-post-collected")
        await eventually(
            lambda: _value(" ".join(str(e) for e in errors).lower()),
            until=lambda text: "consumer.create.deadletter" in text and "classifier-post-collected" in text,
            timeout=5,
        )
        # Its own: a service may not republish what it consumes (it could forge another's events) …
        with pytest.raises(DeadLettersUnavailable):
            await DeadLetters(routing_js, {"routing-post-classified": SUBJECT_POST_CLASSIFIED}, timeout=1).replay(
                letter.seq
            )
        # … it replays in-process, through its own consumer, then deletes the dead letter.
        applied: list[bytes] = []

        async def apply(data: bytes) -> bool:
            applied.append(data)
            return True

        in_process = DeadLetters(
            routing_js,
            {"routing-post-classified": SUBJECT_POST_CLASSIFIED},
            timeout=2,
            appliers={"routing-post-classified": apply},
        )
        replayed = await in_process.replay(letter.seq)
        assert replayed.subject == SUBJECT_POST_CLASSIFIED and replayed.stream == "" and not replayed.duplicate
        assert applied == [letter.data]
        assert await routing_own.list() == []

        # The operator's command line, with the password from the launcher's store: every dead letter.
        common = ["--nats-url", server.url, "--data-dir", str(tmp_path)]
        listed = await cli("list", "--json", *common)
        assert listed.returncode == 0, listed.stderr
        (classifier_letter,) = json.loads(listed.stdout)
        assert classifier_letter["consumer"] == "classifier-post-collected"
        replay = await cli("replay", "--all", *common)
        assert replay.returncode == 0, replay.stderr
        assert json.loads(replay.stdout.strip().splitlines()[-1]) == {"replayed": 1, "failed": 0}
        # … and nothing else: no event stream to read.
        operator = await nats.connect(
            server.url,
            user="operator",
            password=passwords["operator"],
            inbox_prefix="_INBOX_operator",
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        clients["operator"] = operator
        with pytest.raises(nats.errors.TimeoutError):
            await operator.jetstream(timeout=0.5).get_msg("POSTS", 1)
        await _violation(errors, "stream.msg.get.posts")  # refused, not merely slow
        with pytest.raises(nats.errors.TimeoutError):
            await operator.jetstream(timeout=0.5).pull_subscribe(SUBJECT_POST_COLLECTED, durable="x", stream="POSTS")
        await _violation(errors, "consumer.info.posts.x")
        wrong = await cli("list", "--user", "operator", "--password", "wrong", *common)
        assert wrong.returncode == 1 and "Authorization Violation" in wrong.stderr
    finally:
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        server.stop()


def test_a_letter_is_shown_as_stored_even_an_integer_past_64_bits() -> None:
    from incidents_common.deadletters.letter import DeadLetter

    data = b'{"id": "ev-big", "data": {"version": 1180591620717411303424}}'
    letter = DeadLetter(seq=1, subject="incidents.deadletter.x", stored_at=datetime.now(UTC), data=data)
    detail = letter.detail()
    assert detail["payload_encoding"] == "json"
    assert detail["payload"]["data"]["version"] == 2**70
    assert '"version": 1180591620717411303424' in json.dumps(detail["payload"])
