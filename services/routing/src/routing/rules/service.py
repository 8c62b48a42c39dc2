"""Rules CRUD and the assignment engine: rule → department → least-loaded official on duty → curator."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import Assignee
from incidents_common.regions import REGIONS
from routing.directory.models import ESCALATION_CHAIN, Department, Official, Role
from routing.directory.service import get_department, open_counts
from routing.errors import UnknownRule
from routing.rules.models import Rule
from routing.rules.schemas import RuleCreate, RuleUpdate

FEDERAL_QUEUE = Assignee(
    official_id="federal-queue",
    name="Федеральная очередь распределения",
    position="очередь ЦУР для регионов без справочника",
    department_id=None,
    department_name="Федеральный центр управления регионами",
)


# -- CRUD ------------------------------------------------------------------------------------


async def list_rules(
    session: AsyncSession, *, region: str | None = None, regions: frozenset[str] | None = None
) -> list[Rule]:
    """In the order they are tried. With `regions` (a user's) only rules of those regions."""
    if region and regions is not None and region not in regions:
        return []
    query = select(Rule).order_by(Rule.priority, Rule.id)  # type: ignore[arg-type]
    if region:
        query = query.where(or_(Rule.region_code == region, Rule.region_code == None))  # noqa: E711
    if regions is not None:
        query = query.where(col(Rule.region_code).in_(sorted(regions)))
    return list((await session.exec(query)).all())


async def get_rule(session: AsyncSession, *, rule_id: int, regions: frozenset[str] | None = None) -> Rule:
    """By id, then by region: another region's rule (or a global one, for a user) is unknown."""
    rule = await session.get(Rule, rule_id)
    if rule is None or (regions is not None and rule.region_code not in regions):
        raise UnknownRule(f"no rule {rule_id}")
    return rule


async def _rule_department(
    session: AsyncSession, department_id: str, *, region_code: str | None, regions: frozenset[str] | None
) -> Department:
    """The rule's department: visible to the caller and in the rule's region (else unknown, 404)."""
    return await get_department(session, department_id=department_id, regions=regions, region_code=region_code)


async def create_rule(session: AsyncSession, *, data: RuleCreate, regions: frozenset[str] | None = None) -> Rule:
    department = await _rule_department(session, data.department_id, region_code=data.region_code, regions=regions)
    rule = Rule(**data.model_dump(mode="json"))
    if rule.region_code is None:
        rule.region_code = department.region_code  # a rule names a regional department: it is regional
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(
    session: AsyncSession, *, rule_id: int, data: RuleUpdate, regions: frozenset[str] | None = None
) -> Rule:
    rule = await get_rule(session, rule_id=rule_id, regions=regions)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "department_id" in changes:
        await _rule_department(session, changes["department_id"], region_code=rule.region_code, regions=regions)
    for key, value in changes.items():
        setattr(rule, key, value)
    session.add(rule)
    await session.flush()
    return rule


# -- assignment ------------------------------------------------------------------------------


@dataclass
class RegionDirectory:
    """One region's directory, loaded once per transaction (a consumer batch shares it)."""

    region_code: str
    departments: dict[str, Department]
    officials: list[Official]
    rules: list[Rule]

    @property
    def has_directory(self) -> bool:
        return any(o.on_duty for o in self.officials)

    def chain(self) -> dict[Role, Official]:
        chain: dict[Role, Official] = {}
        for official in sorted(self.officials, key=lambda o: (not o.on_duty, o.id)):
            if official.role != Role.official and official.active:
                chain.setdefault(Role(official.role), official)
        return chain


async def region_directory(session: AsyncSession, region_code: str) -> RegionDirectory:
    cache: dict[str, RegionDirectory] = session.info.setdefault("routing.directory", {})
    if region_code not in cache:
        departments = (await session.exec(select(Department).where(Department.region_code == region_code))).all()
        officials = (await session.exec(select(Official).where(Official.region_code == region_code))).all()
        rules = (
            await session.exec(
                select(Rule)
                .where(Rule.active == True, or_(Rule.region_code == region_code, Rule.region_code == None))  # noqa: E711,E712
                .order_by(Rule.priority, Rule.id)  # type: ignore[arg-type]
            )
        ).all()
        cache[region_code] = RegionDirectory(region_code, {d.id: d for d in departments}, list(officials), list(rules))
    return cache[region_code]


def forget_directory(session: AsyncSession) -> None:
    """Drop the per-transaction caches (after directory writes or reassignments in the same transaction)."""
    session.info.pop("routing.directory", None)
    session.info.pop("routing.loads", None)


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


def _conditions(rule: Rule) -> str:
    parts = [
        f"{label} {value}"
        for label, value in (
            ("region", rule.region_code),
            ("category", rule.category),
            ("municipality", rule.municipality),
            ("urgency", rule.urgency),
        )
        if value
    ]
    return ", ".join(parts) or "any incident"


async def least_loaded(session: AsyncSession, candidates: list[Official]) -> tuple[Official, int, bool]:
    """Fewest open incidents among those under capacity; ties go round-robin (fewest assignments so far)."""
    counts = await cached_loads(session, [o.id for o in candidates])
    under = [o for o in candidates if counts.get(o.id, 0) < o.capacity]
    pool = under or candidates
    chosen = min(pool, key=lambda o: (counts.get(o.id, 0), o.assignments_total, o.id))
    load = counts.get(chosen.id, 0)
    note_assignment(session, chosen)
    return chosen, load, not under


async def cached_loads(session: AsyncSession, official_ids: list[str]) -> dict[str, int]:
    """Open incidents per official, queried once per transaction and then counted along."""
    loads: dict[str, int] = session.info.setdefault("routing.loads", {})
    missing = [i for i in official_ids if i not in loads]
    if missing:
        fetched = await open_counts(session, missing)
        loads.update({i: fetched.get(i, 0) for i in missing})
    return {i: loads[i] for i in official_ids}


def note_assignment(session: AsyncSession, official: Official) -> None:
    official.assignments_total += 1
    session.add(official)
    loads: dict[str, int] = session.info.setdefault("routing.loads", {})
    if official.id in loads:
        loads[official.id] += 1


async def choose_assignee(
    session: AsyncSession,
    *,
    region_code: str,
    category: str,
    city: str | None,
    urgency: str,
    department_id: str | None = None,
) -> Assignment:
    """Who gets an incident, and why. `department_id` forces a department (a redirect's target)."""
    directory = await region_directory(session, region_code)
    region = REGIONS[region_code]
    if not directory.has_directory:
        return Assignment(
            assignee=FEDERAL_QUEUE,
            official=None,
            explanation=(
                f"region {region_code} ({region.name}) has no directory with an official on duty: "
                "federal fallback queue, to be routed by hand"
            ),
            federal_fallback=True,
        )
    notes: list[str] = []
    targets: list[tuple[Rule | None, str]]
    if department_id is not None:
        targets = [(None, department_id)]
    else:
        targets = [(r, r.department_id) for r in directory.rules if _matches(r, category, city, urgency)]
    for rule, target in targets:
        label = f"rule {rule.id}" if rule is not None else "redirect"
        department = directory.departments.get(target)
        if department is None or not department.active or department.region_code != region_code:
            notes.append(f"{label}: department {target} not active in region {region_code}")
            continue
        candidates = [
            o
            for o in directory.officials
            if o.department_id == department.id and o.on_duty and o.role == Role.official and covers(o, category, city)
        ]
        if not candidates and rule is None:  # a redirect accepts any official on duty in the department
            candidates = [o for o in directory.officials if o.department_id == department.id and o.on_duty]
        if not candidates:
            notes.append(f"{label} → {department.name}: nobody on duty covers {category}")
            continue
        official, load, full = await least_loaded(session, candidates)
        head = f"{label}: {_conditions(rule)}" if rule is not None else "redirect"
        explanation = f"{head} → {department.name}; least loaded: {official.name}, {load} open"
        if full:
            explanation += " (every candidate at capacity)"
        if notes:
            explanation += " [skipped: " + "; ".join(notes) + "]"
        return Assignment(
            assignee_of(official, department), official, explanation, rule.id if rule else None, notes=notes
        )
    return await to_curator(session, directory, category=category, notes=notes)


def _matches(rule: Rule, category: str, city: str | None, urgency: str) -> bool:
    if rule.category and rule.category != category:
        return False
    if rule.urgency and rule.urgency != urgency:
        return False
    return not (rule.municipality and (city or "").casefold() != rule.municipality.casefold())


async def to_curator(
    session: AsyncSession, directory: RegionDirectory, *, category: str, notes: list[str], why: str | None = None
) -> Assignment:
    """The region's curator (or the next level of the chain on duty), else the least-loaded official."""
    reason = why or f"no rule matched region {directory.region_code}, category {category}"
    if notes:
        reason += " [" + "; ".join(notes) + "]"
    chain = directory.chain()
    for role in ESCALATION_CHAIN:
        official = chain.get(role)
        if official is not None and official.on_duty:
            department = directory.departments.get(official.department_id or "")
            await cached_loads(session, [official.id])  # so the count carries on within the batch
            note_assignment(session, official)
            return Assignment(
                assignee_of(official, department),
                official,
                f"{reason} → region's {role.value.replace('_', ' ')} {official.name}",
                notes=notes,
            )
    anyone = [o for o in directory.officials if o.on_duty]
    official, load, _ = await least_loaded(session, anyone)
    department = directory.departments.get(official.department_id or "")
    return Assignment(
        assignee_of(official, department),
        official,
        f"{reason}; the region has no curator on duty → least loaded official {official.name}, {load} open",
        notes=notes,
    )
