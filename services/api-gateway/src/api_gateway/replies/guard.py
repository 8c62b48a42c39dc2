"""The reply-quality guard: a reply (or an interim answer) is scored by the classifier before the
gateway forwards it to routing (issue 14, part 3).

Below the region's threshold (`GATEWAY_REPLY_QUALITY_THRESHOLD`, per region in
`GATEWAY_REPLY_QUALITY_THRESHOLDS`) the reply is held: the official gets 409 with the score, the
reasons («формула: передано», «нет: срок») and what to add («укажите срок …»), and can rewrite it. A
curator (the region's admin) may send it anyway with `override_reason`; the override, its
reason and the score go into the action's comment, which routing keeps in the incident's hash-chained
audit log. When the classifier does not answer the reply goes out unscored (an answer to a citizen is
never blocked by a scoring outage), and the comment says so.

A held reply waits for the curator (`gw_held_reply`, replies.router): the curator lists the region's
held replies with their scores and releases one (it goes out under the curator's name, the override
and its reason in the audit log) or returns it to its author with a reason. A later reply to the same
incident that goes out supersedes what was held for it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal, Role
from api_gateway.config import Settings
from api_gateway.deps import ClassifierDep, DatabaseDep, SettingsDep
from api_gateway.incidents.models import Incident
from api_gateway.incidents.routed import ReplyScore
from api_gateway.incidents.schemas import ActionCreate
from api_gateway.replies.models import HeldReply
from api_gateway.upstream import Classifier
from incidents_common.db import Database, utcnow
from incidents_common.problems import ProblemError

log = logging.getLogger("api_gateway.replies")
OVERRIDERS = (Role.regional_admin,)  # the region's curator


class ReplyHeld(ProblemError):
    status, slug, title = 409, "reply-held", "Reply held: it reads as a formula, not an answer"


def threshold_for(settings: Settings, region_code: str) -> float:
    return float(settings.reply_quality_thresholds.get(region_code, settings.reply_quality_threshold))


@dataclass
class ReplyGuard:
    """Scores a reply with the classifier and holds it for the curator when it reads as a formula."""

    classifier: Classifier
    db: Database
    settings: Settings

    async def score(self, *, complaint: str, reply: str) -> ReplyScore | None:
        """The classifier's score of `reply`; None when it does not answer, or not in its contract's shape."""
        try:
            scored = await self.classifier.ask(
                "/v1/replies/score", {"complaint": complaint[:20_000], "reply": reply[:20_000]}
            )
            return ReplyScore.model_validate(scored)
        except Exception as exc:  # noqa: BLE001 - scoring is advice: its outage never blocks an answer
            log.warning("the reply was not scored", extra={"error": repr(exc)[:500]})
            return None

    async def check(
        self, *, incident: Incident, action: ActionCreate, principal: Principal, override_reason: str | None
    ) -> tuple[ReplyScore | None, str | None]:
        """(the score or None, a note for the action's comment or None); raises ReplyHeld when the reply
        is below the region's threshold and nobody who may overrode it."""
        complaint = " ".join(part for part in (incident.title, incident.summary) if part)
        scored = await self.score(complaint=complaint, reply=action.reply_text or "")
        if scored is None:
            return None, "ответ не оценён: сервис оценки недоступен"
        threshold = threshold_for(self.settings, incident.region_code)
        quality = scored.quality
        if quality >= threshold:
            return scored, None
        reasons = "; ".join(scored.reasons)
        if override_reason and principal.role in OVERRIDERS:
            note = f"отправлен вопреки оценке качества {quality:.2f} < {threshold:.2f} ({reasons}): {override_reason}"
            return scored, note
        held_id = await self.hold(
            incident=incident, action=action, principal=principal, scored=scored, threshold=threshold
        )
        if override_reason:
            detail = "only the region's curator (regional admin) may send a reply below the quality threshold"
        else:
            detail = (
                f"quality {quality:.2f} is below the region's threshold {threshold:.2f}: add what is missing, or ask "
                "the curator to release it"
            )
        raise ReplyHeld(
            f"{detail}; it waits in the curator's queue as {held_id}",
            quality=quality,
            threshold=threshold,
            reasons=scored.reasons,
            suggestions=scored.suggestions,
            held_reply_id=held_id,
        )

    async def hold(
        self,
        *,
        incident: Incident,
        action: ActionCreate,
        principal: Principal,
        scored: ReplyScore,
        threshold: float,
    ) -> str:
        """Keep the held reply for the curator, in its own transaction (the request itself fails with 409)."""
        held = HeldReply(
            id=str(uuid.uuid4()),
            incident_id=incident.incident_id,
            region_code=incident.region_code,
            action=action.action.value,
            reply_text=action.reply_text or "",
            reply_url=str(action.reply_url) if action.reply_url else None,
            comment=action.comment,
            author=principal.actor,
            author_name=principal.name,
            quality=scored.quality,
            threshold=threshold,
            reasons=list(scored.reasons),
            suggestions=list(scored.suggestions),
        )
        async with self.db.transaction() as session:
            session.add(held)
        return held.id


async def reply_guard(settings: SettingsDep, classifier: ClassifierDep, db: DatabaseDep) -> ReplyGuard:
    return ReplyGuard(classifier=classifier, db=db, settings=settings)


ReplyGuardDep = Annotated[ReplyGuard, Depends(reply_guard)]


async def supersede_held(session: AsyncSession, incident_id: str) -> None:
    """A reply to the incident went out: what was held for it is no longer waiting."""
    await session.exec(
        update(HeldReply)
        .where(col(HeldReply.incident_id) == incident_id, col(HeldReply.status) == "held")
        .values(status="superseded", decided_at=utcnow())
    )
