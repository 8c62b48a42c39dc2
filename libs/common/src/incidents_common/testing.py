"""Pytest fixtures for real infrastructure: a nats-server process, SQLite files, a PostgreSQL server
(install the `testing` extra: `pip install incidents-common[testing]`), and the event builders of
incidents_common.factories (`post_collected`, `post_classified`, `incident_snapshot`, …).

Registered as a plugin by the root conftest.py. Each test gets clean JetStream state (streams are
deleted before it runs) and, for PostgreSQL, a database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

# The event builders (incidents_common.factories) are imported with the fixtures, from here.
from incidents_common.factories import T0 as T0
from incidents_common.factories import incident_snapshot as incident_snapshot
from incidents_common.factories import post_classified as post_classified
from incidents_common.factories import post_collected as post_collected
from incidents_common.factories import reply_requested as reply_requested
from incidents_common.factories import surge_alert as surge_alert
from incidents_common.processes import NatsServer, asyncpg_url, postgres_server

if TYPE_CHECKING:
    from incidents_common.nats import EventRuntime

T = TypeVar("T")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


async def _delete_all_streams(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture
async def nats_url(nats_server: NatsServer) -> str:
    """The URL of the session's nats-server, with every stream deleted first."""
    if nats_server.process is None or nats_server.process.poll() is not None:
        nats_server.start()
    await _delete_all_streams(nats_server.url)
    return nats_server.url


@pytest.fixture(scope="session")
def postgres_libpq_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


async def _create_database(libpq_url: str) -> str:
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(libpq_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


@pytest.fixture
async def postgres_url(postgres_libpq_url: str) -> str:
    """An SQLAlchemy asyncpg URL of a fresh, empty database."""
    name = await _create_database(postgres_libpq_url)
    return asyncpg_url(postgres_libpq_url, name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test twice: on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    libpq: str = request.getfixturevalue("postgres_libpq_url")
    name = await _create_database(libpq)
    return asyncpg_url(libpq, name)


@contextlib.asynccontextmanager
async def started(runtime: EventRuntime) -> AsyncIterator[EventRuntime]:
    """The runtime's tables created, its consumers subscribed and ready; stopped (and its database
    disposed of) afterwards."""
    await runtime.db.create_tables()
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.ready.wait(), 20)
        yield runtime
    finally:
        await runtime.stop()
        await runtime.db.dispose()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 15.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `until(result)` holds; the last result in the assertion message otherwise."""
    deadline = time.monotonic() + timeout

    async def probe_in_time() -> T:
        # A probe that never returns (a database connection that never comes) fails like any other.
        try:
            return await asyncio.wait_for(probe(), timeout=max(deadline - time.monotonic(), 0.5))
        except TimeoutError:
            raise AssertionError(f"the probe itself did not return within {timeout}s") from None

    result = await probe_in_time()
    while not until(result):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {result!r}")
        await asyncio.sleep(interval)
        result = await probe_in_time()
    return result


async def rows_read_in_transaction(session: Any, table: str) -> int:
    """PostgreSQL: the rows of `table` this transaction has read so far, by scans and by index look-ups
    (pg_stat_xact_user_tables). A look-up that must not scan a growing table is tested with it."""
    from sqlalchemy import text

    query = text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = :table"
    )
    return int((await session.execute(query, {"table": table})).one()[0])


async def read_stream(url: str, subject: str, *, timeout: float = 2.0) -> list[Any]:
    """All messages currently on `subject` (an ephemeral ordered read, for assertions)."""
    import nats
    from nats.js.api import DeliverPolicy

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        messages: list[Any] = []
        while True:
            try:
                messages.append(await sub.next_msg(timeout=timeout))
            except TimeoutError:
                break
        await sub.unsubscribe()
        return messages
    finally:
        await nc.close()


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Any]:
    import nats

    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


# ---------------------------------------------------------------------------------------------
# Service identity: one key folder for the whole test session, and clients that sign requests
# ---------------------------------------------------------------------------------------------


# Modules marked with one of these run first. `make test` spreads the suite over pytest-xdist's
# workers, which take tests in collection order: a long test collected last would end the run alone.
LONG_MARKERS = ("faults", "slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first, the rest in their order (a stable sort: each module stays together)."""
    items.sort(key=lambda item: not any(item.get_closest_marker(name) for name in LONG_MARKERS))


_IDENTITY_DIR_MADE = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Every app the tests start loads its keys from one folder made for this session."""
    import os
    import tempfile

    from incidents_common.identity import IDENTITY_DIR_ENV, init_identity_dir

    if not os.environ.get(IDENTITY_DIR_ENV):
        folder = Path(tempfile.mkdtemp(prefix="incidents-identity-"))
        init_identity_dir(folder)
        os.environ[IDENTITY_DIR_ENV] = str(folder)
        config.stash[_IDENTITY_DIR_MADE] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's keys go with it (the process that made the folder removes it: xdist's workers
    inherit the folder and leave it)."""
    import shutil

    folder = config.stash.get(_IDENTITY_DIR_MADE, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


class ServiceAuth:
    """httpx auth that signs every request with a fresh token of `identity` for `audience`.

    The operator by default; `user` makes it a token of the gateway acting for that user.
    """

    def __init__(self, audience: str, identity: str = "operator", user: Any = None) -> None:
        from incidents_common.identity import Identity

        self.audience = audience
        self.signer = Identity.load(identity)
        self.user = user

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.signer.mint(self.audience, user=self.user)}"
        return request
