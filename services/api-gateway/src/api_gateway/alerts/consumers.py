"""Routing's surge alerts into the read model: the alert list, and the event log that carries them to
the SSE streams and webhooks of their region (as `alert.surge`). Decide first (`decide_alerts`, pure),
then write once, as the incident consumers do (incidents/consumers.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api_gateway.alerts.models import SurgeAlertRecord
from api_gateway.columns import table_of
from api_gateway.incidents.models import IncidentEventLog
from api_gateway.readmodel import lock_keys, rows_by_key, serialize_event_log
from incidents_common.db import Writes
from incidents_common.events import BadEvent, CloudEvent, SurgeAlert, subject_of

ALERTS = table_of(SurgeAlertRecord)


def alert_row(data: SurgeAlert) -> dict[str, Any]:
    """The gw_surge_alerts row of a surge alert."""
    return {
        **data.model_dump(mode="python", include=set(SurgeAlertRecord.model_fields) - {"received_at"}),
        "incident_ids": list(data.incident_ids),
        "post_ids": list(data.post_ids),
        "received_at": datetime.now(UTC),
    }


def alert_log_row(event: CloudEvent[Any], data: SurgeAlert) -> dict[str, Any]:
    """The gw_incident_event row that carries a surge alert to the SSE streams and webhooks of its
    region; its incident_id is the alert's id (no incident's history shows it)."""
    return {
        "event_id": event.id,
        "incident_id": data.alert_id,
        "region_code": data.region_code,
        "type": event.type.removeprefix("ru.incidents."),
        "subject": subject_of(data),
        "occurred_at": event.time,
        "actor": None,
        "from_status": None,
        "to_status": None,
        "detail": {"explanation": data.explanation, "incident_ids": list(data.incident_ids)},
        "payload": event.model_dump(mode="json", exclude_none=True),
    }


def decide_alerts(
    known: set[str], events: Sequence[CloudEvent[Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(alert rows, event-log rows) of the alerts not stored yet: an alert id comes once to the list
    and the live feeds, however often routing raised it (a retried transaction, another replica)."""
    alerts: list[dict[str, Any]] = []
    log: list[dict[str, Any]] = []
    seen = set(known)
    for event in events:
        data: SurgeAlert = event.data
        if data.alert_id in seen:
            continue
        seen.add(data.alert_id)
        alerts.append(alert_row(data))
        log.append(alert_log_row(event, data))
    return alerts, log


async def apply_alert_events(writes: Writes, events: list[CloudEvent[Any]]) -> None:
    """BatchHandler of `gateway-alert-events`: new surge alerts stored and appended to the event log
    (the SSE streams and webhooks deliver them as `alert.surge`)."""
    for event in events:
        if not isinstance(event.data, SurgeAlert):
            raise BadEvent(f"not an alert: {event.type}")
    session = writes.session
    alert_ids = {event.data.alert_id for event in events}
    await lock_keys(session, "gw_surge_alert", alert_ids)
    known = await rows_by_key(session, ALERTS, "alert_id", alert_ids)
    alerts, log = decide_alerts(set(known), events)
    if not alerts:
        return
    writes.insert(SurgeAlertRecord, alerts)
    await writes.flush()
    await serialize_event_log(session)
    writes.insert(IncidentEventLog, log)
