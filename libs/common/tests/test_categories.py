"""The categories an API accepts: the default taxonomy, and what an operator added to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError

from incidents_common.categories import (
    CATEGORY_NAMES,
    EXTRA_CATEGORIES_ENV,
    CategoryName,
    category_name,
    known_categories,
)
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


def test_every_category_of_the_taxonomy_has_a_russian_name() -> None:
    assert set(CATEGORY_NAMES) == {c.value for c in Category}
    assert category_name("roads") == "Дороги"
    assert category_name("housing_utilities") == "ЖКХ"
    assert category_name("snow_removal") == "snow_removal", "an operator's extra category is shown as it is called"
    assert category_name(None) == ""


class TestClassificationProblem:
    def test_a_known_category_and_urgency_pass_and_others_are_named(self) -> None:
        from incidents_common.categories import classification_problem
        from incidents_common.testing import post_classified

        classification = post_classified("p", "Яма на дороге").classification
        assert classification_problem(classification) is None

        def with_label(field: str, label: str) -> str | None:
            changed = getattr(classification, field).model_copy(update={"label": label})
            return classification_problem(classification.model_copy(update={field: changed}))

        assert "unknown category 'unicorns'" in (with_label("category", "unicorns") or "")
        assert "unknown urgency 'apocalyptic'" in (with_label("urgency", "apocalyptic") or "")
