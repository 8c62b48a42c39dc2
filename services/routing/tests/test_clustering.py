"""Clustering: reposts and reworded complaints join an open incident; different problems don't."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.events import IncidentAction
from routing.config import Settings
from routing.incidents.clustering import Address, addresses_conflict, fingerprint, similarity
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Incident, IncidentHistory, SkippedPost
from routing.incidents.schemas import ActionRequest
from routing.incidents.snapshots import IncidentRecord
from routing.incidents.writes import route_posts

POTHOLE = "На улице Чернышевского огромная яма на дороге, машины бьют колёса"
REWORDED = "Когда заделают яму на Чернышевского? Каждый день бью колёса об эту яму на дороге"
REPOST_TEXT = "Репост: На улице Чернышевского огромная яма на дороге, машины бьют колёса. Согласен, безобразие!"
LIGHTS = "На ул. Чернышевского, д. 12 третий день не горят фонари, вечером темно на дороге"
SNOW = "На улице Чернышевского не убирают снег, тротуар и дорога в сугробах, пройти невозможно"


class TestSimilarity:
    def test_reworded_complaint_is_similar_and_different_problem_is_not(self) -> None:
        base = fingerprint(POTHOLE).terms
        assert similarity(base, fingerprint(REWORDED).terms) >= 0.35
        assert similarity(base, fingerprint(REPOST_TEXT).terms) >= 0.35
        assert similarity(base, fingerprint(LIGHTS).terms) < 0.3
        assert similarity(base, fingerprint(SNOW).terms) < 0.3

    def test_address_words_do_not_count_as_problem_words(self) -> None:
        fp = fingerprint("Проспект Кирова, 5а: прорвало трубу, кипяток хлещет")
        assert fp.address is not None and fp.address.key() == "киров 5а"
        assert "киров" not in fp.terms and "труба" in fp.terms

    def test_synonyms_fold(self) -> None:
        assert "яма" in fingerprint("Огромная выбоина посреди дороги").terms


async def _route(db: Database, settings: Settings, *posts: Any, now: datetime) -> list[IncidentRecord | None]:
    """The posts as one consumer batch (one transaction)."""
    async with db.transaction() as session:
        return await route_posts(writes_of(session), posts, settings=settings, now=now)


class TestClusterOrCreate:
    async def test_repost_and_reworded_join_different_problem_opens_new(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (first,) = await _route(db, settings, make_post("p1", POTHOLE, views=5000), now=t0)
        reworded, repost, lights = await _route(
            db,
            settings,
            make_post("p2", REWORDED, followers=20_000),
            make_post("p3", "Поддерживаю!!! " + POTHOLE, repost_of="p1"),
            make_post("p4", LIGHTS),
            now=t0 + timedelta(hours=2),
        )
        assert first is not None and reworded is not None and repost is not None and lights is not None
        assert reworded.id == first.id and repost.id == first.id
        assert lights.id != first.id
        async with db.transaction() as session:
            incident = await session.get(Incident, first.id)
            assert incident is not None
            assert incident.post_ids == ["p1", "p2", "p3"]
            assert incident.complainants == 3
            assert incident.total_reach == 5000 + 20_000 + 100
            assert incident.severity > 1  # rose with complainants and reach

    async def test_two_similar_posts_in_one_batch_cluster(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        a, b = await _route(db, settings, make_post("b1", POTHOLE), make_post("b2", REWORDED), now=t0)
        assert a is not None and b is not None and a.id == b.id
        async with db.transaction() as session:
            assert len((await session.exec(select(Incident))).all()) == 1
            subjects = [m.subject for m in (await session.exec(select(OutboxMessage))).all()]
        assert subjects == [
            "incidents.v1.incident.created.64",
            "incidents.v1.incident.assigned.64",
            "incidents.v1.incident.post_attached.64",
        ]

    async def test_different_house_numbers_are_different_problems(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        a, b = await _route(
            db,
            settings,
            make_post("h1", "ул. Чернышевского, д. 12: огромная яма у подъезда, машины бьют колёса"),
            make_post("h2", "ул. Чернышевского, д. 40: огромная яма у подъезда, машины бьют колёса"),
            now=t0,
        )
        assert a is not None and b is not None and a.id != b.id

    async def test_other_category_region_or_time_opens_new(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (first,) = await _route(db, settings, make_post("t1", POTHOLE), now=t0)
        (other_category,) = await _route(db, settings, make_post("t2", POTHOLE, category="landscaping"), now=t0)
        (other_region,) = await _route(db, settings, make_post("t3", POTHOLE, region="63", city="Тольятти"), now=t0)
        later = t0 + timedelta(hours=settings.cluster_window_hours + 1)
        (too_late,) = await _route(db, settings, make_post("t4", REWORDED), now=later)
        ids = {first.id, other_category.id, other_region.id, too_late.id}  # type: ignore[union-attr]
        assert len(ids) == 4

    async def test_non_incident_and_regionless_posts_are_skipped_with_a_reason(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        results = await _route(
            db,
            settings,
            make_post("s1", "Спасибо за новый парк!", is_incident=False),
            make_post("s2", POTHOLE, region=None),
            make_post("s3", POTHOLE),
            make_post("s3", POTHOLE),  # a redelivered / edited version of the same post
            now=t0,
        )
        assert results[0] is None and results[1] is None and results[3] is None
        async with db.transaction() as session:
            reasons = {s.post_id: s.reason for s in (await session.exec(select(SkippedPost))).all()}
        assert reasons["s1"].startswith("not an incident")
        assert reasons["s2"].startswith("no region")
        assert reasons["s3"].startswith("already in incident")


class TestCitizenWritesAgain:
    async def test_post_about_an_answered_incident_reopens_it(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:

        (incident,) = await _route(db, settings, make_post("w1", POTHOLE), now=t0)
        assert incident is not None
        async with db.transaction() as session:
            await perform_action(
                session,
                incident_id=incident.id,
                actor="roads-a",
                request=ActionRequest(action=IncidentAction.reply, reply_text="Яму заделали"),
                settings=settings,
                now=t0 + timedelta(hours=1),
            )
        (again,) = await _route(db, settings, make_post("w2", REWORDED), now=t0 + timedelta(hours=5))
        assert again is not None and again.id == incident.id
        assert again.status == "reopened" and again.first_response_due is not None
        async with db.transaction() as session:
            subjects = [m.subject for m in (await session.exec(select(OutboxMessage))).all()]
        assert subjects[-2:] == [
            "incidents.v1.incident.status_changed.64",
            "incidents.v1.incident.post_attached.64",
        ]


# One pothole told three ways, the street without «улица» in two of them (the QA's posts).
PIT_120 = [
    "В Саратове на Чернышевского возле дома 120 огромная яма посреди дороги, уже неделю объезжаем",
    "Саратов, ул. Чернышевского 120 — яма на проезжей части уже месяц, когда заделают?",
    "саратовцы кто ездит по Чернышевского у 120 дома — осторожно там ямища, колесо пробила",
]
BINS_52 = [
    "Тольятти, ул. Революционная 52 — неделю не вывозят мусор, контейнеры переполнены",
    "на улице Революционной, дом 52 — мусор не забирают уже дней шесть",
    "Революционная 52 ... мусорку не вывозят?? вонь на весь двор",
]


class TestAddressesPeopleWrite:
    def test_a_street_without_its_word_is_an_address_with_its_house(self) -> None:
        for text in PIT_120:
            address = fingerprint(text, "Саратов").address
            assert address is not None and address.key() == "чернышевский 120", text
        assert fingerprint("Революционная, 52: мусор", "Тольятти").address == fingerprint(BINS_52[0]).address

    def test_a_word_after_the_number_is_not_the_buildings_letter(self) -> None:
        for text in (
            "На Революционной 52 в Тольятти помойка переполнена",
            "ул. Революционная, 52 с утра мусор не вывезли",
            "Революционная 52 и рядом всё в мусоре",
        ):
            address = fingerprint(text, "Тольятти").address
            assert address is not None and address.key() == "революционный 52", text
        assert fingerprint("ул. Ленина, д. 5-б", "Саратов").address == fingerprint("Ленина 5б течёт").address

    def test_amounts_times_towns_and_institutions_are_not_addresses(self) -> None:
        for text in (
            "Саратов 5 раз звонили в УК, никто не пришёл",
            "Ждём автобус 40 минут на остановке",
            "Школа 5 без отопления третий день",
            "Уже 3 дня нет воды",
            "Маршрут 12 не ходит с утра",
        ):
            assert fingerprint(text, "Саратов").address is None, text

    def test_the_address_is_kept_as_written_for_the_reasons(self) -> None:
        assert fingerprint(BINS_52[0], "Тольятти").written_address == "ул. Революционная 52"
        assert fingerprint(PIT_120[0], "Саратов").written_address is not None
        assert fingerprint("Саратов, возле дома 12 огромная яма", "Саратов").written_address == "дома 12"
        assert fingerprint("на улице Мира яма, у дома 7 особенно", "Саратов").written_address == "улице Мира, дома 7"

    def test_a_house_named_alone_is_kept_and_conflicts_with_another_house(self) -> None:
        alone = fingerprint("Саратов, возле дома 12 огромная яма", "Саратов").address
        assert alone is not None and alone.street is None and alone.house == "12"
        assert Address.parse(alone.key()) == alone
        assert addresses_conflict(alone, fingerprint(PIT_120[0], "Саратов").address)

    def test_the_town_and_its_people_are_not_words_of_the_problem(self) -> None:
        terms = fingerprint("саратовцы, в Саратове на Садовой яма, саратовские дороги", "Саратов").terms
        assert not {t for t in terms if t.startswith("саратов")}
        assert "яма" in terms


class TestSamePlace:
    async def test_one_pothole_told_three_ways_is_one_incident(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        routed = await _route(db, settings, *(make_post(f"pit{i}", t) for i, t in enumerate(PIT_120)), now=t0)
        assert len({r.id for r in routed if r is not None}) == 1

    async def test_one_address_and_one_shared_word_join_with_the_reason(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        posts = [make_post(f"bin{i}", t, category="waste", city="Тольятти", region="63") for i, t in enumerate(BINS_52)]
        routed = await _route(db, settings, *posts, now=t0)
        assert len({r.id for r in routed if r is not None}) == 1
        async with db.transaction() as session:
            comments = [c for c in (await session.exec(select(IncidentHistory.comment))).all() if c]
        # the address as the joining post wrote it, not the lemma key («революционный 52»)
        assert any("тот же адрес («улице Революционной, дом 52») и общие слова: мусор" in c for c in comments), comments

    async def test_other_problems_or_other_houses_of_one_street_stay_apart(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        pit, lights, snow, other_pit = await _route(
            db,
            settings,
            make_post("s1", PIT_120[0]),
            make_post("s2", "Саратов, Чернышевского у дома 120 не горят фонари, темно на дороге"),
            make_post("s3", "Саратов, Чернышевского 45: снег с тротуара не убран, не пройти"),
            make_post("s4", "Саратов, возле дома 12 огромная яма посреди дороги, объезжаем"),
            now=t0,
        )
        ids = [r.id for r in (pit, lights, snow, other_pit) if r is not None]
        assert len(ids) == 4 and len(set(ids)) == 4


class TestNumberedPlaces:
    async def test_two_clinics_by_number_stay_apart_and_one_clinic_joins(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        clinic = "В поликлинике №{n} нет записи к терапевту уже месяц, регистратура не отвечает"
        two, nine, two_again = await _route(
            db,
            settings,
            make_post("c2", clinic.format(n=2), category="healthcare"),
            make_post("c9", clinic.format(n=9), category="healthcare"),
            make_post(
                "c2b", "Поликлиника № 2: записи к терапевту нет месяц, регистратура молчит", category="healthcare"
            ),
            now=t0,
        )
        assert two is not None and nine is not None and two_again is not None
        assert two.id != nine.id and two_again.id == two.id

    def test_the_number_is_a_term_only_after_what_it_numbers(self) -> None:
        assert {"№12", "№5"} <= fingerprint("Автобус 12 не пришёл, маршрут 5 тоже").terms
        assert not {t for t in fingerprint("Ждём 40 минут, школа закрыта 3 дня").terms if t.startswith("№")}


class TestTowns:
    async def test_the_same_complaint_in_two_towns_is_two_incidents(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        """The QA case: «Балаково: во дворе … не вывозят мусор» joined an Энгельс incident (similarity
        0.36 in one region and category). A town's problem is never another town's."""
        text = "во дворе дома на Комсомольской не вывозят мусор две недели, контейнеры переполнены"
        waste = {"category": "waste", "region": "64"}
        engels, balakovo, engels_again = await _route(
            db,
            settings,
            make_post("e1", "Энгельс: " + text, city="Энгельс", **waste),
            make_post("b1", "Балаково: " + text, city="Балаково", **waste),
            make_post("e2", "Энгельс, " + text + "!!!", city="энгельс", **waste),
            now=t0,
        )
        assert engels is not None and balakovo is not None and engels_again is not None
        assert balakovo.id != engels.id and balakovo.city == "Балаково"
        assert engels_again.id == engels.id  # the same town, written in lower case

    async def test_a_later_batch_does_not_join_another_towns_stored_incident(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        text = "на Советской огромная яма посреди дороги, колёса пробиваем каждый день"
        (saratov,) = await _route(db, settings, make_post("s1", text, city="Саратов"), now=t0)
        (engels,) = await _route(db, settings, make_post("e1", text, city="Энгельс"), now=t0)
        (unknown,) = await _route(db, settings, make_post("u1", text, city=None), now=t0)
        assert saratov is not None and engels is not None and engels.id != saratov.id
        assert unknown is not None and unknown.id in {saratov.id, engels.id}  # no town: similarity decides

    async def test_a_repost_joins_what_it_reposts_wherever_it_is(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (first,) = await _route(db, settings, make_post("p1", POTHOLE, city="Саратов"), now=t0)
        (repost,) = await _route(
            db, settings, make_post("p2", "Репост: " + POTHOLE, city="Энгельс", repost_of="p1"), now=t0
        )
        assert first is not None and repost is not None and repost.id == first.id
