"""How routing says things to people: Russian words for its codes, and numbers with their nouns.

Everything a person reads of routing (an assignment's explanation, the audit log's comments, the
parts of a priority, a surge alert) is Russian, in the plain style of a government information
system; codes (roads, high, in_progress) stay codes in the data and are named here when a sentence
shows them. Machine identifiers, log messages and developers' exception messages stay English.
"""

from __future__ import annotations

from datetime import datetime

from incidents_common.categories import category_name
from incidents_common.db import as_utc

__all__ = [
    "ACTIONS",
    "CLOCKS",
    "REACTIONS",
    "REPLY_KINDS",
    "ROLES",
    "STATUSES",
    "URGENCIES",
    "action_name",
    "category_name",
    "clock_name",
    "moment",
    "plural",
    "quoted",
    "role_name",
    "status_name",
    "urgency_name",
    "with_count",
]

URGENCIES = {"critical": "критическая", "high": "высокая", "normal": "обычная"}
STATUSES = {  # as the console names them («инцидент»: masculine)
    "new": "новый",
    "assigned": "назначен",
    "in_progress": "в работе",
    "answered": "дан ответ",
    "resolved": "решён",
    "closed": "закрыт",
    "reopened": "открыт повторно",
    "rejected": "отклонён",
}
# An official's role: a line official, or a level of the escalation chain.
ROLES = {
    "official": "исполнитель",
    "curator": "куратор региона",
    "deputy_governor": "заместитель губернатора",
    "governor_office": "аппарат губернатора",
}
CLOCKS = {"first_reaction": "срок первой реакции", "final": "срок окончательного ответа"}
ACTIONS = {
    "take": "взять в работу",
    "interim_answer": "дать промежуточный ответ",
    "reply": "ответить",
    "resolve": "отметить решённым",
    "close": "закрыть",
    "reject": "отклонить",
    "reopen": "открыть повторно",
    "reassign": "переназначить",
    "redirect": "перенаправить",
    "correct": "исправить классификацию",
}
REPLY_KINDS = {"reply": "ответ", "interim": "промежуточный ответ"}
REACTIONS = {
    "thanks": "благодарность",
    "not_fixed": "не исправлено",
    "new_problem": "новая проблема",
    "other": "другое",
}


def quoted(text: str) -> str:
    return f"«{text}»"


def urgency_name(urgency: str | None) -> str:
    return URGENCIES.get(urgency or "", urgency or "")


def status_name(status: str | None) -> str:
    return STATUSES.get(status or "", status or "")


def role_name(role: str) -> str:
    return ROLES.get(role, role)


def clock_name(clock: str) -> str:
    return CLOCKS.get(clock, clock)


def action_name(action: str) -> str:
    return ACTIONS.get(action, action)


def moment(at: datetime) -> str:
    """«26.11.2026 09:10 UTC»: a time in the audit log, where every region reads the same clock."""
    return f"{as_utc(at):%d.%m.%Y %H:%M} UTC"


def plural(count: int, one: str, few: str, many: str) -> str:
    """The noun's form for `count` (числительное): 1 автор, 2 автора, 5 авторов, 11 авторов, 21 автор."""
    tens, units = abs(count) % 100, abs(count) % 10
    if 11 <= tens <= 14:
        return many
    if units == 1:
        return one
    if 2 <= units <= 4:
        return few
    return many


def with_count(count: int, one: str, few: str, many: str) -> str:
    """«3 автора»: the number and the noun in its form."""
    return f"{count} {plural(count, one, few, many)}"
