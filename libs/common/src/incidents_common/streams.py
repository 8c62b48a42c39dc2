"""JetStream streams: the one place they are declared, and how a service makes sure they exist.

A stream's replicas, storage and limits come from configuration (`ServiceSettings.stream_replicas`
and `ServiceSettings.streams`, turned into specs by `configured_streams`); the defaults below are a
single local node's. `ensure_streams` creates a missing stream with the configured settings; for a
stream that exists it only ever *raises*: more replicas, a longer max age, larger limits, a longer
duplicate window, missing subjects. It never lowers what is there (an operator may have scaled a
stream up by hand) and never changes the storage type; when the configuration asks for less than is
set it logs a warning and keeps the stream's value. `merge_stream_config` is that rule, as a pure
function.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError
from pydantic import BaseModel, ConfigDict, Field

from incidents_common.events import (
    DEAD_LETTER_ROOT,
    SUBJECT_ALERT_ALL,
    SUBJECT_CLASSIFICATION_ALL,
    SUBJECT_REACTION_ALL,
    SUBJECT_REPLY_ALL,
    SUBJECT_ROOT,
)

log = logging.getLogger("incidents.streams")

DAY = 24 * 3600.0
MAX_REPLICAS = 5  # JetStream's limit
STREAM_NAME_IN_USE = 10058  # JetStream error code: another client created the stream in the meantime

Storage = Literal["file", "memory"]


@dataclass(frozen=True)
class StreamSpec:
    """A stream as the code declares it; `replicas`, `storage` and the limits may be configured.

    Limits: `max_age` and `duplicate_window` in seconds (`max_age` 0: no age limit); `max_bytes` and
    `max_msgs` -1: no limit, None (the default): not configured, so a new stream has no limit and an
    existing one keeps whatever limit an operator gave it.
    """

    name: str
    subjects: list[str]
    description: str
    max_age: float = 30 * DAY
    duplicate_window: float = 600.0
    replicas: int = 1
    storage: Storage = "file"
    max_bytes: int | None = None
    max_msgs: int | None = None


# The one place streams are declared; infra/nats/streams.json is generated from this list.
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("POSTS", [f"{SUBJECT_ROOT}.post.>"], "Collected and classified posts", max_age=14 * DAY),
    # Operators' corrections of classifications live beside the incidents they were made on: by region,
    # kept a year (the classifier trains on them), readable by the region's subscriber; so do the
    # officials' replies to publish, what came of publishing them, the citizens' reactions to them, and
    # the alerts raised over incidents (surges).
    StreamSpec(
        "INCIDENTS",
        [
            f"{SUBJECT_ROOT}.incident.>",
            SUBJECT_CLASSIFICATION_ALL,
            SUBJECT_REPLY_ALL,
            SUBJECT_REACTION_ALL,
            SUBJECT_ALERT_ALL,
        ],
        "Incident lifecycle events, operators' corrections, replies to publish, citizens' reactions and "
        "surge alerts, by region",
        max_age=365 * DAY,
    ),
    StreamSpec("DEADLETTER", [f"{DEAD_LETTER_ROOT}.>"], "Events a consumer could not process, with the reason"),
)


class StreamSettings(BaseModel):
    """One stream's configured settings (a value of the `streams` JSON mapping); unset keys keep the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS, description="Copies on distinct nodes")
    storage: Storage | None = Field(default=None, description="file or memory (only for a stream not yet created)")
    max_age: float | None = Field(default=None, ge=0, description="Seconds a message is kept; 0: no age limit")
    max_bytes: int | None = Field(default=None, ge=-1, description="Bytes the stream may hold; -1: no limit")
    max_msgs: int | None = Field(default=None, ge=-1, description="Messages the stream may hold; -1: no limit")
    duplicate_window: float | None = Field(default=None, gt=0, description="Seconds Nats-Msg-Id de-duplicates")


def check_stream_names(names: Sequence[str], specs: Sequence[StreamSpec] = STREAMS) -> None:
    known = [spec.name for spec in specs]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown stream(s) {unknown}: the streams are {known}")


def configured_streams(
    overrides: Mapping[str, StreamSettings] | None = None,
    *,
    replicas: int | None = None,
    specs: Sequence[StreamSpec] = STREAMS,
) -> tuple[StreamSpec, ...]:
    """The declared streams with the configuration applied: `replicas` for every stream, then each
    stream's own `overrides` (keyed by stream name)."""
    overrides = dict(overrides or {})
    check_stream_names(list(overrides), specs)
    result = []
    for spec in specs:
        if replicas is not None:
            spec = replace(spec, replicas=replicas)
        override = overrides.get(spec.name)
        if override is not None:
            spec = replace(spec, **override.model_dump(exclude_none=True))
        if not 1 <= spec.replicas <= MAX_REPLICAS:
            raise ValueError(f"stream {spec.name}: replicas must be 1 to {MAX_REPLICAS}, not {spec.replicas}")
        if spec.max_age > 0 and spec.duplicate_window > spec.max_age:
            raise ValueError(
                f"stream {spec.name}: the duplicate window ({spec.duplicate_window}s) "
                f"cannot be longer than max_age ({spec.max_age}s)"
            )
        result.append(spec)
    return tuple(result)


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        storage=StorageType(spec.storage),
        num_replicas=spec.replicas,
        max_age=spec.max_age,
        max_bytes=spec.max_bytes,
        max_msgs=spec.max_msgs,
        duplicate_window=spec.duplicate_window,
    )


