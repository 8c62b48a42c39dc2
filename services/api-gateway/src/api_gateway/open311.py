"""Open311 GeoReport v2 over incidents (JSON format), so existing Open311 clients work unchanged.

Mapping: service = incident category; service request = incident; jurisdiction_id = region code;
status open/closed from the incident status; expected_datetime = the SLA deadline (final, else the
first-response one); agency_responsible = the assigned body; lat/long = the post's coordinates, else
those of the incident's town (incidents_common.towns) when the towns table knows it in the region.
A POSTed request becomes a post sent to the collector (`source_type` push); its token turns into a
service_request_id once routing has made (or extended) an incident from it.

Submissions: only roles that may create (regional_admin, official), only in the caller's regions.
The jurisdiction_id decides the region: it is the post's region hint, whatever the description says.
The gateway asks the classifier which region the description itself names; when that differs, the
answer says so (`text_region_id`, `service_notice`) instead of leaving the caller to find out later.
"""

from __future__ import annotations

import logging
import secrets
import xml.etree.ElementTree as ET  # noqa: S405 - builds XML, never parses input
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth import Principal, Role
from api_gateway.consumers import CLOSED_STATUSES
from api_gateway.deps import Open311PrincipalDep, client_address, rate_limit, require_roles
from api_gateway.models import Incident, IncidentPost, Open311Token, Post
from api_gateway.service import scoped
from api_gateway.upstream import Upstream, ask_classifier
from incidents_common.app import SessionDep
from incidents_common.events import Category
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS
from incidents_common.towns import find_town

router = APIRouter(prefix="/open311/v2", tags=["open311"])
log = logging.getLogger("api_gateway.open311")

# Who may file a service request: the roles that write (auth.py). integration and federal only read.
SUBMIT_ROLES = (Role.regional_admin, Role.official)
# Below this confidence the classifier's region for a text is a guess, not "the place the text names".
TEXT_REGION_MIN_CONFIDENCE = 0.5

SERVICE_NAMES: dict[str, tuple[str, str]] = {
    "housing_utilities": ("ЖКХ", "Отопление, водоснабжение, электричество, управляющие компании"),
    "roads": ("Дороги", "Ямы, разметка, светофоры, освещение улиц"),
    "public_transport": ("Общественный транспорт", "Маршруты, интервалы, состояние остановок"),
    "waste": ("Мусор", "Вывоз ТКО, контейнерные площадки, свалки"),
    "landscaping": ("Благоустройство", "Дворы, парки, детские площадки, уборка снега"),
    "healthcare": ("Здравоохранение", "Поликлиники, больницы, запись к врачу, лекарства"),
    "education": ("Образование", "Школы, детские сады, очереди"),
    "social_support": ("Социальная защита", "Пособия, льготы, помощь нуждающимся"),
    "ecology": ("Экология", "Выбросы, загрязнение воды и воздуха"),
    "safety": ("Безопасность", "Угрозы жизни и здоровью, аварийные ситуации"),
    "stray_animals": ("Безнадзорные животные", "Бродячие собаки и отлов"),
    "construction": ("Строительство", "Долгострой, незаконные стройки, аварийное жильё"),
    "government": ("Органы власти", "Работа ведомств и чиновников"),
    "other": ("Другое", "Прочие обращения"),
}
SERVICE_GROUPS = {
    "housing_utilities": "ЖКХ и благоустройство",
    "landscaping": "ЖКХ и благоустройство",
    "waste": "ЖКХ и благоустройство",
}


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str = ""
    group: str = ""


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = Field(
        default=None,
        description="WGS 84 latitude: the post's own coordinates; without them, the centre of the incident's town "
        "(address) when the towns table knows that town in the jurisdiction (HFLabs «Города России», CC BY-SA 4.0)",
    )
    long: float | None = Field(
        default=None, description="WGS 84 longitude: the post's own, else the town's centre (see lat)"
    )
    media_url: str | None = None


class TokenInfo(BaseModel):
    token: str
    service_request_id: str | None


class Submitted(BaseModel):
    token: str
    service_notice: str | None = None
    account_id: str | None = None
    jurisdiction_id: str | None = None
    text_region_id: str | None = None


