"""Open311 service requests whose post has no coordinates get those of the incident's town."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses the gateway's own output
from datetime import UTC, datetime, timedelta
from typing import Any

from api_gateway.auth.principal import Role
from api_gateway.testing import Gateway
from incidents_common.events import PlaceHints, PostClassified
from incidents_common.testing import incident_snapshot, post_classified
from incidents_common.towns import find_town


def without_coordinates(post: PostClassified) -> PostClassified:
    return post.model_copy(update={"place_hints": PlaceHints(region_code=post.place_hints.region_code)})


async def requests(gw: Gateway, key: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = await gw.client.get("/open311/v2/requests.json", params=params, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return {r["service_request_id"]: r for r in response.json()}


class TestTownCoordinates:
    async def test_a_post_without_coordinates_gets_its_towns(self, gw: Gateway) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        key = await gw.key(Role.integration, ["14"])
        await gw.feed(
            without_coordinates(post_classified("p-sred", "Дизельная встала, полпосёлка без света", region="14")),
            post_classified("p-gps", "Яма у школы", region="14"),  # the post's own coordinates: 51.53, 46.03
        )
        await gw.create(
            incident_snapshot("r-sred", region="14", city="Среднеколымск", post_ids=["p-sred"], created_at=now)
        )
        await gw.create(
            incident_snapshot(
                "r-gps", region="14", city="Среднеколымск", post_ids=["p-gps"], created_at=now - timedelta(1)
            )
        )
        await gw.create(  # no post stored: the town's coordinates all the same
            incident_snapshot("r-nopost", region="14", city="среднеколымск", created_at=now - timedelta(2))
        )
        found = await requests(gw, key)
        town = find_town("14", "Среднеколымск")
        assert town is not None
        assert (found["r-sred"]["lat"], found["r-sred"]["long"]) == (town.latitude, town.longitude)
        assert (round(town.latitude, 2), round(town.longitude, 2)) == (67.46, 153.71)
        assert found["r-sred"]["address"] == "Среднеколымск"
        assert (found["r-gps"]["lat"], found["r-gps"]["long"]) == (51.53, 46.03)  # the post's own win
        assert (found["r-nopost"]["lat"], found["r-nopost"]["long"]) == (town.latitude, town.longitude)

    async def test_no_coordinates_for_a_town_the_table_does_not_know_in_the_region(self, gw: Gateway) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        key = await gw.key(Role.integration, ["14"])
        await gw.feed(
            without_coordinates(post_classified("p-village", "Нет связи", region="14")),
            without_coordinates(post_classified("p-other", "Нет связи", region="14")),
            without_coordinates(post_classified("p-none", "Нет связи", region="14")),
        )
        await gw.create(
            incident_snapshot("r-village", region="14", city="Намцы", post_ids=["p-village"], created_at=now)
        )
        await gw.create(incident_snapshot("r-other", region="14", city="Энгельс", post_ids=["p-other"], created_at=now))
        await gw.create(incident_snapshot("r-none", region="14", city=None, post_ids=["p-none"], created_at=now))
        found = await requests(gw, key)
        for request_id in ("r-village", "r-other", "r-none"):
            assert (found[request_id]["lat"], found[request_id]["long"]) == (None, None), request_id

    async def test_the_xml_form_carries_them_too(self, gw: Gateway) -> None:
        key = await gw.key(Role.integration, ["65"])
        await gw.feed(without_coordinates(post_classified("p-kuril", "Нет связи третий день", region="65")))
        await gw.create(
            incident_snapshot(
                "r-kuril", region="65", city="Северо-Курильск", post_ids=["p-kuril"], created_at=datetime.now(UTC)
            )
        )
        response = await gw.client.get("/open311/v2/requests/r-kuril.xml", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        request = ET.fromstring(response.content).find("request")  # noqa: S314 - the gateway's own output
        assert request is not None
        town = find_town("65", "Северо-Курильск")
        assert town is not None
        assert float(request.findtext("lat") or "nan") == town.latitude
        assert float(request.findtext("long") or "nan") == town.longitude

    def test_the_schema_says_where_the_coordinates_come_from(self, gw: Gateway) -> None:
        schema = gw.app.openapi()["components"]["schemas"]["ServiceRequestRead"]["properties"]
        assert "town" in schema["lat"]["description"]
        assert "town" in schema["long"]["description"]
