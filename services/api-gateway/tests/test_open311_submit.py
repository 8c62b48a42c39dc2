"""Open311 POST requests: who may submit, where, and what decides the region (the jurisdiction_id;
a description that names another region is reported back, not followed)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request

from api_gateway.auth import Role
from api_gateway.testing import serve

FORM = {"service_code": "roads", "description": "Яма на дороге у дома 5"}


def fake_collector(received: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/posts")
    async def push(request: Request) -> Any:
        body = await request.json()
        received.append(body)
        return {"accepted": 1, "items": [{"post_id": f"p-{len(received)}", "external_id": body["external_id"]}]}

    return app


def fake_classifier(seen: list[dict[str, Any]], region: str | None, confidence: float = 0.9) -> FastAPI:
    """Answers /v1/classify with a fixed region, as the classifier would for a text naming it."""
    app = FastAPI()

    @app.post("/v1/classify")
    async def classify(request: Request) -> Any:
        seen.append(await request.json())
        return {"is_incident": True, "region": {"code": region, "name": None, "confidence": confidence}}

    return app


class TestWhoMaySubmit:
    @pytest.mark.parametrize(
        ("role", "regions", "official"), [(Role.integration, ["64"], None), (Role.federal, [], None)]
    )
    async def test_read_only_roles_are_refused(
        self, make_gateway, role: Role, regions: list[str], official: str | None
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
    async def test_writing_roles_submit_in_their_regions(self, make_gateway, name: str) -> None:
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
        self, make_gateway
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

    async def test_no_notice_when_the_text_agrees_is_unsure_or_cannot_be_checked(self, make_gateway) -> None:
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
