"""Surge detection, decided in memory: no database, no broker, no clock of its own.

A place is a region and a town (or the region as a whole, for complaints that named no town); its
complaints of one category are counted in buckets of `bucket` minutes, each complaint in the bucket
of its publication (or of the moment routing saw it, when it was published before the current window
or, by a source's clock, in the future). The current window is the last `window` minutes of whole
buckets, up to the end of the bucket holding `now`.

The statistic (`poisson_upper_tail`): in ordinary times a place's complaints arrive like a Poisson
process. Its expected count per window, the baseline, is the place's mean count per window over the
last `history` before the current window (over the span the counts cover, if that is shorter: a new
deployment's first day is not read as thirteen quiet days), and at least `baseline_floor`, so that
a place with no history does not alert on its third complaint. The window's count k is a surge when
k ≥ `min_count` and P(X ≥ k | X ~ Poisson(baseline)) < `p_threshold`. After an alert, the place and
category raise nothing more until `cooldown` has passed, and never twice for one window.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from incidents_common.db import as_utc
from incidents_common.events import CloudEvent, SurgeAlert
from routing.config import Settings
from routing.wording import category_name, quoted, with_count

STATISTIC = "poisson_upper_tail"
MAX_POST_IDS = 50  # the contract's limit
MAX_INCIDENT_IDS = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALERT_NAMESPACE = uuid.UUID("6f1c3f0e-54a4-4d0c-9d6a-7b0e3c1a5e21")


@dataclass(frozen=True, slots=True)
class SurgeRules:
    """The detector's settings (ROUTING_SURGE_*), as durations."""

    bucket: timedelta
    window: timedelta
    min_count: int
    p_threshold: float
    cooldown: timedelta
    history: timedelta
    baseline_floor: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SurgeRules:
        return cls(
            bucket=timedelta(minutes=settings.surge_bucket_minutes),
            window=timedelta(minutes=settings.surge_window_minutes),
            min_count=settings.surge_min_count,
            p_threshold=settings.surge_p_threshold,
            cooldown=timedelta(minutes=settings.surge_cooldown_minutes),
            history=timedelta(days=settings.surge_history_days),
            baseline_floor=settings.surge_baseline_floor,
        )

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class Place:
    """Where complaints of one category are counted: a region and a town (None: the region as a whole)."""

    region_code: str
    city: str | None
    category: str

    def __lt__(self, other: Place) -> bool:
        # In the stored key's order: a batch may hold the region as a whole (None) beside its towns.
        return self.key < other.key

    @property
    def key(self) -> tuple[str, str, str]:
        """The stored key: the region as a whole is the empty town (models.REGION_AS_A_WHOLE)."""
        return self.region_code, self.city or "", self.category

    @classmethod
    def of_key(cls, region_code: str, city: str, category: str) -> Place:
        return cls(region_code, city or None, category)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Arrival:
    """One complaint of the batch, placed: its incident, its bucket, and the event that carried it."""

    place: Place
    bucket: datetime
    post_id: str
    incident_id: str
    region_name: str
    cause: CloudEvent[Any] | None = None


@dataclass(frozen=True, slots=True)
class PriorAlert:
    """The place's latest alert still relevant: when it was raised and the end of its window."""

    raised_at: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class Surge:
    place: Place
    window: Window
    count: int
    baseline: float
    p_value: float


# -- time ----------------------------------------------------------------------------------------


