"""Directory logic: departments and officials (create, read, update, deactivate) and the bulk import of a
whole directory (departments, officials, rules, SLA policies) parsed by directory.parsing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import utcnow
from incidents_common.regions import REGIONS
from routing.deadlines.models import SlaPolicy
from routing.deadlines.schemas import SlaPolicyCreate
from routing.directory.models import VERSION_TABLE, Department, Official
from routing.directory.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    ImportResult,
    OfficialCreate,
    OfficialRead,
    OfficialUpdate,
)
from routing.errors import AlreadyExists, BadDirectoryData, BadImport, NotAllowed, UnknownDepartment, UnknownOfficial
from routing.incidents.models import OPEN_ASSIGNEE_PREDICATE, Incident
from routing.rules.models import Rule
from routing.rules.schemas import RuleCreate


def department_read(department: Department) -> DepartmentRead:
    return DepartmentRead(
        **department.model_dump(),
        region_name=REGIONS[department.region_code].name,
    )


def official_read(official: Official, open_incidents: int = 0) -> OfficialRead:
    return OfficialRead(
        **official.model_dump(exclude={"assignments_total"}),
        region_name=REGIONS[official.region_code].name,
        effective_timezone=effective_timezone(official),
        open_incidents=open_incidents,
    )


def effective_timezone(official: Official) -> str:
    return official.timezone or REGIONS[official.region_code].timezone


async def open_counts(session: AsyncSession, official_ids: Sequence[str]) -> dict[str, int]:
    """Open incidents per official, in one query (the load that least-loaded assignment balances)."""
    if not official_ids:
        return {}
    rows = await session.exec(
        select(Incident.assignee_id, func.count())
        .where(
            col(Incident.assignee_id).in_(list(official_ids)),
            # Written out, not bound: only a query naming these statuses literally can use the
            # partial index of open incidents (ix_routing_incidents_open_assignee).
            text(OPEN_ASSIGNEE_PREDICATE),
        )
        .group_by(Incident.assignee_id)
    )
    return {str(official_id): int(count) for official_id, count in rows.all()}


async def directory_version(session: AsyncSession) -> int | None:
    """The directory's version as this transaction sees it (directory.models.DirectoryVersion); None
    when its row is missing (then nothing moves it, and nothing may be kept)."""
    connection = await session.connection()
    found = (await connection.exec_driver_sql(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1")).scalar()  # noqa: S608 - constant names
    return None if found is None else int(found)


async def assignment_totals_of(session: AsyncSession, official_ids: Sequence[str]) -> dict[str, int]:
    """The round-robin counters of `official_ids` as committed (a batch's officials may come from
    a directory loaded batches ago: incidents.loading.DirectoryCache)."""
    if not official_ids:
        return {}
    rows = await session.exec(
        select(Official.id, Official.assignments_total).where(col(Official.id).in_(list(official_ids)))
    )
    return {str(official_id): int(total) for official_id, total in rows.all()}


# -- departments -----------------------------------------------------------------------------

Regions = frozenset[str] | None
"""The regions a caller may touch; None means every region."""


def _in(regions: Regions, region_code: str | None) -> bool:
    return regions is None or (region_code is not None and region_code in regions)


async def list_departments(
    session: AsyncSession, *, region: str | None = None, regions: Regions = None, include_inactive: bool = True
) -> list[Department]:
    if region and not _in(regions, region):
        return []
    query = select(Department).order_by(Department.region_code, Department.id)
    if region:
        query = query.where(Department.region_code == region)
    if regions is not None:
        query = query.where(col(Department.region_code).in_(sorted(regions)))
    if not include_inactive:
        query = query.where(Department.active == True)  # noqa: E712 - SQL expression
    return list((await session.exec(query)).all())


async def get_department(
    session: AsyncSession, *, department_id: str, regions: Regions = None, region_code: str | None = None
) -> Department:
    """By id, then by region: one of `regions` and, when given, exactly `region_code`.

    A department outside them is "unknown" exactly like a missing one (same error, same text).
    """
    department = await session.get(Department, department_id)
    if department is None or not _in(regions, department.region_code):
        raise UnknownDepartment(f"no department {department_id!r}")
    if region_code is not None and department.region_code != region_code:
        raise UnknownDepartment(f"no department {department_id!r} in region {region_code}")
    return department


async def _check_new_id(session: AsyncSession, model: type[Department] | type[Official], object_id: str) -> None:
    """Ids are unique across regions: one that exists anywhere is refused (409), never reused."""
    if await session.get(model, object_id) is not None:
        kind = "department" if model is Department else "official"
        raise AlreadyExists(f"{kind} id {object_id!r} is already taken")


async def create_department(session: AsyncSession, *, data: DepartmentCreate) -> Department:
    department_id = data.id or f"{data.region_code}-{uuid.uuid4().hex[:8]}"
    await _check_new_id(session, Department, department_id)
    department = Department(**data.model_dump(exclude={"id"}), id=department_id)
    session.add(department)
    await session.flush()
    return department


async def update_department(
    session: AsyncSession, *, department_id: str, data: DepartmentUpdate, regions: Regions = None
) -> Department:
    department = await get_department(session, department_id=department_id, regions=regions)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(department, key, value)
    department.updated_at = utcnow()
    session.add(department)
    await session.flush()
    return department


# -- officials -------------------------------------------------------------------------------


async def list_officials(
    session: AsyncSession,
    *,
    region: str | None = None,
    regions: Regions = None,
    department_id: str | None = None,
    include_inactive: bool = True,
) -> list[Official]:
    if region and not _in(regions, region):
        return []
    query = select(Official).order_by(Official.region_code, Official.id)
    if region:
        query = query.where(Official.region_code == region)
    if regions is not None:
        query = query.where(col(Official.region_code).in_(sorted(regions)))
    if department_id:
        query = query.where(Official.department_id == department_id)
    if not include_inactive:
        query = query.where(Official.active == True)  # noqa: E712 - SQL expression
    return list((await session.exec(query)).all())


async def get_official(
    session: AsyncSession, *, official_id: str, regions: Regions = None, region_code: str | None = None
) -> Official:
    """By id, then by region (as get_department): another region's official is an unknown one."""
    official = await session.get(Official, official_id)
    if official is None or not _in(regions, official.region_code):
        raise UnknownOfficial(f"no official {official_id!r}")
    if region_code is not None and official.region_code != region_code:
        raise UnknownOfficial(f"no official {official_id!r} in region {region_code}")
    return official


