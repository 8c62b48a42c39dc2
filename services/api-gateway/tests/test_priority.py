"""Incident priority in the read model (issue 15): sort=priority, the score in the list, the parts in
the detail and the export; a snapshot without a priority keeps the one held."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from api_gateway.testing import Gateway
from incidents_common.events import IncidentAssigned, IncidentSnapshot, Priority, PriorityPart, Urgency
from incidents_common.testing import T0, incident_snapshot


def scored(snap: IncidentSnapshot, base: float, reach: float, velocity: float, coordination: float) -> IncidentSnapshot:
    factors = {"urgency": base, "reach": reach, "velocity": velocity, "coordination": coordination}
    score = round(base * reach * velocity * coordination, 1)
    priority = Priority(
        score=score,
        parts=[
            PriorityPart(name=name, value=factor, factor=factor, explanation=f"{name} gives {factor}.")
            for name, factor in factors.items()
        ],
        formula=f"{base:g} × {reach:.2f} × {velocity:.2f} × {coordination:.2f} = {score:.1f}",
    )
    return snap.model_copy(update={"priority": priority})


async def _seed(gw: Gateway) -> None:
    await gw.create(scored(incident_snapshot("normal-wide", created_at=T0), 10, 3.5, 2.0, 1.0))  # 70.0
    await gw.create(
        scored(incident_snapshot("high-quiet", urgency=Urgency.high, created_at=T0), 40, 1.0, 1.0, 1.0)
    )  # 40.0
    await gw.create(scored(incident_snapshot("wave", urgency=Urgency.high, created_at=T0), 40, 1.0, 1.0, 0.2))  # 8.0
    await gw.create(scored(incident_snapshot("critical", urgency=Urgency.critical, created_at=T0), 100, 1.5, 1.0, 1.0))
    await gw.create(incident_snapshot("unscored", created_at=T0 + timedelta(hours=1)))  # from routing before issue 15


async def _items(gw: Gateway, **params: object) -> list[tuple[str, float | None]]:
    response = await gw.client.get("/v1/incidents", params=params, headers=gw.headers("admin64"))
    assert response.status_code == 200, response.text
    return [(item["incident_id"], item["priority"]) for item in response.json()["items"]]


class TestPriority:
    async def test_sort_by_priority_orders_the_list_by_score(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            await _seed(gw)
            expected = [("critical", 150.0), ("normal-wide", 70.0), ("high-quiet", 40.0), ("wave", 8.0)]
            assert await _items(gw, sort="-priority") == [*expected, ("unscored", None)]
            assert await _items(gw, sort="priority") == [("unscored", None), *reversed(expected)]
            # Pages by cursor over a float column.
            first = (
                await gw.client.get(
                    "/v1/incidents", params={"sort": "-priority", "limit": 2}, headers=gw.headers("admin64")
                )
            ).json()
            assert [i["incident_id"] for i in first["items"]] == ["critical", "normal-wide"]
            rest = await _items(gw, sort="-priority", cursor=first["next_cursor"])
            assert [incident for incident, _ in rest] == ["high-quiet", "wave", "unscored"]

    async def test_the_detail_shows_the_parts_and_the_formula(self, gw: Gateway) -> None:
        await _seed(gw)
        detail = (await gw.client.get("/v1/incidents/wave", headers=gw.headers("official64"))).json()
        priority = detail["priority"]
        assert priority["score"] == 8.0
        assert priority["formula"] == "40 × 1.00 × 1.00 × 0.20 = 8.0"
        assert [(p["name"], p["factor"]) for p in priority["parts"]] == [
            ("urgency", 40),
            ("reach", 1.0),
            ("velocity", 1.0),
            ("coordination", 0.2),
        ]
        assert priority["parts"][3]["explanation"] == "coordination gives 0.2."
        unscored = (await gw.client.get("/v1/incidents/unscored", headers=gw.headers("official64"))).json()
        assert unscored["priority"] is None

    async def test_a_snapshot_without_priority_keeps_the_one_held(self, gw: Gateway) -> None:
        await _seed(gw)
        later = incident_snapshot(
            "wave", urgency=Urgency.high, title="Яма: уточнено", updated_at=T0 + timedelta(minutes=5)
        )
        await gw.feed(
            IncidentAssigned(
                incident=later.model_copy(update={"revision": 3}),
                assignee=later.assignee,  # type: ignore[arg-type]
                explanation="test",
            )
        )
        detail = (await gw.client.get("/v1/incidents/wave", headers=gw.headers("official64"))).json()
        assert detail["title"] == "Яма: уточнено", "the later snapshot applied"
        assert detail["priority"]["score"] == 8.0
        assert ("wave", 8.0) in await _items(gw, sort="-priority")

    async def test_the_export_has_a_priority_column(self, gw: Gateway) -> None:
        await _seed(gw)
        response = await gw.client.get("/v1/incidents/export.csv", headers=gw.headers("admin64"))
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert {row["incident_id"]: row["priority"] for row in rows} == {
            "critical": "150.0",
            "normal-wide": "70.0",
            "high-quiet": "40.0",
            "wave": "8.0",
            "unscored": "",
        }
