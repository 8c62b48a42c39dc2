"""The assignment engine, pure: rule → department → least-loaded official on duty → curator.

Nothing here reads or writes the database. The directory of a region and the officials' workload are
loaded by the caller (rules.service.load_directories / load_workload, once per consumer batch or per
request) and passed in; choosing an official counts the assignment in the `Workload`, so the next
choice of the same batch sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from incidents_common.events import Assignee
from incidents_common.regions import REGIONS
from routing.directory.models import ESCALATION_CHAIN, Department, Official, Role
from routing.rules.models import Rule
from routing.wording import category_name, quoted, role_name, urgency_name

FEDERAL_QUEUE = Assignee(
    official_id="federal-queue",
    name="Федеральная очередь распределения",
    position="очередь ЦУР для регионов без справочника",
    department_id=None,
    department_name="Федеральный центр управления регионами",
)


@dataclass
class RegionDirectory:
    """One region's departments, officials (active or not) and the active rules that apply to it, in order."""

    region_code: str
    departments: dict[str, Department]
    officials: list[Official]
    rules: list[Rule]
    by_id: dict[str, Official] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {o.id: o for o in self.officials}

    @property
    def has_directory(self) -> bool:
        return any(o.on_duty for o in self.officials)

    def chain(self) -> dict[Role, Official]:
        """The escalation chain by role: the active officials, those on duty first."""
        chain: dict[Role, Official] = {}
        for official in sorted(self.officials, key=lambda o: (not o.on_duty, o.id)):
            if official.role != Role.official and official.active:
                chain.setdefault(Role(official.role), official)
        return chain

    def official(self, official_id: str | None) -> Official | None:
        return self.by_id.get(official_id) if official_id else None


@dataclass
class Workload:
    """Open incidents and assignments so far per official, as loaded, then counted along as a batch assigns."""

    open_incidents: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, int] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls, officials: Iterable[Official], open_incidents: dict[str, int], assignments: dict[str, int] | None = None
    ) -> Workload:
        """`assignments`: the round-robin counters as committed (default: as the officials were loaded)."""
        officials = list(officials)
        totals = assignments or {}
        return cls(
            open_incidents={o.id: open_incidents.get(o.id, 0) for o in officials},
            assignments={o.id: totals.get(o.id, o.assignments_total) for o in officials},
        )

    def load(self, official: Official) -> int:
        return self.open_incidents.get(official.id, 0)

    def assigned_so_far(self, official: Official) -> int:
        return self.assignments.get(official.id, official.assignments_total)

    def note(self, official: Official) -> None:
        """One more incident for `official`: its load and its round-robin counter (written at the end)."""
        self.open_incidents[official.id] = self.load(official) + 1
        self.assignments[official.id] = self.assigned_so_far(official) + 1
        self.changed.add(official.id)


@dataclass
class Assignment:
    assignee: Assignee
    official: Official | None
    explanation: str
    rule_id: int | None = None
    federal_fallback: bool = False
    notes: list[str] = field(default_factory=list)


def assignee_of(official: Official, department: Department | None) -> Assignee:
    return Assignee(
        official_id=official.id,
        name=official.name,
        position=official.position,
        department_id=department.id if department else official.department_id,
        department_name=department.name if department else None,
    )


def covers(official: Official, category: str, city: str | None) -> bool:
    if official.categories and category not in official.categories:
        return False
    if official.municipalities and city:
        return city.casefold() in {m.casefold() for m in official.municipalities}
    return True


def conditions(rule: Rule) -> str:
    """What a rule asks of an incident, as a person reads it: «Саратовская область, категория «Дороги»»."""
    parts = []
    if rule.region_code:
        region = REGIONS.get(rule.region_code)
        parts.append(region.name if region is not None else f"регион {rule.region_code}")
    if rule.category:
        parts.append(f"категория {quoted(category_name(rule.category))}")
    if rule.municipality:
        parts.append(f"населённый пункт {rule.municipality}")
    if rule.urgency:
        parts.append(f"срочность {quoted(urgency_name(rule.urgency))}")
    return ", ".join(parts) or "любой инцидент"


def region_label(region_code: str) -> str:
    """«64 (Саратовская область)»."""
    region = REGIONS.get(region_code)
    return f"{region_code} ({region.name})" if region is not None else region_code


def load_note(official: Official, load: int) -> str:
    """«наименее загружен: Иванов И. И., открытых инцидентов: 3»."""
    return f"наименее загружен: {official.name}, открытых инцидентов: {load}"


