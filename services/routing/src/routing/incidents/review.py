"""The human in the loop, as an incident sees it: pure functions, no database.

The classifier says when it is unsure (`Classification.needs_review` with a `ReviewReason` per field
in a grey zone). An incident opened or joined by such a post keeps the flag and the reasons until an
operator decides (the `correct` action, incidents.corrections). A `danger` reason on an incident that
is not critical makes it *possibly critical*: its clocks run on the SLA policy of urgency critical
(`clock_urgency`), because a missed danger costs more than a critical deadline given to a pothole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from incidents_common.events import PostClassified, Urgency
from routing.incidents.snapshots import IncidentLike

DANGER = "danger"
CRITICAL = Urgency.critical.value


def clock_urgency(incident: Any) -> str:
    """The urgency whose SLA policy runs the incident's clocks: critical while it is possibly critical."""
    return CRITICAL if incident.possibly_critical else str(incident.urgency)


@dataclass(frozen=True, slots=True)
class PostReview:
    """What one classified post says about review."""

    needs_review: bool
    reasons: list[dict[str, Any]]
    danger: float | None

    @property
    def danger_reason(self) -> dict[str, Any] | None:
        return next((r for r in self.reasons if r["field"] == DANGER), None)


def post_review(post: PostClassified) -> PostReview:
    c = post.classification
    reasons = [r.model_dump(mode="json") for r in c.review_reasons] if c.needs_review else []
    return PostReview(needs_review=c.needs_review, reasons=reasons, danger=c.danger)


def post_classification(post: PostClassified) -> dict[str, Any]:
    """The classifier's values of a post as routing keeps them (IncidentPost.classification): what an
    operator's correction of the post replaces."""
    c = post.classification
    return {
        "model_version": c.model_version,
        "category": c.category.label,
        "urgency": c.urgency.label,
        "region_code": c.region.code or post.place_hints.region_code,
        "danger": c.danger,
        "review_reasons": [r.model_dump(mode="json") for r in c.review_reasons] if c.needs_review else [],
    }


def merge_reasons(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One reason per field: for danger the highest probability (the most alarming post), for the
    others the lowest confidence (the most doubtful one)."""
    merged = {reason["field"]: reason for reason in current}
    for reason in new:
        held = merged.get(reason["field"])
        if held is None:
            merged[reason["field"]] = reason
        elif reason["field"] == DANGER and reason["confidence"] > held["confidence"]:
            merged[reason["field"]] = reason
        elif reason["field"] != DANGER and reason["confidence"] < held["confidence"]:
            merged[reason["field"]] = reason
    return list(merged.values())


def apply_post_review(incident: IncidentLike, review: PostReview) -> bool:
    """Fold a post's review into its incident. True when the incident has just become possibly
    critical (its clocks must be planned again on the critical policy)."""
    if review.danger is not None and (incident.danger is None or review.danger > incident.danger):
        incident.danger = review.danger
    if not review.needs_review:
        return False
    incident.needs_review = True
    incident.review_reasons = merge_reasons(incident.review_reasons, review.reasons)
    if review.danger_reason is None or incident.urgency == CRITICAL or incident.possibly_critical:
        return False
    incident.possibly_critical = True
    return True


def review_comment(reasons: list[dict[str, Any]], post_id: str) -> str:
    """The audit entry's text when a post puts its incident in the review queue."""
    details = "; ".join(str(r.get("detail") or r["field"]) for r in reasons) or "причина не указана"
    return f"Сообщение {post_id} требует проверки оператором: {details}"


class ClockView:
    """An incident as routing.deadlines sees it, with `clock_urgency` as its urgency.

    The deadline functions read `incident.urgency` to choose the SLA policy; a possibly-critical
    incident keeps the classifier's urgency but must run on the critical clock. Every other
    attribute, read or written (sync_due writes the due times), is the incident's own.
    """

    def __init__(self, incident: Any) -> None:
        object.__setattr__(self, "_incident", incident)

    @property
    def urgency(self) -> str:
        return clock_urgency(self._incident)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._incident, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._incident, name, value)
