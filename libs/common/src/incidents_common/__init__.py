"""Shared event contracts, NATS JetStream helpers, outbox/inbox, settings, logging and telemetry."""
