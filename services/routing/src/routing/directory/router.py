"""Directory endpoints: departments, officials, bulk import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from incidents_common.app import SessionDep
from routing.directory import service
from routing.directory.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    ImportResult,
    OfficialCreate,
    OfficialRead,
    OfficialUpdate,
)
from routing.rules.service import forget_directory

router = APIRouter(tags=["directory"])

RegionQuery = Annotated[str | None, Query(pattern=r"^\d{2}$", description="Two-digit region code")]


@router.get("/v1/departments", summary="Departments of a region")
async def list_departments(session: SessionDep, region: RegionQuery = None) -> list[DepartmentRead]:
    return [service.department_read(d) for d in await service.list_departments(session, region=region)]


@router.post("/v1/departments", status_code=201, summary="Create a department")
async def create_department(session: SessionDep, body: DepartmentCreate) -> DepartmentRead:
    return service.department_read(await service.create_department(session, data=body))


@router.get("/v1/departments/{department_id}", summary="One department")
async def get_department(session: SessionDep, department_id: str) -> DepartmentRead:
    return service.department_read(await service.get_department(session, department_id=department_id))


@router.patch("/v1/departments/{department_id}", summary="Update a department (incl. active: false)")
async def update_department(session: SessionDep, department_id: str, body: DepartmentUpdate) -> DepartmentRead:
    return service.department_read(await service.update_department(session, department_id=department_id, data=body))


@router.delete("/v1/departments/{department_id}", summary="Deactivate a department (kept for the audit trail)")
async def deactivate_department(session: SessionDep, department_id: str) -> DepartmentRead:
    department = await service.update_department(
        session, department_id=department_id, data=DepartmentUpdate(active=False)
    )
    return service.department_read(department)


@router.get("/v1/officials", summary="Officials of a region, with their open incidents")
async def list_officials(
    session: SessionDep, region: RegionQuery = None, department_id: str | None = None
) -> list[OfficialRead]:
    officials = await service.list_officials(session, region=region, department_id=department_id)
    counts = await service.open_counts(session, [o.id for o in officials])
    return [service.official_read(o, counts.get(o.id, 0)) for o in officials]


@router.post("/v1/officials", status_code=201, summary="Create an official")
async def create_official(session: SessionDep, body: OfficialCreate) -> OfficialRead:
    return service.official_read(await service.create_official(session, data=body))


@router.get("/v1/officials/{official_id}", summary="One official")
async def get_official(session: SessionDep, official_id: str) -> OfficialRead:
    official = await service.get_official(session, official_id=official_id)
    counts = await service.open_counts(session, [official.id])
    return service.official_read(official, counts.get(official.id, 0))


@router.patch("/v1/officials/{official_id}", summary="Partial update (incl. active: false, on_leave: true)")
async def update_official(session: SessionDep, official_id: str, body: OfficialUpdate) -> OfficialRead:
    official = await service.update_official(session, official_id=official_id, data=body)
    forget_directory(session)
    counts = await service.open_counts(session, [official.id])
    return service.official_read(official, counts.get(official.id, 0))


@router.delete("/v1/officials/{official_id}", summary="Deactivate an official")
async def deactivate_official(session: SessionDep, official_id: str) -> OfficialRead:
    official = await service.update_official(session, official_id=official_id, data=OfficialUpdate(active=False))
    return service.official_read(official)


@router.post("/v1/directory/import", summary="Bulk import a YAML directory or a CSV of officials")
async def import_directory(
    session: SessionDep,
    file: Annotated[UploadFile, File(description="directory.yaml or officials.csv")],
    format: Annotated[str | None, Query(pattern="^(yaml|yml|csv)$")] = None,  # noqa: A002 - the API's word
) -> ImportResult:
    content = await file.read()
    document = service.parse_import(content, filename=file.filename, fmt=format)
    return await service.import_directory(session, document=document)