async def _check_department(session: AsyncSession, department_id: str | None, region_code: str) -> None:
    """An official's department is in the official's region (else it is unknown there: 404)."""
    if department_id is not None:
        await get_department(session, department_id=department_id, region_code=region_code)


async def create_official(session: AsyncSession, *, data: OfficialCreate) -> Official:
    official_id = data.id or f"{data.region_code}-{uuid.uuid4().hex[:8]}"
    await _check_new_id(session, Official, official_id)
    await _check_department(session, data.department_id, data.region_code)
    official = Official(**data.model_dump(exclude={"id"}), id=official_id)
    session.add(official)
    await session.flush()
    return official


async def update_official(
    session: AsyncSession, *, official_id: str, data: OfficialUpdate, regions: Regions = None
) -> Official:
    official = await get_official(session, official_id=official_id, regions=regions)
    changes = data.model_dump(exclude_unset=True)
    if "department_id" in changes:
        await _check_department(session, changes["department_id"], official.region_code)
    start, end = changes.get("work_start", official.work_start), changes.get("work_end", official.work_end)
    if end <= start:
        raise BadDirectoryData(f"work_end {end} must be after work_start {start}")
    for key, value in changes.items():
        setattr(official, key, value)
    official.updated_at = utcnow()
    session.add(official)
    await session.flush()
    return official


async def directory_is_empty(session: AsyncSession) -> bool:
    return (await session.exec(select(func.count()).select_from(Official))).one() == 0


# -- bulk import -----------------------------------------------------------------------------


