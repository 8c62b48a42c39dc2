"""GET /v1/incidents: filters, Russian search, cursor pagination, sorting, CSV export and bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from api_gateway.testing import Gateway
from incidents_common.events import IncidentStatus, Urgency
from incidents_common.testing import T0, incident_snapshot

LATER = datetime(2030, 1, 1, tzinfo=UTC)


async def _seed(gw: Gateway) -> None:
    now = datetime.now(UTC)
    await gw.create(
        incident_snapshot(
            "a1",
            city="Саратов",
            category="roads",
            title="Яма на улице Чернышёвского",
            severity=3,
            first_response_due=LATER,
        )
    )
    await gw.create(
        incident_snapshot(
            "a2",
            city="Энгельс",
            category="waste",
            title="Не вывозят мусор",
            urgency=Urgency.high,
            created_at=T0 + timedelta(days=1),
            severity=2,
            first_response_due=LATER,
        )
    )
    await gw.create(
        incident_snapshot(
            "a3",
            city="Саратов",
            category="housing_utilities",
            title="Нет горячей воды в доме",
            status=IncidentStatus.resolved,
            official="off-64-2",
            created_at=T0 + timedelta(days=2),
            first_response_at=T0 + timedelta(days=2, hours=1),
        )
    )
    # Open, created an hour ago with a deadline already passed: overdue now.
    await gw.create(
        incident_snapshot(
            "a4",
            city="Саратов",
            title="Упало дерево на провода",
            urgency=Urgency.critical,
            created_at=now - timedelta(hours=3),
            first_response_due=now - timedelta(hours=1),
            severity=5,
        )
    )
    await gw.create(incident_snapshot("b1", region="77", city="Москва", title="Яма на Тверской"))


async def _ids(gw: Gateway, key: str = "admin64", **params: object) -> list[str]:
    response = await gw.client.get("/v1/incidents", params=params, headers=gw.headers(key))
    assert response.status_code == 200, response.text
    return [i["incident_id"] for i in response.json()["items"]]


class TestFilters:
    async def test_each_filter_narrows_the_list(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            await _seed(gw)
            assert await _ids(gw) == ["a4", "a3", "a2", "a1"]
            assert await _ids(gw, "federal") == ["a4", "a3", "a2", "b1", "a1"]
            assert await _ids(gw, "federal", region="77") == ["b1"]
            assert await _ids(gw, municipality="саратов") == ["a4", "a3", "a1"]
            assert await _ids(gw, category="waste") == ["a2"]
            assert await _ids(gw, status="resolved") == ["a3"]
            assert await _ids(gw, status=["resolved", "assigned"]) == ["a4", "a3", "a2", "a1"]
            assert await _ids(gw, status=["resolved", "new"], category="housing_utilities") == ["a3"]
            assert await _ids(gw, urgency=["critical", "high"]) == ["a4", "a2"]
            assert await _ids(gw, assignee="off-64-2") == ["a3"]
            assert await _ids(gw, overdue="true") == ["a4"]
            assert await _ids(gw, overdue="false") == ["a3", "a2", "a1"]  # a1/a2 have no final deadline
            assert await _ids(
                gw, created_from=(T0 + timedelta(days=1)).isoformat(), created_to=(T0 + timedelta(days=3)).isoformat()
            ) == [
                "a3",
                "a2",
            ]

    async def test_a_filter_that_cannot_match_is_a_clear_error_not_an_empty_page(
        self, make_gateway, database_url: str
    ) -> None:
        """QA: `category=unicorns` and a period ending before it starts gave 200 and an empty list."""
        async with make_gateway(database_url=database_url) as gw:
            await _seed(gw)
            for params, needle in (
                ({"category": "unicorns"}, "unicorns"),
                ({"category": ["roads", "Roads!"]}, "category"),
                ({"created_from": "2026-12-02T00:00:00Z", "created_to": "2026-12-01T00:00:00Z"}, "created_from"),
            ):
                response = await gw.client.get("/v1/incidents", params=params, headers=gw.headers("admin64"))
                assert response.status_code == 422, (params, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert needle in response.text, response.text
            assert await _ids(gw, category=["roads", "waste"]) == ["a4", "a2", "a1"]  # known ones still filter

    async def test_russian_search_matches_word_forms_and_yo(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            await _seed(gw)
            assert await _ids(gw, q="ямы") == ["a1"]
            assert await _ids(gw, q="чернышевского") == ["a1"]
            assert await _ids(gw, q="ГОРЯЧАЯ вода") == ["a3"]
            assert await _ids(gw, q="деревья") == ["a4"]
            assert await _ids(gw, q="яма", region="77") == []
            assert await _ids(gw, "federal", q="яма") == ["b1", "a1"]

    async def test_a_plural_the_dictionary_reads_two_ways_is_found_by_its_singular(
        self, make_gateway, database_url: str
    ) -> None:
        """«ямы» is read as «ям» first (QA: «яма» missed «Чернышевского 45 — ямы по всей проезжей части»)."""
        async with make_gateway(database_url=database_url) as gw:
            await gw.create(
                incident_snapshot("c1", city="Саратов", title="Чернышевского 45 — ямы по всей проезжей части")
            )
            await gw.create(incident_snapshot("c2", city="Саратов", title="Нет горячей воды"))
            for query in ("яма", "ямы", "ям", "ямой"):
                assert await _ids(gw, q=query) == ["c1"], query

    async def test_cursor_pages_cover_everything_once_in_order(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            for n in range(23):
                await gw.create(incident_snapshot(f"p{n:02}", created_at=T0 + timedelta(minutes=n % 7), severity=n % 4))
            for sort in ("-created_at", "created_at", "-severity", "severity"):
                seen: list[str] = []
                cursor = None
                while True:
                    params: dict[str, object] = {"limit": 5, "sort": sort}
                    if cursor:
                        params["cursor"] = cursor
                    body = (await gw.client.get("/v1/incidents", params=params, headers=gw.headers("admin64"))).json()
                    seen += [i["incident_id"] for i in body["items"]]
                    cursor = body["next_cursor"]
                    if not cursor:
                        break
                assert sorted(seen) == sorted(f"p{n:02}" for n in range(23)), sort
                assert len(seen) == 23

    async def test_detail_has_deadlines_and_assignee(self, gw: Gateway) -> None:
        await _seed(gw)
        detail = (await gw.client.get("/v1/incidents/a4", headers=gw.headers("official64"))).json()
        assert detail["deadlines"]["overdue"] is True
        assert detail["assignee"]["official_id"] == "off-64-1"
        assert detail["history"][0]["type"] == "incident.created"


class TestExport:
    async def test_csv_export_has_a_header_and_only_visible_rows(self, gw: Gateway) -> None:
        await _seed(gw)
        response = await gw.client.get("/v1/incidents/export.csv", params={"q": "яма"}, headers=gw.headers("admin64"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r["incident_id"] for r in rows] == ["a1"]
        assert rows[0]["title"] == "Яма на улице Чернышёвского"


class TestBadInput:
    async def test_unknown_enum_and_bad_cursor_are_problems_not_500(self, gw: Gateway) -> None:
        headers = gw.headers("admin64")
        response = await gw.client.get("/v1/incidents", params={"status": "nonsense"}, headers=headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        response = await gw.client.get("/v1/incidents", params={"cursor": "!!!"}, headers=headers)
        assert response.status_code == 400
        response = await gw.client.get("/v1/incidents", params={"limit": 100000}, headers=headers)
        assert response.status_code == 422

    async def test_malformed_and_unknown_fields_in_bodies(self, gw: Gateway) -> None:
        await gw.create(incident_snapshot("a1"))
        headers = {**gw.headers("admin64"), "Content-Type": "application/json"}
        response = await gw.client.post("/v1/incidents/a1/actions", content=b"{oops", headers=headers)
        assert response.status_code == 400
        response = await gw.client.post(
            "/v1/incidents/a1/actions", json={"action": "take", "actor": "x"}, headers=headers
        )
        assert response.status_code == 422  # actor is set by the gateway, never by the caller
        response = await gw.client.post("/v1/incidents/a1/actions", json={"action": "reject"}, headers=headers)
        assert response.status_code == 422  # reject needs a reason
