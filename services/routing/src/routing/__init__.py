"""Routing: classified complaints → clustered incidents → assigned officials → SLA clocks and escalation."""
