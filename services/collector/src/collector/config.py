"""Collector settings (env prefix COLLECTOR_)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from incidents_common.secretbox import SecretsAtRestSettings
from incidents_common.settings import service_config


class Settings(SecretsAtRestSettings):
    model_config = service_config("COLLECTOR_")

    service_name: str = "collector"
    port: int = 8001

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
    publish_interval: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between the reply publisher's looks for due replies (a requested reply wakes it at once)"
        ),
    )
    publish_max_attempts: int = Field(
        default=6,
        ge=1,
        description="Calls to VK or Telegram for one reply before a passing failure counts as failed",
    )
    publish_backoff: list[float] = Field(
        default_factory=lambda: [30.0, 120.0, 600.0, 1800.0, 3600.0],
        min_length=1,
        description=(
            "Seconds before each retry of a reply after a passing failure (VK errors 6, 9, 10, 29, HTTP 5xx, "
            "timeouts), as a JSON list; the last value repeats. Telegram's retry_after wins when it sends one"
        ),
    )
    reaction_watch_hours: float = Field(
        default=72.0,
        gt=0,
        description=(
            "Hours after a reply is published on VK or Telegram during which the comments and messages written "
            "under it are collected as citizens' reactions (reaction.collected)"
        ),
    )
    reaction_poll_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Seconds between reads of the VK comments under each published reply still watched (Telegram's "
            "reactions come with the ingested messages, without polling)"
        ),
    )
    secret_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Comma-separated Fernet keys that encrypt the sources' tokens and secrets in the database; the first "
            "encrypts, all decrypt (`python -m collector rotate` re-encrypts with the first). Empty = one key "
            "generated once into <data_dir>/collector-secret.keys"
        ),
    )
    data_dir: str = Field(default="", description="Where the generated secret key file lives; empty = var/")
