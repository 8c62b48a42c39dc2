"""Collector service: gathers posts from social networks and feeds and publishes post.collected."""

__version__ = "0.1.0"
