"""Posts awaiting a person's decision, kept by routing (routing.incidents.unplaced): complaints no
region was found for and posts the classifier doubted were complaints. The gateway lists them and
forwards the decisions as the caller; routing enforces who may (it is the authority), the gateway
refuses the roles that never may before routing is asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api_gateway.auth.principal import Principal, Role, require_roles
from api_gateway.schemas import example
from api_gateway.upstream import Upstream
from incidents_common.categories import CategoryName

EXAMPLE: dict[str, Any] = {
    "post_id": "3f9c1e2a-5b7d-4c1e-9a2b-8d6f0e4c3b21",
    "reason": "жалоба без региона: ни текст, ни источник не называют место",
    "region_code": None,
    "category": "housing_utilities",
    "urgency": "critical",
    "text": "Ленина 15, третий подъезд — нет света с утра. Аварийка не отвечает",
    "url": "https://vk.com/wall-1_2",
    "published_at": "2026-12-06T08:10:00Z",
    "held_at": "2026-12-06T08:10:03Z",
    "decision": None,
    "decided_at": None,
    "decided_by": None,
    "incident_id": None,
    "comment": None,
    "not_a_complaint": None,
}


class UnplacedPostRead(BaseModel):
    model_config = example(**EXAMPLE)

    post_id: str
    reason: str = Field(description="Why routing could not make it an incident on its own, in Russian")
    region_code: str | None = Field(description="The region the classifier or the source gave; null: none found")
    category: str
    urgency: str
    text: str = Field(description="The post's text (its first 2,000 characters)")
    url: str | None = None
    published_at: datetime | None = None
    held_at: datetime
    decision: str | None = Field(default=None, description="placed or dismissed; null while it waits")
    decided_at: datetime | None = None
    decided_by: str | None = None
    incident_id: str | None = Field(default=None, description="The incident a placed post opened or joined")
    comment: str | None = None
    not_a_complaint: bool | None = Field(
        default=None,
        description="dismissed: true when the person said it is no complaint at all (the classifier was taught "
        "so), false when it is a complaint nobody can act on; null while it waits or when placed",
    )


class UnplacedPostPage(BaseModel):
    model_config = example(items=[EXAMPLE], total=1, limit=50, offset=0)

    items: list[UnplacedPostRead]
    total: int
    limit: int
    offset: int


class PlaceCreate(BaseModel):
    """Route the post as a complaint of this region (and category, when the classifier's was wrong)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"region_code": "64", "city": "Энгельс", "comment": "автор из Энгельса"}]},
    )

    region_code: str = Field(pattern=r"^\d{2}$", examples=["64"])
    category: CategoryName | None = Field(default=None, description="Default: the classifier's category")
    city: str | None = Field(default=None, max_length=200, examples=["Энгельс"])
    comment: str | None = Field(default=None, max_length=2000, examples=["автор пишет из Энгельса (профиль)"])


class DismissCreate(BaseModel):
    """Nothing to route: the post is not a complaint, or a complaint nobody can act on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"not_a_complaint": True, "comment": "не жалоба: вопрос о расписании"}]},
    )

    not_a_complaint: StrictBool = Field(
        default=False,
        description="true: the post is not a complaint at all (an ad, a question, chatter); the decision teaches "
        "the classifier so. false (the default): a complaint, but nothing anyone can act on; the classifier "
        "learns nothing from it",
    )
    comment: str | None = Field(default=None, max_length=2000, examples=["не жалоба: вопрос о расписании"])


DECIDERS = (Role.federal, Role.regional_admin)


async def list_posts(
    routing: Upstream, principal: Principal, *, region: str | None, decided: bool, limit: int, offset: int
) -> UnplacedPostPage:
    if region is not None:
        principal.visible([region])  # a code that names no region is 422, as on every list
    params: dict[str, Any] = {"decided": str(decided).lower(), "limit": limit, "offset": offset}
    if region is not None:
        params["region"] = region
    body = await routing.request("GET", "/v1/unplaced-posts", params=params, user=principal.acting())
    return UnplacedPostPage.model_validate(body)


async def place(routing: Upstream, principal: Principal, post_id: str, request: PlaceCreate) -> UnplacedPostRead:
    require_roles(principal, *DECIDERS)
    principal.visible([request.region_code])
    path = f"/v1/unplaced-posts/{quote(post_id, safe='')}/place"
    body = await routing.request("POST", path, json=request.model_dump(exclude_none=True), user=principal.acting())
    return UnplacedPostRead.model_validate(body)


async def dismiss(routing: Upstream, principal: Principal, post_id: str, request: DismissCreate) -> UnplacedPostRead:
    require_roles(principal, *DECIDERS)
    path = f"/v1/unplaced-posts/{quote(post_id, safe='')}/dismiss"
    body = await routing.request("POST", path, json=request.model_dump(exclude_none=True), user=principal.acting())
    return UnplacedPostRead.model_validate(body)
