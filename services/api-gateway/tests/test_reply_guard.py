"""The reply-quality guard (issue 14, part 3): a reply scored below the region's threshold is held with
its reasons and suggestions; the curator may send it with a reason, which lands in the audit log.

Routing is the real routing app; the classifier is a fake of POST /v1/replies/score whose answers are
checked against the classifier's committed openapi.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from api_gateway.testing import serve

from .test_upstream import operator, real_routing, routed_incident

FORMULA = "Ваше обращение передано в ответственную службу и взято на контроль. Спасибо за обращение!"
ANSWER = "Яму на Ленина заделает бригада МУП «Дорремстрой» до 20 мая."


def scoring_classifier(contracts: Any, seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/replies/score")
    async def score(request: Request) -> Any:
        body = await request.json()
        seen.append(body)
        formula = "передано" in body["reply"]
        return {
            "quality": 0.08 if formula else 0.93,
            "verdict": "otpiska" if formula else "answer",
            "mentions_problem": not formula,
            "has_action": not formula,
            "has_term": not formula,
            "has_who": not formula,
            "reasons": ["формула: передано", "нет: срок"] if formula else [],
            "suggestions": ["укажите срок: дату или число дней"] if formula else [],
            "evidence": {"формулы": ["передано"]} if formula else {"срок": ["до 20 мая"]},
            "model_version": "fake-replies",
        }

    return contracts.checked("classifier", app)  # type: ignore[no-any-return]


async def _history(url: str, incident_id: str) -> list[dict[str, Any]]:
    async with operator(url) as http:
        return (await http.get(f"/v1/incidents/{incident_id}")).json()["history"]  # type: ignore[no-any-return]


async def test_a_formula_is_held_and_an_answer_goes_out(make_gateway, contracts, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await routed_incident(app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            held = await gw.client.post(
                path, json={"action": "reply", "reply_text": FORMULA}, headers=gw.headers("official64")
            )
            assert held.status_code == 409, held.text
            assert held.headers["content-type"].startswith("application/problem+json")
            problem = held.json()
            assert problem["quality"] == 0.08 and problem["threshold"] == 0.5
            assert problem["suggestions"] == ["укажите срок: дату или число дней"]
            assert seen[-1]["reply"] == FORMULA and "яма" in seen[-1]["complaint"].lower()
            assert not [h for h in await _history(url, incident_id) if h["action"] == "reply"]  # nothing went out

            # An official cannot wave it through; the region's curator can, with a reason.
            overridden = {
                "action": "reply",
                "reply_text": FORMULA,
                "override_reason": "Житель просил только подтвердить",
            }
            refused = await gw.client.post(path, json=overridden, headers=gw.headers("official64"))
            assert refused.status_code == 409 and "curator" in refused.json()["detail"]
            sent = await gw.client.post(path, json=overridden, headers=gw.headers("admin64"))
            assert sent.status_code == 200, sent.text
            assert sent.json()["reply_quality"]["verdict"] == "otpiska"
            (reply,) = [h for h in await _history(url, incident_id) if h["action"] == "reply"]
            assert "вопреки оценке качества 0.08 < 0.50" in reply["comment"]
            assert "Житель просил только подтвердить" in reply["comment"]
            assert reply["hash"]  # in the hash-chained audit log

            second = await routed_incident(app, gw, "p2")
            answered = await gw.client.post(
                f"/v1/incidents/{second}/actions",
                json={"action": "interim_answer", "reply_text": ANSWER},
                headers=gw.headers("official64"),
            )
            assert answered.status_code == 200, answered.text
            assert answered.json()["reply_quality"]["quality"] == 0.93


async def test_a_stricter_region_and_a_scorer_that_does_not_answer(make_gateway, contracts, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        strict = {"64": 0.95}
        async with make_gateway(routing_url=url, classifier_url=classifier_url, reply_quality_thresholds=strict) as gw:
            incident_id = await routed_incident(app, gw, "p1")
            held = await gw.client.post(
                f"/v1/incidents/{incident_id}/actions",
                json={"action": "reply", "reply_text": ANSWER},
                headers=gw.headers("official64"),
            )
            assert held.status_code == 409 and held.json()["threshold"] == 0.95
    (tmp_path / "down").mkdir()
    async with real_routing(tmp_path / "down") as (url, app):
        async with make_gateway(routing_url=url, classifier_url="http://127.0.0.1:9") as gw:
            incident_id = await routed_incident(app, gw, "p1")
            sent = await gw.client.post(
                f"/v1/incidents/{incident_id}/actions",
                json={"action": "reply", "reply_text": FORMULA},
                headers=gw.headers("official64"),
            )
            assert sent.status_code == 200, sent.text
            (reply,) = [h for h in await _history(url, incident_id) if h["action"] == "reply"]
            assert "ответ не оценён" in reply["comment"]


async def test_a_held_reply_waits_for_the_curator_who_releases_or_returns_it(
    make_gateway, contracts, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await routed_incident(app, gw, "p1")
            held_ids = []
            for text in (FORMULA, FORMULA + " Ожидайте."):
                held = await gw.client.post(
                    f"/v1/incidents/{incident_id}/actions",
                    json={"action": "reply", "reply_text": text},
                    headers=gw.headers("official64"),
                )
                assert held.status_code == 409, held.text
                held_ids.append(held.json()["held_reply_id"])

            # The curator of region 64 sees both, with the scores; another region's curator none.
            queue = (await gw.client.get("/v1/held-replies", headers=gw.headers("admin64"))).json()["items"]
            assert [(h["held_reply_id"], h["incident_id"], h["status"]) for h in queue] == [
                (held_ids[0], incident_id, "held"),
                (held_ids[1], incident_id, "held"),
            ]
            assert queue[0]["quality"] == 0.08 and queue[0]["author"] == "off-64-1"
            assert queue[0]["suggestions"] == ["укажите срок: дату или число дней"]
            assert (await gw.client.get("/v1/held-replies", headers=gw.headers("admin77"))).json()["items"] == []
            mine = (await gw.client.get("/v1/held-replies", headers=gw.headers("official64"))).json()["items"]
            assert len(mine) == 2
            release = f"/v1/held-replies/{held_ids[0]}/release"
            other_region = await gw.client.post(release, json={"reason": "так надо"}, headers=gw.headers("admin77"))
            assert other_region.status_code == 404
            by_official = await gw.client.post(release, json={"reason": "так надо"}, headers=gw.headers("official64"))
            assert by_official.status_code == 403

            # Returned: nothing goes out.
            returned = await gw.client.post(
                f"/v1/held-replies/{held_ids[1]}/return",
                json={"reason": "Укажите срок и исполнителя"},
                headers=gw.headers("admin64"),
            )
            assert returned.status_code == 200 and returned.json()["status"] == "returned"
            assert not [h for h in await _history(url, incident_id) if h["action"] == "reply"]

            # Released: it goes out as the curator's reply, the override in the audit log.
            released = await gw.client.post(
                release, json={"reason": "Житель просил только подтвердить приём"}, headers=gw.headers("admin64")
            )
            assert released.status_code == 200, released.text
            assert released.json()["held_reply"]["status"] == "released"
            (reply,) = [h for h in await _history(url, incident_id) if h["action"] == "reply"]
            assert "выпущен куратором" in reply["comment"]
            assert "Житель просил только подтвердить приём" in reply["comment"]
            again = await gw.client.post(release, json={"reason": "ещё раз"}, headers=gw.headers("admin64"))
            assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
            assert (await gw.client.get("/v1/held-replies", headers=gw.headers("admin64"))).json()["items"] == []

            # A curator's own formula is held too, and a second person must release it (QA: no second
            # pair of eyes when the curator wrote the reply).
            own = await gw.client.post(
                f"/v1/incidents/{incident_id}/actions",
                json={"action": "interim_answer", "reply_text": FORMULA},
                headers=gw.headers("admin64"),
            )
            assert own.status_code == 409, own.text
            waved = await gw.client.post(
                f"/v1/held-replies/{own.json()['held_reply_id']}/release",
                json={"reason": "сам написал, сам выпустил"},
                headers=gw.headers("admin64"),
            )
            assert waved.status_code == 403 and "other than its author" in waved.json()["detail"], waved.text


async def test_a_reply_that_goes_out_supersedes_what_was_held(make_gateway, contracts, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    async with serve(scoring_classifier(contracts, seen)) as classifier_url, real_routing(tmp_path) as (url, app):
        async with make_gateway(routing_url=url, classifier_url=classifier_url) as gw:
            incident_id = await routed_incident(app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            held = await gw.client.post(
                path, json={"action": "reply", "reply_text": FORMULA}, headers=gw.headers("official64")
            )
            assert held.status_code == 409
            better = await gw.client.post(
                path, json={"action": "reply", "reply_text": ANSWER}, headers=gw.headers("official64")
            )
            assert better.status_code == 200, better.text
            superseded = await gw.client.get(
                "/v1/held-replies", params={"status": "superseded"}, headers=gw.headers("admin64")
            )
            assert [h["held_reply_id"] for h in superseded.json()["items"]] == [held.json()["held_reply_id"]]
