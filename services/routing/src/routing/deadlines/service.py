"""SLA policies and the clocks of an incident, computed in the assignee's working time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.regions import REGIONS
from routing.config import Settings
from routing.deadlines.calendar import WorkCalendar
from routing.deadlines.models import Clock, Deadline, DeadlineState, SlaPolicy
from routing.deadlines.schemas import DeadlineRead, SlaPolicyCreate, SlaPolicyUpdate
from routing.directory.models import Official
from routing.errors import UnknownPolicy
from routing.incidents.models import Incident
from routing.outbox import defer_insert, flush_deferred

# -- policies --------------------------------------------------------------------------------


async def list_policies(
    session: AsyncSession, *, region: str | None = None, regions: frozenset[str] | None = None
) -> list[SlaPolicy]:
    """With `regions` (a user's): the policies of those regions and the global ones that apply to them."""
    if region and regions is not None and region not in regions:
        return []
    query = select(SlaPolicy).order_by(SlaPolicy.id)  # type: ignore[arg-type]
    if region:
        query = query.where((SlaPolicy.region_code == region) | (SlaPolicy.region_code == None))  # noqa: E711
    if regions is not None:
        query = query.where(col(SlaPolicy.region_code).in_(sorted(regions)) | (SlaPolicy.region_code == None))  # noqa: E711
    return list((await session.exec(query)).all())


async def get_policy(session: AsyncSession, *, policy_id: int, regions: frozenset[str] | None = None) -> SlaPolicy:
    """By id, then by region: another region's policy is unknown (a global one is visible to all)."""
    policy = await session.get(SlaPolicy, policy_id)
    if policy is None or (regions is not None and policy.region_code is not None and policy.region_code not in regions):
        raise UnknownPolicy(f"no SLA policy {policy_id}")
    return policy


async def create_policy(session: AsyncSession, *, data: SlaPolicyCreate) -> SlaPolicy:
    policy = SlaPolicy(**data.model_dump(mode="json"))
    session.add(policy)
    await session.flush()
    session.info.pop("routing.policies", None)
    return policy


async def update_policy(session: AsyncSession, *, policy_id: int, data: SlaPolicyUpdate) -> SlaPolicy:
    policy = await get_policy(session, policy_id=policy_id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(policy, key, value)
    session.add(policy)
    await session.flush()
    session.info.pop("routing.policies", None)
    return policy


async def delete_policy(session: AsyncSession, *, policy_id: int) -> None:
    await get_policy(session, policy_id=policy_id)
    # sqlmodel's AsyncSession.exec has no overload for DML (delete) statements
    await session.exec(delete(SlaPolicy).where(col(SlaPolicy.id) == policy_id))  # type: ignore[call-overload]
    session.info.pop("routing.policies", None)


@dataclass(frozen=True)
class EffectivePolicy:
    first_reaction_hours: float
    interim_days: float
    final_days: float
    name: str


async def resolve_policy(
    session: AsyncSession, *, region_code: str, category: str, urgency: str, settings: Settings
) -> EffectivePolicy:
    """The most specific matching policy: region outweighs category outweighs urgency."""
    policies: list[SlaPolicy] | None = session.info.get("routing.policies")
    if policies is None:
        policies = list((await session.exec(select(SlaPolicy))).all())
        session.info["routing.policies"] = policies
    best: tuple[int, int, SlaPolicy] | None = None
    for policy in policies:
        if policy.region_code not in (None, region_code):
            continue
        if policy.category not in (None, category) or policy.urgency not in (None, urgency):
            continue
        weight = 4 * (policy.region_code is not None) + 2 * (policy.category is not None) + (policy.urgency is not None)
        key = (weight, -(policy.id or 0), policy)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return EffectivePolicy(
            settings.sla_first_reaction_hours, settings.sla_interim_days, settings.sla_final_days, "built-in default"
        )
    policy = best[2]
    keys = [
        f"{k} {v}"
        for k, v in (("region", policy.region_code), ("category", policy.category), ("urgency", policy.urgency))
        if v
    ]
    return EffectivePolicy(
        policy.first_reaction_hours,
        policy.interim_days,
        policy.final_days,
        f"SLA policy {policy.id} ({', '.join(keys) or 'default'})",
    )


# -- clocks ----------------------------------------------------------------------------------


def calendar_for(official: Official | None, region_code: str, settings: Settings) -> WorkCalendar:
    """The assignee's working hours and zone; the federal queue and unknowns use 09-18 in the region's zone."""
    if official is None:
        return WorkCalendar(REGIONS[region_code].timezone, extra_working_days=settings.extra_working_days)
    return WorkCalendar(
        official.timezone or REGIONS[official.region_code].timezone,
        work_start=official.work_start,
        work_end=official.work_end,
        work_days=official.work_days,
        extra_working_days=settings.extra_working_days,
    )


@dataclass(slots=True)
class NewClock:
    """A clock about to be stored: written with its like in one executemany before the commit
    (an ORM object per clock cost more than the insert itself in a 200-message batch)."""

    incident_id: str
    clock: Clock
    level: int
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    working_seconds: float
    timezone: str
    policy: str
    state: DeadlineState = DeadlineState.pending

    def row(self) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "incident_id": self.incident_id,
            "clock": self.clock,
            "state": self.state,
            "level": self.level,
            "started_at": self.started_at,
            "warn_at": self.warn_at,
            "due_at": self.due_at,
            "working_seconds": self.working_seconds,
            "timezone": self.timezone,
            "policy": self.policy[:300],
            "warned_at": None,
            "closed_at": None,
        }


def new_deadline(
    *,
    incident: Incident,
    clock: Clock,
    calendar: WorkCalendar,
    seconds: float,
    now: datetime,
    policy: str,
    settings: Settings,
) -> NewClock:
    return NewClock(
        incident_id=incident.id,
        clock=clock,
        level=incident.escalation_level,
        started_at=now,
        warn_at=calendar.add(now, seconds * settings.warning_share),
        due_at=calendar.add(now, seconds),
        working_seconds=seconds,
        timezone=calendar.timezone,
        policy=policy,
    )


def add_clock(session: AsyncSession, clock: NewClock) -> NewClock:
    defer_insert(session, Deadline.__table__, clock.row())  # type: ignore[attr-defined]
    return clock


async def pending_deadlines(session: AsyncSession, incident_id: str, *, lock: bool = False) -> list[Deadline]:
    await flush_deferred(session)  # clocks this transaction started
    query = select(Deadline).where(Deadline.incident_id == incident_id, Deadline.state == DeadlineState.pending)
    if lock and session.bind is not None and session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    return list((await session.exec(query.order_by(col(Deadline.started_at), col(Deadline.clock)))).all())


def sync_due(incident: Incident, deadlines: Sequence[Deadline | NewClock]) -> None:
    """Denormalise the running clocks' due times onto the incident (the snapshot carries them)."""
    incident.first_response_due = next(
        (d.due_at for d in deadlines if d.clock == Clock.first_reaction and d.state == DeadlineState.pending), None
    )
    incident.final_due = next(
        (d.due_at for d in deadlines if d.clock == Clock.final and d.state == DeadlineState.pending), None
    )


async def start_clocks(
    session: AsyncSession,
    *,
    incident: Incident,
    official: Official | None,
    now: datetime,
    settings: Settings,
    clocks: tuple[Clock, ...] = (Clock.first_reaction, Clock.final),
) -> list[NewClock]:
    policy = await resolve_policy(
        session,
        region_code=incident.region_code,
        category=incident.category,
        urgency=incident.urgency,
        settings=settings,
    )
    calendar = calendar_for(official, incident.region_code, settings)
    created: list[NewClock] = []
    for clock in clocks:
        seconds = (
            policy.first_reaction_hours * 3600
            if clock == Clock.first_reaction
            else policy.final_days * calendar.day_seconds
        )
        deadline = new_deadline(
            incident=incident,
            clock=clock,
            calendar=calendar,
            seconds=seconds,
            now=now,
            policy=policy.name,
            settings=settings,
        )
        created.append(add_clock(session, deadline))
    return created


def close(deadlines: list[Deadline], clocks: tuple[Clock, ...], state: DeadlineState, now: datetime) -> None:
    for deadline in deadlines:
        if deadline.clock in clocks and deadline.state == DeadlineState.pending:
            deadline.state = state
            deadline.closed_at = now


async def on_interim_answer(
    session: AsyncSession, *, incident: Incident, official: Official | None, now: datetime, settings: Settings
) -> list[Deadline | NewClock]:
    """A public reaction that pauses the final clock and starts a new one with the interim budget."""
    running = await pending_deadlines(session, incident.id, lock=True)
    close(running, (Clock.first_reaction,), DeadlineState.met, now)
    close(running, (Clock.final,), DeadlineState.paused, now)
    policy = await resolve_policy(
        session,
        region_code=incident.region_code,
        category=incident.category,
        urgency=incident.urgency,
        settings=settings,
    )
    calendar = calendar_for(official, incident.region_code, settings)
    final = new_deadline(
        incident=incident,
        clock=Clock.final,
        calendar=calendar,
        seconds=policy.interim_days * calendar.day_seconds,
        now=now,
        policy=f"{policy.name}, after an interim answer",
        settings=settings,
    )
    add_clock(session, final)
    return [*(d for d in running if d.state == DeadlineState.pending), final]


async def settle(
    session: AsyncSession, *, incident: Incident, clocks: tuple[Clock, ...], state: DeadlineState, now: datetime
) -> list[Deadline]:
    """Close the named running clocks; returns the ones still running."""
    running = await pending_deadlines(session, incident.id, lock=True)
    close(running, clocks, state, now)
    return [d for d in running if d.state == DeadlineState.pending]


async def restart_clocks(
    session: AsyncSession,
    *,
    incident: Incident,
    official: Official | None,
    now: datetime,
    settings: Settings,
    cancel_running: bool = True,
) -> None:
    """New first-reaction and final clocks for a (re)assigned or reopened incident: the running ones are
    cancelled (unless the incident is new and has none), the new due times copied onto the incident."""
    clocks = (Clock.first_reaction, Clock.final)
    if cancel_running:
        await settle(session, incident=incident, clocks=clocks, state=DeadlineState.cancelled, now=now)
    sync_due(incident, await start_clocks(session, incident=incident, official=official, now=now, settings=settings))


async def incident_deadlines(session: AsyncSession, incident_id: str) -> list[DeadlineRead]:
    rows = await session.exec(
        select(Deadline)
        .where(Deadline.incident_id == incident_id)
        .order_by(col(Deadline.started_at), col(Deadline.clock))
    )  # type: ignore[arg-type]
    return [
        DeadlineRead(**d.model_dump(exclude={"working_seconds"}), working_hours=round(d.working_seconds / 3600, 2))
        for d in rows.all()
    ]
