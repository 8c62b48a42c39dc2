"""The labelled corpus: hand-written files give train and the held-out test split, generated files
and operator feedback only ever train."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.model import PostInput


class CorpusError(ValueError):
    pass


@dataclass
class Corpus:
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    skipped: int = 0
    files: tuple[str, ...] = ()


REQUIRED = ("text", "is_incident", "urgency", "sentiment")


def _valid(row: Any) -> bool:
    return isinstance(row, dict) and all(k in row for k in REQUIRED) and isinstance(row.get("text"), str)


def read_jsonl(path: Path, *, generated: bool) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    skipped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1  # a line being written right now, or a broken one
            continue
        if not _valid(row):
            skipped += 1
            continue
        row["generated"] = generated
        rows.append(row)
    return rows, skipped


def load_corpus(directory: Path, *, include_generated: bool = True, extra: Iterable[dict[str, Any]] = ()) -> Corpus:
    """Hand-written files (handwritten_*.jsonl) give train and the held-out test split; generated
    files (generated/*.jsonl) and operator feedback (`extra`) only ever train."""
    if not directory.is_dir():
        raise CorpusError(f"corpus directory {directory} does not exist")
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    skipped = 0
    files: list[str] = []
    for path in sorted(directory.glob("*.jsonl")):
        rows, bad = read_jsonl(path, generated=False)
        skipped += bad
        files.append(path.name)
        for row in rows:
            (test if row.get("split") == "test" else train).append(row)
    if include_generated:
        for path in sorted((directory / "generated").glob("*.jsonl")):
            rows, bad = read_jsonl(path, generated=True)
            skipped += bad
            files.append(f"generated/{path.name}")
            train.extend(r for r in rows if r.get("split") != "test")
    for row in extra:
        if _valid(row):
            train.append({**row, "generated": False, "feedback": True})
    if not train:
        raise CorpusError(f"no training rows in {directory}")
    return Corpus(train, test, skipped, tuple(files))


def to_input(row: dict[str, Any]) -> PostInput:
    return PostInput(text=row["text"], place_hint=row.get("place_hint"))


def is_critical(row: dict[str, Any]) -> bool:
    return bool(row.get("is_incident")) and row.get("urgency") == "critical"
