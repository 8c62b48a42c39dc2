"""The directory as routing keeps it, asked for the caller: reads narrowed to one region the caller may
see, writes only of objects in the caller's regions (a second line of defence behind routing's own
checks, which never trusts an id alone)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from api_gateway.auth.principal import Principal, Role, require_roles
from api_gateway.upstream import Upstream, UpstreamProblem
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS

KINDS = ("departments", "officials", "rules")


def region_for_read(principal: Principal, region: str | None) -> str:
    if region is None:
        if principal.regions is not None and len(principal.regions) == 1:
            return next(iter(principal.regions))
        raise InvalidInput("pass ?region=<code>")
    if region not in REGIONS or not principal.can_see(region):
        raise NotFound(f"no directory for region {region}")
    return region


async def list_items(routing: Upstream, kind: str, principal: Principal, region: str | None) -> list[Any]:
    code = region_for_read(principal, region)
    result = await routing.request("GET", f"/v1/{kind}", params={"region": code}, user=principal.acting())
    items = result.get("items", result) if isinstance(result, dict) else result
    # Defence in depth: whatever routing returns, only the caller's region goes out.
    return [i for i in items or [] if isinstance(i, dict) and i.get("region_code") == code]


async def create_item(routing: Upstream, kind: str, principal: Principal, body: dict[str, Any]) -> Any:
    require_roles(principal, Role.regional_admin)
    region = body.get("region_code")
    if not isinstance(region, str) or not principal.can_see(region):
        raise NotFound("no such region among yours")
    return await routing.request("POST", f"/v1/{kind}", json=body, user=principal.acting())


async def get_owned(routing: Upstream, principal: Principal, kind: str, object_id: str) -> dict[str, Any]:
    """The object itself, asked of routing for this user, must be in one of the caller's regions.

    A second line of defence behind routing's own check: the object is fetched by its id from its
    own collection and its `region_code` compared, so an id reused in another collection (a
    department named like another region's official) gives no hold on it. 404 otherwise: no leak.
    """
    missing = NotFound(f"no {kind[:-1]} {object_id}")
    if kind == "rules" and not object_id.isdigit():
        raise missing
    try:
        item = await routing.request("GET", f"/v1/{kind}/{quote(object_id, safe='')}", user=principal.acting())
    except UpstreamProblem as exc:
        if exc.status in (404, 422):
            raise missing from None
        raise
    region = item.get("region_code") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(region, str):
        raise missing
    if not principal.can_see(region) or principal.regions is None:
        raise missing
    return item


async def update_item(routing: Upstream, kind: str, principal: Principal, object_id: str, body: dict[str, Any]) -> Any:
    require_roles(principal, Role.regional_admin)
    if "region_code" in body and not principal.can_see(str(body["region_code"])):
        raise NotFound("no such region among yours")
    await get_owned(routing, principal, kind, object_id)
    return await routing.request("PATCH", f"/v1/{kind}/{quote(object_id, safe='')}", json=body, user=principal.acting())
