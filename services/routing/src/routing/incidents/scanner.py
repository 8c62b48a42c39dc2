"""The periodic deadline scan: warnings at the configured share, escalation on breach (incidents.escalation).

Timers live in the database, so a restarted service picks up where it stopped. With several
replicas on PostgreSQL each incident is locked with FOR UPDATE SKIP LOCKED, so one replica handles
it and the others move on; the unique (incident, level) escalation row is a second guard.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from sqlmodel import and_, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, utcnow, writes_of
from incidents_common.events import IncidentDeadlineWarning
from routing.config import Settings
from routing.deadlines import service as deadlines
from routing.deadlines.models import Deadline, DeadlineState
from routing.deadlines.schemas import ScanResult
from routing.incidents import audit
from routing.incidents.effects import SYSTEM_ACTOR, Effects, emit, record
from routing.incidents.escalation import escalate
from routing.incidents.models import Incident
from routing.incidents.review import clock_urgency
from routing.incidents.writes import queue_effects
from routing.rules.engine import RegionDirectory
from routing.rules.service import load_directories
from routing.wording import clock_name, moment

log = logging.getLogger("routing.deadlines")


async def scan(
    session: AsyncSession, *, now: datetime | None = None, settings: Settings, limit: int = 500
) -> ScanResult:
    """One pass over due clocks. Call inside a transaction; commits nothing itself."""
    now = now or utcnow()
    result = ScanResult()
    writes = writes_of(session)
    directories: dict[str, RegionDirectory] = {}  # per pass: a region's chain is loaded once

    async def directory_of(region_code: str) -> RegionDirectory:
        if region_code not in directories:
            directories.update(await load_directories(session, [region_code]))
        return directories[region_code]

    postgres = session.bind is not None and session.bind.dialect.name != "sqlite"
    due = (
        await session.exec(
            select(Deadline.incident_id)
            .where(
                # Each branch a range of its own index (the state repeated in both): with the state
                # outside the OR, the databases walked every pending clock, two an open incident.
                or_(
                    and_(Deadline.state == DeadlineState.pending, col(Deadline.due_at) <= now),
                    and_(
                        Deadline.state == DeadlineState.pending,
                        col(Deadline.warned_at).is_(None),
                        col(Deadline.warn_at) <= now,
                    ),
                ),
            )
            .order_by(col(Deadline.due_at))
            .limit(limit)
        )
    ).all()
    for incident_id in dict.fromkeys(due):
        query = select(Incident).where(Incident.id == incident_id)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        incident = (await session.exec(query)).first()
        if incident is None:
            continue  # another replica holds it
        effects = Effects()
        running = await deadlines.pending_deadlines(session, incident_id, lock=True)
        breached = [d for d in running if d.due_at <= now]
        if breached:
            # Clocks missed together escalate once: one level per scan pass.
            for deadline in breached:
                deadline.state = DeadlineState.breached
                deadline.closed_at = now
                session.add(deadline)
                writes.count("deadline_breaches", region=incident.region_code, clock=deadline.clock)
            missed = ", ".join(f"{clock_name(d.clock)} (до {moment(d.due_at)})" for d in breached)
            directory = await directory_of(incident.region_code)
            escalation = escalate(
                session,
                effects,
                incident=incident,
                directory=directory,
                clock=breached[0].clock,
                now=now,
                reason=f"{'пропущен' if len(breached) == 1 else 'пропущены'} {missed}",
            )
            if escalation is not None:
                result.escalations += 1
                # The clocks run again at the new level, with the same budget, on the escalated official's time.
                official = directory.official(escalation.escalated_to_id)
                calendar = deadlines.calendar_for(
                    official, incident.region_code, settings, city=incident.city, urgency=clock_urgency(incident)
                )
                effects.clocks.extend(
                    deadlines.new_deadline(
                        incident=incident,
                        clock=deadline.clock,
                        calendar=calendar,
                        seconds=deadline.working_seconds,
                        now=now,
                        policy=deadline.policy,
                        settings=settings,
                    )
                    for deadline in breached
                )
        for deadline in running:
            if deadline.state == DeadlineState.pending and deadline.warned_at is None and deadline.warn_at <= now:
                deadline.warned_at = now
                session.add(deadline)
                calendar = deadlines.zone_calendar(deadline.timezone, settings, urgency=clock_urgency(incident))
                used = calendar.between(deadline.started_at, now) / max(deadline.working_seconds, 1.0)
                emit(
                    effects,
                    incident,
                    IncidentDeadlineWarning,
                    clock=deadline.clock.value,
                    due_at=deadline.due_at,
                    share_used=round(min(max(used, settings.warning_share), 1.0), 3),
                )
                record(
                    effects,
                    incident,
                    actor=SYSTEM_ACTOR,
                    action="deadline_warning",
                    now=now,
                    comment=f"Приближается {clock_name(deadline.clock)}: до {moment(deadline.due_at)}",
                )
                result.warnings += 1
                writes.count("deadline_warnings", region=incident.region_code, clock=deadline.clock)
        queue_effects(writes, effects)
        deadlines.sync_due(incident, await deadlines.pending_deadlines(session, incident_id))
        session.add(incident)
    return result


async def run_scanner(db: Database, settings: Settings) -> None:
    """The lifespan task: scan every ROUTING_DEADLINE_SCAN_SECONDS, surviving database hiccups; and
    seal the audit log's days that are over (incidents.audit), once a day."""
    sealed_through: date | None = None
    while True:
        try:
            async with db.transaction() as session:
                result = await scan(session, settings=settings)
            if result.warnings or result.escalations:
                log.info("deadline scan", extra=result.model_dump())
            now = utcnow()
            if sealed_through != audit.last_sealable_day(now):
                async with db.transaction() as session:
                    roots = await audit.seal_days(session, now=now, after=sealed_through)
                sealed_through = audit.last_sealable_day(now)
                for root in roots:
                    log.info("audit root sealed", extra=root.model_dump(mode="json"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next pass retries; a conflict means another replica won
            log.warning("deadline scan failed", extra={"error": repr(exc)})
        await asyncio.sleep(settings.deadline_scan_seconds)
