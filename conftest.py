"""Root conftest: the shared fixtures (real nats-server, SQLite, PostgreSQL) come from the
incidents_common.testing plugin, enabled in pyproject.toml's addopts."""