_REQUEST_EXAMPLE = {
    "service_request_id": "inc-8f3a",
    "status": "open",
    "status_notes": "in_progress",
    "service_name": "Дороги",
    "service_code": "roads",
    "description": "Жители сообщают о глубокой яме на проезжей части у дома 120.",
    "agency_responsible": "Комитет дорожного хозяйства администрации г. Саратова",
    "service_notice": None,
    "requested_datetime": "2026-11-26T09:15:00Z",
    "updated_datetime": "2026-11-26T10:00:00Z",
    "expected_datetime": "2026-12-06T09:15:00Z",
    "address": "Саратов",
    "lat": 51.53,
    "long": 46.03,
}


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


def _service(code: str) -> Service:
    name, description = SERVICE_NAMES.get(code, (code, code))
    return Service(service_code=code, service_name=name, description=description, group=SERVICE_GROUPS.get(code, name))


def _check_jurisdiction(principal: Principal, jurisdiction_id: str | None) -> str | None:
    if jurisdiction_id is None:
        return None
    if jurisdiction_id not in REGIONS or not principal.can_see(jurisdiction_id):
        raise NotFound(f"jurisdiction {jurisdiction_id} not found")
    return jurisdiction_id


def _public(request: Request, jurisdiction_id: str | None) -> None:
    rate_limit(request, f"ip:{client_address(request)}")
    if jurisdiction_id is not None and jurisdiction_id not in REGIONS:
        raise NotFound(f"jurisdiction {jurisdiction_id} not found")


@router.get(
    "/services.json",
    response_model=list[Service],
    summary="Service list (incident categories)",
    responses={200: {"content": {"application/json": {"example": [_service("roads").model_dump()]}}}},
)
async def services(
    request: Request, jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None
) -> list[Service]:
    # The service list is public (Open311 discovery): it holds no citizen data.
    _public(request, jurisdiction_id)
    return [_service(c.value) for c in Category]


@router.get(
    "/services/{service_code}.json",
    summary="Service definition (no extra attributes: metadata is false for every service)",
    responses={200: {"content": {"application/json": {"example": {"service_code": "roads", "attributes": []}}}}},
)
async def service_definition(
    request: Request,
    service_code: Annotated[str, Path(max_length=64)],
    jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None,
) -> dict[str, Any]:
    _public(request, jurisdiction_id)
    if service_code not in SERVICE_NAMES:
        raise NotFound(f"service_code {service_code} not found")
    return {"service_code": service_code, "attributes": []}


def _coordinates(incident: Incident, hints: dict[str, Any]) -> tuple[float | None, float | None]:
    """The post's own coordinates, else the centre of the incident's town (a map pin in the right town
    beats none at all), else nothing."""
    lat, long = hints.get("latitude"), hints.get("longitude")
    if lat is not None and long is not None:
        return lat, long
    town = find_town(incident.region_code, incident.city)
    return (town.latitude, town.longitude) if town is not None else (None, None)


# A reply that stands (published where the complaint was, or only recordable: an Open311 request has
# no thread to answer in) is the request's status note; otherwise the incident's status.
ANSWER_STANDS = {"published", "recorded_only", "unconfirmed"}


def _status_note(incident: Incident) -> str:
    reply = incident.reply or {}
    if reply.get("text") and reply.get("status") in ANSWER_STANDS:
        return str(reply["text"])
    return incident.status


def _to_request(incident: Incident, post: Post | None) -> ServiceRequest:
    hints = (post.place_hints if post else None) or {}
    lat, long = _coordinates(incident, hints)
    name, _ = SERVICE_NAMES.get(incident.category, (incident.category, ""))
    return ServiceRequest(
        service_request_id=incident.incident_id,
        status="closed" if incident.status in CLOSED_STATUSES else "open",
        status_notes=_status_note(incident),
        service_name=name,
        service_code=incident.category,
        description=incident.summary,
        agency_responsible=incident.department_name or incident.assignee_name,
        service_notice=None,
        requested_datetime=incident.created_at,
        updated_datetime=incident.updated_at,
        expected_datetime=incident.final_due or incident.first_response_due,
        address=incident.city,
        lat=lat,
        long=long,
        media_url=post.url if post else None,
    )


