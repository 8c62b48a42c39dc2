"""The routing directory (departments, officials, rules) through the gateway, scoped to the caller's regions.

Reads: federal (any region), regional_admin, official and integration (their regions).
Writes: regional_admin only, and only objects whose region_code is one of its regions.

Routing enforces the same on its side for the user named in the service token (it is the
authority); the checks here are a second line of defence that never trusts an id alone.
"""

# No `from __future__ import annotations`: the handlers made in _make_routes name `kind` in their
# annotations (Body examples), which FastAPI must evaluate where they are defined.
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel

from api_gateway.auth.deps import PrincipalDep
from api_gateway.deps import RoutingDep
from api_gateway.directory import schemas, service
from api_gateway.schemas import example_of

router = APIRouter(prefix="/v1/directory", tags=["directory"])


class Shapes(NamedTuple):
    """A directory kind's models: what a portal sends to create or update one, what it reads back."""

    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]


SHAPES: dict[str, Shapes] = {
    "departments": Shapes(schemas.DepartmentCreate, schemas.DepartmentUpdate, schemas.DepartmentRead),
    "officials": Shapes(schemas.OfficialCreate, schemas.OfficialUpdate, schemas.OfficialRead),
    "rules": Shapes(schemas.RuleCreate, schemas.RuleUpdate, schemas.RuleRead),
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Only regional admins write the directory, and only in their regions"},
    503: {"description": "Routing is unavailable; nothing was changed (Retry-After)"},
    504: {"description": "Routing did not answer in time; the change may still be applied: read it back"},
}


def _make_routes(kind: str) -> None:
    shapes = SHAPES[kind]

    @router.get(
        f"/{kind}",
        summary=f"List {kind} of a region",
        response_model=list[shapes.read],  # type: ignore[name-defined]  # a model chosen per kind
        responses={200: {"content": {"application/json": {"example": [example_of(shapes.read)]}}}, **RESPONSES},
        name=f"list_{kind}",
    )
    async def list_items(
        routing: RoutingDep,
        principal: PrincipalDep,
        region: Annotated[str | None, Query(max_length=2, examples=["64"])] = None,
    ) -> list[Any]:
        return await service.list_items(routing, kind, principal, region)

    @router.post(
        f"/{kind}",
        status_code=201,
        summary=f"Create {kind[:-1]} (regional_admin, own regions)",
        response_model=shapes.read,
        responses={201: {"content": {"application/json": {"example": example_of(shapes.read)}}}, **RESPONSES},
        name=f"create_{kind}",
    )
    async def create_item(
        routing: RoutingDep,
        principal: PrincipalDep,
        body: Annotated[shapes.create, Body()],  # type: ignore[name-defined]  # a model chosen per kind
    ) -> Any:
        return await service.create_item(routing, kind, principal, body.model_dump(mode="json", exclude_unset=True))


for _kind in service.KINDS:
    _make_routes(_kind)


def _make_update_route(kind: str) -> None:
    shapes = SHAPES[kind]

    @router.patch(
        f"/{kind}/{{object_id}}",
        summary=f'Update {kind[:-1]} (partial, e.g. {{"active": false}}); regional_admin, own regions',
        response_model=shapes.read,
        responses={
            200: {"content": {"application/json": {"example": example_of(shapes.read)}}},
            404: {"description": f"No such {kind[:-1]} in your regions"},
            **RESPONSES,
        },
        name=f"update_{kind}",
    )
    async def update_item(
        routing: RoutingDep,
        principal: PrincipalDep,
        object_id: Annotated[str, Path(max_length=100)],
        body: Annotated[shapes.update, Body()],  # type: ignore[name-defined]  # a model chosen per kind
    ) -> Any:
        changes = body.model_dump(mode="json", exclude_unset=True)
        return await service.update_item(routing, kind, principal, object_id, changes)


for _kind in service.KINDS:
    _make_update_route(_kind)
