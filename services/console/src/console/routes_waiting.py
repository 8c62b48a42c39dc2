"""Posts waiting for a person (the gateway's /v1/review-queue/posts): complaints no region was found
for, which the federal level places, and posts the classifier doubted, which their region's admin
decides on. Placing routes the post as a complaint; dismissing records that it needs nothing, and
dismissing it as «не жалоба» also teaches the classifier that such a post is not a complaint."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.deps import GatewayDep, UserDep, check_csrf, page
from console.gateway import GatewayError
from console.sessions import UserSession

router = APIRouter()

DONE = {
    "placed": "Сообщение передано в регион: инцидент создан или дополнен.",
    "dismissed": "Сообщение отклонено.",
    "not_a_complaint": "Сообщение отклонено как не жалоба: классификатор учтёт это решение.",
}
DECIDERS = {"federal", "regional_admin"}


async def _waiting(gateway: Any, user: UserSession) -> list[dict[str, Any]]:
    result = await gateway.get("/v1/review-queue/posts", user.credentials, {"limit": 100})
    return list(result.get("items", []))


@router.get("/waiting")
async def waiting_page(request: Request, user: UserDep, gateway: GatewayDep, done: str | None = None) -> Response:
    try:
        items = await _waiting(gateway, user)
    except GatewayError as exc:
        if exc.status == 401:
            raise
        return page(request, "error.html", user, status_code=exc.status if exc.status < 500 else 502, error=exc)
    return page(
        request,
        "waiting.html",
        user,
        items=items,
        done=DONE.get(done or ""),
        can_decide=user.me.get("role") in DECIDERS,
        form={},
    )


@router.post("/waiting/{post_id}/{decision}")
async def decide(request: Request, post_id: str, decision: str, user: UserDep, gateway: GatewayDep) -> Response:
    form = {key: str(value).strip() for key, value in (await request.form()).items()}
    check_csrf(user, form.get("csrf"))
    if decision not in ("place", "dismiss"):
        return page(request, "error.html", user, status_code=404, error=GatewayError(404, "Нет такого решения"))
    body: dict[str, Any] = {"comment": form.get("comment") or None}
    if decision == "place":
        body |= {"region_code": form.get("region_code", ""), "city": form.get("city") or None}
        if form.get("category"):
            body["category"] = form["category"]
    not_a_complaint = decision == "dismiss" and bool(form.get("not_a_complaint"))  # an unticked box is absent
    if not_a_complaint:
        body["not_a_complaint"] = True
    body = {key: value for key, value in body.items() if value is not None}
    try:
        await gateway.call(
            "POST", f"/v1/review-queue/posts/{quote(post_id, safe='')}/{decision}", user.credentials, json=body
        )
    except GatewayError as exc:
        if exc.status == 401:
            raise
        items = await _waiting(gateway, user)
        return page(
            request,
            "waiting.html",
            user,
            status_code=exc.status if exc.status < 500 else 502,
            items=items,
            done=None,
            can_decide=user.me.get("role") in DECIDERS,
            action_error=exc,
            failed_post=post_id,
            form=form,
        )
    done = "placed" if decision == "place" else "not_a_complaint" if not_a_complaint else "dismissed"
    return RedirectResponse(f"/waiting?done={done}", status_code=303)
