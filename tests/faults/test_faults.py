"""Faults while complaints flow: every complaint routed exactly once, nothing lost, nothing doubled.

One system (the launcher, routing on PostgreSQL, the other services on SQLite) takes a batch of
complaints per scenario; a third goes in before the fault, the rest during it. `make faults` runs the
same scenarios and prints the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import TABLE_HEADER, Outcome
from .scenarios import run_all

pytestmark = pytest.mark.faults


def test_no_complaint_is_lost_or_doubled_whatever_fails(tmp_path: Path) -> None:
    outcomes: list[Outcome] = []
    run_all(tmp_path, posts=90, report=outcomes.append)
    table = "\n".join([TABLE_HEADER, *(o.row() for o in outcomes)])
    print(f"\n{table}")
    for outcome in outcomes:
        assert outcome.routed == outcome.posts_in, table
        assert outcome.lost == 0 and outcome.doubled == 0, table
        assert outcome.events_doubled == 0 and outcome.dead_letters == 0, table
        assert outcome.incidents >= 1, table
