"""How incidents look in Open311 GeoReport v2.

Service = incident category; service request = incident; jurisdiction_id = region code; status
open/closed from the incident status; expected_datetime = the SLA deadline (final, else the
first-response one); agency_responsible = the assigned body; lat/long = the post's coordinates, else
those of the incident's town (incidents_common.towns) when the towns table knows it in the region.
"""

from __future__ import annotations

from typing import Any

from api_gateway.incidents.models import Incident, Post
from api_gateway.incidents.statuses import CLOSED_STATUSES
from api_gateway.open311.schemas import ServiceRead, ServiceRequestRead
from incidents_common.towns import find_town

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


def service_of(code: str) -> ServiceRead:
    name, description = SERVICE_NAMES.get(code, (code, code))
    return ServiceRead(
        service_code=code, service_name=name, description=description, group=SERVICE_GROUPS.get(code, name)
    )


def coordinates(incident: Incident, hints: dict[str, Any]) -> tuple[float | None, float | None]:
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


def status_note(incident: Incident) -> str:
    reply = incident.reply or {}
    if reply.get("text") and reply.get("status") in ANSWER_STANDS:
        return str(reply["text"])
    return incident.status


def to_request(incident: Incident, post: Post | None) -> ServiceRequestRead:
    hints = (post.place_hints if post else None) or {}
    lat, long = coordinates(incident, hints)
    name, _ = SERVICE_NAMES.get(incident.category, (incident.category, ""))
    return ServiceRequestRead(
        service_request_id=incident.incident_id,
        status="closed" if incident.status in CLOSED_STATUSES else "open",
        status_notes=status_note(incident),
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
