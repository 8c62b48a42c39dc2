"""Source connectors behind one interface: each yields pages of posts with the cursors to save."""

from __future__ import annotations

from collector.connectors.base import (
    BackOff,
    Connector,
    ConnectorError,
    MaybeDelivered,
    Page,
    RateLimiter,
    SourceHalted,
)
from collector.connectors.rss import RssConnector
from collector.connectors.telegram import TelegramConnector
from collector.connectors.vk import VkConnector

CONNECTORS: dict[str, type[Connector]] = {
    "vk": VkConnector,
    "telegram": TelegramConnector,
    "rss": RssConnector,
}

__all__ = [
    "CONNECTORS",
    "BackOff",
    "Connector",
    "ConnectorError",
    "MaybeDelivered",
    "Page",
    "RateLimiter",
    "RssConnector",
    "SourceHalted",
    "TelegramConnector",
    "VkConnector",
]
