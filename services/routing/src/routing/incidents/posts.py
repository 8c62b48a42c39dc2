"""What routing reads of a classified post (pure): its region, reach, author, title and summary,
whether it can become an incident at all, and an incident's severity from its posts."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from incidents_common.events import PostClassified
from incidents_common.regions import REGIONS


def severity(urgency: str, complainants: int, reach: int) -> int:
    """1..5: the urgency's base, +1 per order of magnitude of complainants and of reach above 1 000."""
    base = {"critical": 3, "high": 2}.get(urgency, 1)
    crowd = int(math.log10(complainants)) + (1 if complainants >= 3 else 0) if complainants > 1 else 0
    audience = max(0, int(math.log10(reach)) - 2) if reach > 0 else 0
    return max(1, min(5, base + crowd + audience))


def post_reach(post: PostClassified) -> int:
    """Who saw it: views when the source counts them, else the author's followers or the engagement."""
    reach = post.reach
    engagement = (reach.likes or 0) + (reach.reposts or 0) + (reach.comments or 0)
    followers = post.author.followers if post.author and post.author.followers else 0
    return max(reach.views or 0, followers, engagement)


def author_key(post: PostClassified) -> str:
    if post.author and post.author.id:
        return f"{post.source_type.value}:{post.author.id}"
    return f"post:{post.post_id}"  # an anonymous post counts as its own complainant


_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def title_of(text: str) -> str:
    # Sentences are joined until the title says something: "Казань, ул." alone is an address
    # abbreviation cut by the sentence split, not a title.
    title = ""
    for sentence in _SENTENCE.split(" ".join(text.split())):
        title = f"{title} {sentence}".strip()
        if len(title) >= 40:
            break
    return title if len(title) <= 120 else title[:117].rstrip() + "…"


def summary_of(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 600 else flat[:597].rstrip() + "…"


def region_of(post: PostClassified) -> str | None:
    return post.classification.region.code or post.place_hints.region_code


def town_of(post: PostClassified) -> str | None:
    """The post's town: the classifier's, else the source's (the incident a post opens takes it)."""
    return post.classification.region.city or post.place_hints.city


def skip_reason(post: PostClassified) -> str | None:
    """Why a post cannot become an incident at all, or None."""
    c = post.classification
    region_code = region_of(post)
    if not c.is_incident:
        return f"not an incident ({c.incident.label}, confidence {c.incident.confidence:.2f})"
    if region_code is None:
        return "no region: neither the classifier nor the source placed it"
    if region_code not in REGIONS:
        return f"unknown region code {region_code!r}"
    return None


def cluster_key(post: PostClassified) -> tuple[str, str] | None:
    """(region, category) of a post that can become an incident: where its candidates are."""
    region_code = region_of(post)
    if region_code is None or skip_reason(post) is not None:
        return None
    return region_code, post.classification.category.label


NO_REGION = "жалоба без региона: ни текст, ни источник не называют место"
UNSURE = "классификатор не уверен, жалоба ли это"


def unplaced_reason(post: PostClassified) -> str | None:
    """Why a skipped post needs a person, or None when skipping it is the whole answer."""
    c = post.classification
    if c.is_incident and region_of(post) is None:
        return NO_REGION
    if not c.is_incident and any(r.field == "is_incident" for r in c.review_reasons):
        details = "; ".join(r.detail for r in c.review_reasons if r.field == "is_incident")
        return f"{UNSURE} ({details})"[:300]
    return None


def unplaced_row(post: PostClassified, reason: str, now: datetime) -> dict[str, Any]:
    c = post.classification
    return {
        "post_id": post.post_id,
        "reason": reason,
        "region_code": region_of(post),
        "category": c.category.label,
        "urgency": c.urgency.label,
        "text": post.text[:20_000],
        "post": post.model_dump(mode="json"),
        "held_at": now,
    }
