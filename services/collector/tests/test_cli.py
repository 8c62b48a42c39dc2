"""`python -m collector import`: the same ingest code straight into the database, clear errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import func, select

from collector.cli import main
from collector.models import TABLES, Post
from incidents_common.db import Database, OutboxMessage


def _count(url: str, table: type) -> int:
    async def count() -> int:
        db = Database(url, TABLES)
        try:
            async with db.transaction() as session:
                return int((await session.exec(select(func.count()).select_from(table))).one())
        finally:
            await db.dispose()

    return asyncio.run(count())


class TestImportCommand:
    def test_imports_good_lines_reports_bad_ones(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        lines = [
            json.dumps(
                {"external_id": f"c{n}", "text": f"Нет света в доме {n}", "published_at": "2026-11-24T10:00:00Z"}
            )
            for n in range(25)
        ]
        lines.insert(3, '{"text": "no date"}')
        path = tmp_path / "posts.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        assert main(["import", str(path), "--database-url", url, "--batch", "10", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "line 4: published_at: Field required" in err
        assert "26 lines: 25 new, 0 updated, 0 duplicates, 1 rejected" in err
        assert _count(url, Post) == 25
        assert _count(url, OutboxMessage) == 25  # queued for the service's relay

        assert main(["import", "--demo", "--database-url", url, "--quiet"]) == 0
        assert "41 new" in capsys.readouterr().err

    def test_missing_file_and_bad_arguments(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as missing:
            main(["import", str(tmp_path / "nope.jsonl")])
        assert missing.value.code == 2
        assert "no such file" in capsys.readouterr().err
        with pytest.raises(SystemExit) as folder:
            main(["import", str(tmp_path)])
        assert folder.value.code == 2 and "a folder, not a file" in capsys.readouterr().err
        posts = tmp_path / "posts.jsonl"
        posts.write_text("{}\n")
        with pytest.raises(SystemExit) as zero:
            main(["import", str(posts), "--batch", "0"])  # not the default in disguise
        assert zero.value.code == 2 and "--batch must be between 1 and 10000" in capsys.readouterr().err
        with pytest.raises(SystemExit) as both:
            main(["import"])
        assert both.value.code == 2

    def test_help_runs_as_a_module(self) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "collector", "import", "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0
        assert "--batch" in result.stdout and "JSONL" in result.stdout
