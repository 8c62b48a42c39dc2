"""Stream settings from configuration, and a service start that never lowers a stream.

The merge is a pure function (`merge_stream_config`): tested on configs alone. Against a real
nats-server: `ensure_streams` creates streams as configured, raises what is configured higher and
keeps what an operator set higher (replicas on a cluster: test_cluster.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import nats
import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from pydantic import ValidationError

from incidents_common.settings import ServiceSettings, service_config
from incidents_common.streams import (
    DAY,
    STREAMS,
    StreamSettings,
    configured_streams,
    ensure_streams,
    merge_stream_config,
    stream_config,
)

POSTS = STREAMS[0]
GB = 1024**3


class RoutingLike(ServiceSettings):
    """A service's settings class, as each service declares it (own env prefix)."""

    model_config = service_config("TESTSVC_")


def _as_server_reports(config: StreamConfig) -> StreamConfig:
    """What stream_info returns for a stream created with `config`: defaults filled in, server metadata."""
    return replace(
        config,
        max_bytes=-1 if config.max_bytes is None else config.max_bytes,
        max_msgs=-1 if config.max_msgs is None else config.max_msgs,
        retention="limits",
        discard=DiscardPolicy.OLD,
        max_consumers=-1,
        max_msgs_per_subject=-1,
        max_msg_size=-1,
        metadata={"_nats.level": "1", "_nats.req.level": "0", "_nats.ver": "2.15.1"},
    )


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def test_the_defaults_are_todays_streams() -> None:
    settings = RoutingLike()
    assert settings.stream_replicas == 1
    assert settings.streams == {}
    specs = settings.stream_specs()
    assert specs == STREAMS
    config = stream_config(specs[0])
    assert (config.num_replicas, config.storage, config.max_bytes, config.max_msgs) == (1, StorageType.FILE, None, None)
    assert (config.max_age, config.duplicate_window) == (14 * DAY, 600.0)


def test_settings_read_replicas_and_a_json_mapping_per_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTSVC_STREAM_REPLICAS", "3")
    monkeypatch.setenv(
        "TESTSVC_STREAMS",
        '{"POSTS": {"max_age": 2592000, "max_bytes": 10737418240, "duplicate_window": 1200},'
        ' "DEADLETTER": {"replicas": 5, "storage": "memory", "max_msgs": 100000}}',
    )
    specs = {spec.name: spec for spec in RoutingLike().stream_specs()}
    assert (specs["POSTS"].replicas, specs["POSTS"].max_age, specs["POSTS"].max_bytes) == (3, 30 * DAY, 10 * GB)
    assert specs["POSTS"].duplicate_window == 1200
    assert specs["INCIDENTS"].replicas == 3 and specs["INCIDENTS"].max_age == 365 * DAY
    assert (specs["DEADLETTER"].replicas, specs["DEADLETTER"].storage, specs["DEADLETTER"].max_msgs) == (
        5,
        "memory",
        100_000,
    )


@pytest.mark.parametrize(
    ("streams", "fragment"),
    [
        ('{"POST": {"replicas": 3}}', "unknown stream"),
        ('{"POSTS": {"replicas": 7}}', "less than or equal to 5"),
        ('{"POSTS": {"storage": "tape"}}', "file"),
        ('{"POSTS": {"max_age": 60}}', "duplicate window"),
        ('{"POSTS": {"replica": 3}}', "extra"),
    ],
)
def test_bad_stream_settings_refuse_to_start(monkeypatch: pytest.MonkeyPatch, streams: str, fragment: str) -> None:
    monkeypatch.setenv("TESTSVC_STREAMS", streams)
    with pytest.raises(ValidationError) as error:
        RoutingLike()
    assert fragment.lower() in str(error.value).lower()


# ---------------------------------------------------------------------------------------------
# The merge, a pure function
# ---------------------------------------------------------------------------------------------


def test_a_stream_as_configured_needs_no_update() -> None:
    wanted = stream_config(POSTS)
    merge = merge_stream_config(_as_server_reports(wanted), wanted)
    assert not merge.needs_update
    assert merge.kept == ()


