"""A tamper-evident audit log: every entry of an incident's history carries the hash of the one before.

Officials' answers are a public record. Each `routing_incident_history` row stores `prev_hash` (the
hash of the incident's previous entry, or GENESIS for the first) and `hash`, the SHA-256 of the
previous hash and the entry's fields in a canonical form; the incident keeps the last one as
`chain_head`. Rewriting an entry in the database (its text, actor, time or status) or deleting one
breaks the chain at that point, and `verify` says where. Someone able to rewrite the whole rest of a
chain and its head could hide that, which is why each region's entries of a day are also summed
into a daily root (`daily_root`), published as an event that other systems keep: a root computed
again later that differs from the published one shows the day was rewritten.

Pure functions: no database here (queries in incidents.queries, the CLI in routing.cli).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from incidents_common.db import as_utc

GENESIS = "0" * 64
# The fields an entry's hash covers, in this order (its id is a random handle and is not covered).
HASHED = ("incident_id", "seq", "at", "actor", "action", "from_status", "to_status", "comment")


def canonical_time(value: datetime | str) -> str:
    """UTC to the microsecond, as both databases store it (SQLite's text form is read as UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return as_utc(moment).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    fields = [canonical_time(entry["at"]) if name == "at" else entry.get(name) for name in HASHED]
    return hashlib.sha256(orjson.dumps([prev_hash, *fields])).hexdigest()


def chain(prev_hash: str | None, entry: dict[str, Any]) -> str:
    """Stamp `entry` with its place in the chain after `prev_hash`; returns its hash (the new head)."""
    entry["prev_hash"] = prev_hash or GENESIS
    entry["hash"] = entry_hash(entry["prev_hash"], entry)
    return str(entry["hash"])


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The verdict on one incident's chain: `broken_at` is the seq of the first entry that does not
    hold (None when the chain holds), `reason` says why."""

    incident_id: str
    entries: int
    ok: bool
    head: str | None
    broken_at: int | None = None
    reason: str | None = None


def verify(incident_id: str, entries: Sequence[Mapping[Any, Any]], head: str | None) -> ChainCheck:
    """Check an incident's entries (any order) against each other and against the stored head."""
    ordered = sorted(entries, key=lambda e: int(e["seq"]))

    def broken(seq: int | None, reason: str) -> ChainCheck:
        return ChainCheck(incident_id, len(ordered), False, head, seq, reason)

    previous = GENESIS
    for expected_seq, entry in enumerate(ordered, start=1):
        seq = int(entry["seq"])
        if seq != expected_seq:
            return broken(expected_seq, f"Запись {expected_seq} отсутствует (следующая — {seq})")
        if entry.get("hash") is None:
            return broken(seq, "У записи нет хеша")
        if entry.get("prev_hash") != previous:
            return broken(seq, "Предыдущий хеш записи не совпадает с хешем записи перед ней")
        if entry_hash(previous, entry) != entry["hash"]:
            return broken(seq, "Содержимое записи не соответствует её хешу: запись изменена")
        previous = str(entry["hash"])
    if ordered and head != previous:
        return broken(
            None, "Головной хеш цепочки инцидента не совпадает с хешем последней записи: записи удалены или добавлены"
        )
    return ChainCheck(incident_id, len(ordered), True, head)


def daily_root(hashes: Iterable[str]) -> str:
    """The root of a region's day: SHA-256 over its entries' hashes in their order (time, incident, seq)."""
    digest = hashlib.sha256(b"incidents-audit-root-v1")
    for value in hashes:
        digest.update(bytes.fromhex(value))
    return digest.hexdigest()
