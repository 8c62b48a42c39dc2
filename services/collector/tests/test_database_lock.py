"""A database that cannot take a write (an SQLite file another process holds locked) answers 503
problem+json with Retry-After, loses nothing, and the service says it is not ready meanwhile."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.main import create_app
from collector.testing import make_settings
from incidents_common.db import SQLITE_BUSY_TIMEOUT_ENV

from .conftest import _served

POST = {
    "source_type": "push",
    "external_id": "locked-1",
    "text": "В Саратове на улице Мира 15 прорвало трубу, вода хлещет",
    "published_at": datetime.now(UTC).isoformat(),
}


async def test_a_locked_file_is_503_problem_then_the_same_post_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SQLITE_BUSY_TIMEOUT_ENV, "200")
    path = tmp_path / "collector.db"
    async for http in _served(create_app(make_settings(f"sqlite+aiosqlite:///{path}"))):
        locker = sqlite3.connect(path, timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            refused = await http.post("/v1/posts", json=POST)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["type"].endswith("/database-unavailable")
            ready = await http.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["database"] != "ok"
        finally:
            locker.rollback()
            locker.close()
        taken = await http.post("/v1/posts", json=POST)
        assert taken.status_code in (200, 201, 202), taken.text
        assert taken.json()["accepted"] == 1, "the refused request had stored nothing"
        assert (await http.get("/health/ready")).status_code == 200
