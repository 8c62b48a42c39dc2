"""Alembic environment of the api-gateway service: its tables, the outbox and the inbox."""

from incidents_common.migrations import run_env

run_env("api_gateway")
