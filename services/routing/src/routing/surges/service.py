"""Surge detection inside the consumer's transaction: count the batch's complaints, raise the surges.

`detect_surges` is called once per batch by incidents.writes.route_posts, after the batch was decided
(surges read incidents' tables, never their code: the batch's incidents are `RoutedIncident`s).
It reads the stored counts of the batch's places in one query (their current window's buckets, their
history's sum, and where the stored history begins), queues one upsert of the buckets the batch
filled, and only when a place crosses the threshold reads its previous alerts and the window's
incidents (two more queries) and queues the alert's row and its SurgeAlert event on the same Writes.
On PostgreSQL the batch holds the cluster locks of its (region, category) pairs (incidents.loading),
so two replicas never count one bucket from the same stale value; SQLite has one writer at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, case, func, literal_column, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Writes
from incidents_common.events import CloudEvent, PostClassified, SurgeAlert
from routing.config import SOURCE, Settings
from routing.incidents.models import Incident, IncidentPost
from routing.surges.detector import (
    Arrival,
    Place,
    PriorAlert,
    Surge,
    SurgeRules,
    Window,
    baseline_rate,
    bucket_of,
    bucket_rows,
    cooling_down,
    current_window,
    history_span,
    judge,
    surge_alert,
    tally,
)
from routing.surges.models import SurgeAlertRecord, SurgeBucket
from routing.tables import KeyedQuery, table_of

BUCKETS = table_of(SurgeBucket)
ALERTS = table_of(SurgeAlertRecord)
INCIDENTS = table_of(Incident)
POSTS = table_of(IncidentPost)


def _counts(any_key: Any) -> Any:
    window_start = bindparam("window_start", type_=BUCKETS.c.bucket_start.type)
    in_window = case((BUCKETS.c.bucket_start >= window_start, BUCKETS.c.bucket_start), else_=None).label("bucket")
    data_start = select(func.min(BUCKETS.c.bucket_start)).scalar_subquery()
    return (
        select(*BUCKET_PLACE, in_window, func.sum(BUCKETS.c.count), data_start.label("data_start"))
        .where(any_key, BUCKETS.c.bucket_start >= bindparam("history_start"))
        # By the label: PostgreSQL would not take the CASE spelt again, with its own bound parameters.
        .group_by(*BUCKET_PLACE, literal_column("bucket"))
    )


def _prior_alerts(any_key: Any) -> Any:
    return (
        select(*ALERT_PLACE, func.max(ALERTS.c.raised_at), func.max(ALERTS.c.window_end))
        .where(
            any_key, (ALERTS.c.raised_at > bindparam("quiet_since")) | (ALERTS.c.window_end >= bindparam("window_end"))
        )
        .group_by(*ALERT_PLACE)
    )


def _window_posts(any_key: Any) -> Any:
    return (
        select(*INCIDENT_PLACE, POSTS.c.incident_id, POSTS.c.post_id, POSTS.c.attached_at)
        .join(INCIDENTS, INCIDENTS.c.id == POSTS.c.incident_id)
        .where(
            any_key,
            INCIDENTS.c.last_post_at >= bindparam("window_start"),
            POSTS.c.attached_at >= bindparam("window_start"),
        )
    )


# The batch's places (region, town or "", category) in each table that counts by place.
BUCKET_PLACE = (BUCKETS.c.region_code, BUCKETS.c.city, BUCKETS.c.category)
ALERT_PLACE = (ALERTS.c.region_code, ALERTS.c.city, ALERTS.c.category)
INCIDENT_PLACE = (INCIDENTS.c.region_code, func.coalesce(INCIDENTS.c.city, ""), INCIDENTS.c.category)
PLACE_COUNTS = KeyedQuery(BUCKET_PLACE, _counts)
PRIOR_ALERTS = KeyedQuery(ALERT_PLACE, _prior_alerts)
WINDOW_POSTS = KeyedQuery(INCIDENT_PLACE, _window_posts)


class RoutedIncident(Protocol):
    """What surges read of the incident a complaint opened or joined (incidents.snapshots.IncidentRecord)."""

    @property
    def id(self) -> str: ...
    @property
    def region_code(self) -> str: ...
    @property
    def region_name(self) -> str: ...
    @property
    def city(self) -> str | None: ...
    @property
    def category(self) -> str: ...


class StoredCounts:
    """What the store knows of the batch's places: the current window's buckets, the history's sums."""

    def __init__(self) -> None:
        self.window_buckets: dict[tuple[Place, datetime], int] = {}
        self.history_totals: dict[Place, int] = {}
        self.data_start: datetime | None = None

    def window_totals(self) -> Counter[Place]:
        """Each place's count in the current window (one pass: a batch names hundreds of places)."""
        return per_place(self.window_buckets)


def per_place(buckets: dict[tuple[Place, datetime], int]) -> Counter[Place]:
    totals: Counter[Place] = Counter()
    for (place, _), count in buckets.items():
        totals[place] += count
    return totals