def matches(rule: Rule, category: str, city: str | None, urgency: str) -> bool:
    if rule.category and rule.category != category:
        return False
    if rule.urgency and rule.urgency != urgency:
        return False
    return not (rule.municipality and (city or "").casefold() != rule.municipality.casefold())


def least_loaded(workload: Workload, candidates: list[Official]) -> tuple[Official, int, bool]:
    """Fewest open incidents among those under capacity; ties go round-robin (fewest assignments so far).

    Returns the official, its load before this assignment, and whether every candidate was full."""
    under = [o for o in candidates if workload.load(o) < o.capacity]
    pool = under or candidates
    chosen = min(pool, key=lambda o: (workload.load(o), workload.assigned_so_far(o), o.id))
    load = workload.load(chosen)
    workload.note(chosen)
    return chosen, load, not under


def choose_assignee(
    directory: RegionDirectory,
    workload: Workload,
    *,
    category: str,
    city: str | None,
    urgency: str,
    department_id: str | None = None,
) -> Assignment:
    """Who gets an incident, and why. `department_id` forces a department (a redirect's target)."""
    region_code = directory.region_code
    if not directory.has_directory:
        return Assignment(
            assignee=FEDERAL_QUEUE,
            official=None,
            explanation=(
                f"В справочнике региона {region_label(region_code)} нет исполнителей на дежурстве: "
                "инцидент передан в федеральную очередь для ручного распределения"
            ),
            federal_fallback=True,
        )
    notes: list[str] = []
    targets: list[tuple[Rule | None, str]]
    if department_id is not None:
        targets = [(None, department_id)]
    else:
        targets = [(r, r.department_id) for r in directory.rules if matches(r, category, city, urgency)]
    for rule, target in targets:
        label = f"правило {rule.id}" if rule is not None else "перенаправление"
        department = directory.departments.get(target)
        if department is None or not department.active or department.region_code != region_code:
            notes.append(f"{label}: подразделение {target} не действует в регионе {region_code}")
            continue
        candidates = [
            o
            for o in directory.officials
            if o.department_id == department.id and o.on_duty and o.role == Role.official and covers(o, category, city)
        ]
        if not candidates and rule is None:  # a redirect accepts any official on duty in the department
            candidates = [o for o in directory.officials if o.department_id == department.id and o.on_duty]
        if not candidates:
            notes.append(
                f"{label} → {department.name}: нет дежурного исполнителя по категории {quoted(category_name(category))}"
            )
            continue
        official, load, full = least_loaded(workload, candidates)
        head = f"Правило {rule.id}: {conditions(rule)}" if rule is not None else "Перенаправление"
        explanation = f"{head} → {department.name}; {load_note(official, load)}"
        if full:
            explanation += " (все исполнители загружены до предела)"
        if notes:
            explanation += " [пропущено: " + "; ".join(notes) + "]"
        return Assignment(
            assignee_of(official, department), official, explanation, rule.id if rule else None, notes=notes
        )
    return to_curator(directory, workload, category=category, notes=notes)


def to_curator(
    directory: RegionDirectory, workload: Workload, *, category: str, notes: list[str], why: str | None = None
) -> Assignment:
    """The region's curator (or the next level of the chain on duty), else the least-loaded official."""
    # Rules that matched but found nobody on duty are not "no rule": say which it was.
    head = "Подходящие правила не дали исполнителя" if notes else "Ни одно правило не подошло"
    reason = why or (
        f"{head}: регион {region_label(directory.region_code)}, категория {quoted(category_name(category))}"
    )
    if notes:
        reason += " [" + "; ".join(notes) + "]"
    chain = directory.chain()
    for role in ESCALATION_CHAIN:
        official = chain.get(role)
        if official is not None and official.on_duty:
            department = directory.departments.get(official.department_id or "")
            workload.note(official)
            return Assignment(
                assignee_of(official, department),
                official,
                f"{reason} → {role_name(role)}: {official.name}",
                notes=notes,
            )
    anyone = [o for o in directory.officials if o.on_duty]
    official, load, _ = least_loaded(workload, anyone)
    department = directory.departments.get(official.department_id or "")
    return Assignment(
        assignee_of(official, department),
        official,
        f"{reason}; в регионе нет дежурного куратора и вышестоящих лиц → {load_note(official, load)}",
        notes=notes,
    )