# ---------------------------------------------------------------------------------------------
# The merge: what an existing stream becomes when a service starts
# ---------------------------------------------------------------------------------------------


def _limit(value: float | None, *, zero_is_unlimited: bool = True) -> float:
    """A limit as a number to compare: no limit (None, -1, or 0 where 0 means none) is infinite."""
    if value is None or value < 0 or (zero_is_unlimited and value == 0):
        return float("inf")
    return float(value)


def _replicas(value: float | None) -> float:
    return float(value or 1)


def _shown(value: float) -> str:
    if value == float("inf"):
        return "unlimited"
    return str(int(value)) if value == int(value) else str(value)


@dataclass(frozen=True)
class StreamMerge:
    """The config to apply to an existing stream, what it changes, and what the configuration wanted lower."""

    config: StreamConfig
    changes: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def needs_update(self) -> bool:
        return bool(self.changes)


# attribute of StreamConfig, its name in the logs, how to compare it (bigger is more)
_RAISE_ONLY: tuple[tuple[str, str, Callable[[float | None], float]], ...] = (
    ("num_replicas", "replicas", _replicas),
    ("max_age", "max_age", _limit),
    ("max_bytes", "max_bytes", _limit),
    ("max_msgs", "max_msgs", _limit),
    ("duplicate_window", "duplicate_window", functools.partial(_limit, zero_is_unlimited=False)),
)


def merge_stream_config(current: StreamConfig, wanted: StreamConfig) -> StreamMerge:
    """What an existing stream (`current`, as the server reports it) becomes under `wanted`.

    Starts from the current config, so everything this code does not manage (retention, discard
    policy, placement, per-subject limits …) stays as it is; then raises replicas, max_age, max_bytes,
    max_msgs and the duplicate window where `wanted` is higher (no limit counts as the highest), adds
    the subjects `wanted` has and `current` lacks (keeping any extra ones) and takes the description.
    The storage type is never changed. `kept` lists what `wanted` asked lower than is set.
    """
    merged = replace(current, subjects=list(current.subjects or []))
    changes: list[str] = []
    kept: list[str] = []
    for attribute, label, measure in _RAISE_ONLY:
        want = getattr(wanted, attribute)
        if want is None:
            continue
        have_n, want_n = measure(getattr(current, attribute)), measure(want)
        if want_n > have_n:
            setattr(merged, attribute, want)
            changes.append(f"{label} {_shown(have_n)} -> {_shown(want_n)}")
        elif want_n < have_n:
            kept.append(f"{label}: configured {_shown(want_n)}, the stream has {_shown(have_n)}; kept {_shown(have_n)}")
    present = merged.subjects or []
    missing = [subject for subject in wanted.subjects or [] if subject not in present]
    if missing:
        merged.subjects = [*present, *missing]
        changes.append(f"subjects + {missing}")
    if wanted.description and wanted.description != current.description:
        merged.description = wanted.description
        changes.append("description")
    have_s = StorageType(current.storage or StorageType.FILE).value
    want_s = StorageType(wanted.storage or have_s).value
    if want_s != have_s:
        kept.append(f"storage: configured {want_s}, the stream has {have_s}; a stream's storage never changes")
    return StreamMerge(merged, tuple(changes), tuple(kept))


async def ensure_streams(js: JetStreamContext, specs: Sequence[StreamSpec] = STREAMS) -> None:
    """Create missing streams with their configured settings; raise (never lower) existing ones.

    A stream that exists but cannot be raised (say, more replicas than the cluster has nodes) is
    logged as an error and left as it is: the service still works with it.
    """
    for spec in specs:
        wanted = stream_config(spec)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(wanted)
            except BadRequestError as exc:
                if exc.err_code != STREAM_NAME_IN_USE:  # not: another service created it just now
                    raise
                info = await js.stream_info(spec.name)
            else:
                log.info("stream created", extra={"stream": spec.name, "replicas": spec.replicas})
                continue
        merge = merge_stream_config(info.config, wanted)
        for warning in merge.kept:
            log.warning(f"stream {spec.name}: {warning}", extra={"stream": spec.name})
        if not merge.needs_update:
            continue
        try:
            await js.update_stream(merge.config)
        except APIError as exc:
            log.error(
                f"stream {spec.name}: update refused, the stream stays as it is",
                extra={"stream": spec.name, "changes": list(merge.changes), "error": str(exc)},
            )
            continue
        log.info("stream updated", extra={"stream": spec.name, "changes": list(merge.changes)})
