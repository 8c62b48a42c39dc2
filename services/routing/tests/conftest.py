"""Fixtures: a small known directory, classified-post factories, databases and apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from incidents_common.db import Database
from incidents_common.events import (
    Author,
    Classification,
    LabelResult,
    PlaceHints,
    PostClassified,
    Reach,
    RegionResult,
    RepostRef,
    SourceType,
)
from incidents_common.identity import ActingUser
from incidents_common.testing import ServiceAuth
from routing.config import Settings
from routing.directory.service import import_directory
from routing.incidents.models import Incident
from routing.incidents.replies import apply_publications
from routing.main import create_app
from routing.models import TABLES

# Wednesday 2026-03-04 10:00 in Saratov (UTC+4): inside working hours.
T0 = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)

SMALL_DIRECTORY: dict[str, Any] = {
    "departments": [
        {
            "id": "64-roads",
            "region_code": "64",
            "name": "министерство транспорта и дорожного хозяйства Саратовской области",
        },
        {"id": "64-health", "region_code": "64", "name": "министерство здравоохранения Саратовской области"},
        {"id": "64-gzhi", "region_code": "64", "name": "государственная жилищная инспекция Саратовской области"},
        {"id": "64-city", "region_code": "64", "name": "администрация города Саратова", "kind": "municipality"},
        {
            "id": "64-gov",
            "region_code": "64",
            "name": "аппарат губернатора Саратовской области",
            "kind": "administration",
        },
        {"id": "64-empty", "region_code": "64", "name": "комитет без сотрудников"},
    ],
    "officials": [
        {
            "id": "roads-a",
            "region_code": "64",
            "department_id": "64-roads",
            "name": "Иванов А. А.",
            "categories": ["roads"],
        },
        {
            "id": "roads-b",
            "region_code": "64",
            "department_id": "64-roads",
            "name": "Петров Б. Б.",
            "categories": ["roads"],
        },
        {"id": "health-a", "region_code": "64", "department_id": "64-health", "name": "Сидорова В. В."},
        {"id": "gzhi-a", "region_code": "64", "department_id": "64-gzhi", "name": "Кузнецов Г. Г."},
        {
            "id": "city-a",
            "region_code": "64",
            "department_id": "64-city",
            "name": "Смирнова Д. Д.",
            "municipalities": ["Энгельс"],
        },
        {"id": "curator", "region_code": "64", "department_id": "64-gov", "name": "Куратор Е. Е.", "role": "curator"},
        {
            "id": "deputy",
            "region_code": "64",
            "department_id": "64-gov",
            "name": "Заместитель Ж. Ж.",
            "role": "deputy_governor",
        },
        {
            "id": "office",
            "region_code": "64",
            "department_id": "64-gov",
            "name": "Аппарат З. З.",
            "role": "governor_office",
        },
    ],
    "rules": [
        {"priority": 10, "region_code": "64", "category": "roads", "department_id": "64-roads"},
        {"priority": 20, "region_code": "64", "category": "healthcare", "department_id": "64-health"},
        {
            "priority": 5,
            "region_code": "64",
            "category": "roads",
            "municipality": "Энгельс",
            "department_id": "64-city",
        },
        {
            "priority": 1,
            "region_code": "64",
            "category": "housing_utilities",
            "urgency": "critical",
            "department_id": "64-gzhi",
        },
        {"priority": 30, "region_code": "64", "category": "education", "department_id": "64-empty"},
    ],
    "sla_policies": [
        {"first_reaction_hours": 8, "interim_days": 7, "final_days": 10},
        {"urgency": "critical", "first_reaction_hours": 4, "interim_days": 5, "final_days": 3},
    ],
}


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}",
        nats_enabled=False,
        seed_demo=False,
        deadline_scanner_enabled=False,
        log_json=False,
        extra_working_days=[],
    )


async def make_db(url: str, directory: dict[str, Any] | None = SMALL_DIRECTORY) -> Database:
    db = Database(url, TABLES)
    await db.create_tables()
    if directory is not None:
        async with db.transaction() as session:
            await import_directory(session, document=directory)
    return db


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await make_db(settings.database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def any_db(database_url: str) -> AsyncIterator[Database]:
    """The small directory on SQLite and on PostgreSQL."""
    database = await make_db(database_url)
    yield database
    await database.dispose()


PostFactory = Callable[..., PostClassified]


def classified(
    post_id: str,
    text: str,
    *,
    region: str | None = "64",
    category: str = "roads",
    urgency: str = "normal",
    city: str | None = "Саратов",
    is_incident: bool = True,
    author: str | None = None,
    followers: int = 100,
    views: int | None = None,
    published_at: datetime = T0,
    repost_of: str | None = None,
) -> PostClassified:
    def label(value: str) -> LabelResult:
        return LabelResult(label=value, confidence=0.9, evidence=["test"])

    return PostClassified(
        post_id=post_id,
        source_type=SourceType.vk,
        external_id=f"ext-{post_id}",
        url=f"https://vk.com/wall-1_{post_id}",
        author=Author(id=author or f"a-{post_id}", name=f"Автор {post_id}", followers=followers),
        text=text,
        published_at=published_at,
        place_hints=PlaceHints(),
        repost_chain=[RepostRef(source_type=SourceType.vk, external_id=f"ext-{repost_of}")] if repost_of else [],
        reach=Reach(views=views),
        classification=Classification(
            model_version="test",
            is_incident=is_incident,
            incident=label("complaint" if is_incident else "not_incident"),
            category=label(category),
            region=RegionResult(code=region, city=city, confidence=0.9),
            urgency=label(urgency),
            sentiment=label("negative"),
        ),
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI with its lifespan run, on the small directory."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.db.transaction() as session:
            await import_directory(session, document=SMALL_DIRECTORY)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("routing")
        ) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.fixture
def make_post() -> PostFactory:
    return classified


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def small_directory() -> dict[str, Any]:
    return SMALL_DIRECTORY


@pytest.fixture
def db_factory() -> Callable[[str], Any]:
    """Builds a Database on a URL with the small directory imported."""
    return make_db


async def publish_outcome(db: Database, incident_id: str, status: str, *, at: datetime, **fields: Any) -> str:
    """The collector's answer about the incident's latest reply, applied as routing's consumer does;
    returns the reply id."""
    from incidents_common.events import PublicationStatus, ReplyKind, ReplyPublication, new_event

    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None and incident.reply_publication is not None, "no reply asked"
        state = incident.reply_publication
        outcome = ReplyPublication(
            reply_id=state["reply_id"],
            incident_id=incident_id,
            region_code=incident.region_code,
            kind=ReplyKind(state["kind"]),
            status=PublicationStatus(status),
            channel=fields.pop("channel", "vk"),
            at=at,
            **fields,
        )
        await apply_publications(session.writes, [new_event(outcome, source="/collector")])
        return str(state["reply_id"])


Users = Callable[[ActingUser | None], httpx.AsyncClient]


@pytest.fixture
async def users(client: httpx.AsyncClient) -> AsyncIterator[Users]:
    """`users(user)`: a client of the same app signed as the gateway acting for `user` (None: no user)."""
    opened: list[httpx.AsyncClient] = []

    def make(user: ActingUser | None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=client.app),  # type: ignore[attr-defined]
            base_url="http://test",
            auth=ServiceAuth("routing", identity="api-gateway", user=user),
        )
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()