async def _with_posts(session: AsyncSession, incidents: list[Incident]) -> list[ServiceRequest]:
    first_posts = [i.post_ids[0] for i in incidents if i.post_ids]
    posts: dict[str, Post] = {}
    if first_posts:
        posts = {
            p.post_id: p for p in (await session.exec(select(Post).where(col(Post.post_id).in_(first_posts)))).all()
        }
    return [_to_request(i, posts.get(i.post_ids[0]) if i.post_ids else None) for i in incidents]


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get(
    "/requests.json",
    response_model=list[ServiceRequest],
    summary="Service requests (incidents); default the last 90 days, at most 1000",
    responses={200: {"content": {"application/json": {"example": [_REQUEST_EXAMPLE]}}}},
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
) -> list[ServiceRequest]:
    region = _check_jurisdiction(principal, jurisdiction_id)
    query = scoped(select(Incident), principal, [region] if region else None)
    if service_request_id:
        # Per the spec, an id list overrides every other filter.
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()][:1000]
        query = query.where(col(Incident.incident_id).in_(ids))
    else:
        if service_code:
            query = query.where(col(Incident.category).in_([c.strip() for c in service_code.split(",")]))
        end = _aware(end_date) or datetime.now(UTC) + timedelta(seconds=1)
        start = _aware(start_date) or end - timedelta(days=90)
        query = query.where(Incident.created_at >= start, Incident.created_at <= end)
        if status:
            wanted = set(status.split(","))
            if wanted == {"open"}:
                query = query.where(col(Incident.status).not_in(CLOSED_STATUSES))
            elif wanted == {"closed"}:
                query = query.where(col(Incident.status).in_(CLOSED_STATUSES))
    rows = list((await session.exec(query.order_by(col(Incident.created_at).desc()).limit(1000))).all())
    return await _with_posts(session, rows)


@router.get(
    "/requests/{service_request_id}.json",
    response_model=list[ServiceRequest],
    summary="One service request",
    responses={
        200: {"content": {"application/json": {"example": [_REQUEST_EXAMPLE]}}},
        404: {"description": "Not found"},
    },
)
async def get_request(
    session: SessionDep,
    principal: Open311PrincipalDep,
    service_request_id: Annotated[str, Path(max_length=64)],
    jurisdiction_id: Annotated[str | None, Query(max_length=2)] = None,
) -> list[ServiceRequest]:
    region = _check_jurisdiction(principal, jurisdiction_id)
    incident = await session.get(Incident, service_request_id)
    if incident is None or not principal.can_see(incident.region_code) or (region and incident.region_code != region):
        raise NotFound(f"service request {service_request_id} not found")
    return await _with_posts(session, [incident])


@router.post(
    "/requests.json",
    response_model=list[Submitted],
    summary="Submit a service request (becomes a post for the pipeline); returns a token",
    responses={
        200: {
            "content": {"application/json": {"example": [{"token": "o311_5f2c9a1b7e3d4c10", "service_notice": None}]}}
        },
        503: {"description": "The collector is unavailable"},
    },
    openapi_extra=SUBMIT_EXAMPLE,
)
async def post_request(
    request: Request,
    session: SessionDep,
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
) -> list[Submitted]:
    require_roles(principal, *SUBMIT_ROLES)
    if service_code not in SERVICE_NAMES:
        raise InvalidInput(f"unknown service_code {service_code}")
    if jurisdiction_id is None and principal.regions is not None and len(principal.regions) == 1:
        jurisdiction_id = next(iter(principal.regions))
    if jurisdiction_id is None:
        raise InvalidInput("jurisdiction_id (region code) is required")
    region = _check_jurisdiction(principal, jurisdiction_id)
    assert region is not None
    token = f"o311_{secrets.token_hex(8)}"
    external_id = f"open311:{token}"
    text = description if not address_string else f"{description}\nАдрес: {address_string}"
    author_name = " ".join(p for p in (first_name, last_name) if p) or None
    # The jurisdiction is the region; what the description names is only checked and reported.
    text_region = await _region_in_text(request, text)
    notice = _mismatch_notice(region, text_region)
    # region_fixed: the classifier takes the jurisdiction as the region, whatever the text names.
    place_hints: dict[str, Any] = {"region_code": region, "region_fixed": True}
    if lat is not None and long is not None:
        place_hints.update(latitude=lat, longitude=long)
    body = {
        "source_type": "push",
        "external_id": external_id,
        "text": text,
        "published_at": datetime.now(UTC).isoformat(),
        "url": media_url,
        "place_hints": place_hints,
        # Contact details (e-mail, phone) stay out of the pipeline: only a pseudonymous author id.
        "author": {"id": account_id or device_id, "name": author_name},
    }
    collector: Upstream = request.app.state.collector
    result = await collector.request("POST", "/v1/posts", json=body, user=principal.acting())
    session.add(
        Open311Token(
            token=token,
            external_id=external_id,
            post_id=_post_id(result),
            jurisdiction_id=region,
            service_code=service_code,
            owner=principal.subject,
        )
    )
    return [
        Submitted(
            token=token,
            account_id=account_id,
            service_notice=notice,
            jurisdiction_id=region,
            text_region_id=text_region,
        )
    ]


