"""Rules CRUD, and loading what the assignment engine (rules.engine) needs: directories and workload."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from routing.directory.models import Department, Official
from routing.directory.service import assignment_totals_of, get_department, open_counts
from routing.errors import UnknownRule
from routing.rules import engine
from routing.rules.engine import Assignment, RegionDirectory, Workload
from routing.rules.models import Rule
from routing.rules.schemas import RuleCreate, RuleUpdate

# -- CRUD ------------------------------------------------------------------------------------


async def list_rules(
    session: AsyncSession, *, region: str | None = None, regions: frozenset[str] | None = None
) -> list[Rule]:
    """In the order they are tried. With `regions` (a user's) only rules of those regions."""
    if region and regions is not None and region not in regions:
        return []
    query = select(Rule).order_by(col(Rule.priority), col(Rule.id))
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


# -- what assignment needs, loaded explicitly (rules.engine decides) -------------------------


async def load_directories(session: AsyncSession, region_codes: Iterable[str]) -> dict[str, RegionDirectory]:
    """The directories of `region_codes`, in three queries whatever their number."""
    regions = sorted(set(region_codes))
    if not regions:
        return {}
    departments = (await session.exec(select(Department).where(col(Department.region_code).in_(regions)))).all()
    officials = (await session.exec(select(Official).where(col(Official.region_code).in_(regions)))).all()
    rules = (
        await session.exec(
            select(Rule)
            .where(Rule.active == True, or_(col(Rule.region_code).in_(regions), Rule.region_code == None))  # noqa: E711,E712
            .order_by(col(Rule.priority), col(Rule.id))
        )
    ).all()
    # Grouped in one pass each: a batch names dozens of regions, and a scan of every row per region
    # (through the ORM's attribute access) was a tenth of routing's batch handling.
    departments_of: dict[str, dict[str, Department]] = {region: {} for region in regions}
    for department in departments:
        departments_of[department.region_code][department.id] = department
    officials_of: dict[str, list[Official]] = {region: [] for region in regions}
    for official in officials:
        officials_of[official.region_code].append(official)
    rules_of: dict[str | None, list[Rule]] = {region: [] for region in [None, *regions]}
    for rule in rules:
        rules_of[rule.region_code].append(rule)
    common = rules_of[None]
    return {
        region: RegionDirectory(
            region,
            departments_of[region],
            officials_of[region],
            # Ordered by (priority, id) across the common and the region's own rules, as queried.
            list(heapq.merge(common, rules_of[region], key=lambda rule: (rule.priority, rule.id))),
        )
        for region in regions
    }


async def load_workload(session: AsyncSession, officials: Iterable[Official]) -> Workload:
    """The open incidents of `officials` and their round-robin counters (a query each)."""
    officials = list(officials)  # read twice below
    ids = [o.id for o in officials]
    return Workload.of(officials, await open_counts(session, ids), await assignment_totals_of(session, ids))


async def choose_assignee(
    session: AsyncSession,
    *,
    region_code: str,
    category: str,
    city: str | None,
    urgency: str,
    department_id: str | None = None,
) -> Assignment:
    """Who would get an incident now (the dry run of /v1/rules/preview/assignment): nothing is saved."""
    directory = (await load_directories(session, [region_code]))[region_code]
    workload = await load_workload(session, directory.officials)
    return engine.choose_assignee(
        directory, workload, category=category, city=city, urgency=urgency, department_id=department_id
    )


def assignment_totals(workload: Workload) -> list[dict[str, object]]:
    """Rows updating the round-robin counters the workload moved, in id order (a stable lock order)."""
    return [{"id": i, "assignments_total": workload.assignments[i]} for i in sorted(workload.changed)]
