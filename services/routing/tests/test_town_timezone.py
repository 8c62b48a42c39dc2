"""Deadlines run in the incident's town's time zone (incidents_common.towns) when the towns table knows
the town in the incident's region; an official's own zone keeps precedence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from incidents_common.db import Database
from routing.config import Settings
from routing.deadlines.models import Clock, Deadline
from routing.deadlines.service import (
    EffectivePolicy,
    calendar_for,
    incident_timezone,
    plan_clocks,
    start_clocks,
)
from routing.directory.models import Official

# Wednesday 2026-03-04 00:30 UTC: 09:30 in Нерюнгри and Якутск (UTC+9), 10:30 in Верхоянск (UTC+10),
# 11:30 in Среднеколымск (UTC+11).
NOW = datetime(2026, 3, 4, 0, 30, tzinfo=UTC)
POLICY = EffectivePolicy(first_reaction_hours=8, interim_days=7, final_days=10, name="test")


@dataclass
class Incident:
    id: str
    region_code: str
    city: str | None
    category: str = "housing_utilities"
    urgency: str = "normal"
    escalation_level: int = 0
    first_response_due: datetime | None = None
    final_due: datetime | None = None


def first_reaction_due(incident: Incident, settings: Settings, official: Official | None = None) -> datetime:
    calendar = calendar_for(official, incident.region_code, settings, city=incident.city)
    (clock,) = plan_clocks(
        incident, policy=POLICY, calendar=calendar, now=NOW, settings=settings, clocks=(Clock.first_reaction,)
    )
    return clock.due_at


def official(timezone: str | None, region_code: str = "14") -> Official:
    return Official(id="o1", region_code=region_code, department_id="14-gkh", name="Петров П. П.", timezone=timezone)


class TestTownZone:
    def test_zones_of_a_region_with_three(self) -> None:
        assert incident_timezone("14", "Нерюнгри") == "Asia/Yakutsk"
        assert incident_timezone("14", "Верхоянск") == "Asia/Ust-Nera"
        assert incident_timezone("14", "СРЕДНЕКОЛЫМСК") == "Asia/Srednekolymsk"
        assert incident_timezone("65", "Северо-Курильск") == "Asia/Srednekolymsk"

    def test_the_region_zone_when_the_town_is_unknown_there(self) -> None:
        assert incident_timezone("14", None) == "Asia/Yakutsk"
        assert incident_timezone("14", "Намцы") == "Asia/Yakutsk"  # a village: not in the towns table
        assert incident_timezone("64", "Среднеколымск") == "Europe/Saratov"  # a town of another region

    def test_each_town_gets_its_own_zones_deadline(self, settings: Settings) -> None:
        # 8 working hours from 00:30 UTC.
        # Нерюнгри: 09:30 → 17:30 local the same day = 08:30 UTC.
        assert first_reaction_due(Incident("a", "14", "Нерюнгри"), settings) == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
        # Верхоянск: 10:30 → 18:00 (7.5 h), Thursday 09:00 → 09:30 local = Wednesday 23:30 UTC.
        assert first_reaction_due(Incident("b", "14", "Верхоянск"), settings) == datetime(
            2026, 3, 4, 23, 30, tzinfo=UTC
        )
        # Среднеколымск: 11:30 → 18:00 (6.5 h), Thursday 09:00 → 10:30 local = Wednesday 23:30 UTC.
        assert first_reaction_due(Incident("c", "14", "Среднеколымск"), settings) == datetime(
            2026, 3, 4, 23, 30, tzinfo=UTC
        )
        # No town: Якутск's zone, as before.
        assert first_reaction_due(Incident("d", "14", None), settings) == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)

    def test_an_official_without_a_zone_works_in_the_towns(self, settings: Settings) -> None:
        calendar = calendar_for(official(None), "14", settings, city="Среднеколымск")
        assert calendar.timezone == "Asia/Srednekolymsk"
        due = first_reaction_due(Incident("e", "14", "Среднеколымск"), settings, official(None))
        assert due == datetime(2026, 3, 4, 23, 30, tzinfo=UTC)

    def test_an_officials_own_zone_keeps_precedence(self, settings: Settings) -> None:
        calendar = calendar_for(official("Asia/Yakutsk"), "14", settings, city="Среднеколымск")
        assert calendar.timezone == "Asia/Yakutsk"
        due = first_reaction_due(Incident("f", "14", "Среднеколымск"), settings, official("Asia/Yakutsk"))
        assert due == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)

    def test_an_official_of_another_region_works_in_their_regions_zone(self, settings: Settings) -> None:
        calendar = calendar_for(official(None, region_code="64"), "14", settings, city="Среднеколымск")
        assert calendar.timezone == "Europe/Saratov"

    @pytest.mark.parametrize(("city", "zone"), [("Среднеколымск", "Asia/Srednekolymsk"), (None, "Asia/Yakutsk")])
    async def test_stored_clocks_carry_the_towns_zone(
        self, db: Database, settings: Settings, city: str | None, zone: str
    ) -> None:
        incident = Incident("g", "14", city)
        async with db.transaction() as session:
            planned = await start_clocks(session, incident=incident, official=None, now=NOW, settings=settings)
        assert {c.timezone for c in planned} == {zone}
        async with db.transaction() as session:
            stored = (await session.exec(select(Deadline).where(Deadline.incident_id == "g"))).all()
        assert sorted(d.clock for d in stored) == [Clock.final, Clock.first_reaction]
        assert {d.timezone for d in stored} == {zone}