async def _region_in_text(request: Request, text: str) -> str | None:
    """The region the classifier finds in the text alone (no hints); None when it finds none, is
    unsure, or does not answer: the submission never waits on or fails with this check."""
    try:
        answer = await ask_classifier(request.app.state, "/v1/classify", {"text": text[:20_000]})
        found = answer.get("region") or {}
    except Exception as exc:  # noqa: BLE001 - an optional check: any failure means "not checked"
        log.warning("Open311: the classifier did not check the text's region", extra={"error": repr(exc)})
        return None
    code = found.get("code") if isinstance(found, dict) else None
    confidence = found.get("confidence") if isinstance(found, dict) else None
    if not isinstance(code, str) or code not in REGIONS:
        return None
    if not isinstance(confidence, int | float) or confidence < TEXT_REGION_MIN_CONFIDENCE:
        return None
    return code


def _mismatch_notice(jurisdiction: str, text_region: str | None) -> str | None:
    if text_region is None or text_region == jurisdiction:
        return None
    return (
        f"The description names {REGIONS[text_region].name} ({text_region}), but the request was filed under "
        f"jurisdiction_id {jurisdiction} ({REGIONS[jurisdiction].name}); it is registered in {jurisdiction}. "
        f"If the place is in {text_region}, file it there instead."
    )


def _post_id(result: Any) -> str | None:
    """The collector's post id, whatever the response shape (object, list or page)."""
    if isinstance(result, dict):
        if isinstance(result.get("post_id"), str):
            return str(result["post_id"])
        for key in ("items", "posts", "accepted"):
            if isinstance(result.get(key), list):
                return _post_id(result[key])
    if isinstance(result, list) and result:
        return _post_id(result[0])
    return None


@router.get(
    "/tokens/{token}.json",
    response_model=list[TokenInfo],
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
) -> list[TokenInfo]:
    _check_jurisdiction(principal, jurisdiction_id)
    row = await session.get(Open311Token, token)
    if row is None or not principal.can_see(row.jurisdiction_id):
        raise NotFound(f"token {token} not found")
    post_id = row.post_id
    if post_id is None:
        post = (await session.exec(select(Post).where(Post.external_id == row.external_id))).first()
        post_id = post.post_id if post else None
    incident_id = None
    if post_id is not None:
        link = await session.get(IncidentPost, post_id)
        if link is not None:
            incident = await session.get(Incident, link.incident_id)
            if incident is not None and principal.can_see(incident.region_code):
                incident_id = incident.incident_id
    return [TokenInfo(token=token, service_request_id=incident_id)]


# ---------------------------------------------------------------------------------------------
# The XML format: GeoReport v2 serves every resource as .json and .xml; some clients ask for XML.
# ---------------------------------------------------------------------------------------------


def to_xml(root: str, item: str, content: Any) -> bytes:
    """GeoReport v2 XML: a root element holding one element per object, fields as child elements."""
    top = ET.Element(root)
    if root == item:  # a single object is its own root (service_definition)
        _fill(top, content)
    else:
        for obj in content if isinstance(content, list) else [content]:
            _fill(ET.SubElement(top, item), obj)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, list):
                holder = ET.SubElement(element, key)
                for entry in child:
                    _fill(ET.SubElement(holder, key.rstrip("s") or key), entry)
            else:
                _fill(ET.SubElement(element, key), child)
    elif value is not None:
        element.text = str(value).lower() if isinstance(value, bool) else str(value)


def _xml_response(root: str, item: str) -> type[Response]:
    class Open311XML(Response):
        media_type = "text/xml"

        def render(self, content: Any) -> bytes:
            return to_xml(root, item, content)

    return Open311XML


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
        response_class=_xml_response(_root, _item),
        summary=f"{_path.rsplit('.', 1)[0].lstrip('/')}: the same as .json, in GeoReport v2 XML",
        responses={200: {"content": {"text/xml": {"example": _example}}}},
        openapi_extra=SUBMIT_EXAMPLE if _method == "POST" else None,
        name=f"{_endpoint.__name__}_xml",
    )
