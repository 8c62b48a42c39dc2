"""Fixtures of the collector's tests: the app over a real database, and fake external APIs.

The fakes (collector.testing.FakeServer) are real HTTP servers on 127.0.0.1 that answer in the
documented wire formats; each test scripts their answers and reads the requests they received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from collector.main import create_app
from collector.testing import FakeServer, make_settings
from incidents_common.testing import ServiceAuth


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake2() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'collector.db'}"


@pytest.fixture
async def app(sqlite_url: str) -> FastAPI:
    return create_app(make_settings(sqlite_url))


async def _served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=ServiceAuth("collector")
        ) as http:
            yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _served(app):
        yield http


@pytest.fixture
async def any_db_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on SQLite, then on PostgreSQL (the test runs twice)."""
    async for http in _served(create_app(make_settings(database_url))):
        yield http
