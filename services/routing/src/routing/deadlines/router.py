"""SLA policy endpoints and a manual trigger of the deadline scan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from incidents_common.app import SessionDep
from routing.deadlines import service
from routing.deadlines.scanner import scan
from routing.deadlines.schemas import ScanResult, SlaPolicyCreate, SlaPolicyRead, SlaPolicyUpdate

router = APIRouter(tags=["sla"])


@router.get("/v1/sla-policies", summary="SLA policies (most specific match wins)")
async def list_policies(
    session: SessionDep, region: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None
) -> list[SlaPolicyRead]:
    return [SlaPolicyRead(**p.model_dump()) for p in await service.list_policies(session, region=region)]


@router.post("/v1/sla-policies", status_code=201, summary="Create an SLA policy")
async def create_policy(session: SessionDep, body: SlaPolicyCreate) -> SlaPolicyRead:
    return SlaPolicyRead(**(await service.create_policy(session, data=body)).model_dump())


@router.patch("/v1/sla-policies/{policy_id}", summary="Update an SLA policy (applies to clocks started later)")
async def update_policy(session: SessionDep, policy_id: int, body: SlaPolicyUpdate) -> SlaPolicyRead:
    return SlaPolicyRead(**(await service.update_policy(session, policy_id=policy_id, data=body)).model_dump())


@router.delete("/v1/sla-policies/{policy_id}", status_code=204, summary="Delete an SLA policy")
async def delete_policy(session: SessionDep, policy_id: int) -> None:
    await service.delete_policy(session, policy_id=policy_id)


@router.post("/v1/deadlines/scan", summary="Run one deadline scan now (the scanner also runs periodically)")
async def scan_now(session: SessionDep, request: Request) -> ScanResult:
    return await scan(session, settings=request.app.state.settings)
