"""Open311 POST requests: who may submit, where, and what decides the region (the jurisdiction_id;
a description that names another region is reported back, not followed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api_gateway.auth.principal import Role
from api_gateway.testing import serve

FORM = {"service_code": "roads", "description": "Яма на дороге у дома 5"}


class TestWhoMaySubmit:
    @pytest.mark.parametrize(
        ("role", "regions", "official"), [(Role.integration, ["64"], None), (Role.federal, [], None)]
    )
    async def test_read_only_roles_are_refused(
        self, make_gateway, fake_collector, role: Role, regions: list[str], official: str | None
    ) -> None:
        received: list[dict[str, Any]] = []
        async with serve(fake_collector(received)) as collector_url, make_gateway(collector_url=collector_url) as gw:
            key = await gw.key(role, regions, official_id=official)
            response = await gw.client.post(
                "/open311/v2/requests.json", data={**FORM, "jurisdiction_id": "64"}, headers={"X-API-Key": key}
            )
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == "application/problem+json"
            xml = await gw.client.post(
                "/open311/v2/requests.xml", data={**FORM, "api_key": key, "jurisdiction_id": "64"}
            )
            assert xml.status_code == 403
        assert received == []  # nothing reached the pipeline

    @pytest.mark.parametrize("name", ["admin64", "official64"])
    async def test_writing_roles_submit_in_their_regions(self, make_gateway, fake_collector, name: str) -> None:
        received: list[dict[str, Any]] = []
        async with serve(fake_collector(received)) as collector_url, make_gateway(collector_url=collector_url) as gw:
            response = await gw.client.post(
                "/open311/v2/requests.json", data={**FORM, "jurisdiction_id": "64"}, headers=gw.headers(name)
            )
            assert response.status_code == 200, response.text
            assert response.json()[0]["jurisdiction_id"] == "64"
            outside = await gw.client.post(
                "/open311/v2/requests.json", data={**FORM, "jurisdiction_id": "77"}, headers=gw.headers(name)
            )
            assert outside.status_code == 404  # another region is answered like a missing one
        assert [r["place_hints"]["region_code"] for r in received] == ["64"]


class TestJurisdictionDecides:
    async def test_a_description_naming_another_region_is_reported_and_the_jurisdiction_wins(
        self, make_gateway, fake_collector, fake_classifier
    ) -> None:
        received: list[dict[str, Any]] = []
        seen: list[dict[str, Any]] = []
        async with (
            serve(fake_collector(received)) as collector_url,
            serve(fake_classifier(seen, "77")) as classifier_url,
            make_gateway(collector_url=collector_url, classifier_url=classifier_url) as gw,
        ):
            form = {"service_code": "roads", "description": "В Москве на Тверской яма", "jurisdiction_id": "64"}
            response = await gw.client.post("/open311/v2/requests.json", data=form, headers=gw.headers("admin64"))
        assert response.status_code == 200, response.text
        [answer] = response.json()
        assert answer["jurisdiction_id"] == "64" and answer["text_region_id"] == "77"
        assert "77" in answer["service_notice"] and "64" in answer["service_notice"]
        # The classifier was asked about the text alone, without the jurisdiction as a hint …
        assert seen == [{"text": "В Москве на Тверской яма"}]
        # … and the post sent into the pipeline carries the jurisdiction as its fixed region, which the
        # classifier takes over the text's place (services/classifier/tests/test_fixed_region.py).
        assert received[0]["place_hints"] == {"region_code": "64", "region_fixed": True}

    async def test_no_notice_when_the_text_agrees_is_unsure_or_cannot_be_checked(
        self, make_gateway, fake_collector, fake_classifier
    ) -> None:
        received: list[dict[str, Any]] = []
        for region, confidence, expected in (("64", 0.9, "64"), ("77", 0.3, None), (None, 0.0, None)):
            async with (
                serve(fake_collector(received)) as collector_url,
                serve(fake_classifier([], region, confidence)) as classifier_url,
                make_gateway(collector_url=collector_url, classifier_url=classifier_url) as gw,
            ):
                response = await gw.client.post(
                    "/open311/v2/requests.json", data={**FORM, "jurisdiction_id": "64"}, headers=gw.headers("admin64")
                )
            [answer] = response.json()
            assert answer["service_notice"] is None and answer["text_region_id"] == expected
        # The classifier down (the default test URL answers nothing): the submission still goes through.
        async with serve(fake_collector(received)) as collector_url, make_gateway(collector_url=collector_url) as gw:
            response = await gw.client.post(
                "/open311/v2/requests.json", data={**FORM, "jurisdiction_id": "64"}, headers=gw.headers("admin64")
            )
        assert response.status_code == 200 and response.json()[0]["text_region_id"] is None


class TestTheFakesAnswerAsTheRealServicesDo:
    """The fakes (conftest: fake_collector, fake_classifier) checked against the collector's and the
    classifier's committed openapi.json in every answer; here each kind of answer they give once."""

    async def test_the_fake_collector(self, fake_collector, contracts) -> None:
        post = {
            "source_type": "push",
            "external_id": "open311:o311_1",
            "text": "Яма",
            "published_at": "2026-11-20T09:00:00Z",
        }
        for with_post_id in (True, False):
            app = fake_collector([], with_post_id=with_post_id)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as http:
                assert (await http.post("/v1/posts", json=post)).status_code == 200
        assert contracts.answers == ["collector: POST /v1/posts → 200"] * 2
        contracts.assert_kept()

    async def test_the_fake_classifier(self, fake_classifier, contracts) -> None:
        for region, confidence in (("77", 0.9), ("64", 0.3), (None, 0.0)):
            app = fake_classifier([], region, confidence)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://classifier") as http:
                assert (await http.post("/v1/classify", json={"text": "Яма"})).status_code == 200
        assert contracts.answers == ["classifier: POST /v1/classify → 200"] * 3
        contracts.assert_kept()
