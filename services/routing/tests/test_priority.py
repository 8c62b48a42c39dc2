"""incidents.priority: the formula, with numbers worked out by hand; and routing through real NATS."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import nats
import orjson
import pytest
from fastapi import FastAPI
from sqlmodel import func, select

from incidents_common.events import (
    SUBJECT_INCIDENT_ALL,
    SUBJECT_POST_CLASSIFIED,
    PostClassified,
    Reach,
    encode_event,
    new_event,
)
from incidents_common.streams import ensure_streams
from incidents_common.testing import eventually, read_stream
from routing.config import Settings
from routing.incidents.models import Incident, IncidentPost
from routing.incidents.priority import PostSignal, coordinated, priority, rescored, signal_of, text_key
from routing.main import create_app

T = datetime.fromisoformat("2026-03-04T06:00:00+00:00")


def post(
    post_id: str,
    *,
    author: str | None = None,
    followers: int | None = 100,
    minutes: float = 0,
    text: str | None = None,
    views: int = 0,
    reposts: int = 0,
    comments: int = 0,
    likes: int = 0,
) -> PostSignal:
    return PostSignal(
        post_id=post_id,
        author_key=f"vk:{author or post_id}",
        followers=followers,
        published_at=T + timedelta(minutes=minutes),
        text_key=text_key(text) if text else None,
        views=views,
        reposts=reposts,
        comments=comments,
        likes=likes,
    )


def parts(result: Any) -> dict[str, tuple[float, float]]:
    return {part.name: (part.value, part.factor) for part in result.parts}


WAVE = [
    "Яма на Ленина 5, администрация бездействует!!! 😡",
    "яма на ленина 7 — администрация бездействует",
    "ЯМА НА ЛЕНИНА, администрация бездействует! #позор",
    "Яма на Ленина 12. Администрация бездействует https://t.me/x/1",
    "Яма на Ленина… администрация бездействует 👎👎",
    "Яма на Ленина 3 администрация бездействует",
    "Яма на Ленина, @glava администрация бездействует",
    "Яма на Ленина!!! Администрация бездействует!!!",
    "Яма на Ленина 1 администрация бездействует.",
    "яма на ленина администрация бездействует",
]


DIFFERENT = [
    "Яма на Ленина у остановки, машины объезжают по встречке",
    "Вчера пробил колесо на Ленина, яму никто не огородил",
    "На Ленина опять провал асфальта, ребёнок чуть не упал",
    "Сколько можно ждать ремонта дороги на Ленина?",
    "Глубокая яма на Ленина возле школы, опасно для детей",
    "Автобус еле проезжает по Ленина из-за ям",
    "Ленина превратилась в полосу препятствий, ямы повсюду",
    "Разбил диск на Ленина, кто заплатит за ремонт?",
    "Жители Ленина просят засыпать яму хотя бы щебнем",
    "На Ленина после дождя яма полна воды, не видно глубины",
]


class TestUrgencyAlone:
    @pytest.mark.parametrize(("urgency", "base"), [("normal", 10), ("high", 40), ("critical", 100)])
    def test_a_lone_post_without_reach_scores_its_urgency_base(self, urgency: str, base: int) -> None:
        result = priority([post("p1", followers=0)], urgency=urgency)
        assert result.score == base
        assert parts(result) == {
            "urgency": (base, base),
            "reach": (0, 1.0),
            "velocity": (1, 1.0),
            "coordination": (0, 1.0),
        }
        assert result.formula == f"{base} × 1.00 × 1.00 × 1.00 = {base}.0"

    def test_possibly_critical_counts_as_critical(self) -> None:
        result = priority([post("p1", followers=0)], urgency="normal", possibly_critical=True)
        assert result.score == 100
        assert result.parts[0].explanation == (
            "Срочность «обычная», но признак угрозы ожидает проверки оператором, поэтому инцидент считается "
            "критическим: базовое значение 100."
        )


class TestReach:
    def test_views_reposts_comments_likes_and_followers_once_per_author(self) -> None:
        signals = [
            # 5000 + 10×100 + 3×50 + 400 = 6550, and 0.1 × 20 000 followers = 2000
            post("a", followers=20_000, views=5000, reposts=100, comments=50, likes=400),
            # 3000 + 50 = 3050, and 0.1 × 1000 = 100
            post("b", followers=1000, minutes=10, views=3000, likes=50),
            # the same author again: its followers are not counted twice
            post("b2", author="b", followers=1000, minutes=20, views=0),
        ]
        result = priority(signals, urgency="high")
        # reach 11 700: 1 + log10(1 + 117) = 3.07; 2 authors within the hour: 1 + 0.5 × log2(2) = 1.5
        assert parts(result) == {
            "urgency": (40, 40),
            "reach": (11_700, 3.07),
            "velocity": (2, 1.5),
            "coordination": (0, 1.0),
        }
        assert result.score == 184.2  # 40 × 3.07 × 1.5 = 184.2
        assert result.formula == "40 × 3.07 × 1.50 × 1.00 = 184.2"
        assert [part.explanation for part in result.parts] == [
            "Срочность «высокая»: базовое значение 40.",
            "Охват 11\u00a0700: просмотры + 10×репосты + 3×комментарии + лайки (3 сообщения) + 0.1×подписчики "
            "(2 автора); 1 + log10(1 + 11\u00a0700/100) = 3.07.",
            "За час до последнего сообщения (04.03.2026 06:20 UTC) — 2 автора: 1 + 0.5×log2(2) = 1.50.",
            "Признаков скоординированной публикации нет: 1.",
        ]

    def test_the_reach_factor_is_capped_at_4(self) -> None:
        result = priority([post("viral", followers=0, views=10_000_000)], urgency="normal")
        assert parts(result)["reach"] == (10_000_000, 4.0)
        assert result.parts[1].explanation == (
            "Охват 10\u00a0000\u00a0000: просмотры + 10×репосты + 3×комментарии + лайки (1 сообщение) + "
            "0.1×подписчики (1 автор); 1 + log10(1 + 10\u00a0000\u00a0000/100) = 4.00 (предел 4)."
        )
        assert result.score == 40


class TestVelocity:
    def test_authors_in_the_hour_up_to_the_latest_post(self) -> None:
        signals = [post(f"p{n}", followers=0, minutes=n * 5) for n in range(9)]  # 9 authors within 40 minutes
        # 1 + 0.5 × log2(9) = 2.585 → 2.58
        assert parts(priority(signals, urgency="normal"))["velocity"] == (9, 2.58)
        # 5 posts two hours before the 4 latest: only the 4 count, 1 + 0.5 × log2(4) = 2
        spread = [post(f"old{n}", followers=0, minutes=n) for n in range(5)]
        spread += [post(f"new{n}", followers=0, minutes=120 + n) for n in range(4)]
        assert parts(priority(spread, urgency="normal"))["velocity"] == (4, 2.0)

    def test_the_velocity_factor_is_capped_at_3(self) -> None:
        signals = [post(f"p{n}", followers=0, minutes=n * 0.5) for n in range(100)]
        assert parts(priority(signals, urgency="normal"))["velocity"] == (100, 3.0)


class TestCoordination:
    def test_a_wave_of_near_identical_texts_from_new_accounts_is_discounted(self) -> None:
        bots = [post(f"bot{n}", followers=0, minutes=n * 2, text=text, views=100) for n, text in enumerate(WAVE)]
        result = priority(bots, urgency="normal")
        # all 10 coordinated: reach and velocity count none of them; 1 − 0.8 × 1 = 0.2
        assert parts(result) == {
            "urgency": (10, 10),
            "reach": (0, 1.0),
            "velocity": (0, 1.0),
            "coordination": (1.0, 0.2),
        }
        assert result.score == 2.0
        assert result.formula == "10 × 1.00 × 1.00 × 0.20 = 2.0"
        assert result.parts[2].explanation == "Нет сообщений, учитываемых в скорости распространения: 1."
        assert result.parts[3].explanation == (
            "10 из 10 сообщений (1.00) — копии одного текста с аккаунтов, у которых меньше 50 подписчиков, "
            "опубликованные в пределах 30 минут; они не учитываются ни в охвате, ни в скорости: 1 − 0.8×1.00 = 0.20."
        )

    def test_ten_different_texts_from_real_accounts_are_not(self) -> None:
        people = [post(f"p{n}", followers=500, minutes=n * 2, text=text) for n, text in enumerate(DIFFERENT)]
        assert len({text_key(text) for text in DIFFERENT}) == 10
        result = priority(people, urgency="normal")
        # reach 0.1 × 500 × 10 = 500: 1 + log10(6) = 1.78; 10 authors: 1 + 0.5 × log2(10) = 2.66
        assert parts(result) == {
            "urgency": (10, 10),
            "reach": (500, 1.78),
            "velocity": (10, 2.66),
            "coordination": (0, 1.0),
        }
        assert result.score == 47.3  # 10 × 1.78 × 2.66 = 47.348

    def test_a_wave_beside_real_posts_lowers_the_score_by_its_share(self) -> None:
        real = post("real", followers=500, views=1000)
        bots = [post(f"bot{n}", followers=0, minutes=n, text=WAVE[n], views=100) for n in range(10)]
        result = priority([real, *bots], urgency="normal")
        # reach of the real post only: 1000 + 50 = 1050, 1 + log10(11.5) = 2.06; share 10/11: 1 − 0.727 = 0.27
        assert parts(result)["reach"] == (1050, 2.06)
        assert parts(result)["coordination"] == (0.909, 0.27)
        assert result.score == 5.6  # 10 × 2.06 × 1 × 0.27 = 5.562
        assert priority([real], urgency="normal").score > result.score

    def test_what_is_not_a_wave(self) -> None:
        # copies from accounts with followers: people sharing a petition
        shared = [post(f"s{n}", followers=50, minutes=n, text=WAVE[0]) for n in range(10)]
        # copies spread over hours: no three within 30 minutes
        slow = [post(f"h{n}", followers=0, minutes=n * 31, text=WAVE[0]) for n in range(10)]
        # two copies are not a group
        pair = [post(f"d{n}", followers=0, minutes=n, text=WAVE[0]) for n in range(2)]
        for signals in (shared, slow, pair):
            assert coordinated(signals) == set()
        # unknown followers count as few; three within 30 minutes (the edge included) are a wave
        edge = [post(f"e{n}", followers=None, minutes=n * 15, text=WAVE[0]) for n in range(3)]
        assert coordinated(edge) == {"e0", "e1", "e2"}

    def test_text_key_ignores_case_digits_links_mentions_emoji_and_punctuation(self) -> None:
        assert len({text_key(text) for text in WAVE}) == 1
        assert text_key(WAVE[0]) != text_key("Яма на Ленина, администрация молчит")
        assert text_key("Поддерживаю!!!") is None  # too short to tell a template from a coincidence


class TestRescored:
    def test_a_correction_of_urgency_keeps_the_measurements(self) -> None:
        people = [post(f"p{n}", followers=500, minutes=n * 2) for n in range(10)]
        stored = priority(people, urgency="normal").model_dump(mode="json")
        again = rescored(stored, urgency="critical", possibly_critical=False)
        assert again is not None
        assert again["score"] == 473.5  # 100 × 1.78 × 2.66 = 473.48
        assert again["formula"] == "100 × 1.78 × 2.66 × 1.00 = 473.5"
        assert rescored(None, urgency="critical", possibly_critical=False) is None


def test_signal_of_a_classified_post(make_post: Any) -> None:
    classified: PostClassified = make_post("x1", WAVE[0], followers=7, views=10)
    classified = classified.model_copy(update={"reach": Reach(views=10, reposts=2, comments=1, likes=3)})
    signal = signal_of(classified, "vk:a-x1")
    assert (signal.followers, signal.engagement, signal.text_key) == (7, 10 + 20 + 3 + 3, text_key(WAVE[1]))


# -- through the consumer, over a real nats-server ---------------------------------------------------

CHERNYSHEVSKOGO = [
    "На улице Чернышевского огромная яма на дороге, машины бьют колёса",
    "Когда заделают яму на Чернышевского? Каждый день бью колёса об эту яму на дороге",
    "На улице Чернышевского огромная яма на дороге, машины бьют колёса. Уже неделю!",
]
RAKHOVA = "На улице Рахова огромная яма на дороге, машины бьют колёса {}"


async def publish(url: str, posts: list[PostClassified]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        for classified in posts:
            event = new_event(classified, source="/services/classifier", origin_post_id=classified.post_id)
            await js.publish(SUBJECT_POST_CLASSIFIED, encode_event(event), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()


async def posts_routed(app: FastAPI) -> int:
    async with app.state.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(IncidentPost))).one())


class TestThroughNats:
    async def test_reach_shows_in_the_snapshot_and_a_wave_scores_lower(
        self, nats_url: str, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        """Three citizens (300 followers, 1000 views each) about one pothole; six copies of one text from
        new accounts about another, with twice the views in all: the citizens' incident comes first."""
        citizens = [
            make_post(f"c{n}", text, followers=300, views=1000, published_at=t0 + timedelta(minutes=10 * n))
            for n, text in enumerate(CHERNYSHEVSKOGO)
        ]
        bots = [
            make_post(f"b{n}", RAKHOVA.format("!" * n), followers=0, views=1000, published_at=t0 + timedelta(minutes=n))
            for n in range(6)
        ]
        app = create_app(settings.model_copy(update={"nats_enabled": True, "nats_url": nats_url, "seed_demo": True}))
        async with app.router.lifespan_context(app):
            # The first post of each in one batch, the rest later: joining batches read the stored posts.
            await publish(nats_url, [citizens[0], bots[0]])
            await eventually(lambda: posts_routed(app), until=lambda n: n == 2)
            await publish(nats_url, citizens[1:] + bots[1:])
            await eventually(lambda: posts_routed(app), until=lambda n: n == 9)
            async with app.state.db.transaction() as session:
                stored = {i.origin_post_id: i for i in (await session.exec(select(Incident))).all()}
                rows = (await session.exec(select(IncidentPost).where(IncidentPost.post_id == "c1"))).all()
            messages = await eventually(
                lambda: read_stream(nats_url, SUBJECT_INCIDENT_ALL, timeout=0.3),
                until=lambda found: sum(".post_attached." in m.subject for m in found) == 7,
            )
        assert sorted(stored) == ["b0", "c0"]
        assert (rows[0].views, rows[0].author_followers, rows[0].text_key) == (1000, 300, text_key(CHERNYSHEVSKOGO[1]))
        # The latest snapshot of each incident, as the gateway keeps it.
        latest: dict[str, dict[str, Any]] = {}
        for message in messages:
            incident = orjson.loads(message.data)["data"]["incident"]
            held = latest.get(incident["incident_id"])
            if held is None or incident["revision"] >= held["revision"]:
                latest[incident["incident_id"]] = incident
        people, wave = latest[stored["c0"].id]["priority"], latest[stored["b0"].id]["priority"]
        assert people == stored["c0"].priority and wave == stored["b0"].priority
        by_name = {part["name"]: part for part in people["parts"]}
        # 3 × 1000 views + 0.1 × 300 followers × 3 authors = 3090: 1 + log10(31.9) = 2.50
        assert (by_name["reach"]["value"], by_name["reach"]["factor"]) == (3090, 2.5)
        assert by_name["velocity"]["value"] == 3
        assert "(3 сообщения)" in by_name["reach"]["explanation"]
        assert "(3 автора)" in by_name["reach"]["explanation"]
        wave_parts = {part["name"]: part for part in wave["parts"]}
        assert (wave_parts["coordination"]["value"], wave_parts["coordination"]["factor"]) == (1.0, 0.2)
        assert wave_parts["reach"]["value"] == 0
        assert wave["score"] == 2.0
        assert people["score"] > wave["score"]
