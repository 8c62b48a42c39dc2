"""What the gateway asks routing about an incident, as the caller: actions (who may do what, the
reassignment's region check, the reply-quality guard before a reply or an interim answer goes out)
and the verdict on its audit log."""

from __future__ import annotations

from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal, Role, require_roles
from api_gateway.incidents.models import Incident
from api_gateway.incidents.routed import ReplyScore, RoutedIncident, routed_incident
from api_gateway.incidents.schemas import ActionCreate, IncidentAuditRead
from api_gateway.incidents.service import get_visible
from api_gateway.replies.guard import ReplyGuard, supersede_held
from api_gateway.upstream import Upstream, UpstreamProblem
from incidents_common.events import IncidentAction
from incidents_common.problems import Forbidden, NotFound

# Officials act only on incidents assigned to them, and cannot hand them to someone else.
OFFICIAL_ACTIONS = {
    IncidentAction.take,
    IncidentAction.interim_answer,
    IncidentAction.reply,
    IncidentAction.resolve,
    IncidentAction.redirect,
}
REPLIES = (IncidentAction.reply, IncidentAction.interim_answer)


async def act(
    session: AsyncSession,
    *,
    routing: Upstream,
    guard: ReplyGuard,
    principal: Principal,
    incident_id: str,
    action: ActionCreate,
) -> RoutedIncident:
    """The action checked, forwarded to routing, and its answer (with the reply's score, if scored)."""
    incident = await get_visible(session, principal=principal, incident_id=incident_id)
    require_roles(principal, Role.regional_admin, Role.official)
    if principal.role is Role.official:
        if incident.assignee_id != principal.official_id:
            raise Forbidden("officials act only on incidents assigned to them")
        if action.action not in OFFICIAL_ACTIONS:
            raise Forbidden(f"officials may not {action.action}")
    if action.action is IncidentAction.reassign and action.official_id:
        await _check_new_assignee(routing, principal, incident, action.official_id)
    scored: ReplyScore | None = None
    if action.action in REPLIES:
        scored, note = await guard.check(
            incident=incident, action=action, principal=principal, override_reason=action.override_reason
        )
        if note:
            action = action.model_copy(update={"comment": f"{action.comment}; {note}" if action.comment else note})
    answer = await forward_action(routing, incident_id, action, principal)
    if action.action in REPLIES:
        await supersede_held(session, incident_id)
    answer.reply_quality = scored
    return answer


async def _check_new_assignee(routing: Upstream, principal: Principal, incident: Incident, official_id: str) -> None:
    """The new assignee must work in the incident's region: a regional admin cannot hand a citizen's
    complaint (and its personal data) to another region's official. Routing checks this too (it is
    the authority); asking for the official itself cannot be fooled by ids."""
    try:
        official = await routing.request("GET", f"/v1/officials/{quote(official_id, safe='')}", user=principal.acting())
    except UpstreamProblem as exc:
        if exc.status != 404:
            raise
        official = None
    if not isinstance(official, dict) or official.get("region_code") != incident.region_code:
        raise NotFound(f"no official {official_id} in region {incident.region_code}")


async def forward_action(
    routing: Upstream, incident_id: str, action: ActionCreate, principal: Principal
) -> RoutedIncident:
    """The action sent to routing as the caller (routing records the user named in the service token),
    and routing's incident after it."""
    body = action.model_dump(mode="json", exclude_none=True, exclude={"override_reason"})
    path = f"/v1/incidents/{quote(incident_id, safe='')}/actions"
    return routed_incident(await routing.request("POST", path, json=body, user=principal.acting()), incident_id)


async def audit(
    session: AsyncSession, *, routing: Upstream, principal: Principal, incident_id: str
) -> IncidentAuditRead:
    """Routing's verdict on the audit log of an incident the caller may see."""
    await get_visible(session, principal=principal, incident_id=incident_id)
    result = await routing.request("GET", f"/v1/incidents/{quote(incident_id, safe='')}/audit", user=principal.acting())
    return IncidentAuditRead.model_validate(result)
