"""Surge alerts: complaints of one town and category counted in time buckets; an alert when the last
window holds far more than the place's history makes likely (detector: the statistic, pure; service:
the counting and the alerts inside the consumer's transaction; models: the two tables)."""
