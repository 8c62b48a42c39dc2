"""Open311 over the read model: finding service requests (incidents) in the caller's jurisdictions, and
submitting one (a post sent to the collector, tracked by its token until routing makes an incident).

Submissions: only roles that may create (regional_admin, official), only in the caller's regions.
The jurisdiction_id decides the region: it is the post's region hint, whatever the description says.
The gateway asks the classifier which region the description itself names; when that differs, the
answer says so (`text_region_id`, `service_notice`) instead of leaving the caller to find out later.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal, Role, require_roles
from api_gateway.incidents.models import Incident, IncidentPost, Post
from api_gateway.incidents.params import aware
from api_gateway.incidents.queries import scoped
from api_gateway.incidents.statuses import CLOSED_STATUSES
from api_gateway.open311.mapping import SERVICE_NAMES, to_request
from api_gateway.open311.models import Open311Token
from api_gateway.open311.schemas import ServiceRequestCreated, ServiceRequestRead, ServiceRequestTokenRead
from api_gateway.upstream import Classifier, Upstream
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS

log = logging.getLogger("api_gateway.open311")

# Who may file a service request: the roles that write (auth.principal). integration and federal only read.
SUBMIT_ROLES = (Role.regional_admin, Role.official)
# Below this confidence the classifier's region for a text is a guess, not "the place the text names".
TEXT_REGION_MIN_CONFIDENCE = 0.5


def check_jurisdiction(principal: Principal, jurisdiction_id: str | None) -> str | None:
    if jurisdiction_id is None:
        return None
    if jurisdiction_id not in REGIONS or not principal.can_see(jurisdiction_id):
        raise NotFound(f"jurisdiction {jurisdiction_id} not found")
    return jurisdiction_id


def check_public_jurisdiction(jurisdiction_id: str | None) -> None:
    """For the public catalogue: any known region (no caller, no regions of its own)."""
    if jurisdiction_id is not None and jurisdiction_id not in REGIONS:
        raise NotFound(f"jurisdiction {jurisdiction_id} not found")


async def with_posts(session: AsyncSession, incidents: list[Incident]) -> list[ServiceRequestRead]:
    first_posts = [i.post_ids[0] for i in incidents if i.post_ids]
    posts: dict[str, Post] = {}
    if first_posts:
        posts = {
            p.post_id: p for p in (await session.exec(select(Post).where(col(Post.post_id).in_(first_posts)))).all()
        }
    return [to_request(i, posts.get(i.post_ids[0]) if i.post_ids else None) for i in incidents]


async def find_requests(
    session: AsyncSession,
    *,
    principal: Principal,
    jurisdiction_id: str | None,
    service_request_id: str | None,
    service_code: str | None,
    start_date: datetime | None,
    end_date: datetime | None,
    status: str | None,
) -> list[ServiceRequestRead]:
    """The service requests asked for, newest first; default the last 90 days, at most 1000."""
    region = check_jurisdiction(principal, jurisdiction_id)
    query = scoped(select(Incident), principal, [region] if region else None)
    if service_request_id:
        # Per the spec, an id list overrides every other filter.
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()][:1000]
        query = query.where(col(Incident.incident_id).in_(ids))
    else:
        if service_code:
            query = query.where(col(Incident.category).in_([c.strip() for c in service_code.split(",")]))
        end = aware(end_date) or datetime.now(UTC) + timedelta(seconds=1)
        start = aware(start_date) or end - timedelta(days=90)
        query = query.where(Incident.created_at >= start, Incident.created_at <= end)
        if status:
            wanted = set(status.split(","))
            if wanted == {"open"}:
                query = query.where(col(Incident.status).not_in(CLOSED_STATUSES))
            elif wanted == {"closed"}:
                query = query.where(col(Incident.status).in_(CLOSED_STATUSES))
    rows = list((await session.exec(query.order_by(col(Incident.created_at).desc()).limit(1000))).all())
    return await with_posts(session, rows)


async def find_request(
    session: AsyncSession, *, principal: Principal, service_request_id: str, jurisdiction_id: str | None
) -> list[ServiceRequestRead]:
    region = check_jurisdiction(principal, jurisdiction_id)
    incident = await session.get(Incident, service_request_id)
    if incident is None or not principal.can_see(incident.region_code) or (region and incident.region_code != region):
        raise NotFound(f"service request {service_request_id} not found")
    return await with_posts(session, [incident])


@dataclass(frozen=True)
class Submission:
    """A POSTed service request, as the form gave it (contact details are taken but never passed on)."""

    service_code: str
    description: str
    jurisdiction_id: str | None = None
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    media_url: str | None = None


async def submit(
    session: AsyncSession,
    *,
    collector: Upstream,
    classifier: Classifier,
    principal: Principal,
    submission: Submission,
) -> list[ServiceRequestCreated]:
    """The request sent to the collector as a post, and its token kept to find the incident later."""
    require_roles(principal, *SUBMIT_ROLES)
    if submission.service_code not in SERVICE_NAMES:
        raise InvalidInput(f"unknown service_code {submission.service_code}")
    jurisdiction_id = submission.jurisdiction_id
    if jurisdiction_id is None and principal.regions is not None and len(principal.regions) == 1:
        jurisdiction_id = next(iter(principal.regions))
    if jurisdiction_id is None:
        raise InvalidInput("jurisdiction_id (region code) is required")
    region = check_jurisdiction(principal, jurisdiction_id)
    assert region is not None
    token = f"o311_{secrets.token_hex(8)}"
    external_id = f"open311:{token}"
    description, address = submission.description, submission.address_string
    text = description if not address else f"{description}\nАдрес: {address}"
    author_name = " ".join(p for p in (submission.first_name, submission.last_name) if p) or None
    # The jurisdiction is the region; what the description names is only checked and reported.
    text_region = await region_in_text(classifier, text)
    notice = mismatch_notice(region, text_region)
    # region_fixed: the classifier takes the jurisdiction as the region, whatever the text names.
    place_hints: dict[str, Any] = {"region_code": region, "region_fixed": True}
    if submission.lat is not None and submission.long is not None:
        place_hints.update(latitude=submission.lat, longitude=submission.long)
    body = {
        "source_type": "push",
        "external_id": external_id,
        "text": text,
        "published_at": datetime.now(UTC).isoformat(),
        "url": submission.media_url,
        "place_hints": place_hints,
        # Contact details (e-mail, phone) stay out of the pipeline: only a pseudonymous author id.
        "author": {"id": submission.account_id or submission.device_id, "name": author_name},
    }
    result = await collector.request("POST", "/v1/posts", json=body, user=principal.acting())
    session.add(
        Open311Token(
            token=token,
            external_id=external_id,
            post_id=post_id_of(result),
            jurisdiction_id=region,
            service_code=submission.service_code,
            owner=principal.subject,
        )
    )
    return [
        ServiceRequestCreated(
            token=token,
            account_id=submission.account_id,
            service_notice=notice,
            jurisdiction_id=region,
            text_region_id=text_region,
        )
    ]


async def region_in_text(classifier: Classifier, text: str) -> str | None:
    """The region the classifier finds in the text alone (no hints); None when it finds none, is
    unsure, or does not answer: the submission never waits on or fails with this check."""
    try:
        answer = await classifier.ask("/v1/classify", {"text": text[:20_000]})
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


def mismatch_notice(jurisdiction: str, text_region: str | None) -> str | None:
    if text_region is None or text_region == jurisdiction:
        return None
    return (
        f"The description names {REGIONS[text_region].name} ({text_region}), but the request was filed under "
        f"jurisdiction_id {jurisdiction} ({REGIONS[jurisdiction].name}); it is registered in {jurisdiction}. "
        f"If the place is in {text_region}, file it there instead."
    )


def post_id_of(result: Any) -> str | None:
    """The collector's post id, whatever the response shape (object, list or page)."""
    if isinstance(result, dict):
        if isinstance(result.get("post_id"), str):
            return str(result["post_id"])
        for key in ("items", "posts", "accepted"):
            if isinstance(result.get(key), list):
                return post_id_of(result[key])
    if isinstance(result, list) and result:
        return post_id_of(result[0])
    return None


async def token_status(
    session: AsyncSession, *, principal: Principal, token: str, jurisdiction_id: str | None
) -> list[ServiceRequestTokenRead]:
    """The service_request_id of a submitted token: null until routing made (or extended) an incident."""
    check_jurisdiction(principal, jurisdiction_id)
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
    return [ServiceRequestTokenRead(token=token, service_request_id=incident_id)]
