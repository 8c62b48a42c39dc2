"""Alembic environment of the routing service: its tables, the outbox and the inbox."""

from incidents_common.migrations import run_env

run_env("routing")
