"""An official's answer goes back where the complaint was (issue 14), end to end through the launcher:
a complaint on a VK community wall (a fake VK on 127.0.0.1 speaking VK's wire format) is collected,
classified and routed; a regional admin replies through the gateway (the reply is scored first); the
collector publishes it as a comment under the post, as the community, once; routing stops the clocks
and the gateway shows the published comment's link on the incident. Then the complainant writes «не
сделали» under the post: the collector reads it from the thread, the classifier labels it not fixed,
and routing reopens the incident, not satisfied, with new clocks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from collector.testing import FakeServer, FakeVk, Reply, Request
from incidents_common.processes import free_port

from .test_pipeline import KEY, RunningSystem, _start, _stop

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

T = TypeVar("T")
COMMUNITY = -100
POST_ID = 7
COMPLAINT = (
    "Саратов, улица Чернышевского у дома 120: огромная яма прямо на проезжей части, "
    "вчера две машины пробили колёса. Когда её заделают?"
)
ANSWER = (
    "Яму на улице Чернышевского у дома 120 заделает бригада ДЭУ-2 до 10 декабря; "
    "до ремонта место огорожено. Ответственный — комитет дорожного хозяйства."
)


def wall(request: Request) -> Reply:
    """wall.get of the community: one complaint (the write methods are FakeVk's)."""
    method = request.path.rsplit("/", 1)[-1]
    if method != "wall.get":
        return Reply(body={"error": {"error_code": 3, "error_msg": "Unknown method passed", "request_params": []}})
    item = {
        "id": POST_ID,
        "owner_id": COMMUNITY,
        "from_id": 4242,
        "date": int(time.time()) - 600,
        "text": COMPLAINT,
        "likes": {"count": 12},
        "reposts": {"count": 1},
        "comments": {"count": 0},
        "views": {"count": 900},
        "post_type": "post",
    }
    groups = [{"id": -COMMUNITY, "name": "Подслушано Саратов", "screen_name": "saratov_overheard"}]
    profiles = [{"id": 4242, "first_name": "Анна", "last_name": "К.", "city": {"id": 1, "title": "Саратов"}}]
    return Reply(body={"response": {"items": [item], "count": 1, "groups": groups, "profiles": profiles}})


def wait_for(probe: Callable[[], T], until: Callable[[T], bool], *, what: str, timeout: float = 90.0) -> T:
    deadline = time.monotonic() + timeout
    value = probe()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s; last: {value!r}")
        time.sleep(0.3)
        value = probe()
    return value


@pytest.fixture
def vk() -> Iterator[tuple[FakeServer, FakeVk]]:
    server = FakeServer()
    script = FakeVk(fallback=wall)
    server.script = script
    server.start()
    yield server, script
    server.stop()


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    ports = {name: free_port() for name in ("nats", "gateway", "collector", "classifier", "routing", "console")}
    # The collector reads the thread under a published reply every second (default: 10 minutes).
    running = _start(tmp_path / "var", ports, settings={"COLLECTOR_REACTION_POLL_SECONDS": "1"})
    yield running
    if running.process.poll() is None:
        _stop(running)


def test_a_reply_is_published_under_the_vk_post_and_counts(
    system: RunningSystem, vk: tuple[FakeServer, FakeVk]
) -> None:
    server, script = vk
    collector = httpx.Client(base_url=system.collector, headers=system.collector_auth(), timeout=10)
    gateway = httpx.Client(base_url=system.gateway, headers={"X-API-Key": KEY}, timeout=30)
    try:
        source = {
            "name": "Подслушано Саратов",
            "type": "vk",
            "interval_seconds": 1,
            "settings": {"token": "community-token", "base_url": server.url, "owner_ids": [COMMUNITY]},
        }
        created = collector.post("/v1/sources", json=source)
        assert created.status_code == 201, created.text

        def saratov() -> list[dict[str, Any]]:
            return list(gateway.get("/v1/incidents", params={"region": "64"}).json().get("items", []))

        (incident,) = wait_for(saratov, lambda items: len(items) == 1, what="the complaint as an incident")
        incident_id = incident["incident_id"]

        made = gateway.post("/v1/admin/keys", json={"name": "ЦУР 64", "role": "regional_admin", "regions": ["64"]})
        assert made.status_code == 201, made.text
        admin = {"X-API-Key": made.json()["api_key"]}
        acted = gateway.post(
            f"/v1/incidents/{incident_id}/actions", json={"action": "reply", "reply_text": ANSWER}, headers=admin
        )
        assert acted.status_code == 200, acted.text

        def reply_state() -> dict[str, Any] | None:
            detail = gateway.get(f"/v1/incidents/{incident_id}").json()
            return detail.get("reply")

        state = wait_for(
            reply_state, lambda r: bool(r) and r["status"] == "published", what="the reply published at VK"
        )
        (comment,) = script.comments
        assert (comment["owner_id"], comment["post_id"], comment["from_group"]) == (
            str(COMMUNITY),
            str(POST_ID),
            str(-COMMUNITY),
        )
        assert comment["message"] == ANSWER and comment["access_token"] == "community-token"
        assert comment["guid"] == state["reply_id"]  # VK's guard against a second comment
        assert state["url"] == f"https://vk.com/wall{COMMUNITY}_{POST_ID}?reply={comment['comment_id']}"
        assert state["channel"] == "vk"

        detail = gateway.get(f"/v1/incidents/{incident_id}").json()
        assert detail["status"] == "answered"
        assert detail["deadlines"]["first_response_at"] is not None  # the clocks stopped: it counts
        assert detail["satisfaction"] == "no_reaction"
        assert [entry["type"] for entry in detail["history"]][-1] == "incident.reply_publication"
        assert len(script.calls) == 1  # published once

        # The complainant answers under the post: it is not done.
        script.add_comment(
            COMMUNITY, POST_ID, from_id=4242, text="Ничего не сделали, яма как была, сегодня опять колесо пробили"
        )
        reopened = wait_for(
            lambda: gateway.get(f"/v1/incidents/{incident_id}").json(),
            lambda d: d["status"] == "reopened",
            what="the incident reopened by the complainant's «not fixed»",
        )
        assert reopened["satisfaction"] == "not_satisfied"
        reaction = [e for e in reopened["history"] if e["type"] == "incident.reaction"][-1]
        assert reaction["detail"]["label"] == "not_fixed" and reaction["detail"]["by_complainant"] is True
        assert reopened["deadlines"]["first_response_due"] is not None  # new clocks run
    finally:
        collector.close()
        gateway.close()
