"""Open311 GeoReport v2: services, requests (GET filters, POST to the collector), tokens."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses the gateway's own output
from datetime import UTC, datetime, timedelta
from typing import Any

from api_gateway.testing import Gateway, serve
from incidents_common.events import IncidentStatus
from incidents_common.testing import T0, incident_snapshot, post_classified


class TestServices:
    async def test_service_list_and_definition(self, gw: Gateway) -> None:
        # Discovery is public, like Open311 clients expect.
        services = (await gw.client.get("/open311/v2/services.json")).json()
        roads = next(s for s in services if s["service_code"] == "roads")
        assert roads == {
            "service_code": "roads",
            "service_name": "Дороги",
            "description": roads["description"],
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": "Дороги",
        }
        definition = await gw.client.get("/open311/v2/services/roads.json", params={"jurisdiction_id": "64"})
        assert definition.json() == {"service_code": "roads", "attributes": []}
        assert (await gw.client.get("/open311/v2/services/nope.json")).status_code == 404
        assert (await gw.client.get("/open311/v2/services.json", params={"jurisdiction_id": "99"})).status_code == 404


class TestRequests:
    async def test_fields_and_filters_follow_the_spec(self, gw: Gateway) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        due = now + timedelta(days=10)
        await gw.feed(post_classified("p-a", "Яма", region="64"))
        await gw.create(
            incident_snapshot("r-open", post_ids=["p-a"], created_at=now - timedelta(days=1), final_due=due)
        )
        await gw.create(
            incident_snapshot(
                "r-closed", category="waste", status=IncidentStatus.resolved, created_at=now - timedelta(days=2)
            )
        )
        await gw.create(incident_snapshot("r-old", created_at=now - timedelta(days=200)))
        headers = gw.headers("integration64")

        async def ids(**params: Any) -> list[str]:
            response = await gw.client.get("/open311/v2/requests.json", params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [r["service_request_id"] for r in response.json()]

        assert await ids() == ["r-open", "r-closed"]  # the default window is 90 days
        assert await ids(status="closed") == ["r-closed"]
        assert await ids(status="open") == ["r-open"]
        assert await ids(service_code="waste") == ["r-closed"]
        assert await ids(
            start_date=(now - timedelta(days=300)).isoformat(), end_date=(now - timedelta(days=100)).isoformat()
        ) == ["r-old"]
        assert await ids(service_request_id="r-old,r-open", status="closed") == ["r-open", "r-old"]
        assert await ids(jurisdiction_id="64") == ["r-open", "r-closed"]

        one = (await gw.client.get("/open311/v2/requests/r-open.json", headers=headers)).json()
        assert len(one) == 1
        request = one[0]
        assert request["status"] == "open"
        assert request["service_code"] == "roads" and request["service_name"] == "Дороги"
        assert request["agency_responsible"] == "Ведомство dep-64-roads"
        assert datetime.fromisoformat(request["expected_datetime"].replace("Z", "+00:00")) == due
        assert (request["lat"], request["long"]) == (51.53, 46.03)
        assert request["address"] == "Саратов"

    async def test_api_key_parameter_authenticates_like_open311_clients_do(self, gw: Gateway) -> None:
        await gw.create(incident_snapshot("r-1", created_at=datetime.now(UTC)))
        response = await gw.client.get("/open311/v2/requests.json", params={"api_key": gw.keys["integration64"]})
        assert [r["service_request_id"] for r in response.json()] == ["r-1"]
        assert (await gw.client.get("/open311/v2/requests.json")).status_code == 401


class TestSubmit:
    async def test_post_creates_a_post_and_its_token_resolves_to_the_incident(
        self, make_gateway, fake_collector
    ) -> None:
        received: list[dict[str, Any]] = []
        async with serve(fake_collector(received)) as collector_url, make_gateway(collector_url=collector_url) as gw:
            submitted = await gw.client.post(
                "/open311/v2/requests.json",
                data={
                    "api_key": gw.keys["admin64"],
                    "jurisdiction_id": "64",
                    "service_code": "roads",
                    "description": "Яма на ул. Чернышевского",
                    "address_string": "ул. Чернышевского, 120",
                    "lat": "51.53",
                    "long": "46.03",
                    "email": "citizen@example.ru",
                    "first_name": "Анна",
                },
            )
            assert submitted.status_code == 200, submitted.text
            token = submitted.json()[0]["token"]
            body = received[0]
            assert body["source_type"] == "push" and body["external_id"] == f"open311:{token}"
            assert body["place_hints"] == {
                "region_code": "64",
                "region_fixed": True,  # the jurisdiction is the region, whatever the text names
                "latitude": 51.53,
                "longitude": 46.03,
            }
            assert "Чернышевского, 120" in body["text"]
            assert "citizen@example.ru" not in str(body)  # contact details stay out of the pipeline
            assert body["author"]["name"] == "Анна"

            headers = gw.headers("admin64")
            pending = (await gw.client.get(f"/open311/v2/tokens/{token}.json", headers=headers)).json()
            assert pending == [{"token": token, "service_request_id": None}]
            await gw.create(incident_snapshot("inc-o311", post_ids=["p-1"], created_at=T0))
            resolved = (await gw.client.get(f"/open311/v2/tokens/{token}.json", headers=headers)).json()
            assert resolved == [{"token": token, "service_request_id": "inc-o311"}]
            assert (
                await gw.client.get(f"/open311/v2/tokens/{token}.json", headers=gw.headers("admin77"))
            ).status_code == 404

    async def test_token_resolves_through_the_classified_post_when_the_collector_gave_no_id(
        self, make_gateway, fake_collector
    ) -> None:
        received: list[dict[str, Any]] = []
        async with (
            serve(fake_collector(received, with_post_id=False)) as collector_url,
            make_gateway(collector_url=collector_url) as gw,
        ):
            form = {"service_code": "waste", "description": "Мусор не вывозят неделю"}
            submitted = await gw.client.post("/open311/v2/requests.json", data=form, headers=gw.headers("admin64"))
            token = submitted.json()[0]["token"]
            await gw.feed(post_classified("p-x", "Мусор не вывозят неделю", external_id=f"open311:{token}"))
            await gw.create(incident_snapshot("inc-x", post_ids=["p-x"]))
            resolved = (await gw.client.get(f"/open311/v2/tokens/{token}.json", headers=gw.headers("admin64"))).json()
            assert resolved[0]["service_request_id"] == "inc-x"

    async def test_bad_submissions_and_collector_down(self, gw: Gateway) -> None:
        headers = gw.headers("admin64")
        unknown = await gw.client.post(
            "/open311/v2/requests.json", data={"service_code": "nope", "description": "текст"}, headers=headers
        )
        assert unknown.status_code == 400
        missing = await gw.client.post("/open311/v2/requests.json", data={"service_code": "roads"}, headers=headers)
        assert missing.status_code == 422
        down = await gw.client.post(
            "/open311/v2/requests.json", data={"service_code": "roads", "description": "Яма"}, headers=headers
        )
        assert down.status_code == 503


def _xml(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 - the gateway's own output, in a test


class TestXmlFormat:
    async def test_every_resource_is_also_served_as_georeport_xml(self, make_gateway, fake_collector) -> None:
        received: list[dict[str, Any]] = []
        async with serve(fake_collector(received)) as collector_url, make_gateway(collector_url=collector_url) as gw:
            await gw.create(incident_snapshot("x-1", post_ids=["p-1"], created_at=datetime.now(UTC)))
            key = {"api_key": gw.keys["admin64"]}

            services = _xml((await gw.client.get("/open311/v2/services.xml")).content)
            assert services.tag == "services"
            assert "roads" in [s.findtext("service_code") for s in services.findall("service")]
            assert services.find("service/metadata").text == "false"  # type: ignore[union-attr]

            response = await gw.client.get("/open311/v2/requests.xml", params=key)
            assert response.headers["content-type"].startswith("text/xml")
            requests = _xml(response.content)
            assert [r.findtext("service_request_id") for r in requests.findall("request")] == ["x-1"]
            assert requests.findtext("request/status") == "open"

            definition = _xml((await gw.client.get("/open311/v2/services/roads.xml")).content)
            assert (definition.tag, definition.findtext("service_code")) == ("service_definition", "roads")

            one = _xml((await gw.client.get("/open311/v2/requests/x-1.xml", params=key)).content)
            assert one.findtext("request/service_code") == "roads"

            form = {**key, "service_code": "roads", "description": "Яма у школы"}
            posted = _xml((await gw.client.post("/open311/v2/requests.xml", data=form)).content)
            token = posted.findtext("request/token")
            assert token and token.startswith("o311_")
            status = _xml((await gw.client.get(f"/open311/v2/tokens/{token}.xml", params=key)).content)
            assert status.findtext("request/token") == token
            assert status.findtext("request/service_request_id") == "x-1"  # the fake collector answered p-1
