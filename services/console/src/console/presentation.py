"""How the console says things: Russian labels, clocks in the official's time zone, and the
classification's evidence marked in the post's own text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from incidents_common.categories import CATEGORY_NAMES

CATEGORIES = CATEGORY_NAMES  # one mapping for every service: incidents_common.categories
STATUSES = {
    "new": "Новый",
    "assigned": "Назначен",
    "in_progress": "В работе",
    "answered": "Дан ответ",
    "resolved": "Решён",
    "closed": "Закрыт",
    "reopened": "Открыт повторно",
    "rejected": "Отклонён",
}
URGENCIES = {"critical": "Критическая", "high": "Высокая", "normal": "Обычная"}
ROLES = {
    "federal": "федеральный уровень",
    "regional_admin": "администратор региона",
    "official": "ответственный",
    "integration": "интеграция",
}
PUBLICATION = {
    "pending": "публикуется",
    "published": "опубликован",
    "failed": "не опубликован",
    "unconfirmed": "не подтверждён",
    "recorded_only": "только записан",
}
SATISFACTION = {"satisfied": "доволен", "not_satisfied": "не доволен", "no_reaction": "нет реакции"}
FIELDS = {
    "incident": "жалоба",
    "is_incident": "жалоба",
    "category": "категория",
    "region": "регион",
    "urgency": "срочность",
    "danger": "угроза",
    "sentiment": "тональность",
}
PRIORITY_PARTS = {
    "urgency": "срочность",
    "reach": "охват",
    "velocity": "скорость распространения",
    "coordination": "скидка за координацию (боты)",
}
# What happened, for the history table (the gateway's event types without "ru.incidents.").
EVENTS = {
    "incident.created": "создан",
    "incident.assigned": "назначен исполнитель",
    "incident.status_changed": "смена статуса",
    "incident.post_attached": "ещё сообщение о проблеме",
    "incident.deadline_warning": "срок на исходе",
    "incident.escalated": "эскалация",
    "incident.reply_publication": "публикация ответа",
    "incident.reaction": "реакция заявителя",
    "incident.corrected": "исправлена классификация",
    "incident.moved_out": "передан в другой регион",
    "incident.audit_root": "запись журнала аудита",
}


def history_note(detail: dict[str, Any] | None) -> str:
    """The sentence a history entry carries: routing's explanation, the comment, the reason."""
    if not detail:
        return ""
    for key in ("explanation", "comment", "reason", "text"):
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


MONTHS = ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"]


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(value: str | datetime | None, timezone: str | None) -> str:
    """«4 дек 14:30 (UTC+4)» in the region's own time zone: the official's clock, not the server's."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(timezone or "Europe/Moscow"))
    offset = local.utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset is not None else 0
    return f"{local.day} {MONTHS[local.month - 1]} {local:%H:%M} (UTC{hours:+d})"


def duration(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} д {hours} ч"
    if hours:
        return f"{hours} ч {minutes} мин"
    return f"{minutes} мин"


@dataclass(frozen=True)
class Clock:
    """One deadline as the official reads it: what is left (or how late), and when, in their zone."""

    label: str
    state: str  # "ok", "soon" (under a quarter of a day left), "overdue", "met" or "none"
    left: str
    due_local: str


def clock(
    label: str,
    due: str | None,
    timezone: str | None,
    *,
    done_at: str | None = None,
    now: datetime | None = None,
) -> Clock:
    due_at = parse_time(due)
    if due_at is None:
        return Clock(label, "none", "нет срока", "—")
    if done_at:
        done = parse_time(done_at)
        assert done is not None
        late = done > due_at
        return Clock(
            label,
            "overdue" if late else "met",
            f"выполнен с опозданием на {duration((done - due_at).total_seconds())}" if late else "выполнен в срок",
            local_time(due_at, timezone),
        )
    left = (due_at - (now or datetime.now(UTC))).total_seconds()
    if left < 0:
        return Clock(label, "overdue", f"просрочен на {duration(left)}", local_time(due_at, timezone))
    return Clock(label, "soon" if left < 6 * 3600 else "ok", f"осталось {duration(left)}", local_time(due_at, timezone))


_WORD = re.compile(r"\w+", re.UNICODE)


def _stems(evidence: list[str]) -> list[str]:
    """The evidence's words cut to a stem, so that «прорвать» marks «прорвало» and «яма» marks «ямы»:
    the classifier reports lemmas and rule phrases, the post has inflected words."""
    stems: set[str] = set()
    for phrase in evidence:
        for word in _WORD.findall(phrase.lower()):
            if len(word) < 3:
                continue
            stems.add(word if len(word) <= 4 else word[: max(4, len(word) - 2)])
    return sorted(stems, key=len, reverse=True)


def highlight(text: str, evidence: list[str]) -> Markup:
    """The post's text, escaped, with every word that the classification's evidence names in <mark>."""
    stems = _stems(evidence)
    if not stems:
        return escape(text)
    parts: list[str] = []
    last = 0
    for match in _WORD.finditer(text):
        word = match.group(0).lower()
        if any(word.startswith(stem) for stem in stems):
            parts.append(str(escape(text[last : match.start()])))
            parts.append(f"<mark>{escape(match.group(0))}</mark>")
            last = match.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))  # noqa: S704 - every piece of the post was escaped above


def evidence_of(classification: dict[str, Any] | None) -> dict[str, list[str]]:
    """Field → the words that decided it, from a post's classification (only the fields that have some)."""
    if not classification:
        return {}
    found: dict[str, list[str]] = {}
    for name in ("incident", "category", "urgency", "region", "sentiment"):
        part = classification.get(name)
        if isinstance(part, dict) and part.get("evidence"):
            found[name] = [str(e) for e in part["evidence"]]
    return found


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def minutes(value: float | None) -> str:
    return "—" if value is None else duration(value * 60)
