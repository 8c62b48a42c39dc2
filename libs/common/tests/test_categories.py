"""The categories an API accepts: the default taxonomy, and what an operator added to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError

from incidents_common.categories import EXTRA_CATEGORIES_ENV, CategoryName, known_categories
from incidents_common.events import Category


class Correction(BaseModel):
    category: CategoryName | None = None


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    known_categories.cache_clear()
    yield
    known_categories.cache_clear()


def test_the_default_taxonomy_is_known_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXTRA_CATEGORIES_ENV, raising=False)
    assert known_categories() == {c.value for c in Category}
    assert Correction(category="roads").category == "roads"
    assert Correction().category is None
    with pytest.raises(ValidationError, match="unknown category 'unicorns'; known: construction, ecology"):
        Correction(category="unicorns")
    with pytest.raises(ValidationError, match="pattern"):
        Correction(category="Дороги")


def test_categories_an_operator_added_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA_CATEGORIES_ENV, " heating, ,snow_removal ")
    assert Correction(category="heating").category == "heating"
    assert Correction(category="snow_removal").category == "snow_removal"
    assert Correction(category="roads").category == "roads"
    with pytest.raises(ValidationError):
        Correction(category="unicorns")
