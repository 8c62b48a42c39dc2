"""An incident's priority in an operator's queue: pure functions, no database, no clock of their own.

    score = urgency base × reach factor × velocity factor × coordination factor

- urgency base: critical 100, high 40, normal 10 (a possibly-critical incident counts as critical,
  as its clocks do: review.clock_urgency);
- reach = Σ (views + 10·reposts + 3·comments + likes) over its posts + 0.1 · the followers of each
  author, counted once; reach factor = 1 + log10(1 + reach / 100), at most 4 (a reach of 0 → 1,
  900 → 2, 9 900 → 3);
- velocity = the authors who posted in the hour up to its latest post; velocity factor =
  1 + 0.5 · log2(velocity), at most 3 (one author → 1, 4 → 2, 16 and more → 3);
- coordination: a post is *coordinated* when at least 3 posts of the incident with the same
  normalised text (`text_key`: case, digits, links, mentions, emoji and punctuation dropped) from
  accounts with fewer than 50 followers (or unknown) were published within 30 minutes of each other;
  coordination factor = 1 − 0.8 · their share, at least 0.2. Coordinated posts count for neither
  reach nor velocity: a bought wave must not lift an incident above the ones citizens spread.

Every factor is rounded to two decimals before the product, so the formula an operator reads
(«40 × 1.80 × 1.30 × 0.55 = 51.5») multiplies out to the score shown. The score runs from 2
(normal, all posts coordinated) to 1 200 (critical, widest reach, fastest spread).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents_common.db import as_utc
from incidents_common.events import PostClassified, Priority, PriorityPart
from routing.wording import plural, quoted, urgency_name, with_count

URGENCY_BASE = {"critical": 100.0, "high": 40.0, "normal": 10.0}
REPOST_WEIGHT, COMMENT_WEIGHT, LIKE_WEIGHT = 10, 3, 1
FOLLOWER_WEIGHT = 0.1
REACH_UNIT = 100.0
REACH_CAP = 4.0
VELOCITY_WINDOW = timedelta(hours=1)
VELOCITY_CAP = 3.0
COORDINATION_WINDOW = timedelta(minutes=30)
COORDINATED_GROUP = 3
FEW_FOLLOWERS = 50
COORDINATION_WEIGHT = 0.8
COORDINATION_FLOOR = 0.2
# A text shorter than this says too little for identical copies to mean anything («+1», «Поддерживаю!»).
MIN_KEY_WORDS = 3

_LINK = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class PostSignal:
    """What the priority reads of one post of the incident (routing_incident_posts keeps it)."""

    post_id: str
    author_key: str
    followers: int | None
    published_at: datetime
    text_key: str | None
    views: int = 0
    reposts: int = 0
    comments: int = 0
    likes: int = 0

    @property
    def engagement(self) -> int:
        return self.views + REPOST_WEIGHT * self.reposts + COMMENT_WEIGHT * self.comments + LIKE_WEIGHT * self.likes

    @property
    def few_followers(self) -> bool:
        return self.followers is None or self.followers < FEW_FOLLOWERS


def text_key(text: str) -> str | None:
    """The fingerprint of a text as copies of one template share it: words only, lower case (ё as е);
    None for a text too short to tell a template from a coincidence."""
    words = _WORD.findall(_LINK.sub(" ", text.lower().replace("ё", "е")))
    if len(words) < MIN_KEY_WORDS:
        return None
    return hashlib.blake2b(" ".join(words).encode(), digest_size=8).hexdigest()


def signal_of(post: PostClassified, author_key: str) -> PostSignal:
    reach = post.reach
    return PostSignal(
        post_id=post.post_id,
        author_key=author_key,
        followers=post.author.followers if post.author else None,
        published_at=as_utc(post.published_at),  # a naive time from a source is UTC, as stored
        text_key=text_key(post.text),
        views=reach.views or 0,
        reposts=reach.reposts or 0,
        comments=reach.comments or 0,
        likes=reach.likes or 0,
    )


# -- the measurements ---------------------------------------------------------------------------


def coordinated(signals: Sequence[PostSignal]) -> set[str]:
    """The ids of the posts that belong to a coordinated wave (see the module docstring)."""
    groups: dict[str, list[PostSignal]] = defaultdict(list)
    for signal in signals:
        if signal.text_key is not None and signal.few_followers:
            groups[signal.text_key].append(signal)
    found: set[str] = set()
    for group in groups.values():
        if len(group) < COORDINATED_GROUP:
            continue
        group.sort(key=lambda s: s.published_at)
        # Every window that opens at a post and lasts COORDINATION_WINDOW: all of its posts when it holds enough.
        end = 0
        for start, first in enumerate(group):
            end = max(end, start)
            while end + 1 < len(group) and group[end + 1].published_at - first.published_at <= COORDINATION_WINDOW:
                end += 1
            if end - start + 1 >= COORDINATED_GROUP:
                found.update(s.post_id for s in group[start : end + 1])
    return found


def reach_of(signals: Sequence[PostSignal]) -> tuple[float, int]:
    """The weighted reach of `signals` and the number of authors whose followers it counts."""
    followers: dict[str, int] = {}
    for signal in signals:
        followers[signal.author_key] = max(followers.get(signal.author_key, 0), signal.followers or 0)
    engagement = sum(signal.engagement for signal in signals)
    return engagement + FOLLOWER_WEIGHT * sum(followers.values()), len(followers)


def velocity_of(signals: Sequence[PostSignal]) -> tuple[int, datetime | None]:
    """The authors who posted in the hour up to the latest of `signals`, and that latest time."""
    if not signals:
        return 0, None
    latest = max(signal.published_at for signal in signals)
    authors = {s.author_key for s in signals if latest - s.published_at < VELOCITY_WINDOW}
    return len(authors), latest


# -- the parts and the score ----------------------------------------------------------------------


def urgency_part(urgency: str, *, possibly_critical: bool = False) -> PriorityPart:
    if possibly_critical and urgency != "critical":
        base = URGENCY_BASE["critical"]
        why = (
            f"Срочность {quoted(urgency_name(urgency))}, но признак угрозы ожидает проверки оператором, "
            f"поэтому инцидент считается критическим: базовое значение {base:g}."
        )
    else:
        base = URGENCY_BASE.get(urgency, URGENCY_BASE["normal"])
        why = f"Срочность {quoted(urgency_name(urgency))}: базовое значение {base:g}."
    return PriorityPart(name="urgency", value=base, factor=base, explanation=why)


def reach_part(reach: float, posts: int, authors: int) -> PriorityPart:
    raw = 1 + math.log10(1 + reach / REACH_UNIT)
    factor = round(min(REACH_CAP, raw), 2)
    capped = f" (предел {REACH_CAP:g})" if raw > REACH_CAP else ""
    shown = _thousands(reach)
    why = (
        f"Охват {shown}: просмотры + 10×репосты + 3×комментарии + лайки "
        f"({with_count(posts, 'сообщение', 'сообщения', 'сообщений')}) + 0.1×подписчики "
        f"({with_count(authors, 'автор', 'автора', 'авторов')}); "
        f"1 + log10(1 + {shown}/100) = {factor:.2f}{capped}."
    )
    return PriorityPart(name="reach", value=round(reach, 1), factor=factor, explanation=why)


def velocity_part(velocity: int, latest: datetime | None) -> PriorityPart:
    raw = 1 + 0.5 * math.log2(max(1, velocity))
    factor = round(min(VELOCITY_CAP, raw), 2)
    if latest is None:
        why = "Нет сообщений, учитываемых в скорости распространения: 1."
    else:
        capped = f" (предел {VELOCITY_CAP:g})" if raw > VELOCITY_CAP else ""
        why = (
            f"За час до последнего сообщения ({latest:%d.%m.%Y %H:%M} UTC) — "
            f"{with_count(velocity, 'автор', 'автора', 'авторов')}: "
            f"1 + 0.5×log2({max(1, velocity)}) = {factor:.2f}{capped}."
        )
    return PriorityPart(name="velocity", value=float(velocity), factor=factor, explanation=why)


def coordination_part(coordinated_posts: int, posts: int) -> PriorityPart:
    share = coordinated_posts / posts if posts else 0.0
    factor = round(max(COORDINATION_FLOOR, 1 - COORDINATION_WEIGHT * share), 2)
    if not coordinated_posts:
        why = "Признаков скоординированной публикации нет: 1."
    else:
        minutes = COORDINATION_WINDOW.seconds // 60
        why = (
            f"{coordinated_posts} из {posts} {plural(posts, 'сообщения', 'сообщений', 'сообщений')} ({share:.2f}) — "
            f"копии одного текста с аккаунтов, у которых меньше {FEW_FOLLOWERS} подписчиков, опубликованные "
            f"в пределах {minutes} {plural(minutes, 'минуты', 'минут', 'минут')}; они не учитываются "
            f"ни в охвате, ни в скорости: 1 − 0.8×{share:.2f} = {factor:.2f}."
        )
    return PriorityPart(name="coordination", value=round(share, 3), factor=factor, explanation=why)


def priority_from(parts: Sequence[PriorityPart]) -> Priority:
    """The score of `parts`: the product of their factors, and the formula that shows it."""
    score = round(math.prod(part.factor for part in parts), 1)
    shown = " × ".join(f"{p.factor:g}" if p.name == "urgency" else f"{p.factor:.2f}" for p in parts)
    return Priority(score=score, parts=list(parts), formula=f"{shown} = {score:.1f}")


def priority(signals: Sequence[PostSignal], *, urgency: str, possibly_critical: bool = False) -> Priority:
    """The priority of an incident whose posts are `signals`."""
    bots = coordinated(signals)
    counted = [s for s in signals if s.post_id not in bots]
    reach, authors = reach_of(counted)
    velocity, latest = velocity_of(counted)
    return priority_from(
        [
            urgency_part(urgency, possibly_critical=possibly_critical),
            reach_part(reach, len(counted), authors),
            velocity_part(velocity, latest),
            coordination_part(len(bots), len(signals)),
        ]
    )


def rescored(stored: dict[str, Any] | None, *, urgency: str, possibly_critical: bool) -> dict[str, Any] | None:
    """A stored priority (a Priority dict) after its incident's urgency changed: the same measurements,
    the new base (an operator's correction needs no read of the posts)."""
    if stored is None:
        return None
    parts = Priority.model_validate(stored).parts
    base = urgency_part(urgency, possibly_critical=possibly_critical)
    return priority_from([base, *(p for p in parts if p.name != "urgency")]).model_dump(mode="json")


def _thousands(value: float) -> str:
    """«12 345»: digits grouped by a no-break space, as Russian writes them (a comma would read as decimals)."""
    return f"{value:,.0f}".replace(",", "\u00a0")
