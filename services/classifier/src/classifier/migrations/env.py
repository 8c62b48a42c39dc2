"""Alembic environment of the classifier service: its tables, the outbox and the inbox."""

from incidents_common.migrations import run_env

run_env("classifier")