def floor_to_bucket(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the bucket holding `moment` (buckets are aligned on the Unix epoch, in UTC)."""
    moment = as_utc(moment)
    return moment - (moment - EPOCH) % bucket


def current_window(now: datetime, rules: SurgeRules) -> Window:
    """The last `window` of whole buckets, ending with the bucket that holds `now`."""
    end = floor_to_bucket(now, rules.bucket) + rules.bucket
    return Window(end - rules.window, end)


def bucket_of(published_at: datetime, now: datetime, window: Window, rules: SurgeRules) -> datetime:
    """A complaint's bucket: its publication's; now's when it was published before the window (collected
    late, it still counts as news) or after now (a source's clock ahead)."""
    moment = as_utc(published_at)
    if moment < window.start or moment > now:
        moment = now
    return floor_to_bucket(moment, rules.bucket)


def history_span(window: Window, data_start: datetime | None, rules: SurgeRules) -> timedelta:
    """How much history the baseline stands on: `history` before the window, or less when counting
    began later (`data_start`: the oldest bucket stored, None when nothing is)."""
    start = window.start - rules.history
    if data_start is None:
        return timedelta(0)
    start = max(start, as_utc(data_start))
    return max(window.start - start, timedelta(0))


# -- the statistic -------------------------------------------------------------------------------


def poisson_upper_tail(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean). Summed on the tail's side when count > mean, so that tiny
    probabilities keep their digits (1 − CDF would round them to 0); below 1e-308 it is 0.0."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_term = -mean + count * math.log(mean) - math.lgamma(count + 1)  # log P(X = count)
    if count > mean:
        term, total, k = math.exp(log_term), 0.0, count
        while term > total * 1e-17:  # the terms shrink: k > mean
            total += term
            k += 1
            term *= mean / k
        return min(1.0, total)
    # count ≤ mean: the tail is large (about ½ or more), 1 − P(X < count) is exact enough.
    term, below, k = math.exp(log_term) * count / mean, 0.0, count - 1  # P(X = count - 1)
    while k >= 0 and term > 0:
        below += term
        term *= k / mean
        k -= 1
    return max(0.0, 1.0 - below)


def baseline_rate(history_total: int, span: timedelta, rules: SurgeRules) -> float:
    """Complaints expected per window: the mean over the history's windows (at least one window, so that
    minutes of history do not make a rate), never below the floor."""
    windows = max(span / rules.window, 1.0)
    return max(rules.baseline_floor, history_total / windows)


def threshold_count(baseline: float, rules: SurgeRules) -> int:
    """The smallest count that raises an alert over `baseline` (the tail shrinks as the count grows:
    a binary search, as a busy place's threshold lies thousands of counts above the minimum)."""

    def raises(count: int) -> bool:
        return poisson_upper_tail(count, baseline) < rules.p_threshold

    low = rules.min_count
    if raises(low):
        return low
    high = max(low + 1, math.ceil(baseline) + 1)
    while not raises(high):
        low, high = high, 2 * high
    while high - low > 1:  # low does not raise, high does
        middle = (low + high) // 2
        low, high = (low, middle) if raises(middle) else (middle, high)
    return high


def judge(place: Place, window: Window, count: int, baseline: float, rules: SurgeRules) -> Surge | None:
    """A surge, when the window's count is at least the minimum and improbable under the baseline."""
    if count < rules.min_count:
        return None
    p_value = poisson_upper_tail(count, baseline)
    if p_value >= rules.p_threshold:
        return None
    return Surge(place, window, count, baseline, p_value)


def cooling_down(prior: PriorAlert | None, window: Window, now: datetime, rules: SurgeRules) -> bool:
    """Whether the place's previous alert silences this one: it was for this window, or too recent."""
    if prior is None:
        return False
    return as_utc(prior.window_end) >= window.end or now - as_utc(prior.raised_at) < rules.cooldown


# -- counting ------------------------------------------------------------------------------------


def tally(arrivals: Sequence[Arrival]) -> dict[tuple[Place, datetime], int]:
    """The batch's complaints per place and bucket."""
    added: dict[tuple[Place, datetime], int] = {}
    for arrival in arrivals:
        key = (arrival.place, arrival.bucket)
        added[key] = added.get(key, 0) + 1
    return added


def bucket_rows(
    added: dict[tuple[Place, datetime], int], stored: dict[tuple[Place, datetime], int]
) -> list[dict[str, Any]]:
    """The buckets' new counts (stored + the batch's), as upsert rows, in key order."""
    rows = []
    for place, bucket in sorted(added):
        region_code, city, category = place.key
        total = stored.get((place, bucket), 0) + added[(place, bucket)]
        rows.append(
            {"region_code": region_code, "city": city, "category": category, "bucket_start": bucket, "count": total}
        )
    return rows


# -- the alert -----------------------------------------------------------------------------------


def alert_id(place: Place, window: Window) -> str:
    """The same for every raise of one place × category × window (a redelivery, another replica)."""
    region_code, city, category = place.key
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"surge|{region_code}|{city}|{category}|{window.start.isoformat()}"))


def _probability(p_value: float) -> str:  # a formula: its numbers as the code writes them
    return "< 1e-9" if p_value < 1e-9 else f"= {p_value:.1e}"


def explanation(surge: Surge, region_name: str, rules: SurgeRules) -> str:
    """One sentence a person reads: what was counted, against what, and how unlikely it is."""
    where = surge.place.city or f"{region_name} (населённый пункт не указан)"
    minutes = rules.window_minutes
    posts = with_count(surge.count, "сообщение", "сообщения", "сообщений")
    return (
        f"{where}: {posts} в категории {quoted(category_name(surge.place.category))} за последние {minutes} мин; "
        f"обычно {surge.baseline:.1f} за {minutes} мин; "
        f"P(≥{surge.count} | Poisson({surge.baseline:.1f})) {_probability(surge.p_value)}"
    )


def surge_alert(
    surge: Surge,
    *,
    region_name: str,
    incident_ids: Sequence[str],
    post_ids: Sequence[str],
    now: datetime,
    rules: SurgeRules,
) -> SurgeAlert:
    """The event of a surge; `incident_ids` and `post_ids` in arrival order (the newest posts are kept)."""
    return SurgeAlert(
        alert_id=alert_id(surge.place, surge.window),
        region_code=surge.place.region_code,
        region_name=region_name,
        city=surge.place.city,
        category=surge.place.category,
        window_start=surge.window.start,
        window_end=surge.window.end,
        count=surge.count,
        baseline=round(surge.baseline, 4),
        threshold=threshold_count(surge.baseline, rules),
        score=surge.p_value,
        statistic=STATISTIC,
        explanation=explanation(surge, region_name, rules),
        incident_ids=list(dict.fromkeys(incident_ids))[:MAX_INCIDENT_IDS],
        post_ids=list(post_ids)[-MAX_POST_IDS:],
        raised_at=now,
    )
