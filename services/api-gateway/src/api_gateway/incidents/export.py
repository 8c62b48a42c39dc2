"""The incident list as CSV: its columns, and values as spreadsheets read them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from api_gateway.incidents.queries import is_overdue
from api_gateway.incidents.service import priority_score

EXPORT_COLUMNS = [
    "incident_id",
    "region_code",
    "region_name",
    "city",
    "category",
    "urgency",
    "status",
    "severity",
    "title",
    "assignee_id",
    "assignee_name",
    "department_name",
    "complainants",
    "total_reach",
    "priority",
    "created_at",
    "first_response_due",
    "first_response_at",
    "final_due",
    "closed_at",
    "overdue",
]


def incidents_csv(rows: Iterable[Row[Any]]) -> bytes:
    """The rows (of LIST_COLUMNS) as CSV in UTF-8 with a BOM, which makes Excel read Cyrillic correctly."""
    now = datetime.now(UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        values = {
            **row._asdict(),
            "overdue": is_overdue(row, now),
            "priority": priority_score(row.priority),
        }
        writer.writerow([_csv_value(values.get(c)) for c in EXPORT_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "" if value is None else value
