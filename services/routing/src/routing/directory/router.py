"""Directory endpoints: departments, officials, bulk import.

Reads are limited to the caller's regions; writes need the operator or a regional admin of the
object's region (routing.access). Another region's object is a 404 like a missing one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from incidents_common.app import SessionDep
from routing.access import GUARDED, AccessDep
from routing.directory import service
from routing.directory.parsing import parse_import
from routing.directory.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    ImportResult,
    OfficialCreate,
    OfficialRead,
    OfficialUpdate,
)

router = APIRouter(tags=["directory"], dependencies=GUARDED)

RegionQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{2}$", description="Two-digit region code; empty: all of yours. Another region: empty list"),
]


@router.get("/v1/departments", summary="Departments of a region (of your regions)")
async def list_departments(session: SessionDep, access: AccessDep, region: RegionQuery = None) -> list[DepartmentRead]:
    departments = await service.list_departments(session, region=region, regions=access.regions)
    return [service.department_read(d) for d in departments]


@router.post(
    "/v1/departments", status_code=201, summary="Create a department (operator; regional_admin in its regions)"
)
async def create_department(session: SessionDep, access: AccessDep, body: DepartmentCreate) -> DepartmentRead:
    access.require_write_in(body.region_code, what="departments")
    return service.department_read(await service.create_department(session, data=body))


@router.get("/v1/departments/{department_id}", summary="One department")
async def get_department(session: SessionDep, access: AccessDep, department_id: str) -> DepartmentRead:
    department = await service.get_department(session, department_id=department_id, regions=access.regions)
    return service.department_read(department)


@router.patch("/v1/departments/{department_id}", summary="Update a department (incl. active: false)")
async def update_department(
    session: SessionDep, access: AccessDep, department_id: str, body: DepartmentUpdate
) -> DepartmentRead:
    access.require_directory_writer()
    department = await service.update_department(
        session, department_id=department_id, data=body, regions=access.regions
    )
    return service.department_read(department)


@router.delete("/v1/departments/{department_id}", summary="Deactivate a department (kept for the audit trail)")
async def deactivate_department(session: SessionDep, access: AccessDep, department_id: str) -> DepartmentRead:
    access.require_directory_writer()
    department = await service.update_department(
        session, department_id=department_id, data=DepartmentUpdate(active=False), regions=access.regions
    )
    return service.department_read(department)


@router.get("/v1/officials", summary="Officials of a region (of your regions), with their open incidents")
async def list_officials(
    session: SessionDep, access: AccessDep, region: RegionQuery = None, department_id: str | None = None
) -> list[OfficialRead]:
    officials = await service.list_officials(
        session, region=region, regions=access.regions, department_id=department_id
    )
    counts = await service.open_counts(session, [o.id for o in officials])
    return [service.official_read(o, counts.get(o.id, 0)) for o in officials]


@router.post("/v1/officials", status_code=201, summary="Create an official (operator; regional_admin in its regions)")
async def create_official(session: SessionDep, access: AccessDep, body: OfficialCreate) -> OfficialRead:
    access.require_write_in(body.region_code, what="officials")
    official = await service.create_official(session, data=body)
    return service.official_read(official)


@router.get("/v1/officials/{official_id}", summary="One official")
async def get_official(session: SessionDep, access: AccessDep, official_id: str) -> OfficialRead:
    official = await service.get_official(session, official_id=official_id, regions=access.regions)
    counts = await service.open_counts(session, [official.id])
    return service.official_read(official, counts.get(official.id, 0))


@router.patch("/v1/officials/{official_id}", summary="Partial update (incl. active: false, on_leave: true)")
async def update_official(
    session: SessionDep, access: AccessDep, official_id: str, body: OfficialUpdate
) -> OfficialRead:
    access.require_directory_writer()
    official = await service.update_official(session, official_id=official_id, data=body, regions=access.regions)
    counts = await service.open_counts(session, [official.id])
    return service.official_read(official, counts.get(official.id, 0))


@router.delete("/v1/officials/{official_id}", summary="Deactivate an official")
async def deactivate_official(session: SessionDep, access: AccessDep, official_id: str) -> OfficialRead:
    access.require_directory_writer()
    official = await service.update_official(
        session, official_id=official_id, data=OfficialUpdate(active=False), regions=access.regions
    )
    return service.official_read(official)


@router.post(
    "/v1/directory/import",
    summary="Bulk import a YAML directory or a CSV of officials (operator; regional_admin: rows of its regions only)",
)
async def import_directory(
    session: SessionDep,
    access: AccessDep,
    file: Annotated[UploadFile, File(description="directory.yaml or officials.csv")],
    format: Annotated[str | None, Query(pattern="^(yaml|yml|csv)$")] = None,  # noqa: A002 - the API's word
) -> ImportResult:
    access.require_directory_writer()
    content = await file.read()
    document = parse_import(content, filename=file.filename, fmt=format)
    result = await service.import_directory(session, document=document, regions=access.regions)
    return result
