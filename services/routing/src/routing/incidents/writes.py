"""Routing's write path: decided effects → the transaction's Writes, one statement per table.

`route_posts` is the whole of the consumer's work for a batch of classified posts: load what the
decisions need (incidents.loading), place every post and decide its effects in memory
(incidents.placement, incidents.decisions), queue the effects here, and count the batch's complaints for surge alerts
(routing.surges). The shared machinery writes them with the inbox rows, one statement per table,
just before the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from incidents_common.db import Writes, utcnow
from incidents_common.events import CloudEvent, PostClassified
from routing.config import SOURCE, Settings
from routing.deadlines.models import Deadline, DeadlineState
from routing.directory.models import Official
from routing.incidents.decisions import decide_batch
from routing.incidents.effects import Effects
from routing.incidents.loading import CandidateCache, DirectoryCache, load_context, load_joined_incidents
from routing.incidents.models import Incident, IncidentHistory, IncidentPost, SkippedPost, UnplacedPost
from routing.incidents.placement import place_posts
from routing.incidents.snapshots import IncidentRecord
from routing.rules.engine import Workload
from routing.rules.service import assignment_totals
from routing.surges.service import detect_surges


def queue_effects(writes: Writes, effects: Effects) -> None:
    """Queue every row, event and counter of `effects`."""
    if effects.created:
        writes.insert(Incident, [incident.row() for incident in effects.created.values()])
    if effects.changed:
        # In id order, so that two transactions updating the same incidents lock them in one order.
        writes.update(
            Incident,
            [record.row(tuple(sorted(columns))) for _, (record, columns) in sorted(effects.changed.items())],
        )
    if effects.posts:
        writes.insert(IncidentPost, effects.posts)
    if effects.history:
        writes.insert(IncidentHistory, effects.history)
    if effects.clocks:
        writes.insert(Deadline, [clock.row() for clock in effects.clocks])
    if effects.skipped:
        writes.upsert(SkippedPost, effects.skipped)  # a post skipped again: the latest reason
    if effects.unplaced:
        # kept once: a redelivered or re-classified version does not undo a person's decision
        writes.insert(UnplacedPost, effects.unplaced, ignore_conflicts=True)
    for outgoing in effects.events:
        writes.publish(outgoing.event, source=SOURCE, origin_post_id=outgoing.origin_post_id, cause=outgoing.cause)
    for key, labels in effects.counts:
        writes.count(key, 1, **labels)


async def cancel_replaced_clocks(writes: Writes, incident_ids: set[str], *, now: datetime) -> None:
    """The stored running clocks of incidents whose clocks a batch planned again: cancelled (one query,
    only when a danger reason joined a running incident)."""
    if not incident_ids:
        return
    pending = await writes.session.exec(
        select(col(Deadline.id)).where(
            col(Deadline.incident_id).in_(sorted(incident_ids)), Deadline.state == DeadlineState.pending
        )
    )
    rows = [{"id": deadline_id, "state": DeadlineState.cancelled, "closed_at": now} for deadline_id in pending.all()]
    if rows:
        writes.update(Deadline, rows)


def queue_workload(writes: Writes, workload: Workload) -> None:
    """The round-robin counters of the officials who were given incidents."""
    rows = assignment_totals(workload)
    if rows:
        writes.update(Official, rows)
    workload.changed.clear()


async def route_posts(
    writes: Writes,
    posts: Sequence[PostClassified],
    *,
    settings: Settings,
    now: datetime | None = None,
    causes: Sequence[CloudEvent[Any] | None] | None = None,
    cache: CandidateCache | None = None,
    directory_cache: DirectoryCache | None = None,
) -> list[IncidentRecord | None]:
    """Route a batch of classified posts; returns, per post, the incident it opened or joined (or None).

    `causes[i]` is the consumed event that carried posts[i] (its trace continues in the events);
    `cache`: the open incidents' posts as earlier batches read them (incidents.loading.CandidateCache);
    `directory_cache`: the directories and SLA policies, likewise (incidents.loading.DirectoryCache)."""
    # What this transaction queued before (a caller routing twice in one transaction) must be read back.
    await writes.flush()
    context = await load_context(
        writes.session, posts, settings=settings, now=now or utcnow(), cache=cache, directory_cache=directory_cache
    )
    # The time of the changes is read once the cluster locks are held: a batch that waited for
    # another replica's then never stamps an incident earlier than the change it follows.
    now = now or utcnow()
    placements = place_posts(posts, context, settings=settings)
    await load_joined_incidents(writes.session, placements, context)
    decision = decide_batch(posts, placements, context, settings=settings, now=now, causes=causes)
    await cancel_replaced_clocks(writes, decision.effects.reclocked, now=now)
    queue_effects(writes, decision.effects)
    queue_workload(writes, context.workload)
    await detect_surges(writes, posts, decision.incidents, settings=settings, now=now, causes=causes)
    return decision.incidents
