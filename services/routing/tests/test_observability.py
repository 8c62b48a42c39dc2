"""Routing counts incidents created and assigned, deadline warnings and breaches, by region."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from incidents_common.db import Database, writes_of
from incidents_common.metrics import ServiceMetrics
from routing.config import Settings
from routing.incidents.scanner import scan
from routing.incidents.writes import route_posts


def _samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.exposition()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


async def test_incidents_and_deadlines_are_counted_when_committed(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    metrics = ServiceMetrics("routing", "test", db=db, events=None)
    async with db.transaction() as session:
        (incident,) = await route_posts(
            writes_of(session), [make_post("m1", "Огромная яма на дороге")], settings=settings, now=t0
        )
    assert incident is not None and incident.first_response_due is not None
    due = incident.first_response_due
    try:
        async with db.transaction() as session:
            other = make_post("m2", "Нет света", category="housing_utilities")
            await route_posts(writes_of(session), [other], settings=settings, now=t0)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    async with db.transaction() as session:
        assert (await scan(session, settings=settings, now=due - timedelta(minutes=30))).warnings == 1
    async with db.transaction() as session:
        assert (await scan(session, settings=settings, now=due + timedelta(seconds=1))).escalations == 1

    samples = _samples(metrics)
    region = (("region", "64"),)
    assert samples[("incidents_incident_created_total", region)] == 1  # the rolled-back one is not counted
    assert samples[("incidents_incident_assigned_total", region)] == 1
    clock = (("clock", "first_reaction"), ("region", "64"))
    assert samples[("incidents_deadline_warnings_total", clock)] == 1
    assert samples[("incidents_deadline_breaches_total", clock)] == 1