def test_a_higher_configuration_raises_replicas_limits_and_window() -> None:
    current = _as_server_reports(replace(stream_config(POSTS), max_bytes=GB, max_msgs=1000))
    wanted = stream_config(
        configured_streams(
            {"POSTS": StreamSettings(max_age=30 * DAY, max_bytes=10 * GB, max_msgs=-1, duplicate_window=1200)},
            replicas=3,
        )[0]
    )
    merge = merge_stream_config(current, wanted)
    assert merge.needs_update
    merged = merge.config
    assert (merged.num_replicas, merged.max_age, merged.max_bytes, merged.max_msgs) == (3, 30 * DAY, 10 * GB, -1)
    assert merged.duplicate_window == 1200
    assert merge.changes == (
        "replicas 1 -> 3",
        "max_age 1209600 -> 2592000",
        "max_bytes 1073741824 -> 10737418240",
        "max_msgs 1000 -> unlimited",
        "duplicate_window 600 -> 1200",
    )
    assert merge.kept == ()


def test_what_an_operator_set_higher_is_kept_with_a_warning() -> None:
    # An operator scaled POSTS to R3, removed its age limit, doubled the window, set a per-subject
    # limit and a discard policy this code does not manage, and added a subject of their own.
    current = _as_server_reports(
        replace(
            stream_config(POSTS),
            num_replicas=3,
            max_age=0,
            duplicate_window=1200,
            subjects=[*POSTS.subjects, "legacy.posts.>"],
        )
    )
    current = replace(current, max_msgs_per_subject=10_000, discard=DiscardPolicy.NEW, deny_delete=True)
    merge = merge_stream_config(current, stream_config(POSTS))  # a service start with the defaults
    assert not merge.needs_update
    assert merge.config == current
    assert merge.kept == (
        "replicas: configured 1, the stream has 3; kept 3",
        "max_age: configured 1209600, the stream has unlimited; kept unlimited",
        "duplicate_window: configured 600, the stream has 1200; kept 1200",
    )


def test_an_update_keeps_what_this_code_does_not_manage() -> None:
    current = replace(
        _as_server_reports(stream_config(POSTS)),
        max_msgs_per_subject=10_000,
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        subjects=["legacy.posts.>"],
    )
    merge = merge_stream_config(current, stream_config(replace(POSTS, replicas=3)))
    assert merge.changes == ("replicas 1 -> 3", "subjects + ['incidents.v1.post.>']")
    assert merge.config.subjects == ["legacy.posts.>", "incidents.v1.post.>"]  # missing added, extra kept
    assert (merge.config.max_msgs_per_subject, merge.config.discard, merge.config.deny_delete) == (
        10_000,
        DiscardPolicy.NEW,
        True,
    )
    assert merge.config.metadata == current.metadata
    assert current.num_replicas == 1 and current.subjects == ["legacy.posts.>"]  # the input is not changed


def test_the_storage_type_of_a_stream_never_changes() -> None:
    current = _as_server_reports(stream_config(POSTS))
    merge = merge_stream_config(current, stream_config(replace(POSTS, storage="memory", replicas=3)))
    assert merge.config.storage == StorageType.FILE
    assert merge.changes == ("replicas 1 -> 3",)
    assert merge.kept == ("storage: configured memory, the stream has file; a stream's storage never changes",)


def test_a_limit_left_unconfigured_keeps_an_operators_limit() -> None:
    current = _as_server_reports(replace(stream_config(POSTS), max_bytes=5 * GB, max_msgs=1000))
    assert not merge_stream_config(current, stream_config(POSTS)).needs_update  # max_bytes/max_msgs: None
    explicit = merge_stream_config(current, stream_config(replace(POSTS, max_bytes=-1)))  # "no limit", said
    assert explicit.config.max_bytes == -1 and explicit.config.max_msgs == 1000
    assert explicit.changes == ("max_bytes 5368709120 -> unlimited",)


def test_a_configured_limit_is_lower_than_no_limit() -> None:
    # The stream has no byte limit (-1): a configured 10 GB would lower it, so it is kept unlimited.
    current = _as_server_reports(stream_config(POSTS))
    merge = merge_stream_config(current, stream_config(replace(POSTS, max_bytes=10 * GB, max_age=0)))
    assert merge.config.max_bytes == -1
    assert merge.config.max_age == 0  # no age limit is more than 14 days
    assert merge.changes == ("max_age 1209600 -> unlimited",)
    assert merge.kept == ("max_bytes: configured 10737418240, the stream has unlimited; kept unlimited",)


