"""Fault injection against the whole system: complaints flow while nats-server and each service are
killed with SIGKILL, PostgreSQL is stopped and SQLite is locked; prints one table row per fault.

    python scripts/faults.py [--posts 120]        (make faults)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults.harness import TABLE_HEADER, Outcome  # noqa: E402
from tests.faults.scenarios import run_all  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=120, help="complaints per fault (default 120)")
    args = parser.parse_args(argv)
    if args.posts < 3:
        parser.error("--posts must be at least 3")
    print(TABLE_HEADER, flush=True)
    failed = []

    def report(outcome: Outcome) -> None:
        print(outcome.row(), flush=True)
        if outcome.lost or outcome.doubled or outcome.events_doubled or outcome.dead_letters:
            failed.append(outcome.fault)

    with tempfile.TemporaryDirectory(prefix="faults-") as work:
        run_all(Path(work), posts=args.posts, report=report)
    if failed:
        print(f"complaints lost or doubled under: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
