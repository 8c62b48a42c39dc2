"""What the API models of every aggregate build on: request bodies forbid unknown fields, and every
model carries an example (tests/test_openapi.py checks that each operation documents one)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from incidents_common.events import EVENT_TYPES, IncidentEvent, SurgeAlert

EXAMPLE_TIME = "2026-11-26T09:15:00Z"


def example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example of a model, to extend it in a subclass's example."""
    extra: Any = model.model_config.get("json_schema_extra")
    return dict(extra["examples"][0])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# The types the event log holds, which the live stream and webhooks filter on: incident events and
# surge alerts, named without the CloudEvents prefix as the stream names them.
EVENT_TYPE_PREFIX = "ru.incidents."
LOGGED_EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        name.removeprefix(EVENT_TYPE_PREFIX)
        for name, model in EVENT_TYPES.items()
        if issubclass(model, IncidentEvent) or model is SurgeAlert
    )
)


def check_event_type(value: str) -> str:
    """An event type of the log, short (`incident.created`) or as CloudEvents names it
    (`ru.incidents.incident.created`); the short name, or ValueError listing them (a filter on a type
    that never comes would subscribe to nothing)."""
    short = value.removeprefix(EVENT_TYPE_PREFIX)
    if short not in LOGGED_EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}; known: {', '.join(LOGGED_EVENT_TYPES)}")
    return short


EventTypeName = Annotated[
    str,
    Field(max_length=100, description="An event type: " + ", ".join(LOGGED_EVENT_TYPES)),
    AfterValidator(check_event_type),
]