def _items(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadImport(f"{key!r} must be a list of mappings")
    return value


def _errors(where: str, exc: ValidationError) -> str:
    return f"{where}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])


async def import_directory(session: AsyncSession, *, document: dict[str, Any], regions: Regions = None) -> ImportResult:
    """Upsert departments and officials by id, rules and SLA policies by their keys. All or nothing.

    `regions` (a regional admin's): every row must be in them, and global SLA policies are refused
    (403, nothing imported). For everyone: an id is never moved to another region (ids are unique
    across regions), and every reference stays in its row's region.
    """
    result = ImportResult()
    refused: list[str] = []
    departments = _items(document, "departments")
    officials = _items(document, "officials")
    rules = _items(document, "rules")
    policies = _items(document, "sla_policies")

    def allowed(where: str, region_code: str | None, what: str = "rows") -> bool:
        if regions is None:
            return True
        if region_code is None:
            refused.append(f"{where}: global {what} (without a region) are managed by the operator")
            return False
        if region_code not in regions:
            refused.append(f"{where}: region {region_code} is not one of yours")
            return False
        return True

    known_departments = {d.id: d for d in await list_departments(session)}
    for n, raw in enumerate(departments):
        raw = {**raw, "region_code": str(raw.get("region_code", "")).zfill(2)}
        try:
            data = DepartmentCreate.model_validate(raw)
        except ValidationError as exc:
            result.errors.append(_errors(f"departments[{n}]", exc))
            continue
        if not allowed(f"departments[{n}]", data.region_code):
            continue
        existing = known_departments.get(data.id or "")
        if existing is None:
            department = Department(**data.model_dump(exclude={"id"}), id=data.id or f"{data.region_code}-{n}")
            session.add(department)
            known_departments[department.id] = department
        elif existing.region_code != data.region_code:
            result.errors.append(f"departments[{n}]: id {existing.id!r} is already used in another region")
            continue
        else:
            for key, value in data.model_dump(exclude={"id"}).items():
                setattr(existing, key, value)
            existing.updated_at = utcnow()
        result.departments += 1

    known_officials = {o.id: o for o in await list_officials(session)}
    for n, raw in enumerate(officials):
        raw = {**raw, "region_code": str(raw.get("region_code", "")).zfill(2)}
        hours = raw.pop("work_hours", None)
        if isinstance(hours, str) and "-" in hours:
            raw["work_start"], raw["work_end"] = (h.strip() for h in hours.split("-", 1))
        try:
            official_data = OfficialCreate.model_validate(raw)
        except ValidationError as exc:
            result.errors.append(_errors(f"officials[{n}]", exc))
            continue
        if not allowed(f"officials[{n}]", official_data.region_code):
            continue
        official_department = known_departments.get(official_data.department_id or "")
        if official_data.department_id and (
            official_department is None or official_department.region_code != official_data.region_code
        ):
            result.errors.append(
                f"officials[{n}]: unknown department {official_data.department_id!r} in {official_data.region_code}"
            )
            continue
        existing_official = known_officials.get(official_data.id or "")
        if existing_official is None:
            official = Official(
                **official_data.model_dump(exclude={"id"}), id=official_data.id or f"{official_data.region_code}-o{n}"
            )
            session.add(official)
            known_officials[official.id] = official
        elif existing_official.region_code != official_data.region_code:
            result.errors.append(f"officials[{n}]: id {existing_official.id!r} is already used in another region")
            continue
        else:
            for key, value in official_data.model_dump(exclude={"id"}).items():
                setattr(existing_official, key, value)
            existing_official.updated_at = utcnow()
        result.officials += 1

    existing_rules = {_rule_key(r): r for r in (await session.exec(select(Rule))).all()}
    for n, raw in enumerate(rules):
        if raw.get("region_code") is not None:
            raw = {**raw, "region_code": str(raw["region_code"]).zfill(2)}
        try:
            rule_data = RuleCreate.model_validate(raw)
        except ValidationError as exc:
            result.errors.append(_errors(f"rules[{n}]", exc))
            continue
        rule_department = known_departments.get(rule_data.department_id)
        if rule_department is not None and not _in(regions, rule_department.region_code):
            rule_department = None  # another region's department is unknown to this caller
        # A rule without a region takes its department's; with one, the department must be there.
        rule_region = rule_data.region_code or (rule_department.region_code if rule_department else None)
        if rule_region is not None and not allowed(f"rules[{n}]", rule_region):
            continue
        if rule_department is None or rule_department.region_code != rule_region:
            where = f" in {rule_region}" if rule_region else ""
            result.errors.append(f"rules[{n}]: unknown department {rule_data.department_id!r}{where}")
            continue
        rule = Rule(**rule_data.model_dump(mode="json"))
        rule.region_code = rule_region
        existing_rule = existing_rules.get(_rule_key(rule))
        if existing_rule is None:
            session.add(rule)
            existing_rules[_rule_key(rule)] = rule
        else:
            existing_rule.priority, existing_rule.description = rule.priority, rule.description
            existing_rule.active = rule.active
        result.rules += 1

    existing_policies = {_policy_key(p): p for p in (await session.exec(select(SlaPolicy))).all()}
    for n, raw in enumerate(policies):
        if raw.get("region_code") is not None:
            raw = {**raw, "region_code": str(raw["region_code"]).zfill(2)}
        try:
            policy_data = SlaPolicyCreate.model_validate(raw)
        except ValidationError as exc:
            result.errors.append(_errors(f"sla_policies[{n}]", exc))
            continue
        if not allowed(f"sla_policies[{n}]", policy_data.region_code, "SLA policies"):
            continue
        policy = SlaPolicy(**policy_data.model_dump(mode="json"))
        existing_policy = existing_policies.get(_policy_key(policy))
        if existing_policy is None:
            session.add(policy)
            existing_policies[_policy_key(policy)] = policy
        else:
            for key in ("first_reaction_hours", "interim_days", "final_days", "description"):
                setattr(existing_policy, key, getattr(policy, key))
        result.sla_policies += 1

    if refused:
        raise NotAllowed(f"{len(refused)} row(s) outside your regions; nothing imported", errors=refused[:100])
    if result.errors:
        raise BadImport(f"{len(result.errors)} row(s) rejected; nothing imported", errors=result.errors[:100])
    await session.flush()
    return result


def _rule_key(rule: Rule) -> tuple[Any, ...]:
    return (rule.region_code, rule.category, (rule.municipality or "").casefold(), rule.urgency, rule.department_id)


def _policy_key(policy: SlaPolicy) -> tuple[Any, ...]:
    return (policy.region_code, policy.category, policy.urgency)
