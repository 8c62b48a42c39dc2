"""The reads a batch of classified posts needs, in a few queries whatever the batch's size.

Before anything is decided (`load_context`): the cluster locks, the directories and workload of the
batch's regions, the SLA policies, the open incidents of its (region, category) pairs as clustering
sees them (addresses, posts' terms), and which of its posts are in an incident already. Between the
two passes, incidents.placement and incidents.decisions (`load_joined_incidents`): the whole rows of
the incidents joined and what their priority reads of their posts."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import PostClassified
from routing.config import Settings
from routing.deadlines.models import SlaPolicy
from routing.deadlines.service import load_policies
from routing.directory.service import directory_version
from routing.incidents.clustering import Address, Candidate
from routing.incidents.models import OPEN_STATUSES, Incident, IncidentPost
from routing.incidents.placement import Join, Placement, RoutingContext, cluster_window_start, incidents_to_load
from routing.incidents.posts import cluster_key
from routing.incidents.priority import PostSignal
from routing.incidents.snapshots import RECORD_COLUMNS, IncidentRecord
from routing.rules.engine import RegionDirectory, Workload
from routing.rules.service import load_directories, load_workload
from routing.tables import KeyedQuery, table_of

ClusterKey = tuple[str, str]
INCIDENTS = table_of(Incident)
POSTS = table_of(IncidentPost)


def cluster_lock_id(region_code: str, category: str) -> int:
    """The advisory lock of one (region, category): the same number in every replica and release."""
    digest = hashlib.blake2b(f"routing-cluster:{region_code}:{category}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_clusters(session: AsyncSession, keys: Sequence[ClusterKey]) -> None:
    """On PostgreSQL, serialise cluster-or-create per (region, category) across replicas until the commit,
    so that two replicas never open two incidents for one problem.

    All of a batch's locks are taken by one statement, in ascending order: two batches that share
    pairs then queue behind each other instead of deadlocking. (The subquery's ORDER BY holds: a
    subquery that sorts and calls a set-returning function is never flattened into the outer one.)"""
    if not keys or session.bind is None or session.bind.dialect.name != "postgresql":
        return
    ids = sorted({cluster_lock_id(region, category) for region, category in keys})
    await (await session.connection()).execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) AS ordered"
        ).bindparams(ids=ids)
    )


@dataclass(frozen=True, slots=True)
class ReadPosts:
    """What clustering read of one incident's posts, as of its `history_seq`."""

    seq: int
    term_sets: tuple[frozenset[str], ...]
    external_ids: frozenset[str]
    post_ids: frozenset[str]


class CandidateCache:
    """The posts' terms of open incidents, kept from one batch to the next by the consumer that owns it.

    Every batch clusters against all open incidents of its (region, category) pairs, and reading their
    posts' terms again grew with the number of open incidents. An incident's `history_seq` counts each
    change of it (every change is audited, and a post joins an incident only with its history entry,
    in one transaction), so what was read at one seq holds until the seq moves, whichever replica
    moved it. Bounded: the oldest entries go first."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._read: dict[str, ReadPosts] = {}

    def get(self, incident_id: str, seq: int) -> ReadPosts | None:
        read = self._read.get(incident_id)
        return read if read is not None and read.seq == seq else None

    def put(self, incident_id: str, read: ReadPosts) -> None:
        self._read.pop(incident_id, None)
        self._read[incident_id] = read
        while len(self._read) > self.limit:
            del self._read[next(iter(self._read))]


class DirectoryCache:
    """The directories (departments, officials, rules by region) and SLA policies, kept from one batch
    to the next by the consumer that owns it while the directory's version stays (directory.models.DirectoryVersion).

    Loading them through the ORM cost a batch milliseconds whatever its size: at the 45-post batches
    of 300 posts/s, a sixth of routing's CPU. The version is read first in each batch: what was read
    at a version holds until a change of the directory moves it, whichever replica or tool made it.
    The officials' round-robin counters are not kept (load_workload reads them per batch)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self._directories: dict[str, RegionDirectory] = {}
        self._policies: list[SlaPolicy] | None = None

    async def load(
        self, session: AsyncSession, region_codes: Iterable[str]
    ) -> tuple[dict[str, RegionDirectory], list[SlaPolicy]]:
        version = await directory_version(session)
        if version is None:  # no version row: nothing would tell a change, so nothing is kept
            self.version = None
            return await load_directories(session, region_codes), await load_policies(session)
        if version != self.version:
            self.version, self._directories, self._policies = version, {}, None
        wanted = set(region_codes)
        if missing := wanted - self._directories.keys():
            self._directories.update(await load_directories(session, missing))
        if self._policies is None:
            self._policies = await load_policies(session)
        return {region: self._directories[region] for region in sorted(wanted)}, self._policies


