"""Collector service: gathers posts from social networks and feeds and publishes post.collected."""

__version__ = "0.1.0"

# The CloudEvents `source` of every event the collector publishes (posts, replies, reactions).
EVENT_SOURCE = "/services/collector"
