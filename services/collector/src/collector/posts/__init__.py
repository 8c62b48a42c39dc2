"""Stored posts: read, list, retention."""