async def detect_surges(
    writes: Writes,
    posts: Sequence[PostClassified],
    incidents: Sequence[RoutedIncident | None],
    *,
    settings: Settings,
    now: datetime,
    causes: Sequence[CloudEvent[Any] | None] | None = None,
) -> list[SurgeAlert]:
    """Count the batch's complaints and raise the surges they make; returns the alerts queued.

    `incidents[i]` is the incident posts[i] opened or joined in this batch, None when it was skipped
    (no complaint, no region, or already routed: a redelivered post is never counted twice). A
    complaint's place is its incident's region, town and category."""
    if not settings.surge_enabled:
        return []
    rules = SurgeRules.from_settings(settings)
    window = current_window(now, rules)
    arrivals = [
        Arrival(
            place=Place(incident.region_code, incident.city or None, incident.category),
            bucket=bucket_of(post.published_at, now, window, rules),
            post_id=post.post_id,
            incident_id=incident.id,
            region_name=incident.region_name,
            cause=cause,
        )
        for post, incident, cause in zip(posts, incidents, causes or [None] * len(posts), strict=True)
        if incident is not None
    ]
    if not arrivals:
        return []
    places = sorted({arrival.place for arrival in arrivals})
    stored = await load_counts(writes.session, places, window, rules)
    added = tally(arrivals)
    writes.upsert(SurgeBucket, bucket_rows(added, stored.window_buckets))

    span = history_span(window, stored.data_start, rules)
    candidates: list[Surge] = []
    stored_counts, added_counts = stored.window_totals(), per_place(added)
    for place in places:
        count = stored_counts[place] + added_counts[place]
        baseline = baseline_rate(stored.history_totals.get(place, 0), span, rules)
        surge = judge(place, window, count, baseline, rules)
        if surge is not None:
            candidates.append(surge)
    if not candidates:
        return []
    priors = await load_prior_alerts(writes.session, [s.place for s in candidates], window, now, rules)
    surges = [s for s in candidates if not cooling_down(priors.get(s.place), window, now, rules)]
    if not surges:
        return []
    members = await load_window_posts(writes.session, [s.place for s in surges], window)
    alerts = []
    for surge in surges:
        batch = [a for a in arrivals if a.place == surge.place]
        stored_members = members.get(surge.place, [])
        alert = surge_alert(
            surge,
            region_name=batch[-1].region_name,
            incident_ids=[incident_id for incident_id, _ in stored_members] + [a.incident_id for a in batch],
            post_ids=[post_id for _, post_id in stored_members] + [a.post_id for a in batch],
            now=now,
            rules=rules,
        )
        alerts.append(alert)
        # The complaint that tipped it over: its chain and trace carry on in the alert.
        writes.publish(alert, source=SOURCE, origin_post_id=batch[-1].post_id, cause=batch[-1].cause)
    writes.insert(SurgeAlertRecord, [alert_row(alert) for alert in alerts])
    return alerts


def alert_row(alert: SurgeAlert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "region_code": alert.region_code,
        "city": alert.city or "",
        "category": alert.category,
        "window_start": alert.window_start,
        "window_end": alert.window_end,
        "count": alert.count,
        "baseline": alert.baseline,
        "threshold": alert.threshold,
        "score": alert.score,
        "explanation": alert.explanation,
        "raised_at": alert.raised_at,
    }


async def load_counts(
    session: AsyncSession, places: Sequence[Place], window: Window, rules: SurgeRules
) -> StoredCounts:
    """One query: per place, each bucket of the current window and the sum of its history's buckets
    (grouped under a NULL bucket), and the oldest bucket stored at all (where counting began)."""
    found = await PLACE_COUNTS.fetch(
        await session.connection(),
        [place.key for place in places],
        window_start=window.start,
        history_start=window.start - rules.history,
    )
    stored = StoredCounts()
    for region_code, city, category, bucket, total, data_start_value in found:
        place = Place.of_key(region_code, city, category)
        stored.data_start = data_start_value
        if bucket is None:
            stored.history_totals[place] = int(total or 0)
        else:
            stored.window_buckets[(place, bucket)] = int(total or 0)
    return stored


async def load_prior_alerts(
    session: AsyncSession, places: Sequence[Place], window: Window, now: datetime, rules: SurgeRules
) -> dict[Place, PriorAlert]:
    """Per place, its latest alert that may still silence a new one (within the cool-down, or of this window)."""
    found = await PRIOR_ALERTS.fetch(
        await session.connection(),
        [place.key for place in places],
        quiet_since=now - rules.cooldown,
        window_end=window.end,
    )
    return {
        Place.of_key(region_code, city, category): PriorAlert(raised_at, window_end)
        for region_code, city, category, raised_at, window_end in found
    }


async def load_window_posts(
    session: AsyncSession, places: Sequence[Place], window: Window
) -> dict[Place, list[tuple[str, str]]]:
    """Per place, (incident id, post id) of the complaints stored in the current window, in arrival order.

    A complaint is in the window exactly when it was attached since the window began: one published
    earlier counts in the bucket of its arrival (detector.bucket_of)."""
    read = await WINDOW_POSTS.fetch(
        await session.connection(), [place.key for place in places], window_start=window.start
    )
    read.sort(key=lambda row: (row[5], row[4]))  # arrival order (attached_at, post id), across chunks
    found: dict[Place, list[tuple[str, str]]] = {}
    for region_code, city, category, incident_id, post_id, _attached_at in read:
        found.setdefault(Place.of_key(region_code, city, category), []).append((incident_id, post_id))
    return found
