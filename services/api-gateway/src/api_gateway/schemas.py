"""What the API models of every aggregate build on: request bodies forbid unknown fields, and every
model carries an example (tests/test_openapi.py checks that each operation documents one)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

EXAMPLE_TIME = "2026-11-26T09:15:00Z"


def example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example of a model, to extend it in a subclass's example."""
    extra: Any = model.model_config.get("json_schema_extra")
    return dict(extra["examples"][0])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
