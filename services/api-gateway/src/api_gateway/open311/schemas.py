"""API models of Open311 GeoReport v2: services, service requests, submissions and their tokens (the
field names are the specification's)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceRead(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: str = "realtime"
    keywords: str = ""
    group: str = ""


class ServiceAttribute(BaseModel):
    """One extra field a service asks for (GeoReport v2 service definition); none of ours asks any."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None = None
    order: int
    description: str
    values: list[dict[str, str]] = Field(default_factory=list, description="key and name of each choice")


class ServiceDefinition(BaseModel):
    """GET /services/{service_code}.json: the attributes a request of the service carries beyond the
    standard ones (`metadata` is false for every service here, so the list is empty)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"service_code": "roads", "attributes": []}]})

    service_code: str
    attributes: list[ServiceAttribute] = Field(default_factory=list)


class ServiceRequestRead(BaseModel):
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


class ServiceRequestTokenRead(BaseModel):
    token: str
    service_request_id: str | None


class ServiceRequestCreated(BaseModel):
    token: str
    service_notice: str | None = None
    account_id: str | None = None
    jurisdiction_id: str | None = None
    text_region_id: str | None = None


REQUEST_EXAMPLE = {
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
