"""The gazetteer as the classifier loads it: from the pre-built cache (data/gazetteer.joblib) while
data/places.yaml, the towns table and the matching code are those it was built from."""

from __future__ import annotations

import hashlib
import logging
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import joblib

from classifier.gazetteer.index import districts_text, load_places, places_text
from classifier.gazetteer.matching import Gazetteer

log = logging.getLogger("classifier.gazetteer")
GAZETTEER_FORMAT = "94"  # bump when the matching code changes what the cache holds


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The gazetteer, from the pre-built cache when data/places.yaml and the towns table have not changed.

    Building it lemmatises ~9,000 names (about 2.5 s); the cache keeps model loading well under 3 s.
    """
    towns = resources.files("incidents_common").joinpath("data/ru-towns.csv").read_bytes()
    sources = places_text().encode() + districts_text().encode() + towns
    fingerprint = hashlib.sha256(sources + GAZETTEER_FORMAT.encode()).hexdigest()[:16]
    cache = Path(str(resources.files("classifier").joinpath("data/gazetteer.joblib")))
    try:
        stored = joblib.load(cache)
        if stored.get("fingerprint") == fingerprint and isinstance(stored["gazetteer"], Gazetteer):
            return stored["gazetteer"]
    except Exception:  # noqa: BLE001 - a stale, foreign or truncated file is rebuilt, never a failed start
        log.info("gazetteer cache unreadable, rebuilding", extra={"path": str(cache)})
    gazetteer = Gazetteer.build(load_places())
    # Written beside and renamed into place: a process killed while writing (two services starting
    # at once, a SIGKILL) leaves the old file or the new one, never half of one.
    partial = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        joblib.dump({"fingerprint": fingerprint, "gazetteer": gazetteer}, partial, compress=3)
        os.replace(partial, cache)
    except OSError:
        log.info("gazetteer cache not writable", extra={"path": str(cache)})
        partial.unlink(missing_ok=True)
    return gazetteer
