"""POST/GET /v1/posts and the JSONL import: normalisation, dedup, edits, problem+json on bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import func, select

from collector.normalize import post_id_for
from incidents_common.db import OutboxMessage

PROBLEM = "application/problem+json"


def post(n: int = 1, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source_type": "push",
        "external_id": f"ext-{n}",
        "text": f"Во дворе дома {n} на улице Ленина не вывозят мусор",
        "published_at": "2026-11-24T10:00:00+03:00",
        "author": {"id": 42, "name": "Иван"},
        "place_hints": {"city": "Саратов"},
        "reach": {"likes": 3},
    }
    data.update(overrides)
    return data


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines)


class TestPush:
    async def test_single_post_is_normalised_and_readable(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/posts",
            json=post(text="<p>Яма  на&nbsp;дороге</p><p>&laquo;Срочно&raquo;</p><script>x()</script>"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["accepted"], body["duplicates"], body["updated"]) == (1, 0, 0)
        post_id = body["items"][0]["post_id"]
        assert post_id == post_id_for("push", "ext-1")

        stored = (await client.get(f"/v1/posts/{post_id}")).json()
        assert stored["text"] == "Яма на дороге\n\n«Срочно»"
        assert stored["published_at"] in ("2026-11-24T07:00:00Z", "2026-11-24T07:00:00+00:00")
        assert stored["language"] == "ru"
        assert stored["author"] == {"id": "42", "name": "Иван", "profile_url": None, "followers": None}
        assert stored["place_hints"] == {"city": "Саратов"}
        assert stored["version"] == 1

    async def test_batch_counts_new_duplicates_and_edits(self, client: httpx.AsyncClient) -> None:
        first = await client.post("/v1/posts", json={"posts": [post(1), post(2)]})
        assert first.json()["accepted"] == 2
        edited = post(2, text="Мусор так и не вывезли, уже неделя")
        second = await client.post("/v1/posts", json={"posts": [post(1), edited, post(3)]})
        body = second.json()
        assert (body["accepted"], body["duplicates"], body["updated"]) == (1, 1, 1)
        statuses = {i["external_id"]: (i["status"], i["version"]) for i in body["items"]}
        assert statuses == {"ext-1": ("duplicate", 1), "ext-2": ("updated", 2), "ext-3": ("created", 1)}
        stored = (await client.get(f"/v1/posts/{post_id_for('push', 'ext-2')}")).json()
        assert (stored["version"], stored["text"]) == (2, "Мусор так и не вывезли, уже неделя")

    async def test_growing_reach_is_refreshed_without_a_new_version(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        await client.post("/v1/posts", json=post(1, reach={"likes": 3}))
        again = (await client.post("/v1/posts", json=post(1, reach={"likes": 9, "views": 120}))).json()
        assert again["duplicates"] == 1
        stored = (await client.get(f"/v1/posts/{post_id_for('push', 'ext-1')}")).json()
        assert (stored["version"], stored["reach"]) == (1, {"likes": 9, "views": 120})
        async with app.state.db.transaction() as session:
            assert (await session.exec(select(func.count()).select_from(OutboxMessage))).one() == 1

    async def test_post_without_external_id_gets_a_stable_one(self, client: httpx.AsyncClient) -> None:
        anonymous = post()
        del anonymous["external_id"]
        first = (await client.post("/v1/posts", json=anonymous)).json()
        second = (await client.post("/v1/posts", json=anonymous)).json()
        assert first["items"][0]["external_id"].startswith("h:")
        assert first["items"][0]["external_id"] == second["items"][0]["external_id"]
        assert second["duplicates"] == 1

    async def test_vk_post_seen_by_search_and_on_a_wall_is_one_post(self, client: httpx.AsyncClient) -> None:
        from_search = post(source_type="vk", external_id="-31551234_10412", source_id=None)
        from_wall = post(source_type="vk", external_id="-31551234_10412", reach={"likes": 9})
        assert (await client.post("/v1/posts", json=from_search)).json()["accepted"] == 1
        assert (await client.post("/v1/posts", json=from_wall)).json()["duplicates"] == 1
        page = (await client.get("/v1/posts", params={"source_type": "vk"})).json()
        assert page["total"] == 1

    async def test_list_is_paginated_and_filtered(self, client: httpx.AsyncClient) -> None:
        await client.post("/v1/posts", json={"posts": [post(n, source_id="src-a") for n in range(5)]})
        await client.post("/v1/posts", json={"posts": [post(n + 10, source_id="src-b") for n in range(3)]})
        page = (await client.get("/v1/posts", params={"source_id": "src-a", "limit": 2, "offset": 2})).json()
        assert page["total"] == 5 and len(page["items"]) == 2
        assert all(p["source_id"] == "src-a" for p in page["items"])
        everything = (await client.get("/v1/posts", params={"limit": 500})).json()
        assert everything["total"] == 8


async def test_nul_and_control_characters_are_cleaned_not_fatal(any_db_client: httpx.AsyncClient) -> None:
    """PostgreSQL refuses NUL in text: a post carrying one (in its text, its author, its place) is
    stored with the NUL gone, and its words stay apart."""
    nul = post(
        1,
        text="Яма\u0000на дороге\u0007 в Саратове\u007f",
        author={"id": "a\u00001", "name": "Ив\u0000ан"},
        place_hints={"city": "Сара\u0000тов", "title": "\u0000Группа"},
    )
    response = await any_db_client.post("/v1/posts", json={"posts": [nul, post(2)]})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    stored = (await any_db_client.get(f"/v1/posts/{response.json()['items'][0]['post_id']}")).json()
    assert stored["text"] == "Яма на дороге в Саратове"
    assert stored["author"]["id"] == "a1" and stored["author"]["name"] == "Иван"
    assert stored["place_hints"] == {"city": "Саратов", "title": "Группа"}


class TestBadInput:
    async def test_one_bad_post_rejects_the_whole_batch(self, client: httpx.AsyncClient) -> None:
        bad = post(2)
        del bad["published_at"]
        response = await client.post("/v1/posts", json={"posts": [post(1), bad]})
        assert response.status_code == 422
        assert response.headers["content-type"].startswith(PROBLEM)
        problem = response.json()
        assert problem["errors"][0]["loc"][-2:] == ["1", "published_at"]
        assert (await client.get("/v1/posts")).json()["total"] == 0

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/posts", content=b'{"text": "oops"', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["type"].endswith("malformed-json")

    async def test_unknown_source_type_and_wrong_types_are_422(self, client: httpx.AsyncClient) -> None:
        for broken in (post(source_type="myspace"), post(reach={"likes": -1}), post(published_at="вчера")):
            response = await client.post("/v1/posts", json=broken)
            assert response.status_code == 422, broken
            assert response.headers["content-type"].startswith(PROBLEM)

    async def test_markup_only_text_is_rejected(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/posts", json={"posts": [post(1), post(2, text="<br/><p> </p>")]})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "posts", "1", "text"]

    async def test_control_characters_only_text_is_rejected(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/posts", json={"posts": [post(1), post(2, text="\u0000\u0007 \u0000")]})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "posts", "1", "text"]
        assert (await client.get("/v1/posts")).json()["total"] == 0

    async def test_a_date_more_than_a_day_ahead_is_422(self, client: httpx.AsyncClient) -> None:
        ahead = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
        for broken in (post(1, published_at="9999-12-31T23:59:59Z"), post(2, published_at="2126-01-01T00:00:00")):
            response = await client.post("/v1/posts", json=broken)
            assert response.status_code == 422, broken
            assert "future" in response.text
        assert (await client.post("/v1/posts", json=post(3, published_at=ahead))).status_code == 200
        assert (await client.get("/v1/posts")).json()["total"] == 1

    async def test_batch_over_1000_is_rejected(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/posts", json={"posts": [post(n) for n in range(1001)]})
        assert response.status_code == 422
        assert (await client.get("/v1/posts")).json()["total"] == 0

    async def test_empty_batch_and_non_object_are_rejected(self, client: httpx.AsyncClient) -> None:
        assert (await client.post("/v1/posts", json={"posts": []})).status_code == 422
        assert (await client.post("/v1/posts", json=[post()])).status_code == 422

    async def test_unknown_post_is_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/posts/nope")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith(PROBLEM)


class TestImport:
    async def test_ndjson_reports_bad_lines_and_stores_good_ones(self, client: httpx.AsyncClient) -> None:
        body = ndjson(post(1), b"{broken", b"", post(2, text=""), [1, 2], post(3), post(1))
        response = await client.post("/v1/posts/import", content=body, headers={"content-type": "application/x-ndjson"})
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["lines"], result["accepted"], result["duplicates"], result["rejected"]) == (6, 2, 1, 3)
        assert [e["line"] for e in result["errors"]] == [2, 4, 5]
        assert result["errors"][0]["error"].startswith("not JSON")
        assert "text" in result["errors"][1]["error"]
        assert (await client.get("/v1/posts")).json()["total"] == 2

    async def test_two_objects_on_one_line_are_a_bad_line(self, client: httpx.AsyncClient) -> None:
        two = json.dumps(post(2)).encode() + b", " + json.dumps(post(3)).encode()
        body = ndjson(post(1), two, post(4))
        result = (
            await client.post("/v1/posts/import", content=body, headers={"content-type": "application/x-ndjson"})
        ).json()
        assert (result["accepted"], result["rejected"]) == (2, 1)
        assert result["errors"][0]["line"] == 2

    async def test_multipart_upload(self, client: httpx.AsyncClient) -> None:
        files = {"file": ("posts.jsonl", ndjson(post(1), post(2)), "application/x-ndjson")}
        response = await client.post("/v1/posts/import", files=files)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 2

    async def test_nothing_valid_is_422_and_wrong_media_type_415(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/posts/import", content=b"nope\n{}\n", headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 422
        assert [e["line"] for e in response.json()["errors"]] == [1, 2]
        response = await client.post("/v1/posts/import", content=b"<xml/>", headers={"content-type": "text/xml"})
        assert response.status_code == 415
        empty = await client.post("/v1/posts/import", content=b"\n", headers={"content-type": "application/x-ndjson"})
        assert empty.status_code == 400

    async def test_demo_file_imports_cleanly(self, client: httpx.AsyncClient) -> None:
        from collector.cli import demo_path

        data = demo_path().read_bytes()
        response = await client.post("/v1/posts/import", content=data, headers={"content-type": "application/x-ndjson"})
        result = response.json()
        assert result["rejected"] == 0 and result["accepted"] == result["lines"] >= 40
        cities = {p["place_hints"].get("city") for p in (await client.get("/v1/posts?limit=100")).json()["items"]}
        assert {"Саратов", "Энгельс", "Москва", "Екатеринбург", "Казань", "Новосибирск"} <= cities
