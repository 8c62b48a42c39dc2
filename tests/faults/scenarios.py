"""The fault scenarios, shared by the test suite (tests/faults/test_faults.py) and `make faults`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from .harness import FaultSystem, Outcome, run_scenario

# Few deliveries before a dead letter, and short waits: an outage of a few seconds outlasts the
# whole retry window, which is what made PostgreSQL restarts lose complaints before.
FAST_RETRIES = {
    f"{prefix}_{name}": value
    for prefix in ("COLLECTOR", "CLASSIFIER", "ROUTING", "GATEWAY")
    for name, value in (("MAX_DELIVER", "2"),)
}


@contextlib.contextmanager
def postgres(data_dir: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A pgserver PostgreSQL with a `routing` database: (asyncpg URL, stop, start)."""
    import pgserver  # type: ignore[import-untyped]

    from incidents_common.processes import asyncpg_url

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    server.psql("CREATE DATABASE routing;")
    from pgserver._commands import pg_ctl  # type: ignore[import-untyped]

    def stop() -> None:
        # As pgserver runs it: as its own system user when we are root.
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=30)

    def start() -> None:
        server.ensure_postgres_running()

    try:
        yield asyncpg_url(server.get_uri(), "routing"), stop, start
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


def scenarios(
    system: FaultSystem, stop_postgres: Callable[[], None], start_postgres: Callable[[], None]
) -> list[tuple[str, Callable[[], None]]]:
    def outage(seconds: float) -> Callable[[], None]:
        def inject() -> None:
            stop_postgres()
            # The rest of the posts are pushed while PostgreSQL is down; it comes back in a thread.
            import threading

            threading.Timer(seconds, start_postgres).start()

        return inject

    def locked(service: str, seconds: float) -> Callable[[], None]:
        def inject() -> None:
            import threading

            holder = threading.Thread(target=lambda: _hold(system, service, seconds), daemon=True)
            holder.start()

        return inject

    return [
        ("none (clean run)", lambda: None),
        ("kill -9 nats-server", lambda: system.kill("nats-server")),
        ("kill -9 collector", lambda: system.kill("collector")),
        ("kill -9 classifier", lambda: system.kill("classifier")),
        ("kill -9 routing", lambda: system.kill("routing")),
        ("kill -9 api-gateway", lambda: system.kill("api-gateway")),
        ("PostgreSQL (routing) stopped 15 s", outage(15)),
        ("SQLite (gateway) locked 10 s", locked("api-gateway", 10)),
    ]


def _hold(system: FaultSystem, service: str, seconds: float) -> None:
    with system.sqlite_locked(service, seconds):
        pass


def run_all(work: Path, *, posts: int = 120, report: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    outcomes = []
    with postgres(work / "pg") as (routing_url, stop_pg, start_pg):
        system = FaultSystem(work / "var", env={"ROUTING_DATABASE_URL": routing_url, **FAST_RETRIES}).start()
        try:
            for name, inject in scenarios(system, stop_pg, start_pg):
                outcome = run_scenario(system, name, inject, posts=posts)
                report(outcome)
                outcomes.append(outcome)
        finally:
            system.stop()
    return outcomes
