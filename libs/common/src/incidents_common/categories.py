"""The categories a person may name: in a correction of a classification, a routing rule, an SLA policy.

The default taxonomy is `incidents_common.events.Category`. An operator who adds a category to the
classifier's taxonomy (services/classifier/…/data/taxonomy.yaml) lists it in INCIDENTS_EXTRA_CATEGORIES
(comma-separated) for the gateway and routing too, so that they accept what the classifier assigns.
A name outside both would open an incident no rule can route and send the classifier feedback it
must dead-letter, so the API refuses it at the door.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field

from incidents_common.events import Category, Classification, Urgency

EXTRA_CATEGORIES_ENV = "INCIDENTS_EXTRA_CATEGORIES"


@lru_cache(maxsize=1)
def known_categories() -> frozenset[str]:
    extra = (name.strip() for name in os.environ.get(EXTRA_CATEGORIES_ENV, "").split(","))
    return frozenset(c.value for c in Category) | {name for name in extra if name}


def check_category(value: str | None) -> str | None:
    """A pydantic after-validator: the name itself, or ValueError listing the known ones."""
    if value is not None and value not in known_categories():
        raise ValueError(f"unknown category {value!r}; known: {', '.join(sorted(known_categories()))}")
    return value


def classification_problem(classification: Classification) -> str | None:
    """Why a post.classified cannot be taken as it is (a category outside the taxonomy, an urgency
    outside critical/high/normal), or None. A consumer dead-letters such an event with this reason
    instead of opening an incident no rule can route: a taxonomy that differs between services (an
    extra category not listed in INCIDENTS_EXTRA_CATEGORIES) shows up there, not in the incidents."""
    category = classification.category.label
    if category not in known_categories():
        return f"unknown category {category!r} (not in the taxonomy nor in {EXTRA_CATEGORIES_ENV})"
    urgency = classification.urgency.label
    if urgency not in Urgency.__members__:
        return f"unknown urgency {urgency!r}; known: {', '.join(u.value for u in Urgency)}"
    return None


# A category as an API names it (a correction's): the shape of a taxonomy key, and a known one.
CategoryName = Annotated[
    str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$"), AfterValidator(check_category)
]


# What a person reads for a category of the default taxonomy (the console, routing's explanations).
# An operator's extra category has no name here and is shown as it is called (`category_name`).
CATEGORY_NAMES: dict[str, str] = {
    "housing_utilities": "ЖКХ",
    "roads": "Дороги",
    "public_transport": "Общественный транспорт",
    "waste": "Мусор и отходы",
    "landscaping": "Благоустройство",
    "healthcare": "Здравоохранение",
    "education": "Образование",
    "social_support": "Социальная поддержка",
    "ecology": "Экология",
    "safety": "Безопасность",
    "stray_animals": "Бездомные животные",
    "construction": "Строительство",
    "government": "Органы власти",
    "other": "Другое",
}


def category_name(category: str | None) -> str:
    """«Дороги» for roads; an unnamed (extra) category as it is called."""
    return CATEGORY_NAMES.get(category or "", category or "")
