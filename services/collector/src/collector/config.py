"""Collector settings (env prefix COLLECTOR_)."""

from __future__ import annotations

from pydantic import Field

from incidents_common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("COLLECTOR_")

    service_name: str = "collector"
    port: int = 8001
    # The collector is the pipeline's highest-volume publisher: larger relay passes, fewer round trips.
    outbox_batch: int = Field(default=1000, ge=1, description="Outbox rows published per relay pass")

    scheduler_enabled: bool = Field(default=True, description="Poll the configured sources (off: push/import only)")
    poll_concurrency: int = Field(default=8, ge=1, description="Sources polled at the same time")
    poll_jitter: float = Field(default=0.1, ge=0, le=1, description="Random share added to/removed from intervals")
    poll_timeout: float = Field(default=300.0, gt=0, description="Seconds one poll of one source may take")
    backoff_base: float = Field(default=30.0, gt=0, description="First retry delay after a failed poll, seconds")
    backoff_max: float = Field(default=3600.0, gt=0, description="Ceiling of the exponential back-off, seconds")
    max_outbox_backlog: int = Field(
        default=50_000, ge=1, description="Unpublished events above which polling pauses and pushes get 503"
    )
    retention_days: int = Field(default=90, ge=1, description="Raw posts collected longer ago are deleted")
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between retention runs")
    http_timeout: float = Field(default=20.0, gt=0, description="Timeout of one request to an external API")
    vk_base_url: str = Field(default="https://api.vk.com/method", description="VK API base URL")
    vk_api_version: str = Field(default="5.199", description="VK API version (the `v` parameter)")
    vk_requests_per_second: float = Field(default=3.0, gt=0, description="Request rate per VK token (VK allows 3)")
    telegram_base_url: str = Field(default="https://api.telegram.org", description="Telegram Bot API base URL")
    import_batch: int = Field(default=1000, ge=1, le=10_000, description="Posts per transaction in imports")
