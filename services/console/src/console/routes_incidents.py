"""The queue (incidents by priority, with filters and live updates), an incident's page, its actions,
and the CSV export: each a call to the gateway's public API with the user's own credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from console import presentation
from console.deps import GatewayDep, SettingsDep, UserDep, check_csrf, page
from console.gateway import GatewayError
from console.sessions import UserSession

router = APIRouter(include_in_schema=False)

SORTS = {
    "-priority": "приоритету",
    "-severity": "тяжести",
    "-created_at": "новизне",
    "created_at": "давности",
    "-total_reach": "охвату",
    "-complainants": "числу заявителей",
}
DEFAULT_SORT = "-priority"
ACTIONS = {
    "take": "Взять в работу",
    "interim_answer": "Промежуточный ответ",
    "reply": "Ответ",
    "redirect": "Перенаправить",
    "resolve": "Решено",
    "close": "Закрыть",
    "reject": "Отклонить",
    "reopen": "Открыть снова",
    "correct": "Исправить классификацию",
}
ACTION_FIELDS = (
    "comment",
    "reason",
    "reply_text",
    "reply_url",
    "target_department_id",
    "target_note",
    "official_id",
    "category",
    "urgency",
    "region_code",
)


FilterQuery = Annotated[list[str] | None, Query()]


async def queue_filters(
    region: FilterQuery = None,
    category: FilterQuery = None,
    urgency: FilterQuery = None,
    status: FilterQuery = None,
    overdue: bool | None = None,
    needs_review: bool | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """The queue's filters from the query string (a dependency of the queue and of its CSV export)."""
    return {
        "region": [r for r in region or [] if r],
        "category": [c for c in category or [] if c],
        "urgency": [u for u in urgency or [] if u],
        "status": [s for s in status or [] if s],
        "overdue": True if overdue else None,
        "needs_review": True if needs_review else None,
        "q": (q or "").strip() or None,
        "sort": sort if sort in SORTS else DEFAULT_SORT,
    }


FiltersDep = Annotated[dict[str, Any], Depends(queue_filters)]


def filter_query(filters: dict[str, Any]) -> str:
    """The filters as a query string (no cursor): for the live refresh, the CSV link and the next page."""
    pairs: list[tuple[str, str]] = []
    for key, value in filters.items():
        if isinstance(value, list):
            pairs.extend((key, item) for item in value)
        elif value is True:
            pairs.append((key, "true"))
        elif value:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def clocks_of(incident: dict[str, Any], timezone: str | None, now: datetime | None = None) -> list[presentation.Clock]:
    deadlines = incident.get("deadlines") or {}
    answered = deadlines.get("answered_at") or deadlines.get("closed_at")
    return [
        presentation.clock(
            "Первая реакция",
            deadlines.get("first_response_due"),
            timezone,
            done_at=deadlines.get("first_response_at"),
            now=now,
        ),
        presentation.clock("Ответ по существу", deadlines.get("final_due"), timezone, done_at=answered, now=now),
    ]


async def _queue(
    gateway: Any, user: UserSession, filters: dict[str, Any], cursor: str | None, limit: int
) -> dict[str, Any]:
    params: dict[str, Any] = {**filters, "cursor": cursor, "limit": limit}
    result = await gateway.get("/v1/incidents", user.credentials, params)
    zones = user.timezones
    rows = [{"incident": item, "clocks": clocks_of(item, zones.get(item["region_code"]))} for item in result["items"]]
    return {"rows": rows, "next_cursor": result.get("next_cursor")}


@router.get("/")
async def queue_page(
    request: Request,
    user: UserDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    filters: FiltersDep,
    cursor: str | None = None,
) -> Response:
    error: GatewayError | None = None
    queue: dict[str, Any] = {"rows": [], "next_cursor": None}
    try:
        queue = await _queue(gateway, user, filters, cursor, settings.page_size)
    except GatewayError as exc:
        if exc.status == 401:
            raise
        error = exc
    template = "_queue_table.html" if request.headers.get("HX-Request") else "queue.html"
    return page(
        request,
        template,
        user,
        status_code=error.status if error and 400 <= error.status < 500 else 200,
        filters=filters,
        sorts=SORTS,
        error=error,
        query=filter_query(filters),
        **queue,
    )


