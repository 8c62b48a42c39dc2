"""Every path of the assignment rules, with the explanation each stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from incidents_common.db import Database, writes_of
from incidents_common.testing import rows_read_in_transaction
from routing.config import Settings
from routing.directory.models import Official
from routing.directory.service import open_counts
from routing.incidents.models import Incident
from routing.incidents.snapshots import IncidentRecord
from routing.incidents.writes import route_posts
from routing.rules.service import choose_assignee

from .conftest import make_db


async def _incident(db: Database, settings: Settings, post: Any, now: datetime) -> IncidentRecord:
    async with db.transaction() as session:
        (incident,) = await route_posts(writes_of(session), [post], settings=settings, now=now)
    assert incident is not None
    return incident


async def _set(db: Database, official_id: str, **changes: Any) -> None:
    async with db.transaction() as session:
        official = await session.get(Official, official_id)
        assert official is not None
        for key, value in changes.items():
            setattr(official, key, value)
        session.add(official)


class TestRules:
    async def test_category_rule_names_department_and_least_loaded(
        self, any_db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(any_db, settings, make_post("r1", "Яма на дороге"), t0)
        assert incident.department_id == "64-roads"
        assert incident.assignee_id in ("roads-a", "roads-b")
        assert incident.status == "assigned"
        assert incident.rule_id is not None
        assert incident.assignment_explanation == (
            f"Правило {incident.rule_id}: Саратовская область, категория «Дороги» → "
            f"министерство транспорта и дорожного хозяйства Саратовской области; "
            f"наименее загружен: {incident.assignee_name}, открытых инцидентов: 0"
        )

    async def test_municipality_rule_wins_by_priority(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(db, settings, make_post("r2", "Яма на дороге", city="Энгельс"), t0)
        assert incident.department_id == "64-city" and incident.assignee_id == "city-a"
        assert (incident.assignment_explanation or "").startswith(
            f"Правило {incident.rule_id}: Саратовская область, категория «Дороги», населённый пункт Энгельс → "
            "администрация города Саратова; наименее загружен: Смирнова Д. Д., открытых инцидентов: 0"
        )

    async def test_urgency_rule_only_for_its_urgency(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        critical = await _incident(
            db,
            settings,
            make_post("r3", "Прорвало трубу, нет отопления", category="housing_utilities", urgency="critical"),
            t0,
        )
        normal = await _incident(
            db, settings, make_post("r4", "Подъезд не убирают месяц", category="housing_utilities"), t0
        )
        assert critical.assignee_id == "gzhi-a"
        assert (critical.assignment_explanation or "").startswith(
            f"Правило {critical.rule_id}: Саратовская область, категория «ЖКХ», срочность «критическая» → "
            "государственная жилищная инспекция Саратовской области; наименее загружен: Кузнецов Г. Г."
        )
        assert normal.assignee_id == "curator"
        assert normal.assignment_explanation == (
            "Ни одно правило не подошло: регион 64 (Саратовская область), категория «ЖКХ» → "
            "куратор региона: Куратор Е. Е."
        )

    async def test_rule_whose_department_has_nobody_falls_through_to_curator(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(db, settings, make_post("r5", "В школе холодно", category="education"), t0)
        assert incident.assignee_id == "curator"
        assert incident.assignment_explanation == (
            "Подходящие правила не дали исполнителя: регион 64 (Саратовская область), категория «Образование» "
            "[правило 5 → комитет без сотрудников: нет дежурного исполнителя по категории «Образование»] "
            "→ куратор региона: Куратор Е. Е."
        )

    async def test_region_without_directory_goes_to_federal_queue(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(db, settings, make_post("r6", "Яма", region="25", city="Владивосток"), t0)
        assert incident.federal_fallback and incident.assignee_id == "federal-queue"
        assert incident.assignment_explanation == (
            "В справочнике региона 25 (Приморский край) нет исполнителей на дежурстве: "
            "инцидент передан в федеральную очередь для ручного распределения"
        )
        assert incident.first_response_due is not None  # clocks run on the region's zone even so

    async def test_least_loaded_then_round_robin(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        texts = ["Яма на Московской", "Нет разметки на Радищева", "Сломан светофор на Вольской", "Провал на Рахова"]
        assignees = [
            (await _incident(db, settings, make_post(f"rr{n}", text), t0)).assignee_id for n, text in enumerate(texts)
        ]
        # Equal load alternates; each keeps the same number of open incidents.
        assert assignees.count("roads-a") == 2 and assignees.count("roads-b") == 2
        assert assignees[0] != assignees[1] and assignees[2] != assignees[3]

    async def test_official_on_leave_or_at_capacity_is_skipped(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        await _set(db, "roads-a", on_leave=True)
        first = await _incident(db, settings, make_post("l1", "Яма на Московской"), t0)
        assert first.assignee_id == "roads-b"
        await _set(db, "roads-a", on_leave=False)
        await _set(db, "roads-b", capacity=0)
        async with db.transaction() as session:
            chosen = await choose_assignee(
                session, region_code="64", category="roads", city="Саратов", urgency="normal"
            )
        assert chosen.official is not None and chosen.official.id == "roads-a"

    async def test_curator_on_leave_passes_to_the_next_level_of_the_chain(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        await _set(db, "curator", on_leave=True)
        incident = await _incident(db, settings, make_post("c1", "Непонятная жалоба", category="other"), t0)
        assert incident.assignee_id == "deputy"
        assert (incident.assignment_explanation or "").endswith("→ заместитель губернатора: Заместитель Ж. Ж.")

    async def test_no_rule_and_no_chain_goes_to_least_loaded_official(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        for official_id in ("curator", "deputy", "office"):
            await _set(db, official_id, active=False)
        incident = await _incident(db, settings, make_post("c2", "Непонятная жалоба", category="other"), t0)
        assert incident.assignee_id not in ("curator", "deputy", "office", None)
        assert "в регионе нет дежурного куратора и вышестоящих лиц → наименее загружен: " in (
            incident.assignment_explanation or ""
        )
        assert f"наименее загружен: {incident.assignee_name}, открытых инцидентов: 0" in (
            incident.assignment_explanation or ""
        )


class TestOpenCounts:
    async def test_on_postgresql_an_officials_closed_incidents_are_not_read(
        self, postgres_url: str, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        """Each batch counts the open incidents of the officials it may assign. An official's closed
        incidents (years of them) must stay out of that count's reads."""
        db = await make_db(postgres_url)
        try:
            incident = await _incident(db, settings, make_post("r1", "Яма на дороге"), t0)
            assert incident.assignee_id is not None
            table = Incident.__table__  # type: ignore[attr-defined]
            async with db.transaction() as session:
                stored = (await session.execute(select(table).where(table.c.id == incident.id))).mappings().one()
                closed = [{**stored, "id": f"closed-{n}", "status": "closed"} for n in range(1000)]
                session.writes.insert(Incident, closed)
            async with db.transaction() as session:
                counts = await open_counts(session, [incident.assignee_id])
                read = await rows_read_in_transaction(session, "routing_incidents")
            assert counts == {incident.assignee_id: 1}
            assert read <= 10, f"{read} incidents read to count one official's open one"
        finally:
            await db.dispose()
