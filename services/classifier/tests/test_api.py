from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from classifier.config import Settings
from classifier.main import create_app
from classifier.models import FeedbackRecord
from incidents_common.testing import ServiceAuth, eventually

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, nats_enabled=False, log_json=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=ServiceAuth("classifier")
        ) as http:
            http.app = app  # type: ignore[attr-defined]  # httpx has no `app`: the fixture keeps it here
            yield http


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_enabled=False, max_batch=5)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("classifier")
        ) as http:
            yield http


class TestClassify:
    async def test_one_post_explains_itself(self, sqlite_client: httpx.AsyncClient) -> None:
        response = await sqlite_client.post(
            "/v1/classify",
            json={"text": "Третий день нет горячей воды, УК трубку не берёт 😡", "place_hint": "Подслушано Энгельс"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["is_incident"] is True
        assert body["category"]["label"] == "housing_utilities"
        assert body["region"]["code"] == "64" and body["region"]["city"] == "Энгельс"
        assert body["region"]["evidence"]
        assert body["incident"]["evidence"] and body["category"]["evidence"]
        assert body["model_version"]

    async def test_structured_place_hints_are_used(self, sqlite_client: httpx.AsyncClient) -> None:
        response = await sqlite_client.post(
            "/v1/classify",
            json={"text": "Во дворе огромная яма, машины ломают подвеску", "place_hints": {"region_code": "16"}},
        )
        assert response.json()["region"]["code"] == "16"

    async def test_batch_is_the_same_code_as_one(self, sqlite_client: httpx.AsyncClient) -> None:
        texts = ["Собаки стаей бросаются на детей у школы", "Продам велосипед, почти новый", "Спасибо врачам!"]
        batch = await sqlite_client.post("/v1/classify/batch", json={"posts": [{"text": t} for t in texts]})
        assert batch.status_code == 200
        results = batch.json()["results"]
        assert len(results) == 3
        for text, result in zip(texts, results, strict=True):
            single = (await sqlite_client.post("/v1/classify", json={"text": text})).json()
            assert single == result

    async def test_model_info(self, sqlite_client: httpx.AsyncClient) -> None:
        body = (await sqlite_client.get("/v1/model")).json()
        assert body["version"]
        assert {c["code"] for c in body["labels"]["category"]} >= {"roads", "housing_utilities", "government"}
        assert next(c for c in body["labels"]["category"] if c["code"] == "housing_utilities")["label"] == "ЖКХ"
        assert "incident_f1" in body["metrics"]


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "content", "status"),
        [
            ("/v1/classify", b"{not json", 400),
            ("/v1/classify", b'{"place_hint": "x"}', 422),
            ("/v1/classify", b'{"text": ""}', 422),
            ("/v1/classify", b'{"text": "a", "source_type": "myspace"}', 422),
            ("/v1/classify/batch", b'{"posts": []}', 422),
            ("/v1/feedback", b'{"text": "x", "region_code": "99"}', 422),
            ("/v1/feedback", b'{"text": "x", "urgency": "apocalyptic"}', 422),
        ],
    )
    async def test_problem_json(self, sqlite_client: httpx.AsyncClient, path: str, content: bytes, status: int) -> None:
        response = await sqlite_client.post(path, content=content, headers={"content-type": "application/json"})
        assert response.status_code == status
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["status"] == status

    async def test_oversized_batch_is_refused(self, sqlite_client: httpx.AsyncClient) -> None:
        response = await sqlite_client.post("/v1/classify/batch", json={"posts": [{"text": "яма"}] * 6})
        assert response.status_code == 413
        assert response.headers["content-type"].startswith(PROBLEM)

    async def test_unknown_category_and_empty_correction(self, sqlite_client: httpx.AsyncClient) -> None:
        unknown = await sqlite_client.post("/v1/feedback", json={"text": "яма", "category": "aliens"})
        assert unknown.status_code == 400 and unknown.json()["type"].endswith("unknown-category")
        empty = await sqlite_client.post("/v1/feedback", json={"text": "яма"})
        assert empty.status_code == 400 and empty.json()["type"].endswith("nothing-to-correct")

    async def test_unknown_post(self, sqlite_client: httpx.AsyncClient) -> None:
        missing = await sqlite_client.get("/v1/classifications/nope")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
        feedback = await sqlite_client.post("/v1/feedback", json={"post_id": "nope", "is_incident": False})
        assert feedback.status_code == 404


class TestFeedback:
    async def test_correction_is_stored_complete(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/feedback",
            json={
                "text": "Во дворе по Лесной опять бегает стая собак, дети боятся выйти",
                "category": "stray_animals",
                "urgency": "high",
                "region_code": "64",
                "operator": "оператор ЦУР",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["corrected"] == ["category", "urgency", "region_code"]
        assert body["is_incident"] is True  # not corrected: taken from the model
        assert body["sentiment"] in {"negative", "neutral", "positive"}
        app = client.app  # type: ignore[attr-defined]  # kept there by the fixture
        async with app.state.db.transaction() as session:
            rows = (await session.exec(select(FeedbackRecord))).all()
        assert len(rows) == 1
        assert rows[0].training_row()["category"] == "stray_animals"
        assert rows[0].training_row()["region_code"] == "64"
        listed = (await client.get("/v1/feedback")).json()
        assert listed["total"] == 1 and listed["items"][0]["operator"] == "оператор ЦУР"


class LogRecords(logging.Handler):
    """The records one logger emits while the test runs (the apps replace the root's handlers, so
    pytest's caplog would see nothing)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(logger)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogRecords:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    async def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


class TestModelReload:
    async def test_an_activated_model_is_swapped_in_without_a_restart(self, tmp_path: Path) -> None:
        from classifier.bundle import ModelBundle, default_model_path

        active = tmp_path / "model.joblib"
        shutil.copyfile(default_model_path(), active)
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            nats_enabled=False,
            model_path=str(active),
            model_reload_seconds=0.05,
        )
        app = create_app(settings)
        with LogRecords("classifier.main") as logged:
            async with app.router.lifespan_context(app):
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("classifier")
                ) as http:

                    async def served() -> str:
                        return str((await http.get("/v1/model")).json()["version"])

                    first = await served()
                    # A broken file (a copy cut short) is not loaded: wait until the watcher has seen
                    # it and failed to load it (its log line), then the running model is still served.
                    active.write_bytes(b"not a model")
                    lines = await eventually(
                        logged.messages, until=lambda lines: any("does not load" in line for line in lines)
                    )
                    failed = {line for line in lines if "does not load" in line}
                    assert failed == {f"the model file changed but does not load; keeping version {first}"}
                    assert await served() == first
                    # A valid file replaces it (what `train` does when it activates): the new version is served.
                    bundle = ModelBundle.load(default_model_path())
                    bundle.version = "99990101.000000-reload"
                    candidate = tmp_path / "candidate.joblib"
                    bundle.save(candidate)
                    candidate.replace(active)
                    assert await eventually(served, until=lambda version: version == bundle.version) == bundle.version
                    assert (await logged.messages())[-1] == f"model {bundle.version} activated (was {first})"
                    response = await http.post("/v1/classify", json={"text": "В подъезде пахнет газом"})
                    assert response.json()["model_version"] == bundle.version
