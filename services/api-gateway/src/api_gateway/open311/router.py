"""Open311 GeoReport v2 over incidents, so existing Open311 clients work unchanged: every resource as
.json and as .xml (open311/xml.py); how an incident reads as a service request is open311/mapping.py.
A POSTed request becomes a post sent to the collector (`source_type` push); its token turns into a
service_request_id once routing has made (or extended) an incident from it (open311/service.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request

from api_gateway.auth.deps import Open311PrincipalDep, client_address, rate_limit
from api_gateway.deps import ClassifierDep, CollectorDep
from api_gateway.open311 import service
from api_gateway.open311.mapping import SERVICE_NAMES, service_of
from api_gateway.open311.schemas import (
    REQUEST_EXAMPLE,
    ServiceDefinition,
    ServiceRead,
    ServiceRequestCreated,
    ServiceRequestRead,
    ServiceRequestTokenRead,
)
from api_gateway.open311.xml import xml_response
from incidents_common.app import SessionDep
from incidents_common.events import Category
from incidents_common.problems import NotFound

router = APIRouter(prefix="/open311/v2", tags=["open311"])


SUBMIT_EXAMPLE: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "example": {
                    "jurisdiction_id": "64",
                    "service_code": "roads",
                    "description": "Яма на ул. Чернышевского у дома 120",
                    "lat": 51.53,
                    "long": 46.03,
                }
            }
        }
    }
}


def _public(request: Request, jurisdiction_id: str | None) -> None:
    rate_limit(request, f"ip:{client_address(request)}")
    service.check_public_jurisdiction(jurisdiction_id)


@router.get(
    "/services.json",
    response_model=list[ServiceRead],
    summary="Service list (incident categories)",
    responses={200: {"content": {"application/json": {"example": [service_of("roads").model_dump()]}}}},
)
async def services(
    request: Request, jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None
) -> list[ServiceRead]:
    # The service list is public (Open311 discovery): it holds no citizen data.
    _public(request, jurisdiction_id)
    return [service_of(c.value) for c in Category]


@router.get(
    "/services/{service_code}.json",
    summary="Service definition (no extra attributes: metadata is false for every service)",
)
async def service_definition(
    request: Request,
    service_code: Annotated[str, Path(max_length=64)],
    jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None,
) -> ServiceDefinition:
    _public(request, jurisdiction_id)
    if service_code not in SERVICE_NAMES:
        raise NotFound(f"service_code {service_code} not found")
    return ServiceDefinition(service_code=service_code)


@router.get(
    "/requests.json",
    response_model=list[ServiceRequestRead],
    summary="Service requests (incidents); default the last 90 days, at most 1000",
    responses={200: {"content": {"application/json": {"example": [REQUEST_EXAMPLE]}}}},
)
async def get_requests(
    session: SessionDep,
    principal: Open311PrincipalDep,
    jurisdiction_id: Annotated[str | None, Query(max_length=2, examples=["64"])] = None,
    service_request_id: Annotated[str | None, Query(max_length=2000, description="Comma-separated ids")] = None,
    service_code: Annotated[str | None, Query(max_length=500, description="Comma-separated codes")] = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))*$")] = None,
) -> list[ServiceRequestRead]:
    return await service.find_requests(
        session,
        principal=principal,
        jurisdiction_id=jurisdiction_id,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
    )


@router.get(
    "/requests/{service_request_id}.json",
    response_model=list[ServiceRequestRead],
    summary="One service request",
    responses={
        200: {"content": {"application/json": {"example": [REQUEST_EXAMPLE]}}},
        404: {"description": "Not found"},
    },
)
async def get_request(
    session: SessionDep,
    principal: Open311PrincipalDep,
    service_request_id: Annotated[str, Path(max_length=64)],
    jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None,
) -> list[ServiceRequestRead]:
    return await service.find_request(
        session, principal=principal, service_request_id=service_request_id, jurisdiction_id=jurisdiction_id
    )


@router.post(
    "/requests.json",
    response_model=list[ServiceRequestCreated],
    summary="Submit a service request (becomes a post for the pipeline); returns a token",
    responses={
        200: {
            "content": {"application/json": {"example": [{"token": "o311_5f2c9a1b7e3d4c10", "service_notice": None}]}}
        },
        503: {"description": "The collector is unavailable; nothing was submitted (Retry-After)"},
        504: {"description": "The collector did not answer in time; the request may still be taken"},
    },
    openapi_extra=SUBMIT_EXAMPLE,
)
async def post_request(
    session: SessionDep,
    collector: CollectorDep,
    classifier: ClassifierDep,
    principal: Open311PrincipalDep,
    service_code: Annotated[str, Form(max_length=64)],
    description: Annotated[str, Form(min_length=3, max_length=4000)],
    jurisdiction_id: Annotated[str | None, Form(max_length=2)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    long: Annotated[float | None, Form(ge=-180, le=180)] = None,
    address_string: Annotated[str | None, Form(max_length=500)] = None,
    address_id: Annotated[str | None, Form(max_length=100)] = None,
    first_name: Annotated[str | None, Form(max_length=100)] = None,
    last_name: Annotated[str | None, Form(max_length=100)] = None,
    email: Annotated[str | None, Form(max_length=200)] = None,
    phone: Annotated[str | None, Form(max_length=50)] = None,
    device_id: Annotated[str | None, Form(max_length=200)] = None,
    account_id: Annotated[str | None, Form(max_length=200)] = None,
    media_url: Annotated[str | None, Form(max_length=1000)] = None,
    api_key: Annotated[str | None, Form(max_length=200)] = None,
) -> list[ServiceRequestCreated]:
    submission = service.Submission(
        service_code=service_code,
        description=description,
        jurisdiction_id=jurisdiction_id,
        lat=lat,
        long=long,
        address_string=address_string,
        first_name=first_name,
        last_name=last_name,
        device_id=device_id,
        account_id=account_id,
        media_url=media_url,
    )
    return await service.submit(
        session, collector=collector, classifier=classifier, principal=principal, submission=submission
    )


@router.get(
    "/tokens/{token}.json",
    response_model=list[ServiceRequestTokenRead],
    summary="The service_request_id of a submitted token (null until the incident exists)",
    responses={
        200: {
            "content": {
                "application/json": {"example": [{"token": "o311_5f2c9a1b7e3d4c10", "service_request_id": "inc-8f3a"}]}
            }
        }
    },
)
async def get_token(
    session: SessionDep,
    principal: Open311PrincipalDep,
    token: Annotated[str, Path(max_length=64)],
    jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None,
) -> list[ServiceRequestTokenRead]:
    return await service.token_status(session, principal=principal, token=token, jurisdiction_id=jurisdiction_id)


XML_ROUTES: list[tuple[str, str, Any, str, str, str]] = [
    ("GET", "/services.xml", services, "services", "service", "<services><service><service_code>roads</service_code>…"),
    (
        "GET",
        "/services/{service_code}.xml",
        service_definition,
        "service_definition",
        "service_definition",
        "<service_definition><service_code>roads</service_code><attributes/></service_definition>",
    ),
    (
        "GET",
        "/requests.xml",
        get_requests,
        "service_requests",
        "request",
        "<service_requests><request><service_request_id>inc-8f3a</service_request_id>…",
    ),
    (
        "GET",
        "/requests/{service_request_id}.xml",
        get_request,
        "service_requests",
        "request",
        "<service_requests><request><service_request_id>inc-8f3a</service_request_id>…",
    ),
    (
        "POST",
        "/requests.xml",
        post_request,
        "service_requests",
        "request",
        "<service_requests><request><token>o311_5f2c9a1b7e3d4c10</token></request></service_requests>",
    ),
    (
        "GET",
        "/tokens/{token}.xml",
        get_token,
        "service_requests",
        "request",
        "<service_requests><request><token>o311_5f2c…</token><service_request_id>inc-8f3a</service_request_id>…",
    ),
]

for _method, _path, _endpoint, _root, _item, _example in XML_ROUTES:
    router.add_api_route(
        _path,
        _endpoint,
        methods=[_method],
        response_class=xml_response(_root, _item),
        summary=f"{_path.rsplit('.', 1)[0].lstrip('/')}: the same as .json, in GeoReport v2 XML",
        responses={200: {"content": {"text/xml": {"example": _example}}}},
        openapi_extra=SUBMIT_EXAMPLE if _method == "POST" else None,
        name=f"{_endpoint.__name__}_xml",
    )