@router.get("/alerts")
async def alerts_banner(request: Request, user: UserDep, gateway: GatewayDep) -> Response:
    """The surge alerts of the last day in the user's regions (a banner on every page)."""
    since = (datetime.now(UTC) - timedelta(hours=24)).isoformat()
    try:
        result = await gateway.get("/v1/alerts", user.credentials, {"since": since, "limit": 5})
        alerts = result.get("items", []) if isinstance(result, dict) else list(result)
    except GatewayError as exc:
        if exc.status == 401:
            raise
        alerts = []
    return page(request, "_alerts.html", user, alerts=alerts, zones=user.timezones)


async def _incident_context(gateway: Any, user: UserSession, incident_id: str) -> dict[str, Any]:
    incident = await gateway.get(f"/v1/incidents/{incident_id}", user.credentials)
    timezone = user.timezones.get(incident["region_code"])
    posts = []
    for post in incident.get("posts") or []:
        evidence = presentation.evidence_of(post.get("classification"))
        words = [word for field in ("incident", "category", "urgency") for word in evidence.get(field, [])]
        posts.append({"post": post, "evidence": evidence, "text": presentation.highlight(post["text"], words)})
    departments: list[dict[str, Any]] = []
    try:
        departments = await gateway.get(
            "/v1/directory/departments", user.credentials, {"region": incident["region_code"]}
        )
    except GatewayError as exc:
        if exc.status == 401:
            raise
    return {
        "incident": incident,
        "timezone": timezone,
        "clocks": clocks_of(incident, timezone),
        "posts": posts,
        "departments": [d for d in departments if d.get("active", True)],
        "actions": ACTIONS,
        "history": list(reversed(incident.get("history") or [])),
    }


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, incident_id: str, user: UserDep, gateway: GatewayDep, done: str | None = None
) -> Response:
    try:
        context = await _incident_context(gateway, user, incident_id)
    except GatewayError as exc:
        if exc.status == 401:
            raise
        return page(request, "error.html", user, status_code=exc.status if exc.status < 500 else 502, error=exc)
    template = "_incident_body.html" if request.headers.get("HX-Request") else "incident.html"
    return page(request, template, user, done=ACTIONS.get(done or ""), form={}, **context)


@router.post("/incidents/{incident_id}/actions")
async def act(request: Request, incident_id: str, user: UserDep, gateway: GatewayDep) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(user, form.get("csrf"))
    action = form.get("action", "")
    body: dict[str, Any] = {"action": action}
    for name in ACTION_FIELDS:
        value = form.get(name, "").strip()
        if value:
            body[name] = value
    if form.get("is_incident") in ("true", "false"):
        body["is_incident"] = form["is_incident"] == "true"
    try:
        await gateway.call("POST", f"/v1/incidents/{incident_id}/actions", user.credentials, json=body)
    except GatewayError as exc:
        if exc.status == 401:
            raise
        # Re-show the page with the error and with what the user typed: nothing they wrote is lost.
        try:
            context = await _incident_context(gateway, user, incident_id)
        except GatewayError:
            return page(request, "error.html", user, status_code=exc.status if exc.status < 500 else 502, error=exc)
        return page(
            request,
            "incident.html",
            user,
            status_code=exc.status if exc.status < 500 else 502,
            action_error=exc,
            failed_action=action,
            form=form,
            done=None,
            **context,
        )
    return RedirectResponse(f"/incidents/{incident_id}?done={action}", status_code=303)


@router.get("/export/incidents.csv")
async def export_incidents(user: UserDep, gateway: GatewayDep, filters: FiltersDep) -> Response:
    params = {key: value for key, value in filters.items() if key != "sort"}  # the export has its own order
    upstream = await gateway.download("/v1/incidents/export.csv", user.credentials, params)
    return Response(
        upstream.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
    )
