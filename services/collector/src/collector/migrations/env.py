"""Alembic environment of the collector service: its tables, the outbox and the inbox."""

from incidents_common.migrations import run_env

run_env("collector")
