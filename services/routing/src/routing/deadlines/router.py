"""SLA policy endpoints and a manual trigger of the deadline scan.

Global policies (no region) are visible to every user and changed by the operator alone; a
regional admin manages the policies of its regions; the scan is the operator's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from incidents_common.app import SessionDep
from routing.access import GUARDED, AccessDep
from routing.deadlines import service
from routing.deadlines.schemas import ScanResult, SlaPolicyCreate, SlaPolicyRead, SlaPolicyUpdate
from routing.deps import SettingsDep
from routing.incidents.scanner import scan

router = APIRouter(tags=["sla"], dependencies=GUARDED)

PolicyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/v1/sla-policies", summary="SLA policies of your regions and the global ones (most specific match wins)")
async def list_policies(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$", description="Another region: empty list")] = None,
) -> list[SlaPolicyRead]:
    policies = await service.list_policies(session, region=region, regions=access.regions)
    return [SlaPolicyRead(**p.model_dump()) for p in policies]


@router.post(
    "/v1/sla-policies",
    status_code=201,
    summary="Create an SLA policy (operator; regional_admin for its regions, never a global one)",
)
async def create_policy(session: SessionDep, access: AccessDep, body: SlaPolicyCreate) -> SlaPolicyRead:
    access.require_write_in(body.region_code, what="SLA policies")
    return SlaPolicyRead(**(await service.create_policy(session, data=body)).model_dump())


@router.patch("/v1/sla-policies/{policy_id}", summary="Update an SLA policy (applies to clocks started later)")
async def update_policy(
    session: SessionDep, access: AccessDep, policy_id: PolicyId, body: SlaPolicyUpdate
) -> SlaPolicyRead:
    access.require_directory_writer()
    policy = await service.get_policy(session, policy_id=policy_id, regions=access.regions)
    access.require_write_in(policy.region_code, what="SLA policies")
    return SlaPolicyRead(**(await service.update_policy(session, policy_id=policy_id, data=body)).model_dump())


@router.delete("/v1/sla-policies/{policy_id}", status_code=204, summary="Delete an SLA policy")
async def delete_policy(session: SessionDep, access: AccessDep, policy_id: PolicyId) -> None:
    access.require_directory_writer()
    policy = await service.get_policy(session, policy_id=policy_id, regions=access.regions)
    access.require_write_in(policy.region_code, what="SLA policies")
    await service.delete_policy(session, policy_id=policy_id)


@router.post("/v1/deadlines/scan", summary="Run one deadline scan now (operator only; it also runs periodically)")
async def scan_now(session: SessionDep, access: AccessDep, settings: SettingsDep) -> ScanResult:
    access.require_operator("run the deadline scan")
    return await scan(session, settings=settings)
