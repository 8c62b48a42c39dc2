"""Surge alerts: a category flaring up in a town of the caller's regions (raised by routing)."""
