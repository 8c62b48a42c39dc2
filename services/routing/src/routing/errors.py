"""Routing's domain errors, rendered as RFC 9457 problem+json by the shared handlers.

Their titles are Russian: the console shows them to operators and officials as they come (through the
gateway); the slugs (the problem types) are the machine identifiers.
"""

from __future__ import annotations

from incidents_common.problems import Conflict, Forbidden, InvalidInput, NotFound


class UnknownDepartment(NotFound):
    slug, title = "unknown-department", "Подразделение не найдено"


class UnknownOfficial(NotFound):
    slug, title = "unknown-official", "Исполнитель не найден"


class UnknownRule(NotFound):
    slug, title = "unknown-rule", "Правило не найдено"


class UnknownPolicy(NotFound):
    slug, title = "unknown-sla-policy", "Политика SLA не найдена"


class UnknownIncident(NotFound):
    slug, title = "unknown-incident", "Инцидент не найден"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Уже существует"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Действие недоступно в текущем статусе"


class BadImport(InvalidInput):
    slug, title = "bad-import", "Файл импорта отклонён"


class BadDirectoryData(InvalidInput):
    slug, title = "bad-directory-data", "Данные справочника противоречивы"


class NotAllowed(Forbidden):
    """Refused for this caller: its role, or an object it sees but may not change (routing.access)."""

    slug, title = "not-allowed", "Действие не разрешено"


class UnknownUnplacedPost(NotFound):
    slug, title = "unknown-unplaced-post", "Сообщение не найдено среди ожидающих решения"


class AlreadyDecided(Conflict):
    slug, title = "already-decided", "По сообщению уже принято решение"
