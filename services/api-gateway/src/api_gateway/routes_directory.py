"""The routing directory (departments, officials, rules) through the gateway, scoped to the caller's regions.

Reads: federal (any region), regional_admin, official and integration (their regions).
Writes: regional_admin only, and only objects whose region_code is one of its regions.

Routing enforces the same on its side for the user named in the service token (it is the
authority); the checks here are a second line of defence that never trusts an id alone.
"""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Query, Request

from api_gateway.auth import Principal, Role
from api_gateway.deps import PrincipalDep, require_roles
from api_gateway.upstream import Upstream, UpstreamProblem
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS

router = APIRouter(prefix="/v1/directory", tags=["directory"])

EXAMPLES: dict[str, dict[str, Any]] = {
    "departments": {
        "region_code": "64",
        "name": "Комитет дорожного хозяйства администрации г. Саратова",
        "city": "Саратов",
        "categories": ["roads"],
    },
    "officials": {
        "region_code": "64",
        "name": "Петров Иван Сергеевич",
        "position": "Начальник отдела",
        "department_id": "dep-64-roads",
        "email": "petrov@saratov.example",
    },
    "rules": {
        "region_code": "64",
        "category": "roads",
        "city": "Саратов",
        "department_id": "dep-64-roads",
        "priority": 10,
    },
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated"},
    403: {"description": "Only regional admins write the directory, and only in their regions"},
    503: {"description": "Routing is unavailable"},
}


def _routing(request: Request) -> Upstream:
    return request.app.state.routing  # type: ignore[no-any-return]


def _region_for_read(principal: Principal, region: str | None) -> str:
    if region is None:
        if principal.regions is not None and len(principal.regions) == 1:
            return next(iter(principal.regions))
        raise InvalidInput("pass ?region=<code>")
    if region not in REGIONS or not principal.can_see(region):
        raise NotFound(f"no directory for region {region}")
    return region


def _check_write(principal: Principal, body: dict[str, Any]) -> None:
    require_roles(principal, Role.regional_admin)
    region = body.get("region_code")
    if not isinstance(region, str) or not principal.can_see(region):
        raise NotFound("no such region among yours")


async def _list(request: Request, kind: str, principal: Principal, region: str | None) -> list[Any]:
    code = _region_for_read(principal, region)
    result = await _routing(request).request("GET", f"/v1/{kind}", params={"region": code}, user=principal.acting())
    items = result.get("items", result) if isinstance(result, dict) else result
    # Defence in depth: whatever routing returns, only the caller's region goes out.
    return [i for i in items or [] if isinstance(i, dict) and i.get("region_code") == code]


def _make_routes(kind: str) -> None:
    @router.get(
        f"/{kind}",
        summary=f"List {kind} of a region",
        responses={200: {"content": {"application/json": {"example": [EXAMPLES[kind]]}}}, **RESPONSES},
        name=f"list_{kind}",
    )
    async def list_items(
        request: Request,
        principal: PrincipalDep,
        region: Annotated[str | None, Query(max_length=2, examples=["64"])] = None,
    ) -> list[Any]:
        return await _list(request, kind, principal, region)

    @router.post(
        f"/{kind}",
        status_code=201,
        summary=f"Create {kind[:-1]} (regional_admin, own regions)",
        responses={201: {"content": {"application/json": {"example": EXAMPLES[kind]}}}, **RESPONSES},
        name=f"create_{kind}",
    )
    async def create_item(
        request: Request,
        principal: PrincipalDep,
        body: Annotated[dict[str, Any], Body(examples=[EXAMPLES[kind]])],
    ) -> Any:
        _check_write(principal, body)
        return await _routing(request).request("POST", f"/v1/{kind}", json=body, user=principal.acting())


for _kind in ("departments", "officials", "rules"):
    _make_routes(_kind)


async def _get_owned(request: Request, principal: Principal, kind: str, object_id: str) -> dict[str, Any]:
    """The object itself, asked of routing for this user, must be in one of the caller's regions.

    A second line of defence behind routing's own check: the object is fetched by its id from its
    own collection and its `region_code` compared, so an id reused in another collection (a
    department named like another region's official) gives no hold on it. 404 otherwise: no leak.
    """
    missing = NotFound(f"no {kind[:-1]} {object_id}")
    if kind == "rules" and not object_id.isdigit():
        raise missing
    try:
        item = await _routing(request).request(
            "GET", f"/v1/{kind}/{quote(object_id, safe='')}", user=principal.acting()
        )
    except UpstreamProblem as exc:
        if exc.status in (404, 422):
            raise missing from None
        raise
    region = item.get("region_code") if isinstance(item, dict) else None
    if not isinstance(region, str) or not principal.can_see(region) or principal.regions is None:
        raise missing
    return item


def _make_update_route(kind: str) -> None:
    @router.patch(
        f"/{kind}/{{object_id}}",
        summary=f'Update {kind[:-1]} (partial, e.g. {{"active": false}}); regional_admin, own regions',
        responses={
            200: {"content": {"application/json": {"example": EXAMPLES[kind]}}},
            404: {"description": f"No such {kind[:-1]} in your regions"},
            **RESPONSES,
        },
        name=f"update_{kind}",
    )
    async def update_item(
        request: Request,
        principal: PrincipalDep,
        object_id: Annotated[str, Path(max_length=100)],
        body: Annotated[dict[str, Any], Body(examples=[{"active": False}])],
    ) -> Any:
        require_roles(principal, Role.regional_admin)
        if "region_code" in body and not principal.can_see(str(body["region_code"])):
            raise NotFound("no such region among yours")
        await _get_owned(request, principal, kind, object_id)
        return await _routing(request).request(
            "PATCH", f"/v1/{kind}/{quote(object_id, safe='')}", json=body, user=principal.acting()
        )


for _kind in ("departments", "officials", "rules"):
    _make_update_route(_kind)
