"""The shipped demo directory routes as a region would: the main city's administration takes its own
town's municipal complaints, and a town the directory has no administration for goes to the curator
without naming another town's administration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidents_common.db import writes_of
from routing.config import Settings
from routing.incidents.writes import route_posts
from routing.seed import seed_demo_directory

from .conftest import make_db


async def test_municipal_complaints_go_to_their_towns_administration_or_the_curator(
    settings: Settings, make_post: Any, t0: datetime
) -> None:
    db = await make_db(settings.database_url, directory=None)
    try:
        assert await seed_demo_directory(db) is not None
        snow = {"category": "landscaping", "region": "50"}
        posts = [
            make_post("own", "Во дворе на Ленина 5 не чистят снег", city="Балашиха", **snow),
            make_post("other", "Во дворе на Мира 3 не чистят снег", city="Химки", **snow),
        ]
        async with db.transaction() as session:
            own, other = await route_posts(writes_of(session), posts, settings=settings, now=t0)
        assert own is not None and own.assignee_id in {"50-city-1", "50-city-2"}
        assert other is not None and other.assignee_id == "50-curator"
        assert (other.assignment_explanation or "").startswith("Ни одно правило не подошло: регион 50")
        assert "Балаших" not in (other.assignment_explanation or "")
    finally:
        await db.dispose()


async def test_a_region_with_two_cities_routes_each_to_its_own_administration(
    settings: Settings, make_post: Any, t0: datetime
) -> None:
    """Самарская область: Самара (the capital) and Тольятти each have an administration in the demo."""
    db = await make_db(settings.database_url, directory=None)
    try:
        assert await seed_demo_directory(db) is not None
        pit = {"category": "roads", "region": "63"}
        posts = [
            make_post("samara", "На Московском шоссе яма на яме", city="Самара", **pit),
            make_post("togliatti", "На Революционной 52 яма посреди дороги", city="Тольятти", **pit),
        ]
        async with db.transaction() as session:
            samara, togliatti = await route_posts(writes_of(session), posts, settings=settings, now=t0)
        assert samara is not None and samara.assignee_id in {"63-samara-1", "63-samara-2"}
        assert "администрация городского округа Самара" in (samara.assignment_explanation or "")
        assert togliatti is not None and togliatti.assignee_id in {"63-city-1", "63-city-2"}
    finally:
        await db.dispose()
