"""Event payloads for tests, one builder per event and named after it (`incident_snapshot` builds an
IncidentSnapshot): realistic defaults, the usual knobs as keywords, and any other field of the event
as a keyword override. Re-exported by `incidents_common.testing`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from incidents_common.events import (
    Assignee,
    Author,
    Classification,
    IncidentSnapshot,
    IncidentStatus,
    LabelResult,
    PlaceHints,
    PostClassified,
    PostCollected,
    Reach,
    RegionResult,
    ReplyKind,
    ReplyRequested,
    SourceType,
    SurgeAlert,
    Urgency,
)
from incidents_common.regions import REGIONS

# The instant the builders date events at unless told otherwise.
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def post_collected(
    post_id: str,
    text: str,
    *,
    source_type: SourceType = SourceType.vk,
    external_id: str | None = None,
    published_at: datetime = T0,
    collected_at: datetime | None = None,
    **overrides: Any,
) -> PostCollected:
    """A post as the collector publishes it (collected when published unless `collected_at` says)."""
    values: dict[str, Any] = {
        "post_id": post_id,
        "source_type": source_type,
        "external_id": external_id or f"ext-{post_id}",
        "text": text,
        "published_at": published_at,
        "collected_at": collected_at or published_at,
    }
    return PostCollected(**{**values, **overrides})


def post_classified(
    post_id: str,
    text: str,
    *,
    region: str = "64",
    version: int = 1,
    external_id: str | None = None,
    **overrides: Any,
) -> PostClassified:
    """A complaint about roads in `region` as the classifier publishes it."""
    values: dict[str, Any] = {
        "post_id": post_id,
        "version": version,
        "source_type": SourceType.vk,
        "external_id": external_id or f"ext-{post_id}",
        "url": f"https://vk.com/wall-1_{post_id}",
        "author": Author(id="u1", name="Анна К."),
        "text": text,
        "published_at": T0,
        "place_hints": PlaceHints(region_code=region, latitude=51.53, longitude=46.03),
        "reach": Reach(likes=10, views=500),
        "classification": Classification(
            model_version="test-1",
            is_incident=True,
            incident=LabelResult(label="complaint", confidence=0.95, evidence=["пробили колёса"]),
            category=LabelResult(label="roads", confidence=0.9, evidence=["яма"]),
            region=RegionResult(code=region, name=REGIONS[region].name, confidence=0.8, evidence=["Саратов"]),
            urgency=LabelResult(label="normal", confidence=0.7),
            sentiment=LabelResult(label="negative", confidence=0.8),
        ),
    }
    return PostClassified(**{**values, **overrides})


def incident_snapshot(
    incident_id: str,
    *,
    region: str = "64",
    city: str | None = "Саратов",
    category: str = "roads",
    status: IncidentStatus = IncidentStatus.assigned,
    urgency: Urgency = Urgency.normal,
    title: str = "Яма на дороге",
    summary: str = "Обращение жителей",
    official: str | None = "off-64-1",
    department: str = "dep-64-roads",
    post_ids: list[str] | None = None,
    created_at: datetime = T0,
    updated_at: datetime | None = None,
    first_response_due: datetime | None = None,
    final_due: datetime | None = None,
    first_response_at: datetime | None = None,
    severity: int = 1,
    total_reach: int = 0,
    **overrides: Any,
) -> IncidentSnapshot:
    """An incident as routing describes it in its events: assigned to `official` (None: unassigned),
    its first response due eight hours after it was created."""
    assignee = None
    if official:
        assignee = Assignee(
            official_id=official,
            name=f"Чиновник {official}",
            department_id=department,
            department_name=f"Ведомство {department}",
        )
    values: dict[str, Any] = {
        "incident_id": incident_id,
        "region_code": region,
        "region_name": REGIONS[region].name,
        "city": city,
        "category": category,
        "urgency": urgency,
        "status": status,
        "severity": severity,
        "title": title,
        "summary": summary,
        "assignee": assignee,
        "assignment_explanation": "Правило: дороги → дорожный комитет" if official else None,
        "post_ids": post_ids or [f"post-{incident_id}"],
        "total_reach": total_reach,
        "first_response_due": first_response_due if first_response_due is not None else created_at + timedelta(hours=8),
        "final_due": final_due,
        "first_response_at": first_response_at,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
    }
    return IncidentSnapshot(**{**values, **overrides})


def surge_alert(
    alert_id: str,
    *,
    region: str = "64",
    city: str | None = "Саратов",
    category: str = "housing_utilities",
    raised_at: datetime = T0,
    count: int = 52,
    **overrides: Any,
) -> SurgeAlert:
    """A surge alert as routing raises it: `count` posts in the hour before `raised_at`."""
    values: dict[str, Any] = {
        "alert_id": alert_id,
        "region_code": region,
        "region_name": REGIONS[region].name,
        "city": city,
        "category": category,
        "window_start": raised_at - timedelta(hours=1),
        "window_end": raised_at,
        "count": count,
        "baseline": 1.3,
        "threshold": 10,
        "score": 1e-60,
        "statistic": "poisson_upper_tail",
        "explanation": f"{city}: сообщений в категории «{category}» за последние 60 мин: {count}; обычно 1.3 за 60 мин",
        "incident_ids": [f"inc-{alert_id}"],
        "post_ids": [f"post-{alert_id}"],
        "raised_at": raised_at,
    }
    return SurgeAlert(**{**values, **overrides})


def reply_requested(
    post_id: str,
    *,
    region: str = "64",
    text: str = "Здравствуйте! Бригада выехала, свет дадут до 18:00. Администрация",
    source_type: SourceType | None = SourceType.vk,
    external_id: str | None = None,
    **overrides: Any,
) -> ReplyRequested:
    """An official's reply to the complaint `post_id` as routing asks the collector to publish it."""
    values: dict[str, Any] = {
        "reply_id": str(uuid.uuid4()),
        "incident_id": "inc-1",
        "region_code": region,
        "kind": ReplyKind.reply,
        "text": text,
        "post_id": post_id,
        "source_type": source_type,
        "external_id": external_id or f"ext-{post_id}",
        "actor": "official:off-64-1",
        "requested_at": T0,
    }
    return ReplyRequested(**{**values, **overrides})
