from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from classifier.bundle import default_model_path
from classifier.model import Classifier, load_cached


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The model shipped in the package (trained on the hand-written corpus)."""
    return load_cached(default_model_path())


TINY_ROWS: list[dict[str, Any]] = [
    {
        "text": "В Саратове третий день нет горячей воды, УК не отвечает",
        "is_incident": True,
        "category": "housing_utilities",
        "urgency": "high",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "В подъезде пахнет газом, срочно!",
        "is_incident": True,
        "category": "housing_utilities",
        "urgency": "critical",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "Огромная яма на Московской, пробил колесо",
        "is_incident": True,
        "category": "roads",
        "urgency": "normal",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "Дорогу на Сокурском тракте не ремонтируют годами, ямы везде",
        "is_incident": True,
        "category": "roads",
        "urgency": "high",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "Мусор не вывозят вторую неделю, баки переполнены",
        "is_incident": True,
        "category": "waste",
        "urgency": "high",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "Контейнерную площадку завалили мусором, крысы бегают",
        "is_incident": True,
        "category": "waste",
        "urgency": "normal",
        "sentiment": "negative",
    },  # noqa: E501
    {
        "text": "Продам диван недорого, звоните",
        "is_incident": False,
        "category": None,
        "urgency": "normal",
        "sentiment": "neutral",
    },  # noqa: E501
    {
        "text": "Спасибо администрации за новую площадку во дворе!",
        "is_incident": False,
        "category": None,
        "urgency": "normal",
        "sentiment": "positive",
    },  # noqa: E501
    {
        "text": "Губернатор подписал указ о новых выплатах, сообщает пресс-служба",
        "is_incident": False,
        "category": None,
        "urgency": "normal",
        "sentiment": "neutral",
    },  # noqa: E501
    {
        "text": "Какая сегодня красивая погода, гуляли в парке",
        "is_incident": False,
        "category": None,
        "urgency": "normal",
        "sentiment": "positive",
    },  # noqa: E501
]


def write_corpus(directory: Path, train: list[dict[str, Any]], test: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "handwritten_t.jsonl").open("w", encoding="utf-8") as out:
        for n, row in enumerate(train):
            out.write(
                json.dumps(
                    {"id": f"t-{n}", "region_code": None, "city": None, "place_hint": None, **row, "split": "train"},
                    ensure_ascii=False,
                )
                + "\n"
            )  # noqa: E501
        for n, row in enumerate(test):
            out.write(
                json.dumps(
                    {"id": f"x-{n}", "region_code": None, "city": None, "place_hint": None, **row, "split": "test"},
                    ensure_ascii=False,
                )
                + "\n"
            )  # noqa: E501
    return directory


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", TINY_ROWS, TINY_ROWS[::2] + TINY_ROWS[1::2][:3])
