"""An action's answer (and a released held reply's) is typed: routing's incident right after the
action, in the gateway's models (api_gateway.incidents.routed), exactly as the gateway's committed
OpenAPI documents it. Routing is the real routing app; the classifier's fake is checked against its
committed OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api_gateway.incidents.routed import RoutedAnswerInvalid, routed_incident
from api_gateway.testing import serve

from .conftest import contract_violation
from .test_reply_guard import ANSWER, FORMULA, scoring_classifier
from .test_upstream import real_routing
from .test_upstream import routed_incident as opened_incident

ROOT = Path(__file__).resolve().parents[3]
GATEWAY_SCHEMAS = json.loads((ROOT / "services" / "api-gateway" / "openapi.json").read_text(encoding="utf-8"))[
    "components"
]["schemas"]


def documented_fields(name: str) -> set[str]:
    return set(GATEWAY_SCHEMAS[name]["properties"])


def assert_documented(response: Any, method: str, path: str, schema: str) -> dict[str, Any]:
    """The answer validates against the gateway's committed OpenAPI and has exactly its fields."""
    assert response.status_code == 200, response.text
    assert contract_violation("api-gateway", method, path, response) is None
    body: dict[str, Any] = response.json()
    assert set(body) == documented_fields(schema)
    return body


async def test_an_action_answers_with_routings_incident_as_documented(make_gateway, contracts, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await opened_incident(app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            taken = await gw.client.post(path, json={"action": "take"}, headers=gw.headers("official64"))
            body = assert_documented(taken, "POST", path, "RoutedIncident")
            assert body["status"] == "in_progress" and body["reply_quality"] is None
            assert body["assignee"]["official_id"] == "off-64-1"
            assert {d["clock"] for d in body["deadlines"]} >= {"first_reaction"}
            assert [h["action"] for h in body["history"]][-1] == "take"
            assert body["posts"][0]["post_id"] == "p1"

            # A reply: the classifier's score comes with routing's incident, in its documented shape.
            answered = await gw.client.post(
                path, json={"action": "reply", "reply_text": ANSWER}, headers=gw.headers("official64")
            )
            body = assert_documented(answered, "POST", path, "RoutedIncident")
            assert set(body["reply_quality"]) == documented_fields("ReplyScore")
            assert body["reply_quality"]["verdict"] == "answer"
            assert body["replies"][0]["text"] == ANSWER and body["reply"]["text"] == ANSWER


async def test_a_released_reply_answers_with_the_incident_and_the_held_reply(
    make_gateway, contracts, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await opened_incident(app, gw, "p1")
            held = await gw.client.post(
                f"/v1/incidents/{incident_id}/actions",
                json={"action": "reply", "reply_text": FORMULA},
                headers=gw.headers("official64"),
            )
            assert held.status_code == 409, held.text
            path = f"/v1/held-replies/{held.json()['held_reply_id']}/release"
            reason = {"reason": "Житель просил подтвердить"}
            released = await gw.client.post(path, json=reason, headers=gw.headers("admin64"))
            body = assert_documented(released, "POST", path, "ReleasedReply")
            assert body["incident_id"] == incident_id and body["status"] == "answered"
            assert body["held_reply"]["status"] == "released"
            assert set(body["held_reply"]) == documented_fields("HeldReplyRead")
            assert body["replies"][0]["text"] == FORMULA


async def test_a_score_off_the_classifiers_contract_counts_as_no_score(make_gateway, tmp_path: Path) -> None:
    """Scoring is advice: an answer the gateway cannot read never blocks the reply, and is not passed on."""
    from fastapi import FastAPI

    skewed = FastAPI()

    @skewed.post("/v1/replies/score")
    async def score() -> dict[str, Any]:
        return {"quality": "high"}  # deliberately off the contract: a classifier of another version

    async with serve(skewed) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await opened_incident(app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            sent = await gw.client.post(
                path, json={"action": "reply", "reply_text": FORMULA}, headers=gw.headers("official64")
            )
            body = assert_documented(sent, "POST", path, "RoutedIncident")
            assert body["reply_quality"] is None
            assert "ответ не оценён" in body["history"][-1]["comment"]


def test_an_answer_off_routings_contract_is_a_502_that_says_the_action_was_applied() -> None:
    with pytest.raises(RoutedAnswerInvalid) as raised:
        routed_incident({"incident_id": "inc-1", "status": "no-such-status"}, "inc-1")
    assert raised.value.status == 502
    assert "was applied" in str(raised.value) and "GET /v1/incidents/inc-1" in str(raised.value)


async def test_the_read_model_says_which_sla_policy_set_the_deadlines(make_gateway, tmp_path: Path) -> None:
    """Routing's snapshot names the policy of the incident's clocks; the gateway's list and detail show
    it beside the deadlines it set, the same name as routing's own clocks carry."""
    async with real_routing(tmp_path) as (url, app), make_gateway(routing_url=url) as gw:
        incident_id = await opened_incident(app, gw, "p1")
        path = f"/v1/incidents/{incident_id}/actions"
        taken = await gw.client.post(path, json={"action": "take"}, headers=gw.headers("official64"))
        routing_policies = {d["policy"] for d in taken.json()["deadlines"]}
        detail = (await gw.client.get(f"/v1/incidents/{incident_id}", headers=gw.headers("admin64"))).json()
        assert routing_policies == {detail["deadlines"]["policy"]}
        assert detail["deadlines"]["policy"]  # here the service's default: routing has no policies stored
        listed = (await gw.client.get("/v1/incidents", headers=gw.headers("admin64"))).json()["items"]
        assert [item["deadlines"]["policy"] for item in listed] == [detail["deadlines"]["policy"]]
