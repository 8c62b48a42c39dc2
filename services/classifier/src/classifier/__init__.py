"""classifier service."""
