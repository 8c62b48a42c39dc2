"""The pure decisions of a batch, without a database: placement, new incidents, joins, reopening, assignment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from incidents_common.events import (
    IncidentAssigned,
    IncidentCreated,
    IncidentPostAttached,
    IncidentStatus,
    IncidentStatusChanged,
    PostClassified,
)
from routing.config import Settings
from routing.deadlines.calendar import WorkCalendar
from routing.deadlines.models import Clock, SlaPolicy
from routing.directory.models import Department, Official, Role
from routing.incidents.clustering import Address, Candidate, fingerprint
from routing.incidents.decisions import ATTACH_COLUMNS, REOPEN_COLUMNS, BatchDecision, decide_batch
from routing.incidents.models import Incident
from routing.incidents.placement import Join, Open, RoutingContext, Skip, incidents_to_load, place_posts
from routing.incidents.posts import severity, title_of
from routing.incidents.snapshots import RECORD_COLUMNS, IncidentRecord
from routing.rules.engine import RegionDirectory, Workload, choose_assignee
from routing.rules.models import Rule

POTHOLE = "На улице Чернышевского огромная яма на дороге, машины бьют колёса"
REWORDED = "Когда заделают яму на Чернышевского? Каждый день бью колёса об эту яму на дороге"
LIGHTS = "На ул. Чернышевского, д. 12 третий день не горят фонари, вечером темно на дороге"


def _directory() -> RegionDirectory:
    departments = {
        "64-roads": Department(id="64-roads", region_code="64", name="министерство дорог"),
        "64-gov": Department(id="64-gov", region_code="64", name="аппарат губернатора"),
    }
    officials = [
        Official(id="roads-a", region_code="64", department_id="64-roads", name="Иванов", categories=["roads"]),
        Official(id="roads-b", region_code="64", department_id="64-roads", name="Петров", categories=["roads"]),
        Official(
            id="curator",
            region_code="64",
            department_id="64-gov",
            name="Куратор",
            role=Role.curator,
            timezone="Asia/Vladivostok",
        ),
    ]
    rules = [Rule(id=7, priority=10, region_code="64", category="roads", department_id="64-roads")]
    return RegionDirectory("64", departments, officials, rules)


def _context(*candidates: Candidate, open_incidents: dict[str, int] | None = None) -> RoutingContext:
    directory = _directory()
    by_key: dict[tuple[str, str], list[Candidate]] = {}
    for candidate in candidates:
        by_key.setdefault((candidate.incident.region_code, candidate.incident.category), []).append(candidate)
    return RoutingContext(
        candidates=by_key,
        routed={post_id: c.incident_id for c in candidates for post_id in c.post_ids},
        directories={"64": directory, "25": RegionDirectory("25", {}, [], [])},
        workload=Workload.of(directory.officials, open_incidents or {}),
        policies=[SlaPolicy(id=1, first_reaction_hours=8, interim_days=7, final_days=10)],
    )


def _context_for(candidate: Candidate) -> RoutingContext:
    """A context whose only candidate has no record yet (as the first pass sees a stored incident)."""
    context = _context()
    context.candidates[("64", "roads")] = [candidate]
    return context


def _stored(t0: datetime, *, status: str = "assigned", text: str = POTHOLE, assignee: str = "roads-a") -> Candidate:
    """An open incident as incidents.loading hands it over after the first pass: candidate + record."""
    fp = fingerprint(text)
    record = IncidentRecord(
        id="stored-1",
        region_code="64",
        region_name="Саратовская область",
        category="roads",
        title="Яма",
        summary=text,
        origin_post_id="old",
        created_at=t0 - timedelta(days=1),
        updated_at=t0 - timedelta(days=1),
        last_post_at=t0 - timedelta(days=1),
        status=status,
        post_ids=["old"],
        author_keys=["vk:someone"],
        assignee_id=assignee,
        assignee_name="Иванов",
        history_seq=4,
    )
    return Candidate(record.id, fp.address, [fp.terms], {"ext-old"}, {"old"}, incident=record)


def _decide(
    posts: list[PostClassified], context: RoutingContext, settings: Settings, now: datetime
) -> tuple[list[Any], BatchDecision]:
    placements = place_posts(posts, context, settings=settings)
    return placements, decide_batch(posts, placements, context, settings=settings, now=now)


class TestPlacement:
    def test_two_similar_posts_of_one_batch_make_one_incident(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        posts = [make_post("a", POTHOLE), make_post("b", REWORDED), make_post("c", LIGHTS)]
        placements = place_posts(posts, _context(), settings=settings)
        first, repeat, other = placements
        assert isinstance(first, Open) and isinstance(repeat, Join) and isinstance(other, Open)
        assert repeat.candidate is first.candidate and other.candidate is not first.candidate
        assert incidents_to_load(placements) == []  # joined an incident the batch opens: nothing to load

    def test_skips_say_why(self, settings: Settings, make_post: Any, t0: datetime) -> None:
        stored = _stored(t0)
        posts = [
            make_post("n", POTHOLE, is_incident=False),
            make_post("r", POTHOLE, region=None),
            make_post("u", POTHOLE, region="99"),
            make_post("old", POTHOLE),  # already in the stored incident
            make_post("x", POTHOLE),
            make_post("x", POTHOLE),  # the same post twice in one batch
        ]
        placements = place_posts(posts, _context(stored), settings=settings)
        reasons = [p.reason if isinstance(p, Skip) else type(p).__name__ for p in placements]
        assert reasons[0].startswith("not an incident (not_incident, confidence 0.90)")
        assert reasons[1] == "no region: neither the classifier nor the source placed it"
        assert reasons[2] == "unknown region code '99'"
        assert reasons[3] == "already in incident stored-1 (version 1 ignored)"
        assert reasons[4] == "Join"
        assert reasons[5] == "already in incident stored-1 (version 1 ignored)"

    def test_a_repost_joins_whatever_its_words(self, settings: Settings, make_post: Any, t0: datetime) -> None:
        stored = _stored(t0)
        (placement,) = place_posts(
            [make_post("rp", "Согласен!!!", repost_of="old")], _context(stored), settings=settings
        )
        assert isinstance(placement, Join) and placement.candidate is stored
        assert placement.why == "репост сообщения этого инцидента"

    def test_only_stored_incidents_that_are_joined_are_loaded(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        stored = _stored(t0)
        stored.incident = None  # as the first pass sees it
        placements = place_posts(
            [make_post("p", REWORDED), make_post("q", LIGHTS)], _context_for(stored), settings=settings
        )
        assert incidents_to_load(placements) == ["stored-1"]


class TestNewIncident:
    def test_created_then_assigned_by_the_rule_with_clocks_history_and_events(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        context = _context()
        _, decision = _decide([make_post("p1", POTHOLE, views=5000)], context, settings, t0)
        (incident,) = decision.incidents
        effects = decision.effects
        assert incident is not None and list(effects.created) == [incident.id]
        assert incident.status == "assigned" and incident.assignee_id == "roads-a"  # round robin: a before b
        assert incident.rule_id == "7" and incident.severity == 2  # normal, reach 5000
        assert incident.assignment_explanation == (
            "Правило 7: Саратовская область, категория «Дороги» → министерство дорог; "
            "наименее загружен: Иванов, открытых инцидентов: 0"
        )
        saratov = WorkCalendar("Europe/Saratov", extra_working_days=settings.extra_working_days)
        assert [(c.clock, c.due_at) for c in effects.clocks] == [
            (Clock.first_reaction, saratov.add(t0, 8 * 3600)),
            (Clock.final, saratov.add_days(t0, 10)),
        ]
        assert incident.first_response_due == saratov.add(t0, 8 * 3600)
        assert [(h["seq"], h["action"], h["from_status"], h["to_status"]) for h in effects.history] == [
            (1, "created", None, "new"),
            (2, "assigned", "new", "assigned"),
        ]
        created, assigned = (o.event for o in effects.events)
        assert isinstance(created, IncidentCreated) and isinstance(assigned, IncidentAssigned)
        # Each event carries the snapshot of its moment: created before the assignment, assigned after.
        assert created.incident.status == IncidentStatus.new and created.incident.assignee is None
        assert created.incident.first_response_due is None
        assert assigned.incident.status == IncidentStatus.assigned and assigned.incident.first_response_due
        assert assigned.explanation == incident.assignment_explanation and assigned.rule_id == "7"
        assert {o.origin_post_id for o in effects.events} == {"p1"}
        assert effects.counts == [("incidents_created", {"region": "64"}), ("incidents_assigned", {"region": "64"})]
        assert effects.posts[0]["incident_id"] == incident.id and effects.posts[0]["similarity"] == 1.0
        assert context.workload.changed == {"roads-a"} and context.workload.assignments["roads-a"] == 1

    def test_equal_load_alternates_within_a_batch(self, settings: Settings, make_post: Any, t0: datetime) -> None:
        texts = ["Яма на Московской", "Нет разметки на Радищева", "Сломан светофор на Вольской", "Провал на Рахова"]
        _, decision = _decide([make_post(f"r{n}", text) for n, text in enumerate(texts)], _context(), settings, t0)
        assignees = [i.assignee_id for i in decision.incidents if i is not None]
        assert assignees == ["roads-a", "roads-b", "roads-a", "roads-b"]

    def test_the_less_loaded_official_wins(self, settings: Settings, make_post: Any, t0: datetime) -> None:
        _, decision = _decide([make_post("l", POTHOLE)], _context(open_incidents={"roads-a": 3}), settings, t0)
        (incident,) = decision.incidents
        assert incident is not None and incident.assignee_id == "roads-b"
        assert "наименее загружен: Петров, открытых инцидентов: 0" in (incident.assignment_explanation or "")

    def test_no_rule_goes_to_the_curator_on_the_curators_clock(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        _, decision = _decide([make_post("c", "Непонятная жалоба", category="other")], _context(), settings, t0)
        (incident,) = decision.incidents
        assert incident is not None and incident.assignee_id == "curator"
        assert incident.assignment_explanation == (
            "Ни одно правило не подошло: регион 64 (Саратовская область), категория «Другое» → куратор региона: Куратор"
        )
        vladivostok = WorkCalendar("Asia/Vladivostok", extra_working_days=settings.extra_working_days)
        assert incident.first_response_due == vladivostok.add(t0, 8 * 3600)

    def test_region_without_directory_goes_to_the_federal_queue(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        _, decision = _decide([make_post("f", "Яма", region="25", city="Владивосток")], _context(), settings, t0)
        (incident,) = decision.incidents
        assert incident is not None and incident.federal_fallback and incident.assignee_id == "federal-queue"
        assert incident.first_response_due is not None


class TestJoin:
    def test_a_join_updates_crowd_reach_and_severity_and_changes_only_its_columns(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        stored = _stored(t0)
        posts = [make_post("j1", REWORDED, followers=20_000), make_post("j2", REWORDED, author="a-j1")]
        placements, decision = _decide(posts, _context(stored), settings, t0)
        assert [type(p) for p in placements] == [Join, Join]
        incident = stored.incident
        assert decision.incidents == [incident, incident]
        assert incident.post_ids == ["old", "j1", "j2"] and incident.complainants == 2  # j2 has j1's author
        assert incident.total_reach == 20_000 + 100 and incident.severity == 3
        assert incident.last_post_at == t0 and incident.history_seq == 6
        effects = decision.effects
        assert effects.created == {} and set(effects.changed) == {"stored-1"}
        assert effects.changed["stored-1"][1] == set(ATTACH_COLUMNS)
        assert [p["ordinal"] for p in effects.posts] == [1, 2]
        assert [type(o.event) for o in effects.events] == [IncidentPostAttached, IncidentPostAttached]
        assert effects.events[0].event.incident.post_ids == ["old", "j1"]  # the snapshot of that moment
        assert effects.events[0].origin_post_id == "old"
        assert effects.clocks == [] and effects.counts == []
        comment = effects.history[0]["comment"]
        assert effects.history[0]["action"] == "post_attached"
        assert comment.startswith("Сообщение j1 присоединено: похожий текст (сходство ")
        assert comment.endswith("; тот же регион (Саратовская область) и категория «Дороги»")
        assert effects.events[0].event.explanation == comment

    def test_a_post_about_an_answered_incident_reopens_it_with_fresh_clocks(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        stored = _stored(t0, status="answered")
        _, decision = _decide([make_post("w", REWORDED)], _context(stored), settings, t0)
        incident, effects = stored.incident, decision.effects
        assert incident.status == IncidentStatus.reopened
        assert [h["action"] for h in effects.history] == ["post_attached", "reopened"]
        assert effects.history[1]["comment"] == "Гражданин написал повторно после ответа (сообщение w)"
        changed, attached = (o.event for o in effects.events)
        assert isinstance(changed, IncidentStatusChanged) and isinstance(attached, IncidentPostAttached)
        assert (changed.from_status, changed.to_status) == (IncidentStatus.answered, IncidentStatus.reopened)
        assert changed.incident.first_response_due is None  # the clocks start after the status change
        saratov = WorkCalendar("Europe/Saratov", extra_working_days=settings.extra_working_days)
        assert attached.incident.first_response_due == saratov.add(t0, 8 * 3600)
        assert effects.changed["stored-1"][1] == set(ATTACH_COLUMNS) | set(REOPEN_COLUMNS)

    def test_an_incident_closed_since_it_was_read_is_not_joined(
        self, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        stored = _stored(t0, status="closed")
        placements, decision = _decide([make_post("z", REWORDED)], _context(stored), settings, t0)
        assert isinstance(placements[0], Join)
        (incident,) = decision.incidents
        assert incident is not None and incident.id != "stored-1" and incident.post_ids == ["z"]
        assert decision.effects.changed == {}


class TestFacts:
    @pytest.mark.parametrize(
        ("urgency", "complainants", "reach", "expected"),
        [
            ("normal", 1, 0, 1),
            ("normal", 2, 0, 1),
            ("normal", 3, 0, 2),
            ("normal", 10, 0, 3),
            ("normal", 1, 1_000, 2),
            ("high", 1, 10_000, 4),
            ("high", 1, 100_000, 5),
            ("critical", 100, 10**7, 5),
        ],
    )
    def test_severity(self, urgency: str, complainants: int, reach: int, expected: int) -> None:
        assert severity(urgency, complainants, reach) == expected

    def test_title_joins_sentences_until_it_says_something(self) -> None:
        assert title_of("Казань, ул. Баумана. Огромная яма у дома 5, машины бьют колёса") == (
            "Казань, ул. Баумана. Огромная яма у дома 5, машины бьют колёса"
        )
        assert len(title_of("слово " * 100)) == 118

    def test_the_record_mirrors_the_incident_table(self) -> None:
        assert set(RECORD_COLUMNS) == {c.name for c in Incident.__table__.columns}  # type: ignore[attr-defined]

    def test_address_parse_round_trips(self) -> None:
        assert Address.parse("киров 5а") == Address("киров", "5а") and Address.parse(None) is None


class TestEngine:
    def test_at_capacity_officials_are_passed_over_and_said_so_when_all_are(self) -> None:
        directory = _directory()
        for official in directory.officials:
            official.capacity = 1
        workload = Workload.of(directory.officials, {"roads-a": 1})
        chosen = choose_assignee(directory, workload, category="roads", city=None, urgency="normal")
        assert chosen.official is not None and chosen.official.id == "roads-b"
        again = choose_assignee(directory, workload, category="roads", city=None, urgency="normal")
        assert again.explanation.endswith("(все исполнители загружены до предела)")

    def test_curator_on_leave_passes_to_the_next_level(self) -> None:
        directory = _directory()
        directory.officials.append(
            Official(id="deputy", region_code="64", department_id="64-gov", name="Зам", role=Role.deputy_governor)
        )
        directory = RegionDirectory("64", directory.departments, directory.officials, [])
        directory.by_id["curator"].on_leave = True
        chosen = choose_assignee(directory, Workload(), category="other", city=None, urgency="normal")
        assert chosen.official is not None and chosen.official.id == "deputy"
        assert chosen.explanation.endswith("→ заместитель губернатора: Зам")
