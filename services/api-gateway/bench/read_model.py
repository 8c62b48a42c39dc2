"""How fast the gateway's read model absorbs events (prints figures; no assertions).

    .venv/bin/python services/api-gateway/bench/read_model.py [--incidents 2000] [--postgres | --database-url URL]

Feeds post.classified + incident.created + incident.assigned events through the batch handlers the
NATS consumers run (`apply_classified_posts`, `apply_incident_events`), in batches of 200 per
transaction (the consumers' batch), as the consumers see them: each stream's events in its own
batches. Then times a few typical portal queries on the result.

Before (the handlers queued events in session.info and a before_commit listener applied them with
ORM objects), measured with this script's previous version on the development machine, 2,000
incidents = 6,000 events: 4,800 events/s on SQLite, 4,200 events/s on PostgreSQL. See the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from api_gateway.auth.principal import Role
from api_gateway.incidents.consumers import apply_classified_posts, apply_incident_events
from api_gateway.testing import gateway_settings, running
from incidents_common.events import CloudEvent, IncidentAssigned, IncidentCreated, new_event
from incidents_common.factories import incident_snapshot, post_classified  # not .testing: no pytest here
from incidents_common.identity import IDENTITY_DIR_ENV, init_identity_dir

TEXTS = [
    "На улице Чернышевского огромная яма, машины пробивают колёса",
    "Во дворе дома 12 не вывозят мусор уже неделю, контейнеры переполнены",
    "В подъезде нет отопления, батареи холодные, дети мёрзнут",
    "Бродячие собаки у школы нападают на детей",
]
REGIONS = ["64", "63", "77", "78", "50", "16", "66"]
BATCH = 200


def say(line: str) -> None:
    print(line)  # noqa: T201 - a benchmark prints its figures


async def main(incidents: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The app loads its service identity at start-up, as under `make run`: a throwaway one.
        identity = Path(tmp) / "identity"
        init_identity_dir(identity)
        os.environ[IDENTITY_DIR_ENV] = str(identity)
        overrides = {"database_url": database_url} if database_url else {}
        async with running(gateway_settings(Path(tmp), **overrides)) as gw:
            events: list[CloudEvent[Any]] = []
            for n in range(incidents):
                region = REGIONS[n % len(REGIONS)]
                post_id = f"p{n}"
                snap = incident_snapshot(
                    f"i{n}", region=region, post_ids=[post_id], title=TEXTS[n % 4][:40], summary=TEXTS[n % 4]
                )
                events.append(new_event(post_classified(post_id, TEXTS[n % 4], region=region), source="/bench"))
                events.append(new_event(IncidentCreated(incident=snap, post_id=post_id), source="/bench"))
                assert snap.assignee is not None
                events.append(
                    new_event(
                        IncidentAssigned(incident=snap, assignee=snap.assignee, explanation="bench"), source="/bench"
                    )
                )
            posts = [event for event in events if event.type.endswith("post.classified")]
            incident_events = [event for event in events if not event.type.endswith("post.classified")]
            total = 0.0
            for handler, stream in ((apply_classified_posts, posts), (apply_incident_events, incident_events)):
                started = time.perf_counter()
                for i in range(0, len(stream), BATCH):
                    async with gw.app.state.db.transaction() as session:
                        await handler(session.writes, stream[i : i + BATCH])
                elapsed = time.perf_counter() - started
                total += elapsed
                rate = len(stream) / elapsed
                say(f"  {handler.__name__:<24} {len(stream)} events in {elapsed:.2f}s = {rate:,.0f} events/s")
            say(f"read model: {len(events)} events in {total:.2f}s = {len(events) / total:,.0f} events/s")

            key = await gw.key(Role.regional_admin, ["64"])
            headers = {"X-API-Key": key}
            queries = {
                "list 64, first page": "/v1/incidents?limit=50",
                "search 'яма'": "/v1/incidents?q=%D1%8F%D0%BC%D0%B0",
                "overdue filter": "/v1/incidents?overdue=true",
                "analytics summary": "/v1/analytics/summary",
            }
            for name, path in queries.items():
                timings = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    response = await gw.client.get(path, headers=headers)
                    timings.append(time.perf_counter() - t0)
                    assert response.status_code == 200
                timings.sort()
                say(f"{name:<22} median {timings[10] * 1000:6.1f} ms  p90 {timings[18] * 1000:6.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: an SQLite file in a temporary folder")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL (pgserver) and use it")
    args = parser.parse_args()
    if args.postgres:
        from incidents_common.processes import asyncpg_url, postgres_server

        with tempfile.TemporaryDirectory() as pg_dir, postgres_server(Path(pg_dir)) as libpq_url:
            asyncio.run(main(args.incidents, asyncpg_url(libpq_url)))
    else:
        asyncio.run(main(args.incidents, args.database_url))