# The open incidents of a batch's (region, category) pairs with a post since `since`.
OPEN_CANDIDATES = KeyedQuery(
    (INCIDENTS.c.region_code, INCIDENTS.c.category),
    lambda any_key: core_select(
        INCIDENTS.c.id,
        INCIDENTS.c.region_code,
        INCIDENTS.c.category,
        INCIDENTS.c.address,
        INCIDENTS.c.city,
        INCIDENTS.c.history_seq,
    ).where(any_key, INCIDENTS.c.status.in_(OPEN_STATUSES), INCIDENTS.c.last_post_at >= bindparam("since")),
)


async def load_candidates(
    session: AsyncSession, keys: Sequence[ClusterKey], *, since: datetime, cache: CandidateCache | None = None
) -> dict[ClusterKey, list[Candidate]]:
    """The open incidents of `keys` active since `since`, as clustering sees them: id, address and their
    posts' terms (one query for the incidents, then their posts by incident id; with a `cache`, the
    posts of only the incidents that changed since it read them). Whole rows are loaded later, only
    for the incidents a batch joins."""
    candidates: dict[ClusterKey, list[Candidate]] = {key: [] for key in keys}
    if not keys:
        return candidates
    found = await OPEN_CANDIDATES.fetch(await session.connection(), keys, since=since)
    by_id: dict[str, Candidate] = {}
    seqs: dict[str, int] = {}
    for incident_id, region_code, category, address, city, seq in found:
        candidate = Candidate(incident_id, Address.parse(address), city=city)
        candidates[(region_code, category)].append(candidate)
        read = cache.get(incident_id, seq) if cache is not None else None
        if read is None:
            by_id[incident_id], seqs[incident_id] = candidate, seq
        else:
            candidate.term_sets = list(read.term_sets)
            candidate.external_ids = set(read.external_ids)
            candidate.post_ids = set(read.post_ids)
    if by_id:
        await _read_posts(session, by_id)
    if cache is not None:
        for incident_id, candidate in by_id.items():
            read = ReadPosts(
                seqs[incident_id],
                tuple(candidate.term_sets),
                frozenset(candidate.external_ids),
                frozenset(candidate.post_ids),
            )
            cache.put(incident_id, read)
    return candidates


async def _read_posts(session: AsyncSession, by_id: dict[str, Candidate]) -> None:
    """The posts' terms of the incidents `by_id` names, into their candidates, in the posts' order."""
    ids = sorted(by_id)
    for start in range(0, len(ids), 500):
        posts = await session.exec(
            select(
                col(IncidentPost.incident_id),
                col(IncidentPost.post_id),
                col(IncidentPost.terms),
                col(IncidentPost.external_id),
            )
            .where(col(IncidentPost.incident_id).in_(ids[start : start + 500]))
            .order_by(col(IncidentPost.incident_id), col(IncidentPost.ordinal))
        )
        for incident_id, post_id, terms, external_id in posts.all():
            owner = by_id[incident_id]
            owner.post_ids.add(post_id)
            # Interned: the same lemmas recur in thousands of posts, and each JSON decode makes its
            # own strings (the candidate cache held 128 MB for 17,000 incidents, 77 MB interned).
            owner.term_sets.append(frozenset(map(sys.intern, terms)))
            if external_id:
                owner.external_ids.add(external_id)