# ---------------------------------------------------------------------------------------------
# Against a real nats-server
# ---------------------------------------------------------------------------------------------


async def test_missing_streams_are_created_as_configured(nats_client: nats.NATS) -> None:
    js = nats_client.jetstream()
    specs = configured_streams(
        {
            "POSTS": StreamSettings(max_bytes=GB, max_msgs=50_000, duplicate_window=900),
            "DEADLETTER": StreamSettings(storage="memory", max_age=7 * DAY),
        }
    )
    await ensure_streams(js, specs)
    posts = (await js.stream_info("POSTS")).config
    assert (posts.max_bytes, posts.max_msgs, posts.duplicate_window, posts.storage) == (
        GB,
        50_000,
        900,
        StorageType.FILE,
    )
    dead = (await js.stream_info("DEADLETTER")).config
    assert (dead.storage, dead.max_age) == (StorageType.MEMORY, 7 * DAY)
    assert (await js.stream_info("INCIDENTS")).config.max_age == 365 * DAY


async def test_a_start_does_not_lower_what_an_operator_raised(
    nats_client: nats.NATS, caplog: pytest.LogCaptureFixture
) -> None:
    js = nats_client.jetstream()
    await ensure_streams(js)  # the first service start
    # The operator: keep posts 60 days, at most 5 GB but a longer window, an extra subject, and
    # settings this code does not manage.
    operator = replace(
        (await js.stream_info("POSTS")).config,
        max_age=60 * DAY,
        max_bytes=5 * GB,
        duplicate_window=1800,
        subjects=[*POSTS.subjects, "legacy.posts.>"],
        max_msgs_per_subject=1000,
        discard=DiscardPolicy.NEW,
    )
    await js.update_stream(operator)
    before = (await js.stream_info("POSTS")).config

    caplog.set_level(logging.WARNING, logger="incidents.streams")
    await ensure_streams(js)  # the next start, with the defaults (the old code reset all of it)
    after = (await js.stream_info("POSTS")).config
    assert after == before
    assert (after.max_age, after.max_bytes, after.duplicate_window) == (60 * DAY, 5 * GB, 1800)
    assert after.subjects == [*POSTS.subjects, "legacy.posts.>"]
    assert (after.max_msgs_per_subject, after.discard) == (1000, DiscardPolicy.NEW)
    warnings = [record.getMessage() for record in caplog.records]
    assert "stream POSTS: max_age: configured 1209600, the stream has 5184000; kept 5184000" in warnings

    # A configuration that asks for more raises it; one asking for another storage type is ignored.
    await ensure_streams(
        js, configured_streams({"POSTS": StreamSettings(max_bytes=8 * GB, max_age=90 * DAY, storage="memory")})
    )
    raised = (await js.stream_info("POSTS")).config
    assert (raised.max_bytes, raised.max_age, raised.storage) == (8 * GB, 90 * DAY, StorageType.FILE)
    assert raised.duplicate_window == 1800 and raised.max_msgs_per_subject == 1000
    assert any("storage: configured memory, the stream has file" in record.getMessage() for record in caplog.records)


async def test_services_starting_together_end_with_the_highest_settings(nats_url: str) -> None:
    clients = [await nats.connect(nats_url) for _ in range(2)]
    try:
        low = configured_streams()
        high = configured_streams({name: StreamSettings(max_age=400 * DAY) for name in ("POSTS", "INCIDENTS")})
        await asyncio.gather(ensure_streams(clients[0].jetstream(), low), ensure_streams(clients[1].jetstream(), high))
        js = clients[0].jetstream()
        assert (await js.stream_info("POSTS")).config.max_age == 400 * DAY
        assert (await js.stream_info("INCIDENTS")).config.max_age == 400 * DAY
        assert (await js.stream_info("DEADLETTER")).config.max_age == 30 * DAY
    finally:
        for client in clients:
            await client.close()
