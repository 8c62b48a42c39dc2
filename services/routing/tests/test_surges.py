"""Surge alerts: the detector's arithmetic by hand, the counting in route_posts' transaction, and one
alert on the subject through a real nats-server (none more when the posts come again)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlmodel import func, select

from incidents_common.db import Database, writes_of
from incidents_common.events import SUBJECT_POST_CLASSIFIED, PostClassified, encode_event, new_event
from incidents_common.testing import eventually, read_stream
from routing.config import Settings
from routing.incidents.models import IncidentPost
from routing.incidents.writes import route_posts
from routing.main import create_app
from routing.surges.detector import (
    Place,
    PriorAlert,
    SurgeRules,
    Window,
    alert_id,
    baseline_rate,
    bucket_of,
    cooling_down,
    current_window,
    explanation,
    history_span,
    judge,
    poisson_upper_tail,
    threshold_count,
)
from routing.surges.models import SurgeAlertRecord, SurgeBucket

RULES = SurgeRules(
    bucket=timedelta(minutes=10),
    window=timedelta(minutes=60),
    min_count=10,
    p_threshold=1e-4,
    cooldown=timedelta(minutes=180),
    history=timedelta(days=14),
    baseline_floor=0.5,
)
NOW = datetime(2026, 12, 10, 14, 23, tzinfo=UTC)
WINDOW = Window(datetime(2026, 12, 10, 13, 30, tzinfo=UTC), datetime(2026, 12, 10, 14, 30, tzinfo=UTC))
KINESHMA = Place("37", "Кинешма", "housing_utilities")
HEATING = "В доме на улице {n} нет отопления, батареи ледяные, дети мёрзнут"


class TestPoissonTail:
    def test_hand_worked_values(self) -> None:
        # P(X ≥ 1 | 2) = 1 − e^−2; P(X ≥ 2 | 1) = 1 − 2/e.
        assert poisson_upper_tail(1, 2.0) == pytest.approx(1 - math.exp(-2), rel=1e-12)
        assert poisson_upper_tail(2, 1.0) == pytest.approx(1 - 2 / math.e, rel=1e-12)
        # P(X ≥ 10 | 0.5) = e^−0.5 · Σ_{k≥10} 0.5^k / k!: the k = 10 and 11 terms, 1.6323e-10 + 7.42e-12.
        first = math.exp(-0.5) * 0.5**10 / math.factorial(10)
        assert first == pytest.approx(1.6323e-10, rel=1e-4)
        assert poisson_upper_tail(10, 0.5) == pytest.approx(first * (1 + 0.5 / 11 + 0.25 / 132), rel=1e-6)

    def test_edges(self) -> None:
        assert poisson_upper_tail(0, 3.0) == 1.0
        assert poisson_upper_tail(3, 0.0) == 0.0
        assert 0 < poisson_upper_tail(52, 1.3) < 1e-60  # summed on the tail's side: not rounded to 0
        assert poisson_upper_tail(5000, 5000.0) == pytest.approx(0.5019, abs=1e-3)  # about half at the mean

    def test_the_threshold_is_the_smallest_count_that_raises(self) -> None:
        assert threshold_count(0.5, RULES) == 10  # the minimum: ten posts are already improbable
        assert threshold_count(1.3, RULES) == 10  # P(X ≥ 9 | 1.3) ≈ 9e-6: the minimum decides
        for baseline in (40.0, 5000.0):
            threshold = threshold_count(baseline, RULES)
            assert poisson_upper_tail(threshold, baseline) < 1e-4 <= poisson_upper_tail(threshold - 1, baseline)
        assert threshold_count(40.0, RULES) == 67


class TestWindows:
    def test_the_window_is_the_last_hour_of_whole_buckets(self) -> None:
        assert current_window(NOW, RULES) == WINDOW

    def test_a_post_counts_in_its_bucket_or_now_when_older_than_the_window(self) -> None:
        at = datetime(2026, 12, 10, 13, 47, tzinfo=UTC)
        assert bucket_of(at, NOW, WINDOW, RULES) == datetime(2026, 12, 10, 13, 40, tzinfo=UTC)
        assert bucket_of(NOW - timedelta(hours=3), NOW, WINDOW, RULES) == datetime(2026, 12, 10, 14, 20, tzinfo=UTC)
        assert bucket_of(NOW + timedelta(hours=1), NOW, WINDOW, RULES) == datetime(2026, 12, 10, 14, 20, tzinfo=UTC)

    def test_the_history_is_what_was_counted_at_most_history_days(self) -> None:
        assert history_span(WINDOW, None, RULES) == timedelta(0)
        assert history_span(WINDOW, WINDOW.start - timedelta(days=1), RULES) == timedelta(days=1)
        assert history_span(WINDOW, WINDOW.start - timedelta(days=30), RULES) == timedelta(days=14)
        assert history_span(WINDOW, WINDOW.end, RULES) == timedelta(0)


class TestBaseline:
    def test_the_mean_per_window_with_a_floor(self) -> None:
        # 14 days = 336 windows of an hour; 437 posts in them: 1.3 per window.
        assert baseline_rate(437, timedelta(days=14), RULES) == pytest.approx(1.3006, abs=1e-4)
        assert baseline_rate(0, timedelta(days=14), RULES) == 0.5  # the floor
        assert baseline_rate(3, timedelta(0), RULES) == 3.0  # minutes of history count as one window


class TestJudge:
    def test_a_town_flaring_up_is_a_surge_explained_in_one_sentence(self) -> None:
        surge = judge(KINESHMA, WINDOW, 52, 1.3, RULES)
        assert surge is not None and surge.p_value < 1e-9
        assert explanation(surge, "Ивановская область", RULES) == (
            "Кинешма: 52 сообщения в категории «ЖКХ» за последние 60 мин; обычно 1.3 за 60 мин; "
            "P(≥52 | Poisson(1.3)) < 1e-9"
        )

    def test_a_towns_two_posts_are_not_a_surge(self) -> None:
        assert judge(KINESHMA, WINDOW, 2, 0.5, RULES) is None
        # Not even without the minimum: P(X ≥ 2 | 0.5) = 1 − 1.5·e^−0.5 ≈ 0.09.
        assert judge(KINESHMA, WINDOW, 2, 0.5, SurgeRules(**{**_fields(RULES), "min_count": 1})) is None

    def test_the_minimum_count_holds_however_improbable(self) -> None:
        tiny = SurgeRules(**{**_fields(RULES), "baseline_floor": 0.01})
        assert poisson_upper_tail(9, 0.01) < 1e-20
        assert judge(KINESHMA, WINDOW, 9, 0.01, tiny) is None
        assert judge(KINESHMA, WINDOW, 10, 0.01, tiny) is not None

    def test_a_steady_busy_town_is_not_a_surge(self) -> None:
        # 40 posts an hour for two weeks; 50 this hour: P(X ≥ 50 | 40) ≈ 0.07.
        baseline = baseline_rate(40 * 336, timedelta(days=14), RULES)
        assert baseline == 40.0
        assert judge(Place("37", "Иваново", "roads"), WINDOW, 50, baseline, RULES) is None
        assert judge(Place("37", "Иваново", "roads"), WINDOW, 67, baseline, RULES) is not None

    def test_the_region_as_a_whole_is_named_so(self) -> None:
        surge = judge(Place("37", None, "roads"), WINDOW, 12, 0.5, RULES)
        assert surge is not None
        assert explanation(surge, "Ивановская область", RULES) == (
            "Ивановская область (населённый пункт не указан): 12 сообщений в категории «Дороги» за последние 60 мин; "
            "обычно 0.5 за 60 мин; P(≥12 | Poisson(0.5)) < 1e-9"
        )


class TestCoolDown:
    def test_no_second_alert_until_the_cool_down_has_passed(self) -> None:
        assert not cooling_down(None, WINDOW, NOW, RULES)
        recent = PriorAlert(raised_at=NOW - timedelta(minutes=30), window_end=WINDOW.start)
        assert cooling_down(recent, WINDOW, NOW, RULES)
        old = PriorAlert(raised_at=NOW - timedelta(minutes=181), window_end=WINDOW.start)
        assert not cooling_down(old, WINDOW, NOW, RULES)

    def test_one_alert_per_window_even_without_a_cool_down(self) -> None:
        none = SurgeRules(**{**_fields(RULES), "cooldown": timedelta(0)})
        assert cooling_down(PriorAlert(NOW - timedelta(hours=5), WINDOW.end), WINDOW, NOW, none)
        assert not cooling_down(PriorAlert(NOW - timedelta(hours=5), WINDOW.end - RULES.bucket), WINDOW, NOW, none)

    def test_the_alert_id_is_the_place_and_window(self) -> None:
        assert alert_id(KINESHMA, WINDOW) == alert_id(Place("37", "Кинешма", "housing_utilities"), WINDOW)
        later = Window(WINDOW.start + RULES.bucket, WINDOW.end + RULES.bucket)
        assert alert_id(KINESHMA, later) != alert_id(KINESHMA, WINDOW)
        assert alert_id(Place("37", None, "housing_utilities"), WINDOW) != alert_id(KINESHMA, WINDOW)


def _fields(rules: SurgeRules) -> dict[str, Any]:
    return {name: getattr(rules, name) for name in rules.__slots__}  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# In route_posts' transaction (SQLite and PostgreSQL)
# ---------------------------------------------------------------------------------------------


def heating(make_post: Any, n: int, *, city: str = "Энгельс", published_at: datetime = NOW) -> PostClassified:
    # Each post names its own street: a complaint of its own, not a repeat clustered into one incident.
    return make_post(
        f"h{n}", HEATING.format(n=f"Улица{n}"), category="housing_utilities", city=city, published_at=published_at
    )


async def route(db: Database, settings: Settings, posts: list[PostClassified], now: datetime) -> None:
    async with db.transaction() as session:
        await route_posts(writes_of(session), posts, settings=settings, now=now)


async def rows(db: Database, model: Any) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.exec(select(model))).all())


class TestCounting:
    async def test_buckets_fill_and_one_alert_is_queued_with_its_incidents(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        await route(any_db, settings, [heating(make_post, n) for n in range(6)], NOW - timedelta(minutes=20))
        assert [(b.city, b.count) for b in await rows(any_db, SurgeBucket)] == [("Энгельс", 6)]
        assert await rows(any_db, SurgeAlertRecord) == []

        await route(any_db, settings, [heating(make_post, n) for n in range(6, 12)], NOW)
        buckets = sorted((b.bucket_start, b.count) for b in await rows(any_db, SurgeBucket))
        assert buckets == [
            (datetime(2026, 12, 10, 14, 0, tzinfo=UTC), 6),
            (datetime(2026, 12, 10, 14, 20, tzinfo=UTC), 6),
        ]
        (alert,) = await rows(any_db, SurgeAlertRecord)
        assert (alert.city, alert.category, alert.count, alert.baseline) == ("Энгельс", "housing_utilities", 12, 0.5)
        async with any_db.transaction() as session:
            outbox = [m.payload for m in (await session.exec(select(_outbox()))).all()]
        surge = [orjson.loads(p)["data"] for p in outbox if b'"ru.incidents.alert.surge"' in p]
        assert len(surge) == 1
        assert surge[0]["post_ids"] == [f"h{n}" for n in range(12)]
        assert len(surge[0]["incident_ids"]) == 12  # twelve streets, twelve incidents, all of the window

        # Within the cool-down: more posts count, nothing is raised.
        await route(any_db, settings, [heating(make_post, n) for n in range(12, 20)], NOW + timedelta(minutes=30))
        assert len(await rows(any_db, SurgeAlertRecord)) == 1

    async def test_a_batch_with_towns_and_the_region_as_a_whole_is_routed_in_one_go(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        # Complaints that name no town count for the region as a whole (city None) beside the towns'
        # own: ordering them must not fail the batch (it did: a whole batch retried one post at a time).
        posts = [heating(make_post, n, city="Энгельс" if n % 2 else None) for n in range(4)]  # type: ignore[arg-type]  # None on purpose: no town named
        await route(any_db, settings, posts, NOW)
        assert sorted((b.city, b.count) for b in await rows(any_db, SurgeBucket)) == [("", 2), ("Энгельс", 2)]
        assert sorted([Place("64", "Энгельс", "roads"), Place("64", None, "roads")]) == [
            Place("64", None, "roads"),
            Place("64", "Энгельс", "roads"),
        ]

    async def test_history_raises_the_bar(self, db: Database, settings: Settings, make_post: Any) -> None:
        # A busy town: 15 complaints an hour, every hour of the last day.
        async with db.transaction() as session:
            start = current_window(NOW, RULES).start
            session.writes.insert(
                SurgeBucket,
                [
                    {
                        "region_code": "64",
                        "city": "Энгельс",
                        "category": "housing_utilities",
                        "bucket_start": start - timedelta(hours=h),
                        "count": 15,
                    }
                    for h in range(1, 25)
                ],
            )
        await route(db, settings, [heating(make_post, n) for n in range(20)], NOW)
        assert await rows(db, SurgeAlertRecord) == []  # 20 against a baseline of 15: P ≈ 0.12
        assert sum(b.count for b in await rows(db, SurgeBucket)) == 15 * 24 + 20

    async def test_skipped_and_repeated_posts_are_not_counted(
        self, db: Database, settings: Settings, make_post: Any
    ) -> None:
        posts = [heating(make_post, n) for n in range(3)]
        chatter = make_post("x", "Спасибо за ремонт!", is_incident=False)
        await route(db, settings, [*posts, chatter], NOW)
        await route(db, settings, posts, NOW)  # already routed: skipped
        assert [b.count for b in await rows(db, SurgeBucket)] == [3]

    async def test_alerts_cost_three_statements_whatever_their_number(
        self, any_db: Database, settings: Settings, make_post: Any
    ) -> None:
        from .test_batch import statements, writes_per_table

        towns = ["Энгельс", "Балаково", "Вольск"]
        await route(any_db, settings, [heating(make_post, n, city=towns[n % 3]) for n in range(100, 103)], NOW)
        quiet = [heating(make_post, n, city=towns[n % 3]) for n in range(6)]  # both batches now have candidates
        with statements(any_db) as without_alerts:
            await route(any_db, settings, quiet, NOW)
        flaring = [heating(make_post, n, city=towns[n % 3]) for n in range(6, 36)]  # 12 a town: three alerts
        with statements(any_db) as with_alerts:
            await route(any_db, settings, flaring, NOW)
        assert len(await rows(any_db, SurgeAlertRecord)) == 3
        # The previous alerts and the window's posts (two reads, for every place at once), one insert.
        assert len(with_alerts) == len(without_alerts) + 3, with_alerts
        assert writes_per_table(with_alerts)[("INSERT", "routing_surge_alerts")] == 1

    async def test_switched_off_it_counts_nothing(self, db: Database, settings: Settings, make_post: Any) -> None:
        off = settings.model_copy(update={"surge_enabled": False})
        await route(db, off, [heating(make_post, n) for n in range(12)], NOW)
        assert await rows(db, SurgeBucket) == []


def _outbox() -> Any:
    from incidents_common.db import OutboxMessage

    return OutboxMessage


# ---------------------------------------------------------------------------------------------
# Through NATS
# ---------------------------------------------------------------------------------------------


async def _publish(url: str, events: list[Any]) -> None:
    import nats

    from incidents_common.streams import ensure_streams

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        for event in events:
            await js.publish(SUBJECT_POST_CLASSIFIED, encode_event(event), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()


async def _count(app: FastAPI, model: Any) -> int:
    async with app.state.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def _inbox(app: FastAPI) -> int:
    from incidents_common.db import InboxMessage

    return await _count(app, InboxMessage)


class TestThroughNats:
    async def test_a_flare_up_raises_one_alert_and_a_redelivery_none(
        self, nats_url: str, settings: Settings, make_post: Any
    ) -> None:
        config = settings.model_copy(update={"nats_enabled": True, "nats_url": nats_url, "seed_demo": True})
        app = create_app(config)
        now = datetime.now(UTC)
        posts = [heating(make_post, n, city="Саратов", published_at=now) for n in range(12)]
        first = [new_event(p, source="/services/classifier", origin_post_id=p.post_id) for p in posts]
        # On the stream before routing starts: its first batch holds all twelve (published while it
        # runs, a fetch could take eleven, and the alert would count those).
        await _publish(nats_url, first)
        async with app.router.lifespan_context(app):
            await eventually(lambda: _count(app, IncidentPost), until=lambda n: n == 12)
            alerts = await eventually(
                lambda: read_stream(nats_url, "incidents.v1.alert.>", timeout=0.3), until=lambda m: len(m) >= 1
            )
            # The same posts again, as new events (a replay from the dead letters, a second classification):
            # the inbox takes them (the positive signal), routing skips them as routed, and raises nothing.
            again = [new_event(p, source="/services/classifier", origin_post_id=p.post_id) for p in posts]
            await _publish(nats_url, again)
            await eventually(lambda: _inbox(app), until=lambda n: n == 24)
            await eventually(lambda: _count(app, _outbox()), until=lambda n: n == 0)
            alerts = await read_stream(nats_url, "incidents.v1.alert.>", timeout=0.3)
        assert [m.subject for m in alerts] == ["incidents.v1.alert.surge.64"]
        alert = orjson.loads(alerts[0].data)
        assert alert["type"] == "ru.incidents.alert.surge"
        data = alert["data"]
        assert (data["region_code"], data["city"], data["category"], data["count"]) == (
            "64",
            "Саратов",
            "housing_utilities",
            12,
        )
        assert data["statistic"] == "poisson_upper_tail" and data["score"] < 1e-4
        assert data["explanation"].startswith("Саратов: 12 сообщений в категории «ЖКХ» за последние 60 мин")
        async with app.state.db.transaction() as session:
            incident_ids = set((await session.exec(select(IncidentPost.incident_id))).all())
        assert set(data["incident_ids"]) == incident_ids
        assert sorted(data["post_ids"]) == sorted(p.post_id for p in posts)
