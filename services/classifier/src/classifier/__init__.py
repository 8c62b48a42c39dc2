"""Classifier service: Russian complaint detection, category, region, urgency, sentiment."""

__version__ = "0.1.0"