async def load_joined_incidents(
    session: AsyncSession, placements: Sequence[Placement], context: RoutingContext | None = None
) -> None:
    """Between the two passes: the whole rows of the stored incidents the batch joins (one query),
    as records on their candidates, and what their priority reads of their posts (one more, into
    `context.signals`)."""
    wanted = incidents_to_load(placements)
    if not wanted:
        return
    rows = await (await session.connection()).execute(
        core_select(*(INCIDENTS.c[name] for name in RECORD_COLUMNS)).where(INCIDENTS.c.id.in_(wanted))
    )
    records = {record.id: record for record in (IncidentRecord(*row) for row in rows.all())}
    for placement in placements:
        if isinstance(placement, Join) and placement.candidate.incident is None:
            placement.candidate.incident = records.get(placement.candidate.incident_id)
    if context is not None:
        context.signals.update(await load_signals(session, wanted))


async def load_signals(session: AsyncSession, incident_ids: Sequence[str]) -> dict[str, list[PostSignal]]:
    """Incident id → what incidents.priority reads of each of its posts, in their order."""
    signals: dict[str, list[PostSignal]] = {incident_id: [] for incident_id in incident_ids}
    if not incident_ids:
        return signals
    rows = await (await session.connection()).execute(
        core_select(*(POSTS.c[name] for name in SIGNAL_COLUMNS))
        .where(POSTS.c.incident_id.in_(list(incident_ids)))
        .order_by(POSTS.c.incident_id, POSTS.c.ordinal)
    )
    for incident_id, *values in rows.all():
        signals[incident_id].append(signal_from_row(*values))
    return signals


SIGNAL_COLUMNS = (
    "incident_id",
    "post_id",
    "author_key",
    "author_followers",
    "published_at",
    "text_key",
    "views",
    "reposts",
    "comments",
    "likes",
    "reach",
)


def signal_from_row(
    post_id: str,
    author_key: str,
    followers: int | None,
    published_at: datetime,
    text_key: str | None,
    views: int | None,
    reposts: int | None,
    comments: int | None,
    likes: int | None,
    reach: int,
) -> PostSignal:
    """A stored post as incidents.priority reads it. A post routed before issue 15 has no reach figures
    of its own: its one `reach` number (the largest of views, followers and engagement) stands for views."""
    if views is None and reposts is None and comments is None and likes is None:
        views = reach
    return PostSignal(
        post_id=post_id,
        author_key=author_key,
        followers=followers,
        published_at=published_at,
        text_key=text_key,
        views=views or 0,
        reposts=reposts or 0,
        comments=comments or 0,
        likes=likes or 0,
    )


async def load_routed(session: AsyncSession, post_ids: Sequence[str]) -> dict[str, str]:
    """Post id → incident id for those of `post_ids` already in an incident (open or not)."""
    if not post_ids:
        return {}
    rows = await session.exec(
        select(col(IncidentPost.post_id), col(IncidentPost.incident_id)).where(
            col(IncidentPost.post_id).in_(sorted(set(post_ids)))
        )
    )
    return dict(rows.all())


async def load_context(
    session: AsyncSession,
    posts: Sequence[PostClassified],
    *,
    settings: Settings,
    now: datetime,
    cache: CandidateCache | None = None,
    directory_cache: DirectoryCache | None = None,
) -> RoutingContext:
    """Everything deciding `posts` needs. Takes the cluster locks first, so what it reads next is what
    the other replicas committed before them. `directory_cache`: the directories and policies as an
    earlier batch read them, while the directory's version holds."""
    routable = [(post, key) for post in posts if (key := cluster_key(post)) is not None]
    keys = sorted({key for _, key in routable})
    if not keys:
        return RoutingContext(candidates={}, routed={}, directories={}, workload=Workload(), policies=[])
    await lock_clusters(session, keys)
    regions = {region for region, _ in keys}
    if directory_cache is not None:
        directories, policies = await directory_cache.load(session, regions)
    else:
        directories, policies = await load_directories(session, regions), await load_policies(session)
    workload = await load_workload(session, [o for d in directories.values() for o in d.officials])
    return RoutingContext(
        candidates=await load_candidates(session, keys, since=cluster_window_start(now, settings), cache=cache),
        routed=await load_routed(session, [post.post_id for post, _ in routable]),
        directories=directories,
        workload=workload,
        policies=policies,
    )
