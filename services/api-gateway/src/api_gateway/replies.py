"""The reply-quality guard: a reply (or an interim answer) is scored by the classifier before the
gateway forwards it to routing (issue 14, part 3).

Below the region's threshold (`GATEWAY_REPLY_QUALITY_THRESHOLD`, per region in
`GATEWAY_REPLY_QUALITY_THRESHOLDS`) the reply is held: the official gets 409 with the score, the
reasons («формула: передано», «нет: срок») and what to add («укажите срок …»), and can rewrite it. A
curator (the region's admin) may send it anyway with `override_reason`; the override, its
reason and the score go into the action's comment, which routing keeps in the incident's hash-chained
audit log. When the classifier does not answer the reply goes out unscored (an answer to a citizen is
never blocked by a scoring outage), and the comment says so.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request

from api_gateway.auth import Principal, Role
from api_gateway.models import Incident
from api_gateway.schemas import ActionCreate
from api_gateway.upstream import ask_classifier
from incidents_common.problems import ProblemError

log = logging.getLogger("api_gateway.replies")
OVERRIDERS = (Role.regional_admin,)  # the region's curator


class ReplyHeld(ProblemError):
    status, slug, title = 409, "reply-held", "Reply held: it reads as a formula, not an answer"


def threshold_for(settings: Any, region_code: str) -> float:
    return float(settings.reply_quality_thresholds.get(region_code, settings.reply_quality_threshold))


async def score_reply(request: Request, *, complaint: str, reply: str) -> dict[str, Any] | None:
    """The classifier's score of `reply` (ReplyScoreRead as a dict); None when it does not answer."""
    try:
        scored: dict[str, Any] = await ask_classifier(
            request.app.state, "/v1/replies/score", {"complaint": complaint[:20_000], "reply": reply[:20_000]}
        )
        return scored
    except Exception as exc:  # noqa: BLE001 - scoring is advice: its outage never blocks an answer
        log.warning("the reply was not scored", extra={"error": repr(exc)})
        return None


async def guard_reply(
    request: Request, *, incident: Incident, action: ActionCreate, principal: Principal, override_reason: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(the score or None, a note for the action's comment or None); raises ReplyHeld when the reply
    is below the region's threshold and nobody who may overrode it."""
    complaint = " ".join(part for part in (incident.title, incident.summary) if part)
    scored = await score_reply(request, complaint=complaint, reply=action.reply_text or "")
    if scored is None:
        return None, "ответ не оценён: сервис оценки недоступен"
    threshold = threshold_for(request.app.state.settings, incident.region_code)
    quality = float(scored.get("quality", 0.0))
    if quality >= threshold:
        return scored, None
    reasons = "; ".join(scored.get("reasons") or [])
    if override_reason and principal.role in OVERRIDERS:
        note = f"отправлен вопреки оценке качества {quality:.2f} < {threshold:.2f} ({reasons}): {override_reason}"
        return scored, note
    if override_reason:
        raise ReplyHeld(
            "only the region's curator (regional admin) may send a reply below the quality threshold",
            quality=quality,
            threshold=threshold,
            reasons=scored.get("reasons") or [],
            suggestions=scored.get("suggestions") or [],
        )
    raise ReplyHeld(
        f"quality {quality:.2f} is below the region's threshold {threshold:.2f}: add what is missing, or ask the "
        "curator to send it with override_reason",
        quality=quality,
        threshold=threshold,
        reasons=scored.get("reasons") or [],
        suggestions=scored.get("suggestions") or [],
    )
