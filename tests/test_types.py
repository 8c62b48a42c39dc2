"""Typed code: mypy in strict mode over libs/common and every service (the packages and the settings are
in pyproject.toml's [tool.mypy]); every `type: ignore` left in the sources says why beside it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "libs" / "common" / "src", *sorted((ROOT / "services").glob("*/src"))]


def test_mypy_strict_passes(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "Success" in result.stdout


def test_every_type_ignore_says_why() -> None:
    bare = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if "type: ignore" in line and not re.search(r"type: ignore\[[^\]]+\]\s+#\s*\S", line):
                    bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "a type: ignore without its code and reason:\n" + "\n".join(bare)
