"""JetStream streams: the one place they are declared, and how a service makes sure they exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from incidents_common.events import DEAD_LETTER_ROOT, SUBJECT_ROOT

DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    description: str
    max_age: float = 30 * DAY
    duplicate_window: float = 600.0


# The one place streams are declared; infra/nats/streams.json is generated from this list.
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("POSTS", [f"{SUBJECT_ROOT}.post.>"], "Collected and classified posts", max_age=14 * DAY),
    StreamSpec("INCIDENTS", [f"{SUBJECT_ROOT}.incident.>"], "Incident lifecycle events, by region", max_age=365 * DAY),
    StreamSpec("DEADLETTER", [f"{DEAD_LETTER_ROOT}.>"], "Events a consumer could not process, with the reason"),
)


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=spec.subjects,
        storage=StorageType.FILE,
        max_age=spec.max_age,
        duplicate_window=spec.duplicate_window,
    )


async def ensure_streams(js: JetStreamContext, specs: Sequence[StreamSpec] = STREAMS) -> None:
    for spec in specs:
        config = stream_config(spec)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
