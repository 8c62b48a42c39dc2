"""Rule endpoints, and a dry run that explains who would get an incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from incidents_common.app import SessionDep
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS
from routing.access import GUARDED, AccessDep
from routing.directory.models import Department
from routing.rules import service
from routing.rules.models import Rule
from routing.rules.schemas import AssignmentPreviewRead, RuleCreate, RuleRead, RuleUpdate

router = APIRouter(tags=["rules"], dependencies=GUARDED)

RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _read(session: SessionDep, rule: Rule) -> RuleRead:
    department = await session.get(Department, rule.department_id)
    return RuleRead(**rule.model_dump(), department_name=department.name if department else None)


@router.get("/v1/rules", summary="Rules of your regions in the order they are tried")
async def list_rules(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$", description="Another region: empty list")] = None,
) -> list[RuleRead]:
    return [await _read(session, r) for r in await service.list_rules(session, region=region, regions=access.regions)]


@router.post("/v1/rules", status_code=201, summary="Create a rule (operator; regional_admin in its regions)")
async def create_rule(session: SessionDep, access: AccessDep, body: RuleCreate) -> RuleRead:
    access.require_directory_writer()
    if body.region_code is not None:
        access.require_write_in(body.region_code, what="rules")
    rule = await service.create_rule(session, data=body, regions=access.regions)
    return await _read(session, rule)


@router.get("/v1/rules/{rule_id}", summary="One rule")
async def get_rule(session: SessionDep, access: AccessDep, rule_id: RuleId) -> RuleRead:
    return await _read(session, await service.get_rule(session, rule_id=rule_id, regions=access.regions))


@router.patch("/v1/rules/{rule_id}", summary="Update a rule (its department stays in the rule's region)")
async def update_rule(session: SessionDep, access: AccessDep, rule_id: RuleId, body: RuleUpdate) -> RuleRead:
    access.require_directory_writer()
    rule = await service.update_rule(session, rule_id=rule_id, data=body, regions=access.regions)
    return await _read(session, rule)


@router.delete("/v1/rules/{rule_id}", summary="Deactivate a rule")
async def deactivate_rule(session: SessionDep, access: AccessDep, rule_id: RuleId) -> RuleRead:
    access.require_directory_writer()
    rule = await service.update_rule(session, rule_id=rule_id, data=RuleUpdate(active=False), regions=access.regions)
    return await _read(session, rule)


@router.get("/v1/rules/preview/assignment", summary="Who would get an incident (dry run, nothing is saved)")
async def preview(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str, Query(pattern=r"^\d{2}$")],
    category: str,
    city: str | None = None,
    urgency: str = "normal",
) -> AssignmentPreviewRead:
    if region not in REGIONS:
        raise InvalidInput(f"unknown region {region}")
    if not access.can_see(region):
        raise NotFound(f"no directory for region {region} among yours")
    # The engine counts the choice in a workload that is thrown away: nothing is saved.
    chosen = await service.choose_assignee(session, region_code=region, category=category, city=city, urgency=urgency)
    return AssignmentPreviewRead(
        official_id=chosen.assignee.official_id,
        name=chosen.assignee.name,
        department_name=chosen.assignee.department_name,
        explanation=chosen.explanation,
        rule_id=chosen.rule_id,
        federal_fallback=chosen.federal_fallback,
    )
